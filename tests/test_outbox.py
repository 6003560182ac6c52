"""The outbox against a real SMTP server (aiosmtpd): what the requester receives, parsed back;
an outage during which 100 notifications wait and then all arrive exactly once; retries with
backoff, the final failure and its reason; two jobs at once; the .eml folder without a server;
the ``outbox flush`` command."""
from __future__ import annotations

import datetime as dt
import json
import re
import threading
from html import unescape
from urllib.parse import urlsplit

import pytest

import scheduler
from app import create_app
from models import AuditEvent, Notification, db, utcnow
from services.messaging import drafts, notifications, outbox, wordings
from adapters.mail import FolderTransport
from tests.e2e_support import free_port
from tests.smtp_support import SmtpServer, eml_messages, running_smtp, use_smtp
from tests.text import mail_text

SENDER = "RA Desk <no-reply@radesk.example>"
LINK = re.compile(r"http://localhost/suivi/[A-Za-z0-9_.\-]+")


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    order = make_order(ae, number=960072, requester_email="alice.colbert@exemple.fr",
                       otp_contact="0612345678")
    app.config.update(RADESK_OUTBOX_BACKOFF_SECONDS=60, RADESK_OUTBOX_MAX_TRIES=8)
    return {"app": app, "ae": ae, "camille": camille, "order": order}


def queue(desk, recipient="alice.colbert@exemple.fr", subject="Commande N° 960072 : pièce manquante",
          body="Bonjour,\n\nIl manque l'Extrait de KBIS. Déposez-le ici : {lien}\n\nCordialement"):
    draft = drafts.Draft(wordings.TYPE_MISSING, recipient, subject, body)
    with desk["app"].app_context():
        return notifications.queue(desk["order"], draft, operator=desk["camille"], sender=SENDER)


def events(action: str) -> list[dict]:
    return [json.loads(e.details) for e in
            AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id)]


def test_the_requester_receives_a_french_email_with_both_parts_and_the_link(app, client, desk):
    notification = queue(desk)
    with running_smtp(app) as server:
        report = outbox.run(app)
        received = server.inbox.wait_for(1)
    assert (report.sent, report.retried, report.failed) == (1, 0, 0)
    mail = received[0]
    assert mail.recipients == ["alice.colbert@exemple.fr"]
    assert mail.envelope_from == "no-reply@radesk.example"
    assert mail.message["To"] == "alice.colbert@exemple.fr"
    assert mail.message["Subject"] == "Commande N° 960072 : pièce manquante"
    assert mail.message["Message-ID"] == notification.message_id
    assert mail.message["Content-Language"] == "fr"
    text, html = mail.text, mail.html
    assert "Commande N° 960072" in text and "Commande N° 960072" in html
    assert "Il manque l'Extrait de KBIS." in text
    assert "Il manque l&#39;Extrait de KBIS." in html or "Il manque l'Extrait de KBIS." in html
    links = set(LINK.findall(text))
    assert len(links) == 1, "the same link in the message and at its end"
    link = links.pop()
    assert f'href="{link}"' in html
    assert "{lien}" not in text and "{lien}" not in html
    assert "valable jusqu'au" in text
    # The link opens the order's follow-up page.
    page = client.get(urlsplit(link).path)
    assert page.status_code == 200
    assert "Suivi de votre commande N° 960072" in page.get_data(as_text=True)

    stored = Notification.get_by_id(notification.id)
    assert stored.state == "sent" and stored.tries == 1 and stored.last_error is None
    assert abs((stored.sent_at - utcnow()).total_seconds()) < 60
    sent = events("notification_sent")
    assert sent == [{"notification": notification.id, "type": "Pièce manquante",
                     "recipient": "alice.colbert@exemple.fr", "tries": 1}]


