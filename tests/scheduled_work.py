"""For the tests that run the scheduler's jobs in two processes (or two threads) at once: some
work due for each registered job, and the check that each piece was done exactly once.

``due_work`` (inside an app context with a connection, on the AE and an AEA of it) leaves: an
abandoned draft (draft_expiry), a dossier waiting for its requester for 10 days
(requester_reminders), signers unanswered for 4 days (signature_reminders), a holder certificate
expiring in 20 days (expiry_reminders), interrupted imports (document_cleanup), two actions on
the selection queued (bulk_actions), a webhook event (webhooks) when an endpoint is given, and
every operator's digest for the latest slot (digest). The outbox sends what they queue."""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from types import SimpleNamespace

import workflow
from models import (AE, AuditEvent, BulkJob, CertificateExpiryReminder, DigestRun,
                    HolderCertificate, IssuedCertificate, Notification, Operator, Order,
                    PendingFile, SignatureRequest, WebhookDelivery, db, utcnow)
from models.scope import OperatorScope
from services.bulk import actions, jobs, selection
from services.orders.requester_reminders import TYPE_REMINDER
from services.renewal.expiry_reminders import TYPE_EXPIRY
from services.signing.sending import send_for_signature
from services.webhooks import events
from tests.factories import make_order
from tests.signature_support import ready_order
from tests.webhook_receiver import declare

DAY = dt.timedelta(days=1)
BULK_ORDERS = 5


def holder_certificate(order, expires_in: dt.timedelta) -> HolderCertificate:
    """A holder certificate of ``order``, written on its key, expiring ``expires_in`` from now."""
    serial = uuid.uuid4().hex[:20].lstrip("0")
    not_after = utcnow() + expires_in
    not_before = not_after - 3 * 365 * DAY
    issued = IssuedCertificate.create(serial_hex=serial, kind="holder", subject="CN=Porteur",
                                      not_before=not_before, not_after=not_after, pem="")
    fingerprint = hashlib.sha256(serial.encode()).hexdigest()
    return HolderCertificate.create(
        order=order, issued=issued, serial_hex=serial, fingerprint_sha256=fingerprint,
        public_key_sha256=hashlib.sha256(fingerprint.encode()).hexdigest(),
        subject="CN=Porteur", key_type="EC-P256", token_serial=serial[:8],
        not_before=not_before, not_after=not_after, pem="", issued_at=not_before,
        written_at=not_before)


def due_work(app, ae: AE, operator: Operator, *, number: int = 960400,
             webhook_url: str | None = None, bulk: bool = True) -> SimpleNamespace:
    now = utcnow()
    draft = make_order(ae, number=number, phase=workflow.PHASE_ENTRY, substate=None,
                       requester_email="brouillon@example.org")
    Order.update(updated_at=now - 40 * DAY).where(Order.id == draft.id).execute()
    waiting = make_order(ae, number=number + 1, requester_email="relance@example.org")
    Order.update(state_since=now - 10 * DAY).where(Order.id == waiting.id).execute()
    expiring = make_order(ae, number=number + 2, phase=workflow.PHASE_DONE, substate=None,
                          requester_email="renouvellement@example.org")
    certificate = holder_certificate(expiring, 20 * DAY)
    unsigned = ready_order(app, make_order, ae, operator, number=number + 3)
    with app.app_context():
        send_for_signature(app, unsigned, operator)
    SignatureRequest.update(last_sent_at=now - 4 * DAY).where(
        SignatureRequest.order == unsigned.id).execute()
    pending = [PendingFile.create(sha256=digit * 64, created_at=now - 2 * DAY).id
               for digit in "def"]
    Operator.update(digest_enabled=True).where(Operator.ae == ae.id).execute()
    if webhook_url:
        app.config["RADESK_WEBHOOKS_ALLOW_HTTP"] = True
        declare(app, ae, webhook_url)
        with db.atomic():
            events.emit(Order.get_by_id(waiting.id), events.ORDER_INCOMPLETE)
    bulk_orders = []
    for first in (range(number + 10, number + 10 + BULK_ORDERS * 2, BULK_ORDERS)
                  if bulk else ()):  # two jobs waiting: the workers take one each, or both
        orders = [make_order(ae, number=first + n).id for n in range(BULK_ORDERS)]
        chosen = selection.resolve(OperatorScope(operator), ids=[str(i) for i in orders],
                                   everything=False)
        parameters = actions.check_parameters(actions.ASSIGN, operator,
                                              {"operator_id": str(operator.id)})
        jobs.create(app, operator, actions.ASSIGN, parameters, chosen)
        bulk_orders += orders
    return SimpleNamespace(draft=draft.id, waiting=waiting.id, certificate=certificate.id,
                           unsigned=unsigned.id, pending=pending, bulk=bulk_orders,
                           assignee=operator.id, ae=ae.id)


def assert_done_once(work: SimpleNamespace) -> None:
    """Each job did its piece of ``work`` once, whoever ran it and however many times."""
    def events_of(action, order_id):
        return AuditEvent.select().where((AuditEvent.action == action)
                                         & (AuditEvent.order == order_id)).count()

    assert Order.get_by_id(work.draft).phase == workflow.PHASE_CANCELLED
    assert events_of("order_draft_expired", work.draft) == 1
    assert Notification.select().where(Notification.order == work.draft).count() == 1
    assert Notification.select().where((Notification.order == work.waiting)
                                       & (Notification.type == TYPE_REMINDER)).count() == 1
    signers = list(SignatureRequest.select().where(SignatureRequest.order == work.unsigned))
    assert signers and all(request.reminders == 1 for request in signers)
    reminded = (CertificateExpiryReminder.select()
                .where((CertificateExpiryReminder.holder_certificate == work.certificate)
                       & CertificateExpiryReminder.sent_at.is_null(False)))
    assert reminded.count() == 1
    expiry = Notification.select().where(Notification.type == TYPE_EXPIRY)
    assert sorted(n.recipient for n in expiry) == ["porteur@example.org",
                                                   "renouvellement@example.org"]
    assert PendingFile.select().where(PendingFile.id.in_(work.pending)).count() == 0
    digest_operators = (Operator.select()
                        .where((Operator.ae == work.ae) & Operator.digest_enabled).count())
    runs = list(DigestRun.select().join(Operator).where(Operator.ae == work.ae))
    assert len(runs) == len({run.operator_id for run in runs}) == digest_operators
    assert Notification.select().where(Notification.type == "digest").count() == digest_operators
    if work.bulk:
        assert sorted((job.state, job.done, job.refused) for job in BulkJob.select()) == [
            ("finished", BULK_ORDERS, 0)] * 2
        assert AuditEvent.select().where(AuditEvent.action == jobs.ACTION_FINISHED).count() == 2
        assert Order.select().where(Order.id.in_(work.bulk)
                                    & (Order.handled_by == work.assignee)).count() == len(work.bulk)
    assert all(d.state == "sent" and d.tries == 1 for d in WebhookDelivery.select())


def assert_each_message_once(inbox) -> None:
    """Every notification sent, at its first try, and received once (by its Message-ID)."""
    queued = {n.message_id: n for n in Notification.select()}
    with inbox.lock:
        received = [m.message["Message-ID"] for m in inbox.messages]
    assert sorted(received) == sorted(queued)
    assert all(n.state == "sent" and n.tries == 1 for n in queued.values())
