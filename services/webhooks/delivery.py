"""Sending the webhook deliveries: the job the scheduler runs (create_app registers ``job``).

It follows the outbox (services.messaging.outbox) step by step:

* **Never lost.** A failed try leaves the delivery queued with its reason, tried again after
  ``RADESK_WEBHOOKS_BACKOFF_SECONDS`` × 2^(tries−1) (at most six hours), until
  ``RADESK_WEBHOOKS_MAX_TRIES``; then « échec », and the AE's admin may send it again.
* **Never twice.** A try *claims* the delivery with one conditional UPDATE (state ``sending``
  and a lease) and records its outcome only while it still holds it. The ``webhook-id`` is the
  event's, fixed when it was written: in the one case a job dies between the receiver's answer
  and that record, the try made when the lease runs out carries the same id, by which a
  receiver following Standard Webhooks recognises a duplicate.
* **In order, per order.** A delivery waits while an earlier delivery of the same order to the
  same endpoint is not sent: the due list and the claim both check it. A run goes on while it
  sends something, so a backlog drains in one run, in order.
* **Bounded.** Each try is bounded (services.webhooks.transport); an endpoint that proves
  unreachable is not tried again in the same run.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import time

from flask import Flask
from peewee import SQL, fn
from standardwebhooks import Webhook

from models import WebhookDelivery, WebhookEndpoint, WebhookEvent, db, utcnow
from services import retries
from services.webhooks import transport, urls

log = logging.getLogger("radesk.webhooks")

LEASE = dt.timedelta(minutes=2)   # above a try's bound (connect, answer, excerpt: 3 × 10 s)
MAX_DELAY = dt.timedelta(hours=6)
BATCH = 200
RUN_SECONDS = 60                  # a run that keeps sending stops after this, the next goes on


Report = retries.Report  # deliveries: « envoyé(s) »


def signature_headers(webhook_id: str, payload: str, secrets: list[str],
                      moment: dt.datetime) -> dict[str, str]:
    """Standard Webhooks' headers; one ``v1,…`` signature per secret, separated by spaces."""
    moment = moment.replace(microsecond=0)
    signature = " ".join(Webhook(secret).sign(webhook_id, moment, payload) for secret in secrets)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(math.floor(moment.timestamp())),
            "webhook-signature": signature}


def retry_delay(app: Flask, tries: int) -> dt.timedelta:
    return retries.backoff(float(app.config["RADESK_WEBHOOKS_BACKOFF_SECONDS"]), tries, MAX_DELAY)


def _claimable(now: dt.datetime):
    queued = (WebhookDelivery.state == "queued") & (WebhookDelivery.next_try_at <= now)
    abandoned = (WebhookDelivery.state == "sending") & (WebhookDelivery.next_try_at <= now)
    earlier = WebhookDelivery.alias()
    waiting = fn.EXISTS(earlier
                        .select(SQL("1"))
                        .where((earlier.endpoint == WebhookDelivery.endpoint)
                               & (earlier.order == WebhookDelivery.order)
                               & (earlier.id < WebhookDelivery.id)
                               & (earlier.state != "sent")))
    return (queued | abandoned) & ~waiting


def due(now: dt.datetime, limit: int = BATCH) -> list[WebhookDelivery]:
    """Deliveries to try now, to active endpoints, oldest first, with event and endpoint."""
    return list(WebhookDelivery
                .select(WebhookDelivery, WebhookEvent, WebhookEndpoint)
                .join(WebhookEvent)
                .switch(WebhookDelivery)
                .join(WebhookEndpoint)
                .where(_claimable(now) & WebhookEndpoint.active)
                .order_by(WebhookDelivery.next_try_at, WebhookDelivery.id)
                .limit(limit))


def claim(delivery_id: int) -> bool:
    """Take the delivery for one try; False when another job has it, it is done, or an
    earlier delivery of its order is still to send."""
    now = utcnow()
    with db.atomic():
        return bool(WebhookDelivery
                    .update(state="sending", next_try_at=now + LEASE,
                            tries=WebhookDelivery.tries + 1)
                    .where((WebhookDelivery.id == delivery_id) & _claimable(now))
                    .execute())


def job(app: Flask) -> Report:
    """The scheduler's webhooks job: one run, logged when it tried something."""
    report = run(app)
    if report.attempted:
        log.info("Webhooks : %s", report)
    return report


def run(app: Flask, *, limit: int = BATCH) -> Report:
    """Try the due deliveries, round after round while a round sends something."""
    report, unreachable = Report(), set()
    started = time.monotonic()
    while _round(app, report, unreachable, limit) and time.monotonic() - started < RUN_SECONDS:
        pass
    return report


def _round(app: Flask, report: Report, unreachable: set[int], limit: int) -> bool:
    sent_before = report.sent
    for delivery in due(utcnow(), limit):
        if delivery.endpoint_id in unreachable or not claim(delivery.id):
            continue
        tries = delivery.tries + 1
        try:
            answer = _try(app, delivery)
        except transport.Failure as failure:
            if failure.status is None:
                unreachable.add(delivery.endpoint_id)
            if _record_failure(app, delivery, tries, failure):
                report.failed += 1
            else:
                report.retried += 1
        else:
            _record_sent(delivery, tries, answer)
            report.sent += 1
    return report.sent > sent_before


def _try(app: Flask, delivery: WebhookDelivery) -> transport.Answer:
    endpoint, event = delivery.endpoint, delivery.event
    try:
        target = urls.resolve(endpoint.url, allow_http=app.config["RADESK_WEBHOOKS_ALLOW_HTTP"],
                              allow_private=endpoint.allow_private_network)
    except urls.RefusedUrl as refused:
        raise transport.Failure(refused.message) from None
    headers = signature_headers(event.webhook_id, event.payload,
                                endpoint.signing_secrets(utcnow()),
                                dt.datetime.now(dt.timezone.utc))
    return transport.post(target, event.payload.encode("utf-8"), headers,
                          timeout=float(app.config["RADESK_WEBHOOKS_TIMEOUT_SECONDS"]),
                          ca_bundle=app.config.get("RADESK_WEBHOOKS_CA_BUNDLE"))


def _still_mine(delivery: WebhookDelivery, tries: int):
    return ((WebhookDelivery.id == delivery.id) & (WebhookDelivery.state == "sending")
            & (WebhookDelivery.tries == tries))


def _record_sent(delivery: WebhookDelivery, tries: int, answer: transport.Answer) -> None:
    with db.atomic():
        (WebhookDelivery
         .update(state="sent", sent_at=utcnow(), last_status=answer.status, last_error=None,
                 response_excerpt=answer.excerpt)
         .where(_still_mine(delivery, tries))
         .execute())


def _record_failure(app: Flask, delivery: WebhookDelivery, tries: int,
                    failure: transport.Failure) -> bool:
    """Back to the queue with a delay, or failed for good; True when failed for good."""
    final = tries >= int(app.config["RADESK_WEBHOOKS_MAX_TRIES"])
    now = utcnow()
    with db.atomic():
        (WebhookDelivery
         .update(state="failed" if final else "queued", last_status=failure.status,
                 last_error=failure.message, response_excerpt=failure.excerpt,
                 next_try_at=now if final else now + retry_delay(app, tries))
         .where(_still_mine(delivery, tries))
         .execute())
    log.warning("Webhook %s vers le point n° %s, essai %s%s : %s", delivery.event.webhook_id,
                delivery.endpoint_id, tries, " (dernier)" if final else "", failure.message)
    return final
