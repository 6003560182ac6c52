"""Abandoned drafts (services.intake.expiry): an order left in « Saisie des informations » with
no change for RADESK_DRAFT_DAYS days is cancelled by the scheduler's job, said in the audit trail,
and the requester receives an e-mail (through the outbox, from a real SMTP server) with the
follow-up link; recent drafts and sent orders are left alone."""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest

import scheduler
from config import Config
from models import AuditEvent, Notification, Order, Portal, utcnow
from services.intake import drafts, expiry, messages
from services.messaging import outbox
from tests.conftest import login_as
from tests.smtp_support import running_smtp
from tests.text import text

CANCELLED_SUBJECT = "Commande N° {} : commande non envoyée, annulée"


@pytest.fixture
def portal(app, make_ae):
    return Portal.get(Portal.ae == make_ae("BPOI", ("BPOI-Rhône",)))


def draft(app, portal, n: int, *, days_ago: float) -> Order:
    """A draft begun on the ordering page, last changed ``days_ago`` days ago."""
    with app.app_context():
        order = drafts.start(app, portal, {
            "company_name": f"Société {n}", "siren": "434202180", "rcs": "oui",
            "requester_name": "Alice Colbert", "requester_email": f"alice{n}@exemple.fr"}).order
    touched = utcnow() - dt.timedelta(days=days_ago)
    Order.update(updated_at=touched).where(Order.id == order.id).execute()
    return order


def run_expiry(app, now=None) -> int:
    """The job, in the app context the scheduler gives it (scheduler.run_job)."""
    with app.app_context():
        return expiry.job(app, now)


def phase_of(order) -> tuple[str, str | None]:
    current = Order.get_by_id(order.id)
    return current.phase, current.substate


def expiry_events(order=None):
    query = AuditEvent.select().where(AuditEvent.action == expiry.ACTION_DRAFT_EXPIRED)
    if order is not None:
        query = query.where(AuditEvent.order == order.id)
    return list(query)


def cancellation_notices():
    return list(Notification.select().where(Notification.type == messages.TYPE_DRAFT_CANCELLED))


def test_an_abandoned_draft_is_cancelled_and_the_requester_told_with_the_link(
        app, client, portal, make_operator):
    abandoned = draft(app, portal, 1, days_ago=31)

    assert run_expiry(app) == 1

    assert phase_of(abandoned) == ("cancelled", None)
    [event] = expiry_events(abandoned)
    assert event.actor == "RA Desk"
    # In the order file's « Historique », in the operators' words.
    login_as(client, make_operator(portal.ae))
    history = text(client.get(f"/commandes/{abandoned.id}").get_data(as_text=True)
                   ).split("Historique")[-1]
    assert ("RA Desk Commande non envoyée annulée (saisie abandonnée) Motif : aucune "
            "modification depuis 30 jours ; Phase : Annulée") in history

    # The e-mail really leaves, with the follow-up link, and that link tells what happened.
    with running_smtp(app) as server:
        assert outbox.flush(app).failed == 0
        received = server.inbox.wait_for(2)  # the link sent when the draft began, then this one
    [mail] = [r for r in received
              if r.message["Subject"] == CANCELLED_SUBJECT.format(abandoned.number)]
    assert mail.recipients == ["alice1@exemple.fr"]
    body = " ".join(mail.text.split())
    assert (f"La commande de certificat N° {abandoned.number} (Société 1) est restée en cours de "
            f"saisie sans modification pendant 30 jours : elle a été annulée.") in body
    assert "Pour obtenir un certificat, passez une nouvelle commande." in body
    link = re.search(r"http://localhost/suivi/\S+", mail.text).group(0)
    page = client.get(urlsplit(link).path)
    assert page.status_code == 200
    assert "Votre commande a été annulée." in text(page)
    assert "/envoi" not in page.get_data(as_text=True), "no « Envoyer la commande » form"
    [notice] = cancellation_notices()
    assert notice.state == "sent" and notice.recipient == "alice1@exemple.fr"


