"""The outbox: notifications are stored first (services.messaging.notifications.queue), then sent here
by a job (``job``, run by the scheduler, or ``flask --app app outbox flush``).

What the app plugs in, per app (create_app does it, in plain sight): a *composer* for the types
whose e-mail is written when it leaves (``register_outbox_composer``), and the *wake* hook that
has the job run now rather than at its next tick (``register_outbox_wake``, called by ``wake``).

Reliability, step by step:

* **Never lost.** A failure leaves the notification in the table with its reason; it is tried
  again after a growing delay (``RADESK_OUTBOX_BACKOFF_SECONDS`` × 2^(tries−1), at most six
  hours) until ``RADESK_OUTBOX_MAX_TRIES``; then it is marked « échec » with the last reason,
  and an operator may send it again.
* **Never twice.** Before sending, a job *claims* the notification with one conditional
  UPDATE (state ``sending`` and a lease): two processes cannot both claim it. Success is
  recorded (state ``sent`` and its audit event) in one transaction. The Message-ID is fixed
  when the notification is queued, so in the one case a job dies between the SMTP server's
  acceptance and that commit, the message sent again when the lease runs out carries the same
  Message-ID, by which mail systems recognise a duplicate.
* **Bounded.** A batch uses one SMTP connection; once the server proves unreachable the rest
  of the batch is recorded as a failed try at once, instead of waiting for each timeout.

A composer may also write a text message (``adapters.sms.SmsText``: the activation code to a
mobile Contact OTP); it goes to the SMS gateway, with the same tries, delays and states.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Callable, Iterable

import flask_mail
from flask import Flask
from peewee import JOIN

from formatting import paris_datetime
from models import AE, Notification, Order, db, utcnow
from services import audit, retries, wakeups
from services.ae_settings import mail_signature
from adapters.mail import DeliveryError, Letter, compose, transport
from adapters.sms import SmsError, SmsText
from adapters.sms import gateway as sms_gateway
from services.messaging.followup import make_link
from services.messaging.notifications import type_label

log = logging.getLogger("radesk.outbox")

LEASE = dt.timedelta(minutes=5)   # well above an SMTP exchange bounded by MAIL_TIMEOUT
MAX_DELAY = dt.timedelta(hours=6)
BATCH = 500
SYSTEM = "Messagerie"
COMPOSERS_KEY = "radesk_outbox_composers"
WAKE_KEY = "radesk_outbox_wake"

Composer = Callable[[Flask, Notification], "flask_mail.Message | SmsText"]


# --- What the app plugs in -----------------------------------------------------------------------

def register_outbox_composer(app: Flask, types: Iterable[str], composer: Composer) -> None:
    """``composer(app, notification)`` writes the e-mail of these types when it leaves (a
    signing link or code made then, a digest from its stored content); it raises
    DeliveryError when the message must not go. Other types are letters to the requester with
    the follow-up link."""
    composers = app.extensions.setdefault(COMPOSERS_KEY, {})
    for type_ in types:
        if composers.get(type_, composer) is not composer:
            raise ValueError(f"Two outbox composers for the notification type {type_!r}")
        composers[type_] = composer


def register_outbox_wake(app: Flask, hook: wakeups.Hook) -> None:
    """What ``wake`` calls: in the server, the scheduler running the outbox job now."""
    wakeups.register(app, WAKE_KEY, hook)


def wake(app: Flask) -> None:
    """Something was just queued: have it sent now rather than at the job's next tick."""
    wakeups.wake(app, WAKE_KEY)


class Report(retries.Report):
    sent_word = "envoyée(s)"  # notifications


def retry_delay(app: Flask, tries: int) -> dt.timedelta:
    return retries.backoff(float(app.config["RADESK_OUTBOX_BACKOFF_SECONDS"]), tries, MAX_DELAY)


def _claimable(now: dt.datetime, force: bool):
    abandoned = (Notification.state == "sending") & (Notification.next_try_at <= now)
    if force:  # « outbox flush »: every queued one now, whatever its next try
        return (Notification.state == "queued") | abandoned
    return ((Notification.state == "queued") & (Notification.next_try_at <= now)) | abandoned


def due(now: dt.datetime, force: bool = False, limit: int = BATCH) -> list[Notification]:
    """Notifications to try now, oldest first, with their order number and AE name and
    addresses (the e-mails' signature)."""
    return list(Notification
                .select(Notification, Order.id, Order.number, AE.id, AE.name, AE.postal_address,
                        AE.contact_email, AE.contact_phone)
                .join(Order, JOIN.LEFT_OUTER, on=(Notification.order == Order.id), attr="order")
                .switch(Notification)
                .join(AE, on=(Notification.ae == AE.id), attr="ae")
                .where(_claimable(now, force))
                .order_by(Notification.next_try_at, Notification.id)
                .limit(limit))


