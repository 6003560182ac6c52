"""The « Statistiques » page's filters: the period (« Du », « Au », Paris days) and « Portail »,
read from the URL's arguments and never trusted. A bad value is reported in French and
ignored, so a typo shows the default figures rather than an error page."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping

from formatting import paris_midnight_utc
from models import OperatorScope

DEFAULT_WEEKS = 12
MAX_YEARS = 3  # every figure stays a bounded amount of work
FIRST_YEAR, LAST_YEAR = 2000, 2100  # a date outside is a typo, never a real order's


@dataclass(frozen=True)
class StatisticsFilters:
    since: dt.date                   # first Paris day of the period, included
    until: dt.date                   # last Paris day of the period, included
    portal_id: int | None = None     # one of the operator's visible portals, or all of them
    portal_name: str = ""
    problems: tuple[str, ...] = ()

    @property
    def start_utc(self) -> dt.datetime:
        """The period's first instant, naive UTC as stored."""
        return paris_midnight_utc(self.since)

    @property
    def end_utc(self) -> dt.datetime:
        """The instant just after the period (midnight, Paris, after « Au »)."""
        return paris_midnight_utc(self.until + dt.timedelta(days=1))

    def url_args(self) -> dict[str, str]:
        """The filters as the form writes them: a link or the export keeps them."""
        args = {"du": self.since.strftime("%d/%m/%Y"), "au": self.until.strftime("%d/%m/%Y")}
        if self.portal_id is not None:
            args["portail"] = str(self.portal_id)
        return args



def default_period(today: dt.date) -> tuple[dt.date, dt.date]:
    """The last DEFAULT_WEEKS ISO weeks, the current one included (it ends today)."""
    monday = today - dt.timedelta(days=today.weekday())
    return monday - dt.timedelta(weeks=DEFAULT_WEEKS - 1), today


def earliest_since(until: dt.date) -> dt.date:
    """The first day of the longest period allowed to end on ``until``: MAX_YEARS years."""
    year = until.year - MAX_YEARS
    day = until.replace(year=year, day=28) if (until.month, until.day) == (2, 29) else \
        until.replace(year=year)
    return day + dt.timedelta(days=1)


def parse_day(text: str) -> dt.date | None:
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            day = dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        return day if FIRST_YEAR <= day.year <= LAST_YEAR else None
    return None


def parse(args: Mapping[str, str], scope: OperatorScope, today: dt.date) -> StatisticsFilters:
    """``args``: the URL's « du », « au » (jj/mm/aaaa) and « portail » (a portal's id)."""
    problems: list[str] = []
    default_since, default_until = default_period(today)
    days = {}
    for name, label in (("du", "Du"), ("au", "Au")):
        text = (args.get(name) or "").strip()[:20]
        days[name] = parse_day(text) if text else None
        if text and days[name] is None:
            problems.append(f"Date « {label} » ignorée : « {text} » n'est pas une date "
                            f"(jj/mm/aaaa, entre {FIRST_YEAR} et {LAST_YEAR}).")
    since, until = days["du"], days["au"]
    if since and until and since > until:
        problems.append("La date « Du » est postérieure à la date « Au » : la période par "
                        "défaut (les 12 dernières semaines) est affichée.")
        since = until = None
    if since is None and until is None:
        since, until = default_since, default_until
    elif since is None:  # « Au » alone: the twelve weeks ending then
        since = default_period(until)[0]
    elif until is None:  # « Du » alone: up to today
        until = max(since, default_until)
    if since < earliest_since(until):
        since = earliest_since(until)
        problems.append(f"Période limitée à {MAX_YEARS} ans : « Du » ramené au {since:%d/%m/%Y}.")
    portal_id, portal_name = _portal(args.get("portail") or "", scope, problems)
    return StatisticsFilters(since, until, portal_id, portal_name, tuple(problems))


def _portal(text: str, scope: OperatorScope, problems: list[str]) -> tuple[int | None, str]:
    """One of the portals the operator sees; another's (even of another AE) is unknown here."""
    text = text.strip()
    if not text:
        return None, ""
    names = {str(portal.id): portal.name for portal in scope.portals()}
    if text not in names:
        problems.append("Filtre « Portail » ignoré : valeur inconnue. Les statistiques portent "
                        "sur tous vos portails.")
        return None, ""
    return int(text), names[text]
