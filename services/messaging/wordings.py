"""The AE's message types and their French wordings (SPEC §6): the built-in texts, the
variables they may hold, an AE's own versions edited by its admins, and the checks a subject or
text must pass (one line, lengths, known variables).

A wording is filled from the order when the operator opens the form (services.messaging.drafts);
``{lien}`` stays until the outbox sends the e-mail, so the follow-up link is never shown.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import NamedTuple

from peewee import JOIN

import workflow
from models import MessageTemplate, Operator, db, utcnow
from services import audit

# --- Message types -------------------------------------------------------------------

TYPE_MISSING = "missing_document"
TYPE_INVALID = "invalid_document"
TYPE_MISMATCH = "information_mismatch"
TYPE_OTP = "invalid_otp"
TYPE_SIGNATURE = "awaiting_signature"
TYPE_OTHER = "other"
TYPE_LINK_RENEWAL = "link_renewal"  # sent by the system when the requester asks for a new link

MESSAGE_TYPES = {  # the operator's drop-down, in this order (exact UI labels)
    TYPE_MISSING: "Pièce manquante",
    TYPE_INVALID: "Pièce non valide ou expirée",
    TYPE_MISMATCH: "Informations non conformes aux pièces",
    TYPE_OTP: "Contact OTP non valide",
    TYPE_SIGNATURE: "Document en attente de signature",
    TYPE_OTHER: "Autre",
}
SYSTEM_TYPES = {TYPE_LINK_RENEWAL: "Nouveau lien de suivi"}
TYPE_LABELS = {**MESSAGE_TYPES, **SYSTEM_TYPES}

TO_COMPLETE = "[à compléter"  # marks a passage of a wording the operator must write
SIGNATURE = "\n\nCordialement,\nL'Autorité d'Enregistrement {ae}"


class Wording(NamedTuple):
    subject: str
    body: str


DEFAULT_TEMPLATES: dict[str, Wording] = {
    TYPE_MISSING: Wording(
        "Commande N° {numero} : pièce manquante",
        "Bonjour,\n\nPour instruire la commande de certificat N° {numero} de {porteur} "
        "({societe}), il nous manque la ou les pièces suivantes :\n{pieces_manquantes}\n\n"
        "Merci de les déposer depuis la page de suivi de votre commande : {lien}" + SIGNATURE),
    TYPE_INVALID: Wording(
        "Commande N° {numero} : pièce non valide ou expirée",
        "Bonjour,\n\nAprès vérification du dossier de la commande N° {numero} ({porteur}, "
        "{societe}), la ou les pièces suivantes ne sont pas valides ou ont expiré :\n"
        "{pieces_refusees}\n\nMerci de déposer une pièce lisible et en cours de validité depuis "
        "la page de suivi de votre commande : {lien}" + SIGNATURE),
    TYPE_MISMATCH: Wording(
        "Commande N° {numero} : informations non conformes aux pièces",
        "Bonjour,\n\nLes informations saisies pour la commande N° {numero} ({porteur}, "
        "{societe}) ne correspondent pas aux pièces justificatives fournies : "
        "[à compléter : précisez l'écart constaté].\n\nMerci de corriger vos informations ou de "
        "déposer les pièces correspondantes depuis la page de suivi de votre commande : {lien}"
        + SIGNATURE),
    TYPE_OTP: Wording(
        "Commande N° {numero} : Contact OTP non valide",
        "Bonjour,\n\nLe Contact OTP indiqué pour la commande N° {numero} ({contact_otp}) ne "
        "permet pas d'envoyer à {porteur} le code d'activation de sa clé USB : il doit s'agir "
        "d'un numéro de téléphone mobile ou d'une adresse e-mail valide.\n\nMerci de le "
        "corriger depuis la page de suivi de votre commande : {lien}" + SIGNATURE),
    TYPE_SIGNATURE: Wording(
        "Commande N° {numero} : document en attente de signature",
        "Bonjour,\n\nLes documents contractuels suivants de la commande N° {numero} attendent "
        "encore leur signature électronique :\n{documents_a_signer}\n\nLe lien de signature a "
        "été envoyé par e-mail à chaque signataire. Vous pouvez suivre l'état de la commande "
        "sur sa page de suivi : {lien}" + SIGNATURE),
    TYPE_OTHER: Wording("Commande N° {numero}", ""),
    TYPE_LINK_RENEWAL: Wording(
        "Commande N° {numero} : nouveau lien de suivi",
        "Bonjour,\n\nVous avez demandé un nouveau lien vers la page de suivi de la commande "
        "N° {numero} ({porteur}, {societe}) : {lien}\n\nCe lien est personnel : ne le "
        "transmettez pas. Si vous n'êtes pas à l'origine de cette demande, ignorez ce message."
        + SIGNATURE),
}

VARIABLES = {  # what an admin may use in a wording, and what each becomes
    "numero": "le N° de la commande",
    "porteur": "le porteur (civilité, prénom, nom)",
    "societe": "la raison sociale",
    "ae": "le nom de l'AE",
    "pieces_manquantes": "la liste des pièces justificatives manquantes",
    "pieces_refusees": "la liste des pièces expirées ou refusées",
    "documents_a_signer": "la liste des documents contractuels non signés",
    "contact_otp": "le Contact OTP saisi",
    "lien": "le lien vers la page de suivi (créé à l'envoi)",
}
LINK_VARIABLE = "{lien}"
VARIABLE_PATTERN = re.compile(r"\{([A-Za-z_]+)\}")

SUBJECT_MAX = 150
BODY_MAX = 5000


# --- The AE's wordings -------------------------------------------------------------------

@dataclass(frozen=True)
class AeWording:
    code: str
    label: str
    subject: str
    body: str
    customized: bool           # an admin changed it; else the built-in wording
    updated_at: dt.datetime | None
    updated_by: str


def wordings(ae_id: int) -> dict[str, AeWording]:
    """Every operator-facing type with the AE's current wording (one query)."""
    editor = Operator.alias()
    rows = {row.code: row for row in (MessageTemplate
                                      .select(MessageTemplate, editor)
                                      .join(editor, JOIN.LEFT_OUTER,
                                            on=(MessageTemplate.updated_by == editor.id),
                                            attr="updated_by")
                                      .where(MessageTemplate.ae == ae_id))}
    result = {}
    for code, label in MESSAGE_TYPES.items():
        row = rows.get(code)
        default = DEFAULT_TEMPLATES[code]
        result[code] = AeWording(
            code, label, row.subject if row else default.subject,
            row.body if row else default.body, row is not None,
            row.updated_at if row else None,
            row.updated_by.display_name if row and row.updated_by else "")
    return result


