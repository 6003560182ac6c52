"""Notifications to the requester (SPEC §6): the AE's message types and their wording, the
message an operator writes from one of them, its checks, and queueing it in the outbox.

A message type is a pre-written French text with variables taken from the order
(``{numero}``, ``{porteur}``, ``{pieces_manquantes}``…). The text the operator edits is the
wording with every variable filled in, except ``{lien}``: the follow-up link is made when the
e-mail is sent (services.messaging.outbox), so that it is never shown to an operator and its validity
starts when it leaves.

Queueing writes the notification and its audit event in one transaction; sending is the
outbox job's business.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Iterable, Mapping, NamedTuple

from email_validator import EmailNotValidError, validate_email
from peewee import JOIN

import workflow
from formatting import PARIS
from models import (AE, Company, Document, MessageTemplate, Notification, Operator, Order, Person,
                    db, utcnow)
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
_VARIABLE = re.compile(r"\{([A-Za-z_]+)\}")

SUBJECT_MAX = 150
BODY_MAX = 5000
RECIPIENT_MAX = 254  # RFC 5321 path limit


def type_label(code: str) -> str:
    return TYPE_LABELS.get(code, code)


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
        problems.append(_too_long("Le texte", len(body), BODY_MAX))
    unknown = sorted({name for name in _VARIABLE.findall(subject + "\n" + body)
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
    subject, body = _one_line(subject), normalize_text(body)
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


# --- Filling a wording from the order -------------------------------------------------------

def _bullets(labels: list[str], empty: str) -> str:
    return "\n".join(f"  • {label}" for label in labels) if labels else f"  • {empty}"


def order_variables(order: Order, documents: Iterable, today: dt.date | None = None) -> dict:
    """The values of the variables for ``order`` (with its company, holder and AE loaded)."""
    documents = list(documents)
    today = today or dt.datetime.now(PARIS).date()
    holder = order.holder
    return {
        "numero": str(order.number),
        "porteur": " ".join(part for part in (holder.civility, holder.first_name,
                                              holder.last_name) if part),
        "societe": order.company.name,
        "ae": order.ae.name,
        "pieces_manquantes": _bullets(workflow.missing_documents(order, documents),
                                      "[à compléter : aucune pièce ne manque à ce jour]"),
        "pieces_refusees": _bullets(workflow.refused_documents(order, documents, today),
                                    "[à compléter : indiquez la pièce concernée]"),
        "documents_a_signer": _bullets(workflow.unsigned_documents(order, documents),
                                       "[à compléter : aucun document n'attend de signature]"),
        "contact_otp": order.otp_contact or "non renseigné",
    }


def fill(text: str, variables: Mapping[str, str]) -> str:
    """Every known variable replaced; ``{lien}`` is kept for the outbox to fill at sending."""
    def replace(match: re.Match) -> str:
        name = match.group(1)
        return variables[name] if name in variables and name != "lien" else match.group(0)
    return _VARIABLE.sub(replace, text)


@dataclass(frozen=True)
class Draft:
    """The message as the operator's form shows it."""
    type: str
    recipient: str
    subject: str
    body: str


def requester_address(order: Order) -> str:
    """Who is told: the person who placed the order, else the holder."""
    return order.requester_email or order.holder.email or ""


def draft(order: Order, documents: Iterable, code: str, recipient: str | None = None) -> Draft:
    """The type's wording filled in for ``order`` (an unknown type falls back to the first)."""
    code = code if code in MESSAGE_TYPES else next(iter(MESSAGE_TYPES))
    variables = order_variables(order, documents)
    template = wording(order.ae_id, code)
    return Draft(code, recipient if recipient is not None else requester_address(order),
                 fill(template.subject, variables), fill(template.body, variables))


def link_renewal_message(order: Order) -> Draft:
    variables = order_variables(order, current_documents(order))
    template = DEFAULT_TEMPLATES[TYPE_LINK_RENEWAL]
    return Draft(TYPE_LINK_RENEWAL, requester_address(order), fill(template.subject, variables),
                 fill(template.body, variables))


# --- Checking what the operator wrote ------------------------------------------------------

