"""Notifications (SPEC §6): queueing one in the outbox with its audit event, sending one again,
what an order's history shows, and the French names of every notification type.

Types are named per app: each feature that queues notifications gives its labels to
``register_notification_types`` (create_app does, in plain sight), and the history, the audit
trail and the outbox read them back with ``type_label``. Sending is the outbox's business
(services.messaging.outbox); composing a message, services.messaging.drafts.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Mapping, NamedTuple

from flask import Flask, current_app
from peewee import JOIN

import workflow
from models import Notification, Operator, Order, db, utcnow
from models.prepared import PreparedQuery
from services import audit
from services.messaging.drafts import Draft, message_problems
from services.messaging.wordings import SYSTEM_TYPES
from services.webhooks import events as webhooks

TYPES_KEY = "radesk_notification_types"


# --- Notification types, named per app ---------------------------------------------------------

def register_notification_types(app: Flask, labels: Mapping[str, str]) -> None:
    """Give the French names of a feature's notification types (``{code: label}``)."""
    known = app.extensions.setdefault(TYPES_KEY, {})
    clashes = [code for code, label in labels.items() if known.get(code, label) != label]
    if clashes:
        raise ValueError(f"Notification types registered twice with other labels: {clashes}")
    known.update(labels)


def type_label(code: str) -> str:
    """The French name of a type for the current app; the code itself when none was given."""
    return current_app.extensions.get(TYPES_KEY, {}).get(code, code)


# --- Who may send --------------------------------------------------------------------------

def sending_problem(order: Order, operator: Operator | None) -> str | None:
    """Why ``operator`` may not notify the requester of ``order``, or None."""
    if operator is not None and not operator.has_role(workflow.ROLE_AEA):
        return f"Rôle {workflow.ROLE_AEA} requis pour envoyer une notification."
    if operator is not None and order.phase == workflow.PHASE_ENTRY:
        return workflow.DRAFT_PROBLEM
    if order.process == workflow.PROCESS_REVOCATION:
        return ("Une demande de révocation n'a pas de dossier à compléter : « Révoquer » ou "
                "« Rejeter la demande » prévient le porteur et le demandeur.")
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
          ip: str = "", actor: str | None = None, system: bool | None = None) -> Notification:
    """Store the notification (the outbox) and its audit event in one transaction.
    Raises Refused with the French reasons when refused; nothing is stored then. A ``system``
    message (written by RA Desk, not typed by an operator) is neither checked as an operator's
    draft nor held back by the dossier's state."""
    system = draft_.type in SYSTEM_TYPES if system is None else system
    problems = [] if system else message_problems(draft_)
    if problems:
        raise workflow.Refused(problems)
    with db.atomic():
        current = Order.get_by_id(order.id)  # the state now, not when the page was opened
        # An operator's message waits on the dossier's state; the system's (a new follow-up
        # link the requester asked for) does not: the page stays readable after validation.
        problem = None if system else sending_problem(current, operator)
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
        if operator is not None and draft_.type in webhooks.INCOMPLETE_REASONS:
            webhooks.emit(current, webhooks.ORDER_INCOMPLETE, webhooks.incomplete_data(draft_.type))
    return notification


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


def _history(order_id):
    sender = Operator.alias()
    return (Notification
            .select(Notification, sender)
            .join(sender, JOIN.LEFT_OUTER, on=(Notification.sent_by == sender.id),
                  attr="sent_by")
            .where(Notification.order == order_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc()))


_HISTORY = PreparedQuery(_history, "order_id")  # read by every view of an order file


def history(order: Order) -> list[HistoryLine]:
    """Every notification of ``order`` (from a scoped lookup), newest first, in one query."""
    query = _HISTORY.execute(order_id=order.id)
    return [HistoryLine(
        n.id, n.created_at, n.sent_at, type_label(n.type),
        n.sent_by.display_name if n.sent_by else "Système", n.recipient, n.subject, n.state,
        STATE_LABELS.get(n.state, n.state), n.tries,
        n.next_try_at if n.state in ("queued", "sending") else None, n.last_error)
        for n in query]


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
