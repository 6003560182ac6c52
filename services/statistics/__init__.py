"""« Statistiques »: an RA team's volumes and delays over a period, for one or all of the
operator's portals — orders received, validated, generated and cancelled per week and per
portal (volumes), the median and 90th percentile of two delays (delays), today's orders in
progress by age (backlog), and the reasons for refusals, cancellations and notifications
(reasons). Every figure is counted in the database by grouped queries scoped like the
Commandes list (services.statistics.scope); charts (charts) and the CSV (export) are built
from the same figures, so the page, its charts and its export always agree.

« Reçue » means one thing everywhere: services.orders.reception.received_at, which the Commandes
list's « Dates de réception » filter on too (the page links its received orders to that list).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models import OperatorScope
from services.statistics import backlog, charts, delays, reasons, volumes
from services.statistics.filters import StatisticsFilters, parse as parse_filters

ACTION_EXPORTED = "statistics_exported"
AUDIT_ACTIONS = {ACTION_EXPORTED: "Statistiques exportées (CSV)"}

__all__ = ["AUDIT_ACTIONS", "ACTION_EXPORTED", "Figures", "StatisticsFilters", "figures",
           "parse_filters"]


@dataclass(frozen=True)
class Figures:
    filters: StatisticsFilters
    computed_at: dt.datetime     # naive UTC: the backlog's « now »
    volumes: volumes.Volumes
    delays: list[delays.Delay]
    backlog: backlog.Backlog
    reasons: reasons.Reasons

    @property
    def weekly_chart(self) -> charts.Chart:
        weeks = self.volumes.weeks
        return charts.grouped_bars(
            "graphique-semaines", "Commandes par semaine",
            "Diagramme en barres : pour chaque semaine de la période, les commandes reçues, "
            "validées, générées et annulées. Les valeurs sont dans le tableau qui suit.",
            [f"{week.label}, du {week.first_day:%d/%m} au {week.last_day:%d/%m}" for week in weeks],
            list(volumes.MEASURES.values()), [week.values() for week in weeks],
            [f"S{week.monday.isocalendar()[1]}" for week in weeks])

    @property
    def backlog_chart(self) -> charts.Chart:
        return charts.grouped_bars(
            "graphique-anciennete", "Commandes en cours par ancienneté",
            "Diagramme en barres : les commandes en cours (validation, génération, remise) "
            "selon le temps écoulé depuis leur réception. Les valeurs sont dans le tableau qui "
            "suit.",
            self.backlog.buckets, ["Commandes en cours"],
            [[count] for count in self.backlog.totals.counts], self.backlog.buckets)


def figures(scope: OperatorScope, filters: StatisticsFilters, now: dt.datetime) -> Figures:
    """Every figure of the page for the operator's scope and the filters."""
    return Figures(filters, now, volumes.compute(scope, filters), delays.compute(scope, filters),
                   backlog.compute(scope, filters, now), reasons.compute(scope, filters))
