"""SQL expressions on stored times (naive UTC) that SQLite and PostgreSQL both answer: the Paris
ISO week a time falls in, and the hours between two times. The figures are grouped by these
in the database, so a year of orders comes back as a few hundred rows, never as the orders.

PostgreSQL knows Europe/Paris; SQLite does not, so its expression carries the UTC offsets in
force over the period (computed here from the time zone database), one CASE branch per
change of offset."""
from __future__ import annotations

import datetime as dt

from peewee import SQL, Case, NodeList, PostgresqlDatabase, Value, fn

from formatting import PARIS
from models import db


def postgres() -> bool:
    return isinstance(db.obj, PostgresqlDatabase)


def week_monday(column, start_utc: dt.datetime, end_utc: dt.datetime):
    """The Monday (Paris date) of the ISO week ``column`` falls in, for times between
    ``start_utc`` and ``end_utc``: a ``date`` on PostgreSQL, 'YYYY-MM-DD' text on SQLite."""
    if postgres():
        local = NodeList((column, SQL("AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/Paris'")))
        return fn.date_trunc("week", local).cast("date")
    # date(…, 'weekday 0') moves to the week's Sunday (or stays on it), six days back is Monday.
    return fn.date(column, _sqlite_offset(column, start_utc, end_utc), "weekday 0", "-6 days")


def as_date(value) -> dt.date:
    """A week_monday value as a date, whichever database gave it (peewee may read the text back
    as a datetime, through the column's converter)."""
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _sqlite_offset(column, start_utc: dt.datetime, end_utc: dt.datetime):
    """Paris's UTC offset at ``column`` as an SQLite date modifier ('+1 hours', '+2 hours')."""
    changes = offset_changes(start_utc - dt.timedelta(days=1), end_utc + dt.timedelta(days=1))
    first = f"{_offset_hours(start_utc - dt.timedelta(days=1)):+d} hours"
    if not changes:
        return Value(first)
    branches, current = [], first
    for moment, hours in changes:
        branches.append((column < _sqlite_time(moment), current))
        current = f"{hours:+d} hours"
    return Case(None, branches, current)


def offset_changes(start_utc: dt.datetime, end_utc: dt.datetime) -> list[tuple[dt.datetime, int]]:
    """The instants (naive UTC, to the hour) at which Paris's offset changes between the two,
    with the offset in hours from then on."""
    changes = []
    previous = _offset_hours(start_utc)
    hour = start_utc.replace(minute=0, second=0, microsecond=0)
    day = dt.timedelta(days=1)
    while hour < end_utc:
        # Offsets change at most twice a year, on the hour: a day's step finds the day, then
        # the hour is found within it.
        if _offset_hours(hour + day) != previous:
            while _offset_hours(hour) == previous:
                hour += dt.timedelta(hours=1)
            previous = _offset_hours(hour)
            changes.append((hour, previous))
        else:
            hour += day
    return changes


def _offset_hours(moment_utc: dt.datetime) -> int:
    offset = moment_utc.replace(tzinfo=dt.timezone.utc).astimezone(PARIS).utcoffset()
    return int(offset.total_seconds() // 3600)


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