def test_outage_100_notifications_wait_then_arrive_exactly_once(app, runner, desk):
    port = free_port()
    use_smtp(app, port)  # nothing listens there yet: the mail server is down
    queued = [queue(desk, subject=f"Commande N° 960072 : message {n}") for n in range(100)]

    report = outbox.run(app)
    assert (report.sent, report.retried, report.failed) == (0, 100, 0)
    waiting = list(Notification.select())
    assert {n.state for n in waiting} == {"queued"}
    assert {n.tries for n in waiting} == {1}
    assert all("connexion refusée" in n.last_error for n in waiting)
    assert all(n.next_try_at > utcnow() + dt.timedelta(seconds=50) for n in waiting)
    assert outbox.run(app).attempted == 0, "not due again before the backoff delay"

    with SmtpServer(port) as server:
        result = runner.invoke(args=["outbox", "flush"])
        assert result.exit_code == 0, result.output
        assert "100 envoyée(s)" in result.output
        received = server.inbox.wait_for(100)
        assert outbox.run(app).attempted == 0
        assert runner.invoke(args=["outbox", "flush"]).exit_code == 0
        assert len(server.inbox.messages) == 100, "nothing sent twice"

    message_ids = [mail.message["Message-ID"] for mail in received]
    assert len(set(message_ids)) == 100
    assert set(message_ids) == {n.message_id for n in queued}
    subjects = sorted(mail.message["Subject"] for mail in received)
    assert subjects == sorted(f"Commande N° 960072 : message {n}" for n in range(100))
    sent = list(Notification.select())
    assert {n.state for n in sent} == {"sent"} and {n.tries for n in sent} == {2}
    assert len(events("notification_retry")) == 100 and len(events("notification_sent")) == 100


def test_retries_back_off_then_the_notification_fails_with_its_reason(app, client, desk):
    from tests.conftest import login_as
    app.config.update(RADESK_OUTBOX_MAX_TRIES=3, RADESK_OUTBOX_BACKOFF_SECONDS=60)
    use_smtp(app, free_port())
    notification = queue(desk)
    delays = []
    for attempt in (1, 2, 3):
        before = utcnow()
        assert outbox.run(app).attempted == 1
        current = Notification.get_by_id(notification.id)
        assert current.tries == attempt
        if attempt < 3:
            assert current.state == "queued"
            delays.append(round((current.next_try_at - before).total_seconds() / 60))
            # Time passes: the next try is due.
            Notification.update(next_try_at=utcnow() - dt.timedelta(seconds=1)).where(
                Notification.id == notification.id).execute()
    assert delays == [1, 2], "60 s then 120 s"
    failed = Notification.get_by_id(notification.id)
    assert failed.state == "failed"
    assert failed.last_error.startswith("Serveur de messagerie injoignable (127.0.0.1:")
    assert "connexion refusée" in failed.last_error
    assert outbox.run(app).attempted == 0, "a failed notification is not tried again by itself"
    assert [e["tries"] for e in events("notification_retry")] == [1, 2]
    final = events("notification_failed")
    assert len(final) == 1 and final[0]["tries"] == 3 and "connexion refusée" in final[0]["reason"]

    # The operator sees the failure and its reason, and may send it again.
    login_as(client, desk["camille"])
    html = client.get(f"/commandes/{desk['order'].id}/notifications/historique").get_data(as_text=True)
    assert "échec" in html and "connexion refusée" in html and "(3 tentatives)" in html
    with running_smtp(app) as server:
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        response = client.post(
            f"/commandes/{desk['order'].id}/notifications/{notification.id}/renvoyer",
            data={"csrf_token": token}, headers={"HX-Request": "true"})
        assert "Notification remise dans la boîte d'envoi." in unescape(response.get_data(as_text=True))
        assert outbox.run(app).sent == 1
        assert server.inbox.wait_for(1)[0].message["Message-ID"] == notification.message_id
    assert len(events("notification_requeued")) == 1


def test_an_address_refused_for_good_is_not_retried(app, desk):
    with running_smtp(app) as server:
        server.inbox.refuse["inconnu@exemple.fr"] = "550 5.1.1 Utilisateur inconnu"
        refused = queue(desk, recipient="inconnu@exemple.fr")
        fine = queue(desk)
        report = outbox.run(app)
        assert (report.sent, report.failed) == (1, 1)
        assert [m.recipients for m in server.inbox.wait_for(1)] == [["alice.colbert@exemple.fr"]]
    failed = Notification.get_by_id(refused.id)
    assert failed.state == "failed" and failed.tries == 1
    assert "550" in failed.last_error and "Utilisateur inconnu" in failed.last_error
    assert Notification.get_by_id(fine.id).state == "sent"


def test_a_temporary_refusal_is_retried(app, desk):
    with running_smtp(app) as server:
        server.inbox.refuse["plein@exemple.fr"] = "452 4.2.2 Boîte pleine"
        notification = queue(desk, recipient="plein@exemple.fr")
        assert outbox.run(app).retried == 1
    current = Notification.get_by_id(notification.id)
    assert current.state == "queued" and "452" in current.last_error


