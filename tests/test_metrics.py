"""« /metrics »: Prometheus text, read back with prometheus_client's own parser — requests by URL
rule and status, their durations, the outbox read from the database at each scrape, digest
runs and generation failures counted where they happen; answered to the loopback or to the
bearer token only."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from models import Notification, utcnow
from services import heartbeats
from services.certificates.attempts import report_failure

REMOTE = {"REMOTE_ADDR": "203.0.113.7"}


def scrape(client, **kwargs) -> dict:
    """{(sample name, sorted labels): value} of one scrape from the loopback."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def notification(ae, state: str) -> None:
    Notification.create(ae=ae, order=None, type="digest", recipient="op@bpoi.example",
                        subject="Résumé", body="…", state=state, next_try_at=utcnow(),
                        message_id=f"<{uuid.uuid4().hex}@radesk.example>")


def test_requests_are_counted_by_url_rule_and_status(client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/pki/pds/fr").status_code == 200
    assert client.get("/pki/pds/de").status_code == 404
    assert client.get("/pas/une/page/12345").status_code == 404
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    rule = {"route": "/pki/pds/<language>", "method": "GET"}
    assert delta("radesk_http_requests_total", status="200", **rule) == 3
    assert delta("radesk_http_requests_total", status="404", **rule) == 1
    assert delta("radesk_http_requests_total", route="(aucune)", method="GET", status="404") == 1
    assert not any("12345" in dict(labels).get("route", "") for _, labels in after)
    assert delta("radesk_http_request_duration_seconds_count", **rule) == 4
    assert delta("radesk_http_request_duration_seconds_bucket", le="+Inf", **rule) == 4
    assert delta("radesk_http_request_duration_seconds_sum", **rule) > 0


def test_outbox_and_heartbeats_are_read_from_the_database_at_each_scrape(client, make_ae):
    ae = make_ae("BPOI")
    for state in ("queued", "queued", "sent", "failed"):
        notification(ae, state)
    heartbeats.forget_writes()
    heartbeats.record("outbox")

    samples = scrape(client)

    assert value(samples, "radesk_database_up") == 1
    assert value(samples, "radesk_outbox_queued") == 2
    assert value(samples, "radesk_outbox_failed") == 1
    last_run = value(samples, "radesk_scheduler_job_last_run_timestamp_seconds", job="outbox")
    assert abs(last_run - dt.datetime.now(dt.timezone.utc).timestamp()) < 60

    notification(ae, "failed")
    assert value(scrape(client), "radesk_outbox_failed") == 2


def test_webhook_deliveries_waiting_and_given_up_are_read_at_each_scrape(
        app, client, make_ae, make_order):
    from models import WebhookDelivery
    from tests.webhook_receiver import declare, emit
    ae = make_ae("BPOI")
    declare(app, ae, "https://192.0.2.10/hook")  # every event type (TEST-NET: never reached)
    order = make_order(ae)
    for _ in range(3):
        emit(order, "commande.recue")
    assert value(scrape(client), "radesk_webhook_deliveries_queued") == 3
    assert value(scrape(client), "radesk_webhook_deliveries_failed") == 0

    first = WebhookDelivery.select().order_by(WebhookDelivery.id).first()
    WebhookDelivery.update(state="failed").where(WebhookDelivery.id == first.id).execute()
    samples = scrape(client)
    assert value(samples, "radesk_webhook_deliveries_queued") == 2
    assert value(samples, "radesk_webhook_deliveries_failed") == 1


def test_digest_runs_are_counted(client, runner):
    before = value(scrape(client), "radesk_digest_runs_total")
    result = runner.invoke(args=["digest", "send-now"])
    assert result.exit_code == 0, result.output
    assert value(scrape(client), "radesk_digest_runs_total") == before + 1


def test_generation_failures_are_counted_by_stage(app, client, bpoi, aet, make_order):
    order = make_order(bpoi, phase="generation", substate=None)
    before = value(scrape(client), "radesk_certificate_generation_failures_total", stage="write")

    report_failure(app, order, aet, nonce="inconnu", stage="write", code="pin_locked",
                   message="Code PIN bloqué.")

    after = value(scrape(client), "radesk_certificate_generation_failures_total", stage="write")
    assert after == before + 1


# --- who may read them ------------------------------------------------------------------------

def test_refused_from_another_address_when_no_token_is_set(client):
    assert client.get("/metrics", environ_base=REMOTE).status_code == 404


def test_refused_through_the_proxy_even_from_the_loopback(client):
    """nginx on this host forwards from 127.0.0.1, but it says for whom."""
    assert client.get("/metrics", headers={"X-Real-IP": "203.0.113.7"}).status_code == 404
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 404


@pytest.mark.parametrize("authorization", [None, "Bearer mauvais-jeton", "Basic c2VjcmV0",
                                           "Bearer "])
def test_refused_without_the_right_token(app, client, authorization):
    app.config["RADESK_METRICS_TOKEN"] = "jeton-de-supervision"
    headers = {"Authorization": authorization} if authorization else {}
    assert client.get("/metrics", environ_base=REMOTE, headers=headers).status_code == 403


def test_answered_to_the_token_from_anywhere(app, client):
    app.config["RADESK_METRICS_TOKEN"] = "jeton-de-supervision"
    samples = scrape(client, environ_base=REMOTE,
                     headers={"Authorization": "Bearer jeton-de-supervision"})
    assert value(samples, "radesk_database_up") == 1


def test_a_database_that_does_not_answer_still_gets_a_scrape(client, monkeypatch):
    import peewee

    from models import db

    def refused():
        raise peewee.OperationalError("connection refused")

    db.close()
    monkeypatch.setattr(db.obj, "_connect", refused)
    samples = scrape(client)
    assert value(samples, "radesk_database_up") == 0
    assert ("radesk_outbox_queued", ()) not in samples
