"""Orders received, validated, generated and cancelled, per ISO week (Paris time) and per
portal: four grouped queries, each giving (week, portal, number) rows.

- reçue: see services.statistics.scope.received_at;
- validée: ``validated_at`` (« Valider »);
- générée: the holder certificate written onto the key (``written_at``; the order moves to
  « Remise »), each order once a week even if generated again;
- annulée: a received order that reached « Annulée » (``state_since``: the trigger sets it when
  the order enters that phase, which it never leaves). Drafts abandoned before being sent
  were never received: they are not counted (the causes table names them apart).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from peewee import SQL, fn

import workflow
from models import HolderCertificate, Order, OperatorScope
from services.statistics import time_sql
from services.statistics.filters import StatisticsFilters
from services.statistics.scope import order_conditions, received_at, received_since_created

MEASURES = {"received": "Reçues", "validated": "Validées", "generated": "Générées",
            "cancelled": "Annulées"}


@dataclass
class Counts:
    """One line of figures: a week, a portal or the total."""
    label: str
    received: int = 0
    validated: int = 0
    generated: int = 0
    cancelled: int = 0

    def add(self, measure: str, number: int) -> None:
        setattr(self, measure, getattr(self, measure) + number)

    def values(self) -> list[int]:
        return [getattr(self, measure) for measure in MEASURES]


@dataclass
class Week(Counts):
    monday: dt.date = dt.date.min
    first_day: dt.date = dt.date.min   # the period may start or end mid-week
    last_day: dt.date = dt.date.min

    @property
    def iso(self) -> str:
        year, number, _ = self.monday.isocalendar()
        return f"{year}-S{number:02d}"


@dataclass
class Volumes:
    weeks: list[Week]
    portals: list[Counts]
    total: Counts = field(default_factory=lambda: Counts("Total"))


def compute(scope: OperatorScope, filters: StatisticsFilters) -> Volumes:
    weeks = _weeks(filters)
    by_monday = {week.monday: week for week in weeks}
    portals = {portal.id: Counts(portal.name) for portal in scope.portals()
               if filters.portal_id in (None, portal.id)}
    total = Counts("Total")
    for measure, query in _queries(scope, filters).items():
        for monday, portal_id, number in query.tuples():
            week = by_monday.get(time_sql.as_date(monday))
            if week is None or portal_id not in portals:
                continue  # outside the period (never, by the queries' conditions)
            week.add(measure, number)
            portals[portal_id].add(measure, number)
            total.add(measure, number)
    return Volumes(weeks, list(portals.values()), total)


def _weeks(filters: StatisticsFilters) -> list[Week]:
    monday = filters.since - dt.timedelta(days=filters.since.weekday())
    weeks = []
    while monday <= filters.until:
        sunday = monday + dt.timedelta(days=6)
        year, number, _ = monday.isocalendar()
        weeks.append(Week(f"Semaine {number} ({year})", monday=monday,
                          first_day=max(monday, filters.since), last_day=min(sunday, filters.until)))
        monday += dt.timedelta(weeks=1)
    return weeks


def _queries(scope: OperatorScope, filters: StatisticsFilters) -> dict:
    start, end = filters.start_utc, filters.end_utc
    scoped = order_conditions(scope, filters)

    def grouped(model, column, *conditions, counted=SQL("*")):
        week = time_sql.week_monday(column, start, end)
        query = model.select(week, Order.portal, fn.COUNT(counted))
        if model is not Order:
            query = query.join(Order, on=(HolderCertificate.order == Order.id))
        return (query
                .where(column >= start, column < end, *scoped, *conditions)
                .group_by(SQL("1"), SQL("2")))

    # Received: sent in the period, or created in it for orders that never were drafts. Two
    # branches, each on its own column, so that each can be read in date order.
    received = (grouped(Order, Order.submitted_at)
                + grouped(Order, Order.created_at, *received_since_created()))
    return {
        "received": received,
        "validated": grouped(Order, Order.validated_at),
        "generated": grouped(HolderCertificate, HolderCertificate.written_at,
                             counted=fn.DISTINCT(HolderCertificate.order)),
        "cancelled": grouped(Order, Order.state_since, Order.phase == workflow.PHASE_CANCELLED,
                             received_at().is_null(False)),
    }