def test_two_jobs_at_once_never_send_a_notification_twice(app, desk):
    queued = [queue(desk, subject=f"Message {n}") for n in range(40)]
    reports = []

    def job():
        with app.app_context(), db.connection_context():
            reports.append(outbox.run(app))

    with running_smtp(app) as server:
        threads = [threading.Thread(target=job) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        received = server.inbox.wait_for(40)
        assert sum(r.sent for r in reports) == 40
        assert len(server.inbox.messages) == 40
    assert sorted(m.message["Message-ID"] for m in received) == sorted(n.message_id for n in queued)
    assert len(events("notification_sent")) == 40


def test_a_claim_left_by_a_dead_job_is_sent_again_with_the_same_message_id(app, desk):
    notification = queue(desk)
    assert outbox.claim(notification.id)  # the job dies here, before (or after) the SMTP send
    assert Notification.get_by_id(notification.id).state == "sending"
    with running_smtp(app) as server:
        assert outbox.run(app).attempted == 0, "another job holds the lease"
        assert outbox.flush(app).attempted == 0, "even a flush respects a live lease"
        Notification.update(next_try_at=utcnow() - dt.timedelta(seconds=1)).where(
            Notification.id == notification.id).execute()  # the lease ran out
        assert outbox.run(app).sent == 1
        assert server.inbox.wait_for(1)[0].message["Message-ID"] == notification.message_id
    assert Notification.get_by_id(notification.id).tries == 2


def test_without_mail_server_messages_become_eml_files(app, runner, desk):
    assert not app.config.get("MAIL_SERVER")
    notification = queue(desk)
    result = runner.invoke(args=["outbox", "flush"])
    assert result.exit_code == 0 and "1 envoyée(s)" in result.output
    messages = eml_messages(app.config["INSTANCE_PATH"])
    assert len(messages) == 1
    message = messages[0]
    assert message["Message-ID"] == notification.message_id
    assert message["To"] == "alice.colbert@exemple.fr"
    assert LINK.search(mail_text(message))
    assert LINK.search(message.get_body(("html",)).get_content())
    assert not list((app.config["INSTANCE_PATH"] / "mail").glob(".tmp-*"))
    # Written again (a send retried after a lease ran out), it replaces the same file.
    from adapters.mail import compose
    with app.app_context():
        again = compose(app, outbox._letter(app, _reload(notification)))
        FolderTransport(app.config["INSTANCE_PATH"] / "mail").send(again)
    assert len(list((app.config["INSTANCE_PATH"] / "mail").glob("*.eml"))) == 1
    status = runner.invoke(args=["outbox", "status"])
    assert "1 envoyée(s)" in status.output and "0 en attente" in status.output


def _reload(notification):
    from models import AE, Order
    return (Notification
            .select(Notification, Order.id, Order.number, AE.id, AE.name)
            .join(Order, on=(Notification.order == Order.id), attr="order")
            .switch(Notification)
            .join(AE, on=(Notification.ae == AE.id), attr="ae")
            .where(Notification.id == notification.id)
            .get())


def test_flush_says_so_when_the_server_is_down(app, runner, desk):
    use_smtp(app, free_port())
    queue(desk)
    result = runner.invoke(args=["outbox", "flush"])
    assert result.exit_code == 1
    assert "0 envoyée(s), 1 à réessayer" in result.output and "1 en attente" in result.output


def test_the_app_registers_its_jobs_with_the_configured_interval(tmp_path, database_url):
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path / "instance",
                      "DATABASE_URL": database_url, "SECRET_KEY": "test-secret",
                      "RADESK_OUTBOX_INTERVAL_SECONDS": 7, "RADESK_WEBHOOKS_INTERVAL_SECONDS": 3})
    jobs = {job.id: job for job in scheduler.jobs(app)}
    assert set(jobs) == {"outbox", "signature_reminders", "digest", "draft_expiry",
                         "document_cleanup", "webhooks", "requester_reminders", "bulk_actions",
                         "bulk_exports_cleanup", "expiry_reminders", "pki_refresh",
                         "audit_checkpoint", "preview_cache", "order_tally",
                         "login_sessions_purge", "piece_reading"}
    assert jobs["requester_reminders"].trigger == {"trigger": "interval", "hours": 1.0}
    assert jobs["outbox"].trigger == {"trigger": "interval", "seconds": 7.0}
    assert jobs["webhooks"].trigger == {"trigger": "interval", "seconds": 3.0}
    assert jobs["signature_reminders"].trigger == {"trigger": "interval", "minutes": 15.0}


def test_the_scheduler_runs_the_outbox_job(app, desk):
    jobs = {job.id: job for job in scheduler.jobs(app)}
    queue(desk)
    with running_smtp(app) as server:
        report = scheduler.run_job(app, jobs["outbox"])
        assert report.sent == 1
        server.inbox.wait_for(1)
    background = scheduler.build(app)
    assert "outbox" in [job.id for job in background.get_jobs()]
