"""Reminders to the signers who have not signed: the operator's « Relancer », and the
scheduler's automatic ones after ``RADESK_SIGNATURE_REMINDER_HOURS`` (at most
``RADESK_SIGNATURE_MAX_REMINDERS`` per signer), each with the same personal link.
"""
from __future__ import annotations

import datetime as dt
import logging

from flask import Flask

import workflow
from models import Operator, Order, SignatureRequest, db, utcnow
from services import audit
from services.messaging import outbox
from services.signing.signatures import (ACTION_REMINDED, SYSTEM, TYPE_SIGNER_REMINDER,
                                         lock_order, max_reminders, queue_to_signer,
                                         reminder_delay, signer_detail)

log = logging.getLogger("radesk.signing")


def remind(app: Flask, order: Order, request: SignatureRequest, operator: Operator | None,
           ip: str = "", now: dt.datetime | None = None) -> bool:
    """A reminder with the same link. ``operator`` None: the automatic reminder (which only
    goes when still due, so two job runs never remind twice). True when one was queued."""
    now = now or utcnow()
    with db.atomic():
        current = lock_order(order.id)
        request = SignatureRequest.get_by_id(request.id)
        if operator is None:
            if not _reminder_due(app, request, now) or workflow.signing_blockers(current, request, now):
                return False
        else:
            reasons = workflow.signature_followup_blockers(current, operator, request, now)
            if request.state in workflow.OPEN_SIGNATURE_STATES and request.expires_at <= now:
                reasons.append("Ce lien de signature a expiré : envoyez un nouveau lien plutôt "
                               "qu'une relance.")
            if reasons:
                raise workflow.Refused(reasons)
        (SignatureRequest
         .update(reminders=SignatureRequest.reminders + 1, reminded_at=now)
         .where(SignatureRequest.id == request.id)
         .execute())
        queue_to_signer(app, current, request, TYPE_SIGNER_REMINDER,
                        f"Rappel — commande N° {current.number} : documents à signer", operator)
        audit.record(ACTION_REMINDED, operator=operator, order=current, ip=ip,
                     actor=None if operator else SYSTEM,
                     details={"signataire": signer_detail(request),
                              "relance": request.reminders + 1,
                              "automatique": "non" if operator else "oui"})
    if operator is not None:
        outbox.wake(app)
    return True


def _reminder_due(app: Flask, request: SignatureRequest, now: dt.datetime) -> bool:
    last = max(filter(None, (request.last_sent_at, request.reminded_at)))
    return (request.state in workflow.OPEN_SIGNATURE_STATES and request.expires_at > now
            and request.reminders < max_reminders(app) and last <= now - reminder_delay(app))


def send_due_reminders(app: Flask, now: dt.datetime | None = None) -> int:
    """The scheduler's job: remind every signer whose delay has passed. Returns how many."""
    now = now or utcnow()
    # Read whole before writing: an SQLite cursor left open keeps its snapshot, and a write
    # from that snapshot after another process's commit fails at once (« database is locked »).
    candidates = list(SignatureRequest
                      .select()
                      .where(SignatureRequest.state.in_(workflow.OPEN_SIGNATURE_STATES)
                             & (SignatureRequest.expires_at > now)
                             & (SignatureRequest.reminders < max_reminders(app))
                             & (SignatureRequest.last_sent_at <= now - reminder_delay(app)))
                      .order_by(SignatureRequest.id))
    sent = 0
    for request in candidates:
        if _reminder_due(app, request, now):
            sent += remind(app, Order.get_by_id(request.order_id), request, None, now=now)
    if sent:
        outbox.wake(app)
    return sent


def job(app: Flask) -> int:
    """The scheduler's reminders job: every reminder due now, logged when some went."""
    sent = send_due_reminders(app)
    if sent:
        log.info("Signature : %d relance(s) envoyée(s)", sent)
    return sent
