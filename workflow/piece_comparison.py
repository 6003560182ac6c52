"""What a piece's machine-readable part says, set against the order: « Lu sur la pièce ».

Pure rules, no I/O. The reading is duck-typed on ``adapters.piece_reader``'s shapes (an object
with ``identity`` — document_type, document_number, surname, given_names, expiry_date,
surname_truncated, given_names_truncated, absent_fields — or ``kbis`` — siren, company_name,
extract_date), so tests can pass ``SimpleNamespace`` objects.

Each field ends in one outcome: agrees, differs (both values shown), unreadable (« illisible »:
never a guess), not carried by the piece's format, or not recorded in the order. The operator
still decides: a difference never blocks by itself (see ``validation_confirmation_problem``).
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

from workflow.identifiers import normalize_id_number, normalize_siren

AGREES = "agrees"
DIFFERS = "differs"
UNREADABLE = "unreadable"      # « illisible »
NOT_CARRIED = "not_carried"    # the piece's format has no such field
NOT_IN_ORDER = "not_in_order"  # the order has no value to compare with

IDENTITY_KINDS = ("holder_id", "legal_rep_id", "mandataire_id")
KBIS_KIND = "kbis"
READ_KINDS = IDENTITY_KINDS + (KBIS_KIND,)
# Which person of the order each identity document is compared with.
PERSON_OF_KIND = {"holder_id": "holder", "legal_rep_id": "legal_representative",
                  "mandataire_id": "mandataire"}
KBIS_MAX_MONTHS = 3

FIELD_SURNAME = "surname"
FIELD_GIVEN_NAMES = "given_names"
FIELD_DOCUMENT_TYPE = "document_type"
FIELD_DOCUMENT_NUMBER = "document_number"
FIELD_EXPIRY = "expiry_date"
FIELD_SIREN = "siren"
FIELD_COMPANY_NAME = "company_name"
FIELD_EXTRACT_DATE = "extract_date"
FIELD_LABELS = {
    FIELD_SURNAME: "Nom",
    FIELD_GIVEN_NAMES: "Prénom",
    FIELD_DOCUMENT_TYPE: "Type de pièce",
    FIELD_DOCUMENT_NUMBER: "N° de la pièce",
    FIELD_EXPIRY: "Date d'expiration",
    FIELD_SIREN: "SIREN",
    FIELD_COMPANY_NAME: "Raison sociale",
    FIELD_EXTRACT_DATE: "Date de l'extrait",
}
DOCUMENT_TYPE_LABELS = {"CNI": "CNI", "PASSEPORT": "Passeport", "TITRE_SEJOUR": "Titre de séjour"}
CONFIRMATION_LABEL = "J'ai vérifié les écarts signalés par la lecture des pièces"


def _date(value: dt.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


@dataclass(frozen=True)
class FieldCheck:
    field: str
    outcome: str
    ordered: str = ""   # the order's value, as shown to the operator
    read: str = ""      # the piece's value, as shown
    note: str = ""      # why it differs when the two values alone do not say it

    @property
    def label(self) -> str:
        return FIELD_LABELS.get(self.field, self.field)

    @property
    def agrees(self) -> bool:
        return self.outcome == AGREES

    @property
    def differs(self) -> bool:
        return self.outcome == DIFFERS

    @property
    def text(self) -> str:
        """The outcome in words (never only a symbol): what screen readers and the ZIP read."""
        if self.outcome == AGREES:
            return "✓ concorde" + (f" : {self.note}" if self.note else "")
        if self.outcome == DIFFERS:
            said = f"✗ diffère : commande « {self.ordered} », pièce « {self.read} »"
            return said + (f" ({self.note})" if self.note else "")
        if self.outcome == NOT_CARRIED:
            return "non porté par ce type de pièce"
        if self.outcome == NOT_IN_ORDER:
            return f"non renseigné dans la commande ; lu sur la pièce : « {self.read} »"
        return "illisible"


# --- Names ---------------------------------------------------------------------------------

_LIGATURES = str.maketrans({"Œ": "OE", "œ": "oe", "Æ": "AE", "æ": "ae", "ß": "ss"})


def name_tokens(text: str | None) -> list[str]:
    """Upper-case ASCII words: accents dropped, hyphens, apostrophes, MRZ fillers ('<') and
    other separators split words."""
    text = unicodedata.normalize("NFKD", (text or "").translate(_LIGATURES))
    text = "".join(c for c in text if not unicodedata.combining(c)).upper()
    return [word for word in re.split(r"[^A-Z0-9]+", text) if word]


def _compact(words: Sequence[str]) -> str:
    # Words joined: « D'ALMEIDA », « D ALMEIDA » and the MRZ's « DALMEIDA » agree.
    return "".join(words)


def _prefix_agrees(ordered: str, read: str) -> bool:
    """A truncated MRZ field agrees when it is the start of the order's value."""
    return bool(read) and ordered.startswith(read)


