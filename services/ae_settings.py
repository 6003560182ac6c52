"""« Paramètres de l'AE »: the AE's identity (name, postal address, contact e-mail and
telephone) that signs its e-mails and documents, the four-eyes rule of validation, and whether
the activity digest goes out when there is nothing to report. Each change is one transaction
with its audit event, {"avant": …, "après": …}.

``ae_identity`` is the one way to read how the AE presents itself: the e-mails' signature
uses it, and so can a generated document.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from peewee import IntegrityError

import workflow
from models import AE, Operator, db
from services import audit
from services.portals import FormRefused
from workflow import portals as rules

ACTION_IDENTITY = "ae_identity_changed"
ACTION_FOUR_EYES = "ae_four_eyes_changed"
ACTION_DIGEST_EMPTY = "ae_digest_send_empty_changed"
ACTION_LATE_AFTER = "ae_late_after_changed"
ACTION_REMINDERS = "ae_reminders_changed"
ACTION_EXPIRY_REMINDERS = "ae_expiry_reminders_changed"
LATE_AFTER_MAX = 365
EXPIRY_DAYS_MAX, EXPIRY_REMINDERS_MAX = 365, 5
AUDIT_ACTIONS = {
    ACTION_LATE_AFTER: "Seuil de retard des dossiers modifié",
    ACTION_REMINDERS: "Relances automatiques modifiées",
    ACTION_IDENTITY: "Identité de l'AE modifiée",
    ACTION_FOUR_EYES: "Contrôle à quatre yeux modifié",
    ACTION_DIGEST_EMPTY: "Envoi du résumé d'activité vide modifié",
    ACTION_EXPIRY_REMINDERS: "Relances avant expiration des certificats modifiées",
}
AE_NAME_MAX = 100
YES, NO = "oui", "non"


@dataclass(frozen=True)
class AEIdentity:
    """How the AE presents itself in e-mails and documents."""
    name: str
    address_lines: tuple[str, ...]
    email: str
    phone: str

    @property
    def contact_lines(self) -> list[str]:
        """The postal address, then the e-mail and telephone given, on one line."""
        contact = [part for part in (self.email and f"E-mail : {self.email}",
                                     self.phone and f"Téléphone : {self.phone}") if part]
        return [*self.address_lines, *([" — ".join(contact)] if contact else [])]

    @property
    def signature_lines(self) -> list[str]:
        """The signature block: « Autorité d'Enregistrement <nom> », then the contact lines."""
        return [f"Autorité d'Enregistrement {self.name}", *self.contact_lines]


def ae_identity(ae: AE) -> AEIdentity:
    return AEIdentity(ae.name, tuple(rules.lines_of(ae.postal_address or "")),
                      ae.contact_email or "", ae.contact_phone or "")


def mail_signature(ae: AE) -> tuple[str, ...]:
    """The e-mails' signature block; none while the AE has given no address nor contact (its
    name alone is already in every e-mail's footer)."""
    identity = ae_identity(ae)
    return tuple(identity.signature_lines) if identity.contact_lines else ()


# --- Identity ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class IdentityForm:
    name: str
    postal_address: str
    contact_email: str
    contact_phone: str


def identity_form(ae: AE) -> IdentityForm:
    return IdentityForm(ae.name, ae.postal_address or "", ae.contact_email or "",
                        ae.contact_phone or "")


IDENTITY_WORDS = {"name": "nom", "postal_address": "adresse postale",
                  "contact_email": "e-mail", "contact_phone": "téléphone"}


def _name_problem(ae_id: int, name: str) -> str | None:
    if not name:
        return "Le nom de l'AE est obligatoire."
    if len(name) > AE_NAME_MAX or not name.isprintable():
        return f"Le nom de l'AE est trop long ou illisible (maximum {AE_NAME_MAX} caractères)."
    if AE.select().where((AE.name == name) & (AE.id != ae_id)).exists():
        return f"Une autre AE s'appelle déjà « {name} »."
    return None


def _identity_problems(ae_id: int, typed: dict[str, str]) -> dict[str, str]:
    problems = {
        "name": _name_problem(ae_id, typed["name"]),
        "postal_address": rules.address_problem(typed["postal_address"], "L'adresse postale"),
        "contact_email": workflow.email_problem(typed["contact_email"],
                                                "L'e-mail de contact de l'AE", required=False),
        "contact_phone": workflow.phone_problem(typed["contact_phone"],
                                                "Le téléphone de l'AE"),
    }
    return {field: problem for field, problem in problems.items() if problem}


