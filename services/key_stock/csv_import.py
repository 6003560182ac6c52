"""Blank keys received in a batch, imported from the supplier's CSV file: every line is checked
(the form's rules, a serial twice in the file, a serial already in the stock), each problem named
with its line, and the keys are imported all together or not at all.

The file is read by the standard library's ``csv`` (quotes, delimiters inside quotes, line
breaks in a cell), separated by ``;``, ``,`` or a tab — the one the first line uses; a
spreadsheet's UTF-8 (with or without its BOM) and Windows-1252 exports are both read. The
first line names the columns, in any order, with or without accents.
"""
from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass

from peewee import IntegrityError

import workflow
from models import BlankKey, Operator, db
from services.key_stock import events
from services.key_stock.stock import KeyForm, today
from workflow import keys as rules

MAX_BYTES = 1_000_000
MAX_KEYS = 5000
MAX_REASONS_SHOWN = 50
CHUNK = 500
DELIMITERS = (";", ",", "\t")
COLUMNS = {  # field: (its name in French, the names accepted, normalised)
    "serial": ("N° de série", {"ndeserie", "numerodeserie", "nodeserie", "serie", "numeroserie",
                               "nserie", "serial", "serialnumber"}),
    "model_name": ("Modèle", {"modele", "model"}),
    "medium": ("Support", {"support", "type", "medium"}),
    "received_on": ("Date de réception", {"datedereception", "datereception", "reception",
                                          "recuele", "date"}),
    "batch": ("Lot", {"lot", "reference", "lotreference", "lotoureference", "batch"}),
}
REQUIRED = ("serial", "medium", "received_on")
MEDIA = {"cleusb": "usb", "usb": "usb", "cle": "usb", "carteapuce": "card", "carte": "card",
         "smartcard": "card", "card": "card"}
EXPECTED = ("Colonnes attendues sur la première ligne : « N° de série », « Modèle », "
            "« Support » (clé USB ou carte à puce), « Date de réception » (jj/mm/aaaa), « Lot ».")


class ImportRefused(workflow.Refused):
    """The file was refused; nothing was imported. ``reasons`` name each line's problem."""

    def __init__(self, reasons: list[str]):
        shown = reasons[:MAX_REASONS_SHOWN]
        if len(reasons) > MAX_REASONS_SHOWN:
            shown.append(f"… et {len(reasons) - MAX_REASONS_SHOWN} autres erreurs.")
        super().__init__(shown, "key_import")


@dataclass(frozen=True)
class CsvLine:
    number: int  # the line in the file, as a spreadsheet numbers it
    form: KeyForm


def _normal(text: str) -> str:
    """« N° de série » → « ndeserie »: lower case, no accents, letters and digits only."""
    text = unicodedata.normalize("NFKD", text.replace("°", "").lower())
    return "".join(c for c in text if c.isalnum() and not unicodedata.combining(c))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise ImportRefused(["Le fichier n'est pas un fichier texte CSV lisible (UTF-8 ou "
                             "Windows-1252)."]) from None


def _columns(header: list[str]) -> dict[str, int]:
    found = {}
    for index, name in enumerate(header):
        key = next((field for field, (_, names) in COLUMNS.items() if _normal(name) in names),
                   None)
        if key is not None and key not in found:
            found[key] = index
    missing = [COLUMNS[field][0] for field in REQUIRED if field not in found]
    if missing:
        names = ", ".join(f"« {name} »" for name in missing)
        raise ImportRefused([f"Ligne 1 : colonne(s) {names} absente(s). {EXPECTED}"])
    return found


