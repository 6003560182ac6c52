"""The SIREN, the company name and the date of a KBIS extract, from the text of its PDF
(``pdftotext -layout``). Standard library only: the sandboxed worker imports this by path.

What is accepted (anything else leaves the field None; so do two different values):
- SIREN: nine digits, grouped 3-3-3 or not, next to « R.C.S. » / « RCS » (« 123 456 789
  R.C.S. Paris », « RCS Paris 123 456 789 ») or after « Immatriculation au RCS, numéro »,
  « SIREN » or « N° d'identification »; its Luhn check must pass.
- Company name: the value after « Dénomination ou raison sociale », « Dénomination » or
  « Raison sociale », on the same line (after spaces or a colon) or on the next one.
- Extract date: « à jour au jj/mm/aaaa » or « à jour au 3 janvier 2024 »; failing that, the
  registry's issue line « Délivré le … » / « Date de délivrance … » / « Fait à …, le … ».
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata

MONTHS = {name: number for number, name in enumerate(
    ("janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre",
     "octobre", "novembre", "decembre"), start=1)}
_DIGITS9 = r"(\d{3}[ \u00a0.]?\d{3}[ \u00a0.]?\d{3})"
_SIREN_PATTERNS = (
    re.compile(_DIGITS9 + r"\s+R\.?\s?C\.?\s?S\.?\b", re.I),
    re.compile(r"\bR\.?\s?C\.?\s?S\.?\s+[A-Za-zÀ-ÿ' -]{2,40}?\s+" + _DIGITS9 + r"\b", re.I),
    re.compile(r"immatriculation au r\.?c\.?s\.?,?\s*num[ée]ro\s*:?\s*" + _DIGITS9, re.I),
    re.compile(r"\b(?:SIREN|N° d'identification)\s*:?\s*" + _DIGITS9 + r"\b", re.I),
)
_NAME_LABEL = re.compile(r"^\s*(d[ée]nomination(?: ou raison sociale)?|raison sociale)"
                         r"\s*(?::|\s{2,}|$)(.*)$", re.I)
_DATE = (r"(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})"
         r"|(\d{1,2})(?:er)?\s+([a-zéû]+)\s+(\d{4})")
_UP_TO_DATE = re.compile(r"[àa] jour au\s+(?:" + _DATE + ")", re.I)
_ISSUED = re.compile(r"(?:d[ée]livr[ée] le|date de d[ée]livrance\s*:?|fait [àa] [^,\n]{1,40},"
                     r"\s*le)\s+(?:" + _DATE + ")", re.I)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def parse_kbis(text: str) -> tuple[dict, int | None]:
    """The fields (ISO date) and the 1-based page (form feeds split pages) the SIREN or the
    name came from."""
    pages = text.split("\f")
    siren, siren_page = _one(_sirens(page) for page in pages)
    name, name_page = _one(_names(page) for page in pages)
    extract = _first_date(_UP_TO_DATE, text) or _first_date(_ISSUED, text)
    fields = {"siren": siren, "company_name": name,
              "extract_date": extract.isoformat() if extract else None}
    return fields, siren_page or name_page


def _one(per_page) -> tuple[str | None, int | None]:
    """The one value found, with its first page; None when none, or when two disagree."""
    values, first = set(), None
    for number, found in enumerate(per_page, start=1):
        if found and first is None:
            first = number
        values |= found
    return (values.pop(), first) if len(values) == 1 else (None, None)


def _sirens(page: str) -> set[str]:
    found = set()
    for pattern in _SIREN_PATTERNS:
        for match in pattern.finditer(page):
            digits = re.sub(r"\D", "", match.group(1))
            if len(digits) == 9 and luhn_ok(digits):
                found.add(digits)
    return found


def _names(page: str) -> set[str]:
    found = set()
    lines = page.splitlines()
    for i, line in enumerate(lines):
        match = _NAME_LABEL.match(line)
        if not match:
            continue
        value = match.group(2).strip(" :\u00a0")
        if not value:  # the value on the next non-empty line
            value = next((following.strip() for following in lines[i + 1:i + 3]
                          if following.strip()), "")
        value = re.sub(r"\s{2,}", " ", value)
        if value and not _NAME_LABEL.match(value):
            found.add(value)
    return found


def _first_date(pattern: re.Pattern, text: str) -> dt.date | None:
    for match in pattern.finditer(text):
        day = _to_date(match.groups())
        if day is not None:
            return day
    return None


def _to_date(groups: tuple) -> dt.date | None:
    day, month, year, day2, month_name, year2 = groups
    try:
        if day:
            return dt.date(int(year), int(month), int(day))
        key = unicodedata.normalize("NFKD", month_name.lower()).encode("ascii", "ignore").decode()
        if key not in MONTHS:
            return None
        return dt.date(int(year2), MONTHS[key], int(day2))
    except ValueError:
        return None
