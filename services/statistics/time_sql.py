"""Time in SQL that SQLite and PostgreSQL both answer, on stored times (naive UTC): Paris
weeks as a list of UTC ranges to join on, and the hours between two times. The figures are
grouped by these in the database, so a year of orders comes back as a few hundred rows, never
as the orders.

SQLite knows no time zone: rather than converting every row to Paris time, the Paris days'
bounds are converted once, here, with the time zone database (summer time included)."""
from __future__ import annotations

import datetime as dt

from peewee import SQL, NodeList, PostgresqlDatabase, ValuesList, fn

from models import db
from services.statistics.filters import paris_midnight_utc


def postgres() -> bool:
    return isinstance(db.obj, PostgresqlDatabase)


def ranges(days: list[tuple[dt.date, dt.date]]):
    """A CTE ``bornes (k, debut, fin)``: for each (first, last) Paris days, its index and the
    UTC instants of its start and of its end (midnight, Paris, after ``last``)."""
    rows = [(index, _param(paris_midnight_utc(first)),
             _param(paris_midnight_utc(last + dt.timedelta(days=1))))
            for index, (first, last) in enumerate(days)]
    return ValuesList(rows).cte("bornes", columns=("k", "debut", "fin"))


def cells(days: list[tuple[dt.date, dt.date]], portal_ids: list[int]):
    """A CTE ``cases (k, portail, debut, fin)``: ranges() for each of the portals."""
    rows = [(index, portal_id, _param(paris_midnight_utc(first)),
             _param(paris_midnight_utc(last + dt.timedelta(days=1))))
            for index, (first, last) in enumerate(days) for portal_id in portal_ids or [-1]]
    return ValuesList(rows).cte("cases", columns=("k", "portail", "debut", "fin"))


def _param(moment: dt.datetime):
    """A time as a query parameter: typed for PostgreSQL (a VALUES list has no column to take
    its type from), as peewee stores it for SQLite (text, compared as text)."""
    return moment if postgres() else _sqlite_time(moment)


def _sqlite_time(moment: dt.datetime) -> str:
    """As peewee stores a DateTimeField on SQLite, so that text comparison orders it."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def hours_between(later, earlier):
    """Whole hours (rounded) from ``earlier`` to ``later``."""
    if postgres():
        seconds = fn.EXTRACT(NodeList((SQL("EPOCH FROM"), later - earlier)))
        return fn.FLOOR(seconds / 3600.0 + 0.5).cast("integer")
    # CAST truncates: + 0.5 rounds a duration (never negative) to the nearest hour.
    return ((fn.julianday(later) - fn.julianday(earlier)) * 24 + 0.5).cast("integer")
