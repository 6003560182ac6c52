"""« Exporter (CSV) »: the page's figures for a French spreadsheet — UTF-8 with a BOM, « ; »
between cells, one block per table of the page — written line by line for streaming.

Texts typed by people (refusal comments, portal names) end up in cells: a cell that starts
with « = », « + », « - », « @ » (or a tab or carriage return) would be read as a formula by
the spreadsheet, so it is given a leading apostrophe (OWASP's advice on CSV injection)."""
from __future__ import annotations

import csv
import io
from typing import Iterable, Iterator

from formatting import paris_datetime
from services.statistics import Figures
from services.statistics.volumes import MEASURES

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str | int:
    """A cell the spreadsheet shows as typed: numbers stay numbers, formulas become text."""
    if isinstance(value, int):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def lines(figures: Figures, ae_name: str) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    first = True
    for row in _rows(figures, ae_name):
        writer.writerow([safe_cell(cell) for cell in row])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        yield ("\ufeff" + text) if first else text
        first = False


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