def normalize_text(text: str | None) -> str:
    """Browsers send CRLF; control characters other than line breaks and tabs are dropped."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c for c in text if c in "\n\t" or c.isprintable()).strip()


def _one_line(text: str | None) -> str:
    """Leading and trailing blanks only: a line break inside stays, to be refused."""
    return (text or "").strip()


def _thousands(number: int) -> str:
    return f"{number:,}".replace(",", " ")


def _too_long(what: str, length: int, limit: int) -> str:
    return f"{what} est trop long ({_thousands(length)} caractères, maximum {_thousands(limit)})."


def subject_problems(subject: str) -> list[str]:
    if not subject.strip():
        return ["L'objet du message est vide."]
    problems = []
    if "\r" in subject or "\n" in subject or any(not c.isprintable() for c in subject):
        problems.append("L'objet doit tenir sur une seule ligne : retours à la ligne et "
                        "caractères de contrôle refusés.")
    if len(subject) > SUBJECT_MAX:
        problems.append(_too_long("L'objet", len(subject), SUBJECT_MAX))
    return problems


def recipient_problem(recipient: str) -> str | None:
    if not recipient:
        return "Indiquez l'adresse e-mail du destinataire."
    refused = f"L'adresse du destinataire « {recipient[:80]} » n'est pas valide : une seule " \
              f"adresse e-mail, sans nom, sans virgule ni retour à la ligne."
    if (len(recipient) > RECIPIENT_MAX or any(c in recipient for c in "\r\n,;<>\"()")
            or not recipient.isprintable() or parseaddr(recipient)[1] != recipient):
        return refused
    try:
        validate_email(recipient, check_deliverability=False)
    except EmailNotValidError:
        return refused
    return None


def message_problems(draft_: Draft) -> list[str]:
    problems = []
    if draft_.type not in MESSAGE_TYPES:
        problems.append("Type de message inconnu : choisissez un type dans la liste.")
    problem = recipient_problem(draft_.recipient)
    if problem:
        problems.append(problem)
    problems += subject_problems(draft_.subject)
    if not draft_.body.strip():
        problems.append("Le message est vide : écrivez le texte à envoyer.")
    elif len(draft_.body) > BODY_MAX:
        problems.append(_too_long("Le message", len(draft_.body), BODY_MAX))
    unfinished = re.search(re.escape(TO_COMPLETE) + r"[^\]]*\]", draft_.subject + draft_.body)
    if unfinished:
        problems.append(f"Le message contient encore un passage à compléter : "
                        f"« {unfinished.group(0)} ».")
    return problems


def draft_from_form(form: Mapping[str, str]) -> Draft:
    return Draft(
        type=(form.get("type") or "").strip(),
        recipient=(form.get("destinataire") or "").strip(),
        subject=_one_line(form.get("objet")),
        body=normalize_text(form.get("message")),
    )


def sending_problem(order: Order, operator: Operator | None) -> str | None:
    """Why ``operator`` may not notify the requester of ``order``, or None."""
    if operator is not None and not operator.has_role(workflow.ROLE_AEA):
        return f"Rôle {workflow.ROLE_AEA} requis pour envoyer une notification."
    if workflow.is_read_only(order):
        if workflow.is_validated(order):
            return ("La commande a été validée : le dossier est en lecture seule et aucune "
                    "notification ne peut plus être envoyée au demandeur.")
        return (f"La commande est en phase « {workflow.label(workflow.PHASES, order.phase)} » : "
                f"aucune notification ne peut plus être envoyée au demandeur.")
    return None


# --- Queueing ------------------------------------------------------------------------------

def new_message_id(sender: str | None) -> str:
    """A Message-ID fixed when the notification is queued: every try sends the same one, so a
    message that reached the server once can be recognised if it ever goes out again."""
    domain = (parseaddr(sender or "")[1].rpartition("@")[2] or "radesk.invalid").strip(">")
    return f"<radesk.{uuid.uuid4().hex}@{domain}>"


def queue(order: Order, draft_: Draft, *, operator: Operator | None, sender: str | None,
          ip: str = "", actor: str | None = None) -> Notification:
    """Store the notification (the outbox) and its audit event in one transaction.
    Raises Refused with the French reasons when refused; nothing is stored then."""
    problems = [] if draft_.type in SYSTEM_TYPES else message_problems(draft_)
    if problems:
        raise workflow.Refused(problems)
    with db.atomic():
        current = Order.get_by_id(order.id)  # the state now, not when the page was opened
        # An operator's message waits on the dossier's state; the system's (a new follow-up
        # link the requester asked for) does not: the page stays readable after validation.
        problem = None if draft_.type in SYSTEM_TYPES else sending_problem(current, operator)
        if problem is not None:
            raise workflow.Refused([problem])
        now = utcnow()
        notification = Notification.create(
            ae=current.ae_id, order=current.id, type=draft_.type, recipient=draft_.recipient,
            subject=draft_.subject, body=draft_.body, sent_by=operator.id if operator else None,
            created_at=now, next_try_at=now, state="queued", tries=0,
            message_id=new_message_id(sender))
        audit.record("notification_queued", operator=operator, order=current, ip=ip, actor=actor,
                     details={"notification": notification.id, "type": type_label(draft_.type),
                              "recipient": draft_.recipient, "subject": draft_.subject})
    return notification


# --- History -------------------------------------------------------------------------------

STATE_LABELS = {"queued": "en attente", "sending": "en attente", "sent": "envoyée",
                "failed": "échec"}


@dataclass(frozen=True)
class HistoryLine:
    id: int
    created_at: dt.datetime
    sent_at: dt.datetime | None
    type_label: str
    sender: str
    recipient: str
    subject: str
    state: str
    state_label: str
    tries: int
    next_try_at: dt.datetime | None
    last_error: str | None

    @property
    def pending(self) -> bool:
        return self.state in ("queued", "sending")


def history(order: Order) -> list[HistoryLine]:
    """Every notification of ``order`` (from a scoped lookup), newest first, in one query."""
    sender = Operator.alias()
    query = (Notification
             .select(Notification, sender)
             .join(sender, JOIN.LEFT_OUTER, on=(Notification.sent_by == sender.id),
                   attr="sent_by")
             .where(Notification.order == order.id)
             .order_by(Notification.created_at.desc(), Notification.id.desc()))
    return [HistoryLine(
        n.id, n.created_at, n.sent_at, type_label(n.type),
        n.sent_by.display_name if n.sent_by else "Système", n.recipient, n.subject, n.state,
        STATE_LABELS.get(n.state, n.state), n.tries,
        n.next_try_at if n.state in ("queued", "sending") else None, n.last_error)
        for n in query]


def order_for_message(order_id: int) -> Order:
    """The order with what the wordings need (company, holder, AE), in one query."""
    return (Order
            .select(Order, AE, Person, Company)
            .join(AE, on=(Order.ae == AE.id), attr="ae")
            .switch(Order)
            .join(Person, on=(Order.holder == Person.id), attr="holder")
            .switch(Order)
            .join(Company, on=(Order.company == Company.id), attr="company")
            .where(Order.id == order_id)
            .get())


def current_documents(order: Order):
    return (Document
            .select()
            .where((Document.order == order.id) & (Document.is_current == True))  # noqa: E712
            .order_by(Document.id))


def notification_of(order: Order, notification_id: int) -> Notification | None:
    """A notification of ``order`` (which must come from a scoped lookup), or None."""
    return (Notification
            .select()
            .where((Notification.id == notification_id) & (Notification.order == order.id))
            .first())


def resend(notification: Notification, operator: Operator, ip: str = "") -> None:
    """A failed notification goes back to the outbox for a new series of tries."""
    problem = sending_problem(notification.order, operator)
    if problem is None and notification.state != "failed":
        problem = "Seule une notification en échec peut être renvoyée."
    if problem is not None:
        raise workflow.Refused([problem])
    with db.atomic():
        changed = (Notification
                   .update(state="queued", tries=0, next_try_at=utcnow())
                   .where((Notification.id == notification.id) & (Notification.state == "failed"))
                   .execute())
        if not changed:
            raise workflow.Refused(["Seule une notification en échec peut être renvoyée."])
        audit.record("notification_requeued", operator=operator, order=notification.order, ip=ip,
                     details={"notification": notification.id,
                              "type": type_label(notification.type),
                              "recipient": notification.recipient})


# --- Preview -------------------------------------------------------------------------------

PREVIEW_LINK = "[lien personnel vers la page de suivi, créé à l'envoi]"


def preview_text(app, order: Order, draft_: Draft) -> str:
    """The e-mail's text part as the requester will read it; the link is made at sending."""
    from adapters.mail import Letter, text_part

    days = app.config["RADESK_FOLLOWUP_LINK_DAYS"]
    expires = dt.datetime.now(PARIS).date() + dt.timedelta(days=days - 1)
    letter = Letter(message_id="", queued_at=utcnow(), recipient=draft_.recipient,
                    subject=draft_.subject, body=draft_.body, order_number=order.number,
                    ae_name=order.ae.name, link=PREVIEW_LINK, link_expires_on=expires)
    return text_part(app, letter)