def parse(data: bytes) -> list[CsvLine]:
    """The file's keys, or ImportRefused with every problem found, line by line."""
    if len(data) > MAX_BYTES:
        raise ImportRefused([f"Le fichier dépasse {MAX_BYTES // 1_000_000} Mo : découpez-le."])
    text = _decode(data)
    if not text.strip():
        raise ImportRefused(["Le fichier est vide."])
    first_line = text.splitlines()[0]
    delimiter = max(DELIMITERS, key=first_line.count)  # the column names hold no delimiter
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        columns = _columns(next(reader))
    except csv.Error as error:
        raise ImportRefused([f"Ligne 1 : ligne illisible ({error}). {EXPECTED}"]) from None
    lines, reasons, seen = [], [], {}
    on = today()
    try:
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(lines) >= MAX_KEYS:
                raise ImportRefused([f"Le fichier compte plus de {MAX_KEYS} clés : découpez-le."])
            values = {field: row[index] if index < len(row) else ""
                      for field, index in columns.items()}
            medium = values.get("medium", "")
            form = KeyForm.cleaned(**{**values, "medium": MEDIA.get(_normal(medium), medium)})
            problems = form.problems(on)
            if form.serial and form.serial in seen:
                problems.append(f"le N° de série {form.serial} figure déjà ligne {seen[form.serial]}.")
            seen.setdefault(form.serial, number)
            reasons += [f"Ligne {number} : {_lower_first(p)}" for p in problems]
            lines.append(CsvLine(number, form))
    except csv.Error as error:
        reasons.append(f"Ligne {reader.line_num} : ligne illisible ({error}).")
    if not lines and not reasons:
        raise ImportRefused(["Le fichier ne contient aucune clé (seulement la ligne des colonnes)."])
    if reasons:
        raise ImportRefused(reasons)
    return lines


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def import_keys(ae_id: int, filename: str, data: bytes, *, by: Operator, ip: str = "") -> int:
    """Every key of the file enters the stock « en stock », or none; returns how many."""
    lines = parse(data)
    taken = _in_stock(ae_id, [line.form.serial for line in lines])
    if taken:
        raise ImportRefused([
            f"Ligne {line.number} : la clé n° {line.form.serial} est déjà dans le stock "
            f"({rules.state_label(taken[line.form.serial])})."
            for line in lines if line.form.serial in taken])
    rows = [{"ae": ae_id, "serial": line.form.serial, "model_name": line.form.model_name,
             "medium": line.form.medium, "received_on": rules.parse_date(line.form.received_on),
             "batch": line.form.batch, "added_by": by.id, "added_how": "import"}
            for line in lines]
    with db.atomic():
        try:
            with db.atomic():
                for start in range(0, len(rows), CHUNK):
                    BlankKey.insert_many(rows[start:start + CHUNK]).execute()
        except IntegrityError:
            raise ImportRefused(["Une des clés vient d'être ajoutée au stock par ailleurs : "
                                 "importez de nouveau le fichier."]) from None
        ids = _ids(ae_id, [row["serial"] for row in rows])
        batches = sorted({row["batch"] for row in rows if row["batch"]})
        events.record(events.ACTION_IMPORTED, ids, operator=by, ae_id=ae_id, ip=ip,
                      details={"filename": filename[:200], "count": len(rows),
                               **({"batch": ", ".join(batches)[:300]} if batches else {})})
    return len(rows)


def _in_stock(ae_id: int, serials: list[str]) -> dict[str, str]:
    """Serial -> state of those already in the AE's stock."""
    found = {}
    for start in range(0, len(serials), CHUNK):
        found.update(BlankKey
                     .select(BlankKey.serial, BlankKey.state)
                     .where((BlankKey.ae == ae_id)
                            & BlankKey.serial.in_(serials[start:start + CHUNK]))
                     .tuples())
    return found


def _ids(ae_id: int, serials: list[str]) -> list[int]:
    ids = []
    for start in range(0, len(serials), CHUNK):
        ids += [key_id for (key_id,) in BlankKey
                .select(BlankKey.id)
                .where((BlankKey.ae == ae_id)
                       & BlankKey.serial.in_(serials[start:start + CHUNK]))
                .tuples()]
    return ids