def set_identity(ae: AE, form: IdentityForm, *, by: Operator | None = None,
                 ip: str = "") -> bool:
    """Store the AE's name and addresses; False when unchanged. FormRefused otherwise."""
    typed = {name: value.strip() for name, value in form.__dict__.items()}
    problems = _identity_problems(ae.id, typed)
    if problems:
        raise FormRefused(problems)
    new = {**typed, "contact_email": workflow.normalize_email(typed["contact_email"]),
           "postal_address": "\n".join(rules.lines_of(typed["postal_address"]))}
    try:
        with db.atomic():
            old = identity_form(AE.get_by_id(ae.id)).__dict__
            changed = [name for name in new if new[name] != old[name]]
            if not changed:
                return False
            AE.update(**{name: new[name] if name == "name" else new[name] or None
                         for name in new}).where(AE.id == ae.id).execute()
            audit.record(ACTION_IDENTITY, operator=by, ae=ae.id, ip=ip,
                         details={"avant": {IDENTITY_WORDS[name]: old[name] for name in changed},
                                  "après": {IDENTITY_WORDS[name]: new[name] for name in changed}})
    except IntegrityError:  # another AE took the name meanwhile
        raise FormRefused({"name": f"Une autre AE s'appelle déjà « {new['name']} »."}) from None
    return True


# --- Options -----------------------------------------------------------------------------------

def _set_flag(ae: AE, column, enabled: bool, action: str, word: str, by, ip: str) -> bool:
    with db.atomic():
        AE.update({column: column}).where(AE.id == ae.id).execute()  # lock the row
        before = getattr(AE.get_by_id(ae.id), column.name)
        if before == enabled:
            return False
        AE.update({column: enabled}).where(AE.id == ae.id).execute()
        audit.record(action, operator=by, ae=ae.id, ip=ip,
                     details={"avant": {word: YES if before else NO},
                              "après": {word: YES if enabled else NO}})
    return True


def set_four_eyes(ae: AE, enabled: bool, *, by: Operator | None = None, ip: str = "") -> bool:
    """On: whoever recorded an order's ID number may not validate it (workflow.four_eyes_check).
    False when unchanged."""
    return _set_flag(ae, AE.four_eyes, enabled, ACTION_FOUR_EYES, "contrôle à quatre yeux",
                     by, ip)


def set_digest_send_empty(ae: AE, enabled: bool, *, by: Operator | None = None,
                          ip: str = "") -> bool:
    """On: the digest goes out at each slot even when every count is zero."""
    return _set_flag(ae, AE.digest_send_empty, enabled, ACTION_DIGEST_EMPTY,
                     "envoyer le résumé vide", by, ip)


