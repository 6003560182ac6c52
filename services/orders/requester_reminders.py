"""« Relances automatiques »: a sent order whose dossier stays incomplete (pieces missing or
expired, an unusable Contact OTP: workflow.requester_tasks) reminds its requester after the AE's
N days, at most K times; K reminders later, M days into the episode, the AE may have it
cancelled. An episode starts when the order entered its sub-state or when the requester last
changed the dossier, whichever is later. Each step is one transaction with its audit event and
its message in the order's history; the scheduler runs ``job`` every hour.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from flask import Flask

import workflow
from models import AE, Document, Notification, Order, db, utcnow
from services import audit
from services.messaging import notifications, outbox
from services.messaging.drafts import Draft
from services.signing.signatures import cancel_open_requests
from services.webhooks import events as webhooks

log = logging.getLogger(__name__)

TYPE_REMINDER = "order_incomplete_reminder"
TYPE_CANCELLED = "order_incomplete_cancelled"
TYPE_LABELS = {TYPE_REMINDER: "Relance automatique : dossier incomplet",
               TYPE_CANCELLED: "Commande annulée : dossier resté incomplet"}
ACTION_REMINDED = "order_incomplete_reminded"
ACTION_CANCELLED = "order_incomplete_cancelled"
AUDIT_ACTIONS = {ACTION_REMINDED: "Relance automatique du demandeur (dossier incomplet)",
                 ACTION_CANCELLED: "Commande annulée : dossier resté incomplet"}
SYSTEM = "RA Desk"
WAITING = (workflow.SUBSTATE_TO_CHECK, workflow.SUBSTATE_ON_HOLD)


@dataclass
class Report:
    reminded: int = 0
    cancelled: int = 0


def job(app: Flask, now: dt.datetime | None = None) -> Report:
    now = now or utcnow()
    report = Report()
    # Read whole before writing: an SQLite cursor left open keeps its snapshot, and a write
    # from that snapshot after another process's commit fails at once (« database is locked »).
    for ae in list(AE.select().where(AE.reminder_after_days > 0)):
        for order_id in _candidates(ae):
            step = _step(app, ae, order_id, now)
            report.reminded += step == ACTION_REMINDED
            report.cancelled += step == ACTION_CANCELLED
    if report.reminded or report.cancelled:
        log.info("relances automatiques : %d relance(s), %d annulation(s)", report.reminded,
                 report.cancelled)
        outbox.wake(app)
    return report


def _candidates(ae: AE) -> list[int]:
    """The AE's sent orders waiting for their dossier, before validation."""
    return [order_id for (order_id,) in Order
            .select(Order.id)
            .where((Order.ae == ae.id) & (Order.phase == workflow.PHASE_VALIDATION)
                   & Order.substate.in_(WAITING) & Order.validated_at.is_null())
            .tuples()]


def episode_start(order: Order) -> dt.datetime:
    """Since when the dossier has been waiting as it is: its sub-state or its last change."""
    return max(moment for moment in (order.state_since, order.requester_modified_at,
                                     order.submitted_at) if moment is not None)


def _reminders_since(order: Order, start: dt.datetime) -> list[Notification]:
    return list(Notification.select()
                .where((Notification.order == order.id) & (Notification.type == TYPE_REMINDER)
                       & (Notification.created_at >= start))
                .order_by(Notification.created_at))


def _step(app: Flask, ae: AE, order_id: int, now: dt.datetime) -> str | None:
    """One order's due step, under its row lock: a reminder, a cancellation, or nothing."""
    with db.atomic():
        Order.update(updated_at=Order.updated_at).where(Order.id == order_id).execute()
        order = Order.with_people().where(Order.id == order_id).get()
        if (order.phase != workflow.PHASE_VALIDATION or order.substate not in WAITING
                or not order.requester_email):
            return None
        tasks = workflow.requester_tasks(order, Document.current_of(order.id), now.date())
        if not tasks:
            return None
        start = episode_start(order)
        sent = _reminders_since(order, start)
        last = sent[-1].created_at if sent else start
        if len(sent) < ae.reminder_max and now - last >= dt.timedelta(days=ae.reminder_after_days):
            _remind(app, order, tasks, len(sent) + 1, ae.reminder_max)
            return ACTION_REMINDED
        if (ae.cancel_incomplete and len(sent) >= ae.reminder_max
                and now - start >= dt.timedelta(days=ae.cancel_after_days)):
            _cancel(app, order, tasks, (now - start).days)
            return ACTION_CANCELLED
    return None


def _remind(app: Flask, order: Order, tasks: list[str], number: int, total: int) -> None:
    todo = "\n".join(f"- {task}" for task in tasks)
    notifications.queue(order, Draft(
        TYPE_REMINDER, order.requester_email,
        f"Commande N° {order.number} : votre dossier est incomplet (relance {number}/{total})",
        f"Bonjour,\n\nLe dossier de la commande N° {order.number} ({order.company.name}) est "
        f"toujours incomplet. Pour que l'Autorité d'Enregistrement puisse le traiter :\n\n"
        f"{todo}\n\nComplétez-le depuis sa page de suivi : {{lien}}\n\nCordialement,\n"
        f"L'Autorité d'Enregistrement {order.ae.name}"),
        operator=None, sender=app.config["MAIL_DEFAULT_SENDER"], actor=SYSTEM, system=True)
    audit.record(ACTION_REMINDED, order=order, actor=SYSTEM,
                 details={"relance": f"{number}/{total}", "à faire": tasks})


def _cancel(app: Flask, order: Order, tasks: list[str], days: int) -> None:
    now = utcnow()
    cancel_open_requests(order.id, now)
    (Order
     .update(phase=workflow.PHASE_CANCELLED, substate=None, held_substate=None,
             on_hold_at=None, updated_at=now)
     .where(Order.id == order.id)
     .execute())
    reason = f"dossier incomplet depuis {days} jours malgré les relances"
    notifications.queue(order, Draft(
        TYPE_CANCELLED, order.requester_email,
        f"Commande N° {order.number} : commande annulée, dossier incomplet",
        f"Bonjour,\n\nLe dossier de la commande N° {order.number} ({order.company.name}) est "
        f"resté incomplet {days} jours malgré nos relances : la commande est annulée.\n\n"
        f"Pour obtenir un certificat, passez une nouvelle commande. Sa page de suivi reste "
        f"consultable : {{lien}}\n\nCordialement,\nL'Autorité d'Enregistrement {order.ae.name}"),
        operator=None, sender=app.config["MAIL_DEFAULT_SENDER"], actor=SYSTEM, system=True)
    audit.record(ACTION_CANCELLED, order=order, actor=SYSTEM,
                 details={"phase": workflow.PHASES[workflow.PHASE_CANCELLED], "motif": reason,
                          "à faire": tasks})
    webhooks.emit(order, webhooks.ORDER_REFUSED, {"motif": reason})
