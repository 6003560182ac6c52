"""« Envoyer la commande »: a draft whose answers and pieces are complete reaches the AE. In one
transaction the order moves to « Validation de la commande / à vérifier »
(``workflow.after_submission``), the audit trail says « Commande reçue du portail », and the
requester's acknowledgement is queued with the follow-up link. From then on the digests count it.
"""
from __future__ import annotations

from flask import Flask

import workflow
from models import Document, Order, OrderIntake, Portal, db, utcnow
from services import audit
from services.audit_words import ACTION_ORDER_RECEIVED
from services.dossiers.documents import REQUESTER
from services.intake import address, messages
from services.intake.drafts import answers_of
from services.messaging import notifications, outbox
from services.webhooks import events as webhooks
from workflow import ordering
from workflow.portals import portal_open_check

VIA_ORDERING_PAGE = "la page de commande"
VIA_FOLLOWUP_PAGE = "la page de suivi"


class SubmissionRefused(workflow.Refused):
    """The order may not be sent: every failed check, for callers that name each reason by
    its code (the API)."""

    def __init__(self, checks: list[workflow.Check]):
        super().__init__([check.reason for check in checks], "submission")
        self.checks = checks


def failed_checks(order: Order, *, address_proven: bool, intake: OrderIntake | None = None,
                  documents: list[Document] | None = None) -> list[workflow.Check]:
    """What the order (loaded with its people) still lacks before it can be sent, its portal
    open first of all (a closed portal's drafts wait for it to reopen). A page
    that has read the intake and the current documents already passes them."""
    if intake is None:
        intake = OrderIntake.get_or_none(OrderIntake.order == order.id)
    if documents is None:
        documents = list(Document.current_of(order.id))
    verified = address_proven or (intake is not None and address.is_verified(order, intake))
    checks = [portal_open_check(Portal.get_by_id(order.portal_id)),
              *ordering.submission_checks(order, documents, answers_of(order, intake), verified)]
    return [check for check in checks if not check.ok]


def blockers(order: Order, **known) -> list[str]:
    """The French reasons of ``failed_checks`` (same arguments)."""
    return [check.reason for check in failed_checks(order, **known)]


def submit(app: Flask, order: Order, *, address_proven: bool, via: str, ip: str = "",
           actor: str = REQUESTER) -> Order:
    """Send the draft. ``address_proven``: the requester came through the follow-up link,
    which only ever went to their address, or an API client of the AE sends it; on the
    ordering page the e-mailed code proves it. ``via`` says where from, in the audit trail.
    Refused with every reason when something is missing; nothing changes then."""
    with db.atomic():
        now = utcnow()
        Order.update(updated_at=Order.updated_at).where(Order.id == order.id).execute()  # lock
        current = Order.with_people().where(Order.id == order.id).get()
        failed = failed_checks(current, address_proven=address_proven)
        if failed:
            raise SubmissionRefused(failed)
        phase, substate = workflow.after_submission(current)
        (Order
         .update(phase=phase, substate=substate, submitted_at=now, updated_at=now)
         .where(Order.id == current.id)
         .execute())
        audit.record(ACTION_ORDER_RECEIVED, order=current, actor=actor, ip=ip,
                     details={"portal": current.portal.name, "number": current.number,
                              "via": via})
        webhooks.emit(current, webhooks.ORDER_RECEIVED)
        if current.requester_email:
            notifications.queue(current, messages.acknowledgement_message(current),
                                operator=None, sender=app.config["MAIL_DEFAULT_SENDER"], ip=ip,
                                actor=REQUESTER, system=True)
    outbox.wake(app)
    return Order.get_by_id(order.id)