def set_late_after(ae: AE, typed: str, *, by: Operator | None = None, ip: str = "") -> bool:
    """The number of days in one sub-state past which the list marks an order « en retard ».
    Raises Refused; False when unchanged."""
    text = (typed or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= LATE_AFTER_MAX:
        raise workflow.Refused([f"Le seuil de retard doit être un nombre de jours entre 1 et "
                                f"{LATE_AFTER_MAX} (« {text} » n'en est pas un)."])
    days = int(text)
    with db.atomic():
        AE.update(late_after_days=AE.late_after_days).where(AE.id == ae.id).execute()  # lock
        before = AE.get_by_id(ae.id).late_after_days
        if before == days:
            return False
        AE.update(late_after_days=days).where(AE.id == ae.id).execute()
        audit.record(ACTION_LATE_AFTER, operator=by, ae=ae.id, ip=ip,
                     details={"avant": {"seuil de retard (jours)": before},
                              "après": {"seuil de retard (jours)": days}})
    return True


@dataclass(frozen=True)
class RemindersForm:
    after_days: str       # N: 0 switches reminders off
    max_reminders: str    # K
    cancel: bool
    cancel_after_days: str  # M


REMINDER_WORDS = {"reminder_after_days": "relance après (jours)",
                  "reminder_max": "relances au plus", "cancel_incomplete": "annulation",
                  "cancel_after_days": "annulation après (jours)"}


def reminders_form(ae: AE) -> RemindersForm:
    return RemindersForm(str(ae.reminder_after_days), str(ae.reminder_max),
                         ae.cancel_incomplete, str(ae.cancel_after_days))


def _whole(text: str, low: int, high: int) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() and low <= int(text) <= high else None


def set_reminders(ae: AE, form: RemindersForm, *, by: Operator | None = None,
                  ip: str = "") -> bool:
    """« Relances automatiques »: N days, K reminders, then (if enabled) cancellation M days
    into the episode. Raises Refused; False when unchanged."""
    after, most = _whole(form.after_days, 0, 90), _whole(form.max_reminders, 1, 10)
    cancel_after = _whole(form.cancel_after_days, 1, 365)
    problems = []
    if after is None:
        problems.append("Le délai avant relance est un nombre de jours de 0 (pas de relance) "
                        "à 90.")
    if most is None:
        problems.append("Le nombre de relances est un nombre de 1 à 10.")
    if cancel_after is None:
        problems.append("Le délai avant annulation est un nombre de jours de 1 à 365.")
    elif form.cancel and after is not None and most is not None and after \
            and cancel_after <= after * most:
        problems.append(f"L'annulation doit venir après les relances : plus de {after * most} "
                        f"jours ({most} relance(s) tous les {after} jours).")
    if form.cancel and after == 0:
        problems.append("L'annulation suppose des relances : choisissez un délai avant relance.")
    if problems:
        raise workflow.Refused(problems)
    new = {"reminder_after_days": after, "reminder_max": most,
           "cancel_incomplete": form.cancel, "cancel_after_days": cancel_after}
    with db.atomic():
        AE.update(reminder_max=AE.reminder_max).where(AE.id == ae.id).execute()  # lock
        current = AE.get_by_id(ae.id)
        before = {name: getattr(current, name) for name in new}
        if before == new:
            return False
        AE.update(**new).where(AE.id == ae.id).execute()
        audit.record(ACTION_REMINDERS, operator=by, ae=ae.id, ip=ip,
                     details={"avant": {REMINDER_WORDS[k]: _word(v) for k, v in before.items()},
                              "après": {REMINDER_WORDS[k]: _word(v) for k, v in new.items()}})
    return True


def _word(value):
    return (YES if value else NO) if isinstance(value, bool) else value


# --- Relances avant expiration -------------------------------------------------------------------

EXPIRY_WORD = "relances avant expiration (jours)"


def expiry_reminder_days(ae: AE) -> list[int]:
    """The AE's days before expiry at which holders are reminded, largest first; a stored
    value that no longer parses (edited by hand) gives none rather than a failing job."""
    try:
        return parse_expiry_reminder_days(ae.expiry_reminder_days or "")
    except workflow.Refused:
        return []


def parse_expiry_reminder_days(typed: str) -> list[int]:
    """« 90, 30 ; 7 » → [90, 30, 7] (distinct, largest first; empty: no reminder). Refused,
    in French, unless each is a whole number of days from 1 to 365, five at most."""
    parts = [part for part in re.split(r"[\s,;]+", typed or "") if part]
    whole = [part for part in parts if re.fullmatch(r"[0-9]{1,3}", part)]
    bad = [part for part in parts
           if part not in whole or not 1 <= int(part) <= EXPIRY_DAYS_MAX]
    problems = []
    if bad:
        problems.append("Les relances avant expiration sont des nombres entiers de jours de 1 à "
                        f"{EXPIRY_DAYS_MAX}, séparés par des virgules : "
                        + ", ".join(f"« {part[:20]} »" for part in bad[:5]) + " n'en "
                        + ("est pas un." if len(bad) == 1 else "sont pas."))
    days = sorted({int(part) for part in whole}, reverse=True)
    if len(days) > EXPIRY_REMINDERS_MAX:
        problems.append(f"Au plus {EXPIRY_REMINDERS_MAX} relances avant expiration "
                        f"({len(days)} indiquées).")
    if problems:
        raise workflow.Refused(problems)
    return days


def format_expiry_reminder_days(days: list[int]) -> str:
    return ",".join(str(day) for day in days)


def set_expiry_reminder_days(ae: AE, typed: str, *, by: Operator | None = None,
                             ip: str = "") -> bool:
    """« Relances avant expiration (jours) ». Raises Refused; False when unchanged."""
    new = format_expiry_reminder_days(parse_expiry_reminder_days(typed))
    with db.atomic():
        AE.update(expiry_reminder_days=AE.expiry_reminder_days).where(
            AE.id == ae.id).execute()  # lock the row
        before = AE.get_by_id(ae.id).expiry_reminder_days
        if before == new:
            return False
        AE.update(expiry_reminder_days=new).where(AE.id == ae.id).execute()
        audit.record(ACTION_EXPIRY_REMINDERS, operator=by, ae=ae.id, ip=ip,
                     details={"avant": {EXPIRY_WORD: _days_word(before)},
                              "après": {EXPIRY_WORD: _days_word(new)}})
    return True


def _days_word(stored: str) -> str:
    return stored.replace(",", ", ") if stored else "aucune"