def wording(ae_id: int, code: str) -> Wording:
    if code in SYSTEM_TYPES:
        return DEFAULT_TEMPLATES[code]
    row = MessageTemplate.of_ae(ae_id).where(MessageTemplate.code == code).first()
    return Wording(row.subject, row.body) if row else DEFAULT_TEMPLATES[code]


def wording_problems(subject: str, body: str) -> list[str]:
    problems = subject_problems(subject)
    if len(body) > BODY_MAX:
        problems.append(too_long("Le texte", len(body), BODY_MAX))
    unknown = sorted({name for name in VARIABLE_PATTERN.findall(subject + "\n" + body)
                      if name not in VARIABLES})
    if unknown:
        listed = ", ".join("{" + name + "}" for name in unknown)
        problems.append(f"Variable inconnue : {listed}. Variables disponibles : "
                        + ", ".join("{" + name + "}" for name in VARIABLES) + ".")
    if LINK_VARIABLE in subject:
        problems.append("Le lien de suivi ({lien}) ne peut figurer que dans le texte, "
                        "pas dans l'objet.")
    return problems


def save_wording(operator: Operator, code: str, subject: str, body: str, ip: str = "") -> bool:
    """An admin's new wording for one type; True when saved, False when unchanged.
    Raises Refused with the French reasons when refused."""
    if not operator.has_role("admin"):
        raise workflow.Refused(["Rôle admin requis."])
    if code not in MESSAGE_TYPES:
        raise workflow.Refused(["Type de message inconnu."])
    subject, body = one_line(subject), normalize_text(body)
    problems = wording_problems(subject, body)
    if problems:
        raise workflow.Refused(problems)
    with db.atomic():
        current = wording(operator.ae_id, code)
        if current == (subject, body):
            return False
        (MessageTemplate
         .insert(ae=operator.ae_id, code=code, subject=subject, body=body, updated_at=utcnow(),
                 updated_by=operator.id)
         .on_conflict(conflict_target=[MessageTemplate.ae, MessageTemplate.code],
                      update={MessageTemplate.subject: subject, MessageTemplate.body: body,
                              MessageTemplate.updated_at: utcnow(),
                              MessageTemplate.updated_by: operator.id})
         .execute())
        audit.record("message_template_updated", operator=operator, ip=ip,
                     details={"type": MESSAGE_TYPES[code], "subject": subject})
    return True


def reset_wording(operator: Operator, code: str, ip: str = "") -> bool:
    """Back to the built-in wording; True when there was a change to undo."""
    if not operator.has_role("admin"):
        raise workflow.Refused(["Rôle admin requis."])
    if code not in MESSAGE_TYPES:
        raise workflow.Refused(["Type de message inconnu."])
    with db.atomic():
        deleted = (MessageTemplate
                   .delete()
                   .where((MessageTemplate.ae == operator.ae_id) & (MessageTemplate.code == code))
                   .execute())
        if deleted:
            audit.record("message_template_reset", operator=operator, ip=ip,
                         details={"type": MESSAGE_TYPES[code]})
    return bool(deleted)


# --- Checking a subject or a text ------------------------------------------------------------

def normalize_text(text: str | None) -> str:
    """Browsers send CRLF; control characters other than line breaks and tabs are dropped."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c for c in text if c in "\n\t" or c.isprintable()).strip()


def one_line(text: str | None) -> str:
    """Leading and trailing blanks only: a line break inside stays, to be refused."""
    return (text or "").strip()


def _thousands(number: int) -> str:
    return f"{number:,}".replace(",", " ")


def too_long(what: str, length: int, limit: int) -> str:
    return f"{what} est trop long ({_thousands(length)} caractères, maximum {_thousands(limit)})."


def subject_problems(subject: str) -> list[str]:
    if not subject.strip():
        return ["L'objet du message est vide."]
    problems = []
    if "\r" in subject or "\n" in subject or any(not c.isprintable() for c in subject):
        problems.append("L'objet doit tenir sur une seule ligne : retours à la ligne et "
                        "caractères de contrôle refusés.")
    if len(subject) > SUBJECT_MAX:
        problems.append(too_long("L'objet", len(subject), SUBJECT_MAX))
    return problems