def surname_check(ordered_name: str | None, read_name: str | None, *,
                  truncated: bool = False, carried: bool = True) -> FieldCheck:
    if not carried:
        return FieldCheck(FIELD_SURNAME, NOT_CARRIED, ordered_name or "")
    ordered, read = _compact(name_tokens(ordered_name)), _compact(name_tokens(read_name))
    if not read:
        return FieldCheck(FIELD_SURNAME, UNREADABLE, ordered_name or "")
    shown_read = " ".join(name_tokens(read_name))
    if not ordered:
        return FieldCheck(FIELD_SURNAME, NOT_IN_ORDER, "", shown_read)
    agrees = ordered == read or (truncated and _prefix_agrees(ordered, read))
    note = "nom tronqué sur la pièce" if agrees and ordered != read else ""
    return FieldCheck(FIELD_SURNAME, AGREES if agrees else DIFFERS, ordered_name or "",
                      shown_read, note)


def given_name_check(ordered_name: str | None, read_names: Iterable[str] | None, *,
                     truncated: bool = False, carried: bool = True) -> FieldCheck:
    """The order's first name (one or several words) agrees when it is one of the piece's given
    names, or several of them in a row (« Jean-Pierre » against JEAN PIERRE MARIE)."""
    if not carried:
        return FieldCheck(FIELD_GIVEN_NAMES, NOT_CARRIED, ordered_name or "")
    read_words = [word for name in (read_names or ()) for word in name_tokens(name)]
    if not read_words:
        return FieldCheck(FIELD_GIVEN_NAMES, UNREADABLE, ordered_name or "")
    shown_read = " ".join(read_words)
    ordered = _compact(name_tokens(ordered_name))
    if not ordered:
        return FieldCheck(FIELD_GIVEN_NAMES, NOT_IN_ORDER, "", shown_read)
    runs = [(_compact(read_words[start:end]), end == len(read_words))
            for start in range(len(read_words)) for end in range(start + 1, len(read_words) + 1)]
    if any(run == ordered for run, _ in runs):
        return FieldCheck(FIELD_GIVEN_NAMES, AGREES, ordered_name or "", shown_read)
    if truncated and any(last and _prefix_agrees(ordered, run) for run, last in runs):
        return FieldCheck(FIELD_GIVEN_NAMES, AGREES, ordered_name or "", shown_read,
                          "prénoms tronqués sur la pièce")
    return FieldCheck(FIELD_GIVEN_NAMES, DIFFERS, ordered_name or "", shown_read)


# --- Identity documents --------------------------------------------------------------------

def document_number_check(ordered_number: str | None, read_number: str | None) -> FieldCheck:
    ordered, read = normalize_id_number(ordered_number), normalize_id_number(read_number)
    if not read:
        return FieldCheck(FIELD_DOCUMENT_NUMBER, UNREADABLE, ordered)
    if not ordered:
        return FieldCheck(FIELD_DOCUMENT_NUMBER, NOT_IN_ORDER, "", read)
    return FieldCheck(FIELD_DOCUMENT_NUMBER, AGREES if ordered == read else DIFFERS, ordered,
                      read)


def document_type_check(ordered_type: str | None, read_type: str | None) -> FieldCheck:
    shown = DOCUMENT_TYPE_LABELS.get(read_type or "", read_type or "")
    if not read_type:
        return FieldCheck(FIELD_DOCUMENT_TYPE, UNREADABLE,
                          DOCUMENT_TYPE_LABELS.get(ordered_type or "", ordered_type or ""))
    if not ordered_type:
        return FieldCheck(FIELD_DOCUMENT_TYPE, NOT_IN_ORDER, "", shown)
    return FieldCheck(FIELD_DOCUMENT_TYPE, AGREES if ordered_type == read_type else DIFFERS,
                      DOCUMENT_TYPE_LABELS.get(ordered_type, ordered_type), shown)


def expiry_check(expiry: dt.date | None, start: dt.date, *, carried: bool = True) -> FieldCheck:
    """Valid at the certificate's start: an expired piece differs from what the order needs."""
    ordered = f"valable au {_date(start)}"
    if not carried:
        return FieldCheck(FIELD_EXPIRY, NOT_CARRIED, ordered)
    if expiry is None:
        return FieldCheck(FIELD_EXPIRY, UNREADABLE, ordered)
    if expiry < start:
        return FieldCheck(FIELD_EXPIRY, DIFFERS, ordered, f"expirée le {_date(expiry)}",
                          f"pièce expirée avant le début du certificat, le {_date(start)}")
    return FieldCheck(FIELD_EXPIRY, AGREES, ordered, f"valable jusqu'au {_date(expiry)}",
                      f"valable jusqu'au {_date(expiry)}")


def compare_identity(identity, *, first_name: str | None, last_name: str | None,
                     start: dt.date, id_number: str | None = None,
                     id_type: str | None = None, with_number: bool = False) -> list[FieldCheck]:
    """An identity document's MRZ against one person of the order. ``with_number``: the holder's
    document, whose type and number the order records (« N° de justificatif d'identité »)."""
    absent = set(getattr(identity, "absent_fields", ()) or ())
    checks = [
        surname_check(last_name, identity.surname, truncated=identity.surname_truncated,
                      carried=FIELD_SURNAME not in absent),
        given_name_check(first_name, identity.given_names,
                         truncated=identity.given_names_truncated,
                         carried=FIELD_GIVEN_NAMES not in absent),
    ]
    if with_number:
        checks.append(document_type_check(id_type, identity.document_type))
        checks.append(document_number_check(id_number, identity.document_number))
    checks.append(expiry_check(identity.expiry_date, start, carried=FIELD_EXPIRY not in absent))
    return checks


