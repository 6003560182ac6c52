"""Drafts left untouched for ``RADESK_DRAFT_DAYS`` (30 by default) are cancelled by the
scheduler, each in its own transaction with its audit event, and the requester is told."""
from __future__ import annotations

import datetime as dt
import logging

from flask import Flask

import workflow
from models import Order, db, utcnow
from services import audit
from services.intake import messages
from services.messaging import notifications, outbox

log = logging.getLogger(__name__)

ACTION_DRAFT_EXPIRED = "order_draft_expired"
SYSTEM = "RA Desk"
BATCH = 200


def cutoff(app: Flask, now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=app.config["RADESK_DRAFT_DAYS"])


def _abandoned(before: dt.datetime):
    return ((Order.phase == workflow.PHASE_ENTRY) & (Order.updated_at < before))


def job(app: Flask, now: dt.datetime | None = None) -> int:
    """Cancel the abandoned drafts; returns how many were cancelled."""
    before = cutoff(app, now or utcnow())
    cancelled = 0
    while True:
        ids = [order_id for (order_id,) in Order.select(Order.id).where(_abandoned(before))
               .order_by(Order.updated_at).limit(BATCH).tuples()]
        for order_id in ids:
            cancelled += _cancel(app, order_id, before)
        if len(ids) < BATCH:
            break
    if cancelled:
        log.info("%d commande(s) non envoyée(s) annulée(s)", cancelled)
        outbox.wake(app)
    return cancelled


def _cancel(app: Flask, order_id: int, before: dt.datetime) -> int:
    with db.atomic():
        # A guarded UPDATE: a requester saving a step meanwhile keeps their draft.
        moved = (Order
                 .update(phase=workflow.PHASE_CANCELLED, substate=None, updated_at=utcnow())
                 .where((Order.id == order_id) & _abandoned(before))
                 .execute())
        if not moved:
            return 0
        order = Order.with_people().where(Order.id == order_id).get()
        days = app.config["RADESK_DRAFT_DAYS"]
        audit.record(ACTION_DRAFT_EXPIRED, order=order, actor=SYSTEM,
                     details={"phase": workflow.PHASES[workflow.PHASE_CANCELLED],
                              "motif": f"aucune modification depuis {days} jours"})
        if order.requester_email:
            notifications.queue(order, messages.draft_cancelled_message(order, days),
                                operator=None, sender=app.config["MAIL_DEFAULT_SENDER"],
                                actor=SYSTEM, system=True)
    return 1
