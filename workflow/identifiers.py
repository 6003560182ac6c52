"""Field checks shared by forms and guards: the Contact OTP (mobile or e-mail), the holder's
identity document number, the SIREN, a written comment. Each ``*_problem`` returns why a value
is not acceptable, in French, or None; each ``normalize_*`` gives the form to store.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from workflow.checks import Refused

# Digits and the usual separators only: phonenumbers would otherwise read letters as keypad digits.
_PHONE_TEXT = re.compile(r"\+?[0-9 .\-()/]+")
# An OTP goes out by SMS: a landline, VoIP (09…) or special number cannot receive it.
_SMS_CAPABLE_TYPES = {phonenumbers.PhoneNumberType.MOBILE,
                      phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def _valid_phone_number(text: str) -> phonenumbers.PhoneNumber | None:
    if not _PHONE_TEXT.fullmatch(text):
        return None
    try:
        number = phonenumbers.parse(text, "FR")
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def otp_contact_problem(value: str | None) -> str | None:
    """Why the Contact OTP cannot receive the activation code, or None if it can."""
    text = (value or "").strip()
    if not text:
        return "Le Contact OTP est vide."
    not_a_contact = (f"Le Contact OTP « {text} » n'est ni un numéro de mobile valide "
                     f"ni une adresse e-mail valide.")
    if "@" in text:
        try:
            validate_email(text, check_deliverability=False)
        except EmailNotValidError:
            return not_a_contact
        return None
    number = _valid_phone_number(text)
    if number is None:
        return not_a_contact
    if phonenumbers.number_type(number) not in _SMS_CAPABLE_TYPES:
        return (f"Le Contact OTP « {text} » n'est pas un numéro de mobile : le code d'activation "
                f"est envoyé par SMS, qu'un numéro fixe ne peut pas recevoir.")
    return None


def normalize_otp_contact(value: str | None) -> str:
    """Canonical form to store: E.164 for a mobile, normalised address for an e-mail."""
    text = (value or "").strip()
    if otp_contact_problem(text) is not None:
        return text
    if "@" in text:
        return validate_email(text, check_deliverability=False).normalized
    number = _valid_phone_number(text)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_problem(value: str | None, what: str, *, required: bool = True) -> str | None:
    """Why ``value`` is not an e-mail address; ``what`` names the field (« L'e-mail du porteur »)."""
    text = (value or "").strip()
    if not text:
        return f"{what} est obligatoire." if required else None
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return f"{what} « {text[:80]} » n'est pas une adresse e-mail valide."
    return None


def normalize_email(value: str | None) -> str:
    text = (value or "").strip()
    return validate_email(text, check_deliverability=False).normalized if text else ""


def phone_problem(value: str | None, what: str) -> str | None:
    """Why ``value`` is not a telephone number (an empty one is accepted)."""
    text = (value or "").strip()
    if text and _valid_phone_number(text) is None:
        return f"{what} « {text[:40]} » n'est pas un numéro de téléphone valide."
    return None


class _IdNumberFormat(NamedTuple):
    noun: str         # as written after « N° de »
    pattern: re.Pattern
    expected: str     # the format, in words, for the error message


_ID_NUMBER_FORMATS = {
    "CNI": _IdNumberFormat(
        "CNI", re.compile(r"[A-Z0-9]{12}|[A-Z0-9]{9}"),
        "12 caractères (ancien format, ex. 880692310285) "
        "ou 9 lettres et chiffres (format depuis 2021, ex. X4RTBPFW4)"),
    "PASSEPORT": _IdNumberFormat(
        "passeport", re.compile(r"[0-9]{2}[A-Z]{2}[0-9]{5}"),
        "2 chiffres, 2 lettres puis 5 chiffres (ex. 18AB12345)"),
    "TITRE_SEJOUR": _IdNumberFormat(
        "titre de séjour", re.compile(r"[0-9]{10}"),
        "10 chiffres (ex. 1234567890)"),
}


def normalize_id_number(number: str | None) -> str:
    """Stored form of an ID document number: no spaces, upper case."""
    return re.sub(r"\s+", "", number or "").upper()


def id_document_problem(doc_type: str | None, number: str | None) -> str | None:
    """Why the holder's ID document (type + number) is not properly recorded, or None."""
    normalized = normalize_id_number(number)
    if not normalized:
        return "Le N° de justificatif d'identité du porteur n'est pas renseigné."
    if not doc_type:
        return ("Le type de justificatif d'identité du porteur (CNI, Passeport ou "
                "Titre de séjour) n'est pas renseigné.")
    id_format = _ID_NUMBER_FORMATS.get(doc_type)
    if id_format is None:
        return (f"Type de justificatif d'identité inconnu : « {doc_type} » "
                f"(attendu : CNI, Passeport ou Titre de séjour).")
    if not id_format.pattern.fullmatch(normalized):
        return (f"Le N° de {id_format.noun} « {(number or '').strip()} » n'est pas valide : "
                f"format attendu {id_format.expected}.")
    return None


SIREN_ICD_PREFIX = "0002"  # ISO 6523 code of the SIRENE register
_SIREN_SEPARATORS = re.compile(r"[\s.\-:]")


def normalize_siren(text: str | None) -> str:
    """The 9-digit SIREN out of what a person types: spaces, dots and the 0002 prefix allowed."""
    compact = _SIREN_SEPARATORS.sub("", text or "")
    if len(compact) == 13 and compact.startswith(SIREN_ICD_PREFIX):
        compact = compact[len(SIREN_ICD_PREFIX):]
    return compact


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def siren_problem(siren: str | None) -> str | None:
    normalized = normalize_siren(siren)
    if not normalized:
        return "Le SIREN n'est pas renseigné."
    if not (len(normalized) == 9 and normalized.isascii() and normalized.isdigit()):
        return f"Le SIREN « {(siren or '').strip()} » doit comporter 9 chiffres."
    if not _luhn_valid(normalized):
        return f"Le SIREN « {normalized} » n'est pas valide : sa clé de contrôle est incorrecte."
    return None


def format_siren(siren: str | None) -> str:
    """Display form « 0002 434202180 »; anything that is not 9 digits is shown unchanged."""
    normalized = normalize_siren(siren)
    if len(normalized) == 9 and normalized.isascii() and normalized.isdigit():
        return f"{SIREN_ICD_PREFIX} {normalized}"
    return (siren or "").strip()


COMMENT_MAX = 2000  # characters, for a hold or refusal comment and a signer's reason


def comment_problem(text: str | None, what: str) -> str | None:
    """A comment the operator must write (hold, refusal) or a signer's reason for declining."""
    text = (text or "").strip()
    if not text:
        return f"{what} est obligatoire."
    if len(text) > COMMENT_MAX:
        return f"{what} est trop long ({len(text)} caractères, maximum {COMMENT_MAX})."
    return None


def checked_comment(text: str | None, what: str) -> str:
    """The comment, stripped; ``Refused`` when comment_problem finds one."""
    problem = comment_problem(text, what)
    if problem:
        raise Refused([problem])
    return (text or "").strip()