# --- KBIS ----------------------------------------------------------------------------------

def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` earlier (the month's last day when it has fewer days)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)  # unreachable


def company_name_check(ordered_name: str | None, read_name: str | None) -> FieldCheck:
    ordered, read = _compact(name_tokens(ordered_name)), _compact(name_tokens(read_name))
    if not read:
        return FieldCheck(FIELD_COMPANY_NAME, UNREADABLE, ordered_name or "")
    if not ordered:
        return FieldCheck(FIELD_COMPANY_NAME, NOT_IN_ORDER, "", read_name or "")
    return FieldCheck(FIELD_COMPANY_NAME, AGREES if ordered == read else DIFFERS,
                      ordered_name or "", (read_name or "").strip())


def siren_check(ordered_siren: str | None, read_siren: str | None) -> FieldCheck:
    ordered, read = normalize_siren(ordered_siren), normalize_siren(read_siren)
    if not read:
        return FieldCheck(FIELD_SIREN, UNREADABLE, ordered)
    if not ordered:
        return FieldCheck(FIELD_SIREN, NOT_IN_ORDER, "", read)
    return FieldCheck(FIELD_SIREN, AGREES if ordered == read else DIFFERS, ordered, read)


def extract_date_check(extract_date: dt.date | None, as_of: dt.date) -> FieldCheck:
    """An extract of less than 3 months on ``as_of`` (the day the order was sent)."""
    limit = months_before(as_of, KBIS_MAX_MONTHS)
    ordered = f"de moins de {KBIS_MAX_MONTHS} mois"
    if extract_date is None:
        return FieldCheck(FIELD_EXTRACT_DATE, UNREADABLE, ordered)
    read = f"extrait du {_date(extract_date)}"
    if extract_date < limit:
        return FieldCheck(FIELD_EXTRACT_DATE, DIFFERS, ordered, read,
                          f"extrait de plus de {KBIS_MAX_MONTHS} mois")
    if extract_date > as_of:
        return FieldCheck(FIELD_EXTRACT_DATE, DIFFERS, ordered, read, "date à venir")
    return FieldCheck(FIELD_EXTRACT_DATE, AGREES, ordered, read, read)


def compare_kbis(kbis, *, company_name: str | None, siren: str | None,
                 as_of: dt.date) -> list[FieldCheck]:
    return [siren_check(siren, kbis.siren),
            company_name_check(company_name, kbis.company_name),
            extract_date_check(kbis.extract_date, as_of)]


# --- One piece of an order -----------------------------------------------------------------

def compare_piece(kind: str, reading, order, *, start: dt.date,
                  as_of: dt.date) -> list[FieldCheck]:
    """``reading`` (a PieceReading) of a document of ``kind`` against ``order`` (duck-typed:
    company, holder, legal_representative, mandataire, id_doc_type, id_doc_number). ``start``:
    the certificate's first day (an ID document must be valid then); ``as_of``: the day the
    order was sent (a KBIS extract must be less than 3 months old then). Nothing to compare (no
    reading, nothing read, no such person): an empty list."""
    if reading is None:
        return []
    if kind == KBIS_KIND:
        kbis = getattr(reading, "kbis", None)
        if kbis is None:
            return []
        return compare_kbis(kbis, company_name=order.company.name, siren=order.company.siren,
                            as_of=as_of)
    person = getattr(order, PERSON_OF_KIND.get(kind, ""), None)
    identity = getattr(reading, "identity", None)
    if identity is None or person is None:
        return []
    holder = kind == "holder_id"
    return compare_identity(identity, first_name=person.first_name, last_name=person.last_name,
                            start=start, id_number=order.id_doc_number if holder else None,
                            id_type=order.id_doc_type if holder else None, with_number=holder)


def differences(checks: Iterable[FieldCheck]) -> list[FieldCheck]:
    return [check for check in checks if check.outcome == DIFFERS]


def number_to_fill(order, holder_checks: Iterable[FieldCheck]) -> str | None:
    """The number read on the holder's ID document when the order records none yet (« Reprendre
    le numéro lu »), or None."""
    if normalize_id_number(order.id_doc_number):
        return None
    for check in holder_checks:
        if check.field == FIELD_DOCUMENT_NUMBER and check.outcome == NOT_IN_ORDER:
            return check.read
    return None


def validation_confirmation_problem(difference_count: int, confirmed: bool) -> str | None:
    """Differences never block by themselves; validating over them asks the AEA to say they
    checked them."""
    if difference_count and not confirmed:
        return (f"La lecture des pièces signale {difference_count} écart"
                f"{'s' if difference_count > 1 else ''} avec la commande : cochez « "
                f"{CONFIRMATION_LABEL} » pour valider.")
    return None
