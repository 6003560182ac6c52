"""The orders in progress now — « Validation de la commande » (per sub-state), « Génération du
certificat », « Remise » — by how long since they were received. The period does not apply:
this is today's queue; the « Portail » filter does. One grouped query.

Its « Validation » and « Génération » lines count what the Commandes list's sub-state counters
count (services.orders.order_search.substate_counts) for the same portal."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import SQL, Case, fn

import workflow
from models import Order, OperatorScope
from services.statistics.filters import StatisticsFilters
from services.statistics.scope import open_received_at, order_conditions

# (label, lower bound in days): each bucket runs to the next one's bound.
BUCKETS = (("< 2 jours", 0), ("2–7 jours", 2), ("7–30 jours", 7), ("> 30 jours", 30))
# The lines: the list's sub-state filter code (or the phase for « Remise »), and its label.
STATES = (
    (workflow.SUBSTATE_TO_CHECK, "Validation — à vérifier"),
    (workflow.SUBSTATE_IN_SIGNATURE, "Validation — en signature"),
    (workflow.SUBSTATE_TO_VALIDATE, "Validation — à valider"),
    (workflow.SUBSTATE_ON_HOLD, "Validation — en attente"),
    (workflow.SUBSTATE_TO_REVOKE, "Révocation — à révoquer"),
    (workflow.FILTER_TO_GENERATE, "Génération du certificat — à générer"),
    (workflow.PHASE_HANDOVER, "Remise"),
)
OPEN_PHASES = (workflow.PHASE_VALIDATION, workflow.PHASE_GENERATION, workflow.PHASE_HANDOVER)


@dataclass
class BacklogLine:
    code: str
    label: str
    counts: list[int]   # one per bucket

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass
class Backlog:
    lines: list[BacklogLine]
    totals: BacklogLine

    @property
    def buckets(self) -> list[str]:
        return [label for label, _ in BUCKETS]

    def by_code(self) -> dict[str, int]:
        return {line.code: line.total for line in self.lines}


def compute(scope: OperatorScope, filters: StatisticsFilters, now: dt.datetime) -> Backlog:
    received = open_received_at()
    # Bucket i holds the ages below the next bucket's bound (received after now − bound); a
    # bound itself belongs to the older bucket (« 2–7 jours » from 2 days exactly).
    bucket = Case(None, [(received > now - dt.timedelta(days=upper), index)
                         for index, (_, upper) in enumerate(BUCKETS[1:])],
                  len(BUCKETS) - 1)
    query = (Order
             .select(Order.phase, Order.substate, bucket, fn.COUNT(SQL("*")))
             .where(Order.phase.in_(OPEN_PHASES), *order_conditions(scope, filters))
             .group_by(SQL("1"), SQL("2"), SQL("3")))
    lines = {code: BacklogLine(code, label, [0] * len(BUCKETS)) for code, label in STATES}
    for phase, substate, index, number in query.tuples():
        code = _line_code(phase, substate)
        if code in lines:
            lines[code].counts[int(index)] += number
    totals = BacklogLine("total", "Total", [sum(line.counts[i] for line in lines.values())
                                            for i in range(len(BUCKETS))])
    return Backlog(list(lines.values()), totals)


def _line_code(phase: str, substate: str | None) -> str | None:
    if phase == workflow.PHASE_GENERATION:
        return workflow.FILTER_TO_GENERATE
    if phase == workflow.PHASE_HANDOVER:
        return workflow.PHASE_HANDOVER
    return substate
