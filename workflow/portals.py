"""Rules of an AE's portals and of what they sell, as its admins set them: a portal's name and
ordering code, its contact details for requesters, whether it takes orders (a closed portal
takes none), and an offer's name, validities and media. Pure: values are plain strings, the
portal duck-typed (``name``, ``closed_at``); uniqueness is the database's, checked by the
services.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from models.portal_codes import CODE_MAX, CODE_PATTERN
from workflow.checks import Check
from workflow.identifiers import email_problem, phone_problem
from workflow.ordering import MEDIA

PORTAL_NAME_MAX = 100
ADDRESS_LINES_MAX = 5
LINE_MAX = 100
HOURS_MAX = 200
OFFER_NAME_MAX = 200
DURATIONS = (1, 2, 3)  # years a certificate may be valid


# --- Taking orders -----------------------------------------------------------------------------

def closed_reason(portal_name: str) -> str:
    return (f"Commande impossible : portail fermé. Le portail « {portal_name} » ne prend plus "
            f"de commandes pour l'instant.")


def portal_open_check(portal) -> Check:
    """A closed portal takes no new order, and its drafts cannot be sent until it reopens."""
    return Check.of("portal_open", "Portail de commande ouvert",
                    None if portal.closed_at is None else closed_reason(portal.name))


# --- Name, code, contact -----------------------------------------------------------------------

def _text_problem(value: str, what: str, maximum: int, *, required: bool = True) -> str | None:
    """``what`` is masculine (« Le nom du portail »): every field here is."""
    if not value:
        return f"{what} est obligatoire." if required else None
    if len(value) > maximum or not value.isprintable():
        return f"{what} est trop long ou illisible (maximum {maximum} caractères)."
    return None


def portal_name_problem(name: str) -> str | None:
    return _text_problem(name, "Le nom du portail", PORTAL_NAME_MAX)


def code_problem(code: str) -> str | None:
    """The last part of /commander/<code>: lower-case letters and digits joined by hyphens."""
    if not code:
        return "Le code du portail est obligatoire."
    if len(code) > CODE_MAX or not CODE_PATTERN.fullmatch(code):
        return (f"Le code du portail « {code[:60]} » n'est pas valide : lettres minuscules sans "
                f"accent, chiffres et tirets (par exemple « bpoi-occitanie »), {CODE_MAX} "
                f"caractères au plus.")
    return None


def lines_of(text: str) -> list[str]:
    """The non-blank lines of a typed address, trimmed."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def address_problem(text: str, what: str) -> str | None:
    lines = lines_of(text)
    if len(lines) > ADDRESS_LINES_MAX:
        return f"{what} tient en {ADDRESS_LINES_MAX} lignes au plus."
    if any(len(line) > LINE_MAX or not line.isprintable() for line in lines):
        return f"{what} : chaque ligne fait {LINE_MAX} caractères au plus, sans caractère illisible."
    return None


def contact_problems(values: Mapping[str, str]) -> dict[str, str]:
    """{field: French problem} of a portal's contact details; every field may stay empty."""
    problems = {
        "contact_email": email_problem(values.get("contact_email"),
                                       "L'e-mail de contact du portail", required=False),
        "contact_phone": phone_problem(values.get("contact_phone"),
                                       "Le téléphone de contact du portail"),
        "contact_address": address_problem(values.get("contact_address", ""),
                                           "L'adresse du portail"),
        "contact_hours": _text_problem(values.get("contact_hours", ""),
                                       "Le texte des horaires", HOURS_MAX, required=False),
    }
    return {name: problem for name, problem in problems.items() if problem}


# --- Offers ------------------------------------------------------------------------------------

def offer_problems(name: str, durations: Iterable[str], media: Iterable[str]) -> dict[str, str]:
    """{field: French problem} of an offer as typed: its name, one validity at least among
    1–3 years, one medium at least among « Clé USB » and « Carte à puce »."""
    durations, media = list(durations), list(media)
    problems = {"name": _text_problem(name, "Le nom de l'offre", OFFER_NAME_MAX)}
    if not durations:
        problems["durations"] = "Choisissez au moins une durée de validité (1, 2 ou 3 ans)."
    elif any(value not in {str(years) for years in DURATIONS} for value in durations):
        problems["durations"] = "Une durée de validité est de 1, 2 ou 3 ans."
    if not media:
        problems["media"] = "Choisissez au moins un support (« Clé USB » ou « Carte à puce »)."
    elif any(value not in MEDIA for value in media):
        problems["media"] = "Support inconnu : « Clé USB » ou « Carte à puce »."
    return {field: problem for field, problem in problems.items() if problem}


def durations_text(durations: Iterable[str]) -> str:
    """As stored (« 1,3 »), in increasing order, once each."""
    return ",".join(str(years) for years in DURATIONS if str(years) in set(durations))


def media_text(media: Iterable[str]) -> str:
    return ",".join(code for code in MEDIA if code in set(media))
