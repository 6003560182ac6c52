"""Orders received, validated, generated and cancelled, per ISO week (Paris time) and per
portal: four grouped queries, each giving (week, portal, number) rows.

- reçue: see services.orders.reception.received_at — the Commandes list with « Dates de
  réception » shows, for the same dates and portal, exactly the orders counted here;
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

from peewee import SQL, Select, fn

import workflow
from models import HolderCertificate, Order, OperatorScope, db
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
    portal_id: int | None = None  # a portal's line: its id (the list of its received orders)

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
    portals = {portal.id: Counts(portal.name, portal_id=portal.id) for portal in scope.portals()
               if filters.portal_id in (None, portal.id)}
    total = Counts("Total")

    def add(index: int, portal_id: int, measure: str, number: int) -> None:
        weeks[index].add(measure, number)
        portals[portal_id].add(measure, number)
        total.add(measure, number)

    measures = ("received", "received", "validated", "cancelled")
    for index, portal_id, *numbers in _order_counts(scope, weeks, list(portals)).tuples():
        for measure, number in zip(measures, numbers):
            if portal_id in portals:  # -1 stands for none when the operator sees no portal
                add(index, portal_id, measure, number)
    for index, portal_id, number in _generated(scope, filters, weeks).tuples():
        if portal_id in portals:  # always, by the query's conditions
            add(index, portal_id, "generated", number)
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


def _order_counts(scope: OperatorScope, weeks: list[Week], portal_ids: list[int]):
    """Per (week, portal) — the weeks as UTC ranges, the portals those the operator counts (the
    scope's, or the one filtered on) — the orders received (sent; or created, for those never
    drafts), validated and cancelled: each a COUNT over one range of an (ae, portal, time…)
    index, read from the index alone, where grouping the orders would decode and sort each."""
    cells = time_sql.cells([(week.first_day, week.last_day) for week in weeks], portal_ids)

    def count(column, *conditions):
        return (Order
                .select(fn.COUNT(SQL("*")))
                .where(Order.ae == scope.ae_id, Order.portal == cells.c.portail,
                       column >= cells.c.debut, column < cells.c.fin, *conditions))

    return (Select((cells,), (
        cells.c.k, cells.c.portail,
        count(Order.submitted_at),
        count(Order.created_at, *received_since_created()),
        count(Order.validated_at),
        # Outside « Validation » the sub-state is always NULL (workflow.compute_substate):
        # saying so reads the cancelled orders in the (ae, phase, substate, portal, …) index.
        count(Order.state_since, Order.phase == workflow.PHASE_CANCELLED,
              Order.substate.is_null(), received_at().is_null(False))))
        .with_cte(cells)
        .bind(db))


def _generated(scope: OperatorScope, filters: StatisticsFilters, weeks: list[Week]):
    """Orders whose certificate was written, per (week, portal): the certificates' times lead
    (each week one range of their index), their orders are then read by id for the portal."""
    bounds = time_sql.ranges([(week.first_day, week.last_day) for week in weeks])
    written = HolderCertificate.written_at
    return (HolderCertificate
            .select(bounds.c.k, Order.portal, fn.COUNT(fn.DISTINCT(HolderCertificate.order)))
            .join(Order, on=(HolderCertificate.order == Order.id))
            .join(bounds, on=((written >= bounds.c.debut) & (written < bounds.c.fin)))
            .where(*order_conditions(scope, filters, leading=False))
            .group_by(SQL("1"), SQL("2"))
            .with_cte(bounds))
