"""Median and 90th percentile of two delays, in hours:

- « Réception → validation »: for the orders validated in the period, from their receipt
  (services.orders.reception.received_at: a validated order was always received) to
  « Valider »;
- « Validation → remise »: for each hand-over of a key in the period (``Activation
  .delivered_at``), from the order's « Valider » to it. A key handed over again (lost,
  replaced) counts again, with its longer delay: rare enough not to move the percentiles, and
  telling it apart would cost a lookup per hand-over.

The database returns each delay rounded to the hour and counted (a histogram: a few hundred
rows whatever the number of orders); the percentiles are read from it by nearest rank — the
smallest delay that at least p % of the orders did not exceed, a delay one of them had.

The number of orders is exact. From 2 × SAMPLE orders on (a busy year of a large AE), the delays
are measured on a systematic sample — every n-th order by id, the same from one view to the
next — of SAMPLE to 2 × SAMPLE orders, and the page says so: on the benchmark archive the
percentiles moved by 1 to 4 hours (2 % at most), where each delay measured costs a lookup and
date arithmetic."""
from __future__ import annotations

import math
from dataclasses import dataclass

from peewee import SQL, fn

from models import Activation, Order, OperatorScope
from services.statistics import time_sql
from services.statistics.filters import StatisticsFilters
from services.statistics.scope import open_received_at, order_conditions


SAMPLE = 5_000


@dataclass(frozen=True)
class Delay:
    label: str
    count: int                 # orders the delay is about
    median_hours: int | None   # None: no order to measure
    p90_hours: int | None
    measured: int = 0          # delays the percentiles were read from (count, or a sample)

    @property
    def sampled(self) -> bool:
        return self.measured < self.count

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
    validated = (Order
                 .select()
                 .where(Order.validated_at >= start, Order.validated_at < end,
                        *order_conditions(scope, filters)))
    to_validation = time_sql.hours_between(Order.validated_at, open_received_at())
    handed_over = (Activation
                   .select()
                   .join(Order, on=(Activation.order == Order.id))
                   .where(Activation.delivered_at >= start, Activation.delivered_at < end,
                          Order.validated_at.is_null(False),
                          *order_conditions(scope, filters, leading=False)))
    to_handover = time_sql.hours_between(Activation.delivered_at, Order.validated_at)
    return [_summary("Réception → validation", validated, to_validation, Order.id),
            _summary("Validation → remise de la clé", handed_over, to_handover,
                     Activation.order)]


def _summary(label: str, rows, hours, order_id) -> Delay:
    """``rows``: the orders the delay is about; ``hours``: the delay of one, ``order_id``: the
    id the sample is drawn on."""
    count = rows.select(fn.COUNT(SQL("*"))).scalar() or 0
    step = max(1, count // SAMPLE)
    measured = rows.select(hours, fn.COUNT(SQL("*"))).group_by(SQL("1"))
    if step > 1:
        # The remainder by integer division: peewee reads « % » as LIKE, psycopg2 as a
        # parameter, and SQLite may lack mod().
        measured = measured.where(order_id - (order_id / step) * step == 0)
    histogram = sorted((max(0, h), n) for h, n in measured.tuples())
    return Delay(label, count, percentile(histogram, 0.5), percentile(histogram, 0.9),
                 sum(n for _, n in histogram))
