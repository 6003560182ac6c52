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
    portals = {portal.id: Counts(portal.name) for portal in scope.portals()
               if filters.portal_id in (None, portal.id)}
    total = Counts("Total")
    for name, query in _queries(scope, filters, weeks).items():
        measure = name.partition("_when")[0]
        for index, portal_id, number in query.tuples():
            if portal_id not in portals:
                continue  # a portal out of the operator's reach (never, by the conditions)
            weeks[index].add(measure, number)
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


def _queries(scope: OperatorScope, filters: StatisticsFilters, weeks: list[Week]) -> dict:
    """Each measure counted per (week, portal): the weeks are a list of (index, first instant,
    instant after) in UTC, joined on the measure's time — one index range per week, where a
    time-zone conversion of every row would cost more than the count itself."""
    bounds = time_sql.ranges([(week.first_day, week.last_day) for week in weeks])
    scoped = order_conditions(scope, filters)
    joined = order_conditions(scope, filters, leading=False)

    def grouped(model, column, *conditions, counted=SQL("*")):
        within = (column >= bounds.c.debut) & (column < bounds.c.fin)
        query = model.select(bounds.c.k, Order.portal, fn.COUNT(counted))
        if model is Order:
            query = query.join(bounds, on=within).where(*scoped, *conditions)
        else:  # the certificates' times lead; their orders are then read by id
            query = (query
                     .join(Order, on=(HolderCertificate.order == Order.id))
                     .join(bounds, on=within)
                     .where(*joined, *conditions))
        return query.group_by(SQL("1"), SQL("2"))

    # Received: sent in the period, or created in it for orders that never were drafts. Two
    # queries, each read in the order of its own column (as one UNION ALL, SQLite took twice
    # as long).
    queries = {
        "received": grouped(Order, Order.submitted_at),
        "received_when_created": grouped(Order, Order.created_at, *received_since_created()),
        "validated": grouped(Order, Order.validated_at),
        "generated": grouped(HolderCertificate, HolderCertificate.written_at,
                             counted=fn.DISTINCT(HolderCertificate.order)),
        # Outside « Validation » the sub-state is always NULL (workflow.compute_substate):
        # saying so reads the cancelled orders in the (ae, phase, substate, …) index.
        "cancelled": grouped(Order, Order.state_since, Order.phase == workflow.PHASE_CANCELLED,
                             Order.substate.is_null(), received_at().is_null(False)),
    }
    return {measure: query.with_cte(bounds) for measure, query in queries.items()}