class Panel(NamedTuple):
    """What the order file and the viewer show of the notifications: the history, and why
    the operator may not send one (None when they may)."""
    history: list[HistoryLine]
    refusal: str | None


def panel(order: Order, operator: Operator) -> Panel:
    return Panel(history(order), sending_problem(order, operator))


# --- The audit trail in French (shown by the order file's « Historique ») ------------------------

AUDIT_ACTIONS = {
    "notification_queued": "Notification au demandeur enregistrée (boîte d'envoi)",
    # Sent by the outbox for every kind (requester, signers, operators): the details say which
    # type and to whom.
    "notification_sent": "Notification envoyée",
    "notification_retry": "Échec d'envoi d'une notification (nouvel essai prévu)",
    "notification_failed": "Échec définitif d'envoi d'une notification",
    "notification_requeued": "Notification remise dans la boîte d'envoi",
    "message_template_updated": "Texte type de notification modifié",
    "message_template_reset": "Texte type de notification rétabli",
    "requester_information_updated": "Informations corrigées par le demandeur",
    "order_back_to_check": "Retour au sous-état « à vérifier »",
}
DETAIL_LABELS = {
    "notification": "Notification n°", "type": "Type", "recipient": "Destinataire",
    "subject": "Objet", "tries": "Tentatives", "reason": "Motif", "next_try": "Prochain essai",
    "modifications": "Modifications", "sous-état": "Sous-état", "motif": "Motif",
}


def _before_after(value) -> str:
    if isinstance(value, dict) and set(value) == {"avant", "après"}:
        return f"« {value['avant'] or 'vide'} » → « {value['après'] or 'vide'} »"
    return str(value)


DETAIL_FORMATTERS = {
    "modifications": lambda changes: ", ".join(f"{field} {_before_after(change)}"
                                               for field, change in changes.items())
    if isinstance(changes, dict) else str(changes),
    "sous-état": _before_after,
}