def claim(notification_id: int, force: bool = False) -> bool:
    """Take the notification for one try; False when another job has it or it is done."""
    now = utcnow()
    with db.atomic():
        return bool(Notification
                    .update(state="sending", next_try_at=now + LEASE,
                            tries=Notification.tries + 1)
                    .where((Notification.id == notification_id) & _claimable(now, force))
                    .execute())


def job(app: Flask) -> Report:
    """The scheduler's outbox job: one run, logged when it tried something."""
    report = run(app)
    if report.attempted:
        log.info("Boîte d'envoi : %s", report)
    return report


def run(app: Flask, *, force: bool = False, limit: int = BATCH) -> Report:
    """Try each due notification once. Returns what happened."""
    with app.app_context():  # Flask-Mail reads its state from the current app
        return _run(app, force, limit)


def _run(app: Flask, force: bool, limit: int) -> Report:
    report = Report()
    candidates = due(utcnow(), force, limit)
    if not candidates:
        return report
    with transport(app) as postman:
        for notification in candidates:
            if not claim(notification.id, force):
                continue  # taken by another process meanwhile
            tries = notification.tries + 1
            try:
                _deliver(app, postman, _message(app, notification))
            except DeliveryError as failure:
                if _record_failure(app, notification, tries, failure):
                    report.failed += 1
                else:
                    report.retried += 1
            else:
                _record_sent(notification, tries)
                report.sent += 1
    return report


def _deliver(app: Flask, postman, message) -> None:
    """An e-mail to the batch's transport, a text message to the SMS gateway."""
    if not isinstance(message, SmsText):
        postman.send(message)
        return
    try:
        sms_gateway(app).send(message.phone, message.text)
    except SmsError as error:
        raise DeliveryError(f"SMS non envoyé : {error.reason}") from None


def _message(app: Flask, notification: Notification):
    composer = app.extensions.get(COMPOSERS_KEY, {}).get(notification.type)
    if composer is not None:
        return composer(app, notification)
    return compose(app, _letter(app, notification))


def flush(app: Flask) -> Report:
    """``outbox flush``: every queued notification tried now, each once."""
    return run(app, force=True, limit=1_000_000)


def _letter(app: Flask, notification: Notification) -> Letter:
    link, expires = make_link(app, notification.order_id)
    return Letter(message_id=notification.message_id, queued_at=notification.created_at,
                  recipient=notification.recipient, subject=notification.subject,
                  body=notification.body, order_number=notification.order.number,
                  ae_name=notification.ae.name, link=link, link_expires_on=expires,
                  signature=mail_signature(notification.ae))


def _details(notification: Notification, tries: int, **more) -> dict:
    return {"notification": notification.id, "type": type_label(notification.type),
            "recipient": notification.recipient, "tries": tries, **more}


def _record_sent(notification: Notification, tries: int) -> None:
    now = utcnow()
    with db.atomic():
        updated = (Notification
                   .update(state="sent", sent_at=now, last_error=None)
                   .where((Notification.id == notification.id)
                          & (Notification.state == "sending"))
                   .execute())
        if updated:
            audit.record("notification_sent", ae=notification.ae_id,
                         order=notification.order if notification.order_id else None,
                         actor=SYSTEM, details=_details(notification, tries))


def _record_failure(app: Flask, notification: Notification, tries: int,
                    failure: DeliveryError) -> bool:
    """Back to the queue with a delay, or failed for good; True when failed for good."""
    final = failure.permanent or tries >= int(app.config["RADESK_OUTBOX_MAX_TRIES"])
    now = utcnow()
    next_try = now + retry_delay(app, tries)
    with db.atomic():
        updated = (Notification
                   .update(state="failed" if final else "queued", last_error=failure.reason,
                           next_try_at=now if final else next_try)
                   .where((Notification.id == notification.id)
                          & (Notification.state == "sending"))
                   .execute())
        if updated:
            extra = {"reason": failure.reason}
            if not final:
                extra["next_try"] = paris_datetime(next_try)
            audit.record("notification_failed" if final else "notification_retry",
                         ae=notification.ae_id,
                         order=notification.order if notification.order_id else None, actor=SYSTEM,
                         details=_details(notification, tries, **extra))
    return final


def pending_count() -> int:
    return Notification.select().where(Notification.state.in_(("queued", "sending"))).count()
