"""CSV for a French spreadsheet, the one way every export writes it: « ; » between cells,
CRLF, UTF-8 behind a BOM (what the caller writes first, ``BOM``).

People typed many of the cells (names, file names, comments): a cell starting with « = »,
« + », « - », « @ », a tab or a carriage return would be run by the spreadsheet as a formula,
so it is written with a leading apostrophe (OWASP, « CSV Injection »). Numbers stay numbers.
"""
from __future__ import annotations

import csv
from typing import Iterable, Iterator

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """The cell as the spreadsheet should show it: a number as is, any text never a formula."""
    if isinstance(value, (int, float)):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class SafeWriter:
    """``csv.writer`` with the spreadsheet's dialect, every cell passed through safe_cell."""

    def __init__(self, handle):
        self._writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")

    def writerow(self, row: Iterable) -> None:
        self._writer.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable]) -> None:
        for row in rows:
            self.writerow(row)


class _Line:
    """Where SafeWriter puts one line, handed on at once (streaming)."""

    def write(self, text: str) -> str:
        return text


def lines(rows: Iterable[Iterable]) -> Iterator[str]:
    """The CSV one line at a time, the BOM before the first: a response can stream it."""
    writer = csv.writer(_Line(), delimiter=";", lineterminator="\r\n")
    first = True
    for row in rows:
        line = writer.writerow([safe_cell(cell) for cell in row])
        yield (BOM + line) if first else line
        first = False
