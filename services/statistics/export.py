"""« Exporter (CSV) »: the page's figures for a French spreadsheet — UTF-8 with a BOM, « ; »
between cells, one block per table of the page — written line by line for streaming.

Texts typed by people (refusal comments, portal names) end up in cells: adapters.spreadsheet_csv
writes them, never as a formula."""
from __future__ import annotations

from typing import Iterable, Iterator

from adapters import spreadsheet_csv
from formatting import paris_datetime
from services.statistics import Figures
from services.statistics.volumes import MEASURES


def lines(figures: Figures, ae_name: str) -> Iterator[str]:
    return spreadsheet_csv.lines(_rows(figures, ae_name))


def _rows(figures: Figures, ae_name: str) -> Iterable[list]:
    filters = figures.filters
    yield ["Statistiques", ae_name]
    yield ["Période", f"du {filters.since:%d/%m/%Y} au {filters.until:%d/%m/%Y}"]
    yield ["Portail", filters.portal_name or "Tous les portails"]
    yield ["Calculées le", paris_datetime(figures.computed_at)]
    yield []
    yield ["Commandes par semaine"]
    yield ["Semaine", "Du", "Au", *MEASURES.values()]
    for week in figures.volumes.weeks:
        yield [week.iso, f"{week.first_day:%d/%m/%Y}", f"{week.last_day:%d/%m/%Y}", *week.values()]
    yield ["Total", "", "", *figures.volumes.total.values()]
    yield []
    yield ["Commandes par portail"]
    yield ["Portail", *MEASURES.values()]
    for portal in figures.volumes.portals:
        yield [portal.label, *portal.values()]
    yield ["Total", *figures.volumes.total.values()]
    yield []
    yield ["Délais"]
    yield ["Délai", "Commandes", "Médiane (heures)", "90e centile (heures)", "Médiane",
           "90e centile", "Délais mesurés (échantillon au-delà de 10 000)"]
    for delay in figures.delays:
        yield [delay.label, delay.count, _hours(delay.median_hours), _hours(delay.p90_hours),
               delay.median_text, delay.p90_text, delay.measured]
    yield []
    yield ["Commandes en cours par ancienneté (à la date du calcul)"]
    yield ["État", *figures.backlog.buckets, "Total"]
    for line in [*figures.backlog.lines, figures.backlog.totals]:
        yield [line.label, *line.counts, line.total]
    yield []
    yield ["Motifs de refus"]
    yield ["Motif", "Commandes"]
    for item in figures.reasons.refusals:
        yield [item.label, item.count]
    yield ["Total", figures.reasons.refusal_total]
    yield []
    yield ["Causes d'annulation"]
    yield ["Cause", "Commandes"]
    for item in figures.reasons.cancellations:
        yield [item.label, item.count]
    yield []
    yield ["Notifications aux demandeurs"]
    yield ["Type", "Notifications"]
    for item in figures.reasons.notifications:
        yield [item.label, item.count]
    yield ["Total", figures.reasons.notification_total]


def _hours(hours: int | None) -> int | str:
    return "" if hours is None else hours