def test_the_ordering_pages_link_no_longer_opens_a_cancelled_draft(app, client, portal):
    abandoned = draft(app, portal, 1, days_ago=31)
    with app.app_context():
        start_link = drafts.make_token(app, drafts.intake_for(abandoned))
    run_expiry(app)
    response = client.get(f"/commander/{portal.code}/{start_link}/porteur")
    assert response.status_code == 404
    assert "Lien de commande invalide" in text(response)
    assert ("Ce lien de commande n'est pas valide ou la commande a déjà été envoyée. Utilisez le "
            "lien de suivi reçu par e-mail.") in text(response)


def test_recent_drafts_and_sent_orders_are_left_alone(app, portal, make_order):
    recent = draft(app, portal, 1, days_ago=29.9)
    sent = make_order(portal.ae, portal=portal, phase="validation", substate="to_check",
                      requester_email="alice2@exemple.fr",
                      updated_at=utcnow() - dt.timedelta(days=400))
    cancelled_long_ago = make_order(portal.ae, portal=portal, phase="cancelled", substate=None,
                                    updated_at=utcnow() - dt.timedelta(days=400))
    abandoned = draft(app, portal, 3, days_ago=30.1)
    before = {order.id: Order.get_by_id(order.id).updated_at
              for order in (recent, sent, cancelled_long_ago)}

    assert run_expiry(app) == 1

    assert phase_of(recent) == ("entry", None)
    assert phase_of(sent) == ("validation", "to_check")
    assert phase_of(cancelled_long_ago) == ("cancelled", None)
    assert phase_of(abandoned) == ("cancelled", None)
    assert {order_id: Order.get_by_id(order_id).updated_at for order_id in before} == before
    assert [event.order_id for event in expiry_events()] == [abandoned.id]
    assert [notice.order_id for notice in cancellation_notices()] == [abandoned.id]


def test_a_second_run_changes_nothing(app, portal):
    abandoned = draft(app, portal, 1, days_ago=45)
    assert run_expiry(app) == 1
    assert run_expiry(app) == 0
    assert len(expiry_events(abandoned)) == 1 and len(cancellation_notices()) == 1


def test_a_draft_without_a_requester_address_is_cancelled_without_an_email(app, portal,
                                                                          make_order):
    quiet = make_order(portal.ae, portal=portal, phase="entry", substate=None,
                       requester_email="", updated_at=utcnow() - dt.timedelta(days=60))
    assert run_expiry(app) == 1
    assert phase_of(quiet) == ("cancelled", None)
    assert len(expiry_events(quiet)) == 1 and cancellation_notices() == []


def test_the_number_of_days_is_the_settings(app, portal):
    assert Config({}).RADESK_DRAFT_DAYS == 30
    assert Config({"RADESK_DRAFT_DAYS": "7"}).RADESK_DRAFT_DAYS == 7
    app.config["RADESK_DRAFT_DAYS"] = 7
    kept = draft(app, portal, 1, days_ago=6.9)
    abandoned = draft(app, portal, 2, days_ago=7.1)

    assert run_expiry(app) == 1

    assert phase_of(kept) == ("entry", None)
    assert phase_of(abandoned) == ("cancelled", None)
    [notice] = cancellation_notices()
    assert "sans modification pendant 7 jours : elle a été annulée." in notice.body
    assert "aucune modification depuis 7 jours" in expiry_events(abandoned)[0].details


def test_the_clock_the_job_is_given_decides(app, portal):
    """``now`` is the job's clock: a draft touched today is abandoned 31 days from now."""
    today = draft(app, portal, 1, days_ago=0)
    assert run_expiry(app, utcnow() + dt.timedelta(days=29)) == 0
    assert run_expiry(app, utcnow() + dt.timedelta(days=31)) == 1
    assert phase_of(today) == ("cancelled", None)


def test_create_app_runs_the_expiry_every_hour_through_the_scheduler(app, portal):
    registered = {job.id: job for job in scheduler.jobs(app)}
    job = registered[scheduler.DRAFT_EXPIRY_JOB]
    assert job.function is expiry.job
    assert job.trigger == scheduler.every(hours=1)
    assert notification_label(app) == "Commande non envoyée annulée"

    abandoned = draft(app, portal, 1, days_ago=31)
    # As the scheduler runs it: its own app context and connection.
    assert scheduler.run_job(app, job) == 1
    assert phase_of(abandoned) == ("cancelled", None)


def notification_label(app) -> str:
    from services.messaging import notifications

    with app.app_context():
        return notifications.type_label(messages.TYPE_DRAFT_CANCELLED)
