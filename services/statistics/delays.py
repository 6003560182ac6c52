"""Median and 90th percentile of two delays, in hours:

- « Réception → validation »: for the orders validated in the period, from their receipt
  (services.statistics.scope.received_at: a validated order was always received) to
  « Valider »;
- « Validation → remise »: for the orders whose key was handed over in the period (their first
  hand-over, ``Activation.delivered_at``), from « Valider » to the hand-over.

The database returns each delay rounded to the hour and counted (a histogram: a few hundred
rows whatever the number of orders); the percentiles are read from it by nearest rank — the
smallest delay that at least p % of the orders did not exceed, a delay one of them had."""
from __future__ import annotations

import math
from dataclasses import dataclass

from peewee import SQL, fn

from models import Activation, Order, OperatorScope
from services.statistics import time_sql
from services.statistics.filters import StatisticsFilters
from services.statistics.scope import open_received_at, order_conditions


@dataclass(frozen=True)
class Delay:
    label: str
    count: int                 # orders measured
    median_hours: int | None   # None: no order to measure
    p90_hours: int | None

    @property
    def median_text(self) -> str:
        return readable_hours(self.median_hours)

    @property
    def p90_text(self) -> str:
        return readable_hours(self.p90_hours)


def readable_hours(hours: int | None) -> str:
    """« 5 h », « 2 j 5 h », « 3 j », « moins d'1 h »; « — » when nothing was measured."""
    if hours is None:
        return "—"
    if hours <= 0:
        return "moins d'1 h"
    days, rest = divmod(hours, 24)
    if not days:
        return f"{rest} h"
    return f"{days} j {rest} h" if rest else f"{days} j"


def percentile(histogram: list[tuple[int, int]], share: float) -> int | None:
    """Nearest rank over (value, count) pairs sorted by value: the value at rank ⌈share × n⌉."""
    total = sum(count for _, count in histogram)
    if not total:
        return None
    rank, seen = max(1, math.ceil(share * total)), 0
    for value, count in histogram:
        seen += count
        if seen >= rank:
            return value
    return histogram[-1][0]


def compute(scope: OperatorScope, filters: StatisticsFilters) -> list[Delay]:
    start, end = filters.start_utc, filters.end_utc
    to_validation = time_sql.hours_between(Order.validated_at, open_received_at())
    validated = (Order
                 .select(to_validation, fn.COUNT(SQL("*")))
                 .where(Order.validated_at >= start, Order.validated_at < end,
                        *order_conditions(scope, filters))
                 .group_by(SQL("1")))
    # The order's first hand-over: looking for an earlier one costs an index probe per row,
    # so it is only done for the few orders handed over more than once (a key lost or
    # replaced), found in one pass over the (order, delivered_at) index.
    earlier = Activation.alias()
    repeated = (earlier
                .select(earlier.order)
                .group_by(earlier.order)
                .having(fn.COUNT(SQL("*")) > 1))
    first_handover = (Activation.order.not_in(repeated)
                      | ~fn.EXISTS(earlier
                                   .select(SQL("1"))
                                   .where((earlier.order == Activation.order)
                                          & (earlier.delivered_at < Activation.delivered_at))))
    to_handover = time_sql.hours_between(Activation.delivered_at, Order.validated_at)
    handed_over = (Activation
                   .select(to_handover, fn.COUNT(SQL("*")))
                   .join(Order, on=(Activation.order == Order.id))
                   .where(Activation.delivered_at >= start, Activation.delivered_at < end,
                          Order.validated_at.is_null(False), first_handover,
                          *order_conditions(scope, filters, leading=False))
                   .group_by(SQL("1")))
    return [_summary("Réception → validation", validated),
            _summary("Validation → remise de la clé", handed_over)]


def _summary(label: str, query) -> Delay:
    histogram = sorted((max(0, hours), count) for hours, count in query.tuples())
    return Delay(label, sum(count for _, count in histogram), percentile(histogram, 0.5),
                 percentile(histogram, 0.9))
