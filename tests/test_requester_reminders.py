"""« Relances automatiques »: a sent order whose dossier stays incomplete reminds its requester
after the AE's N days, at most K times (the e-mail, from a real SMTP server, says what to do and
links the follow-up page); a change by the requester starts again; K reminders later the AE may
have the order cancelled after M days — audited, in the history, told to the requester. The
settings are refused in French when they make no sense."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from models import AE, AuditEvent, Notification, Order, utcnow
from services.messaging import outbox
from services.orders import requester_reminders as reminders
from tests.conftest import csrf_token_from, login_as
from tests.smtp_support import running_smtp
from tests.text import text

DAY = dt.timedelta(days=1)
HOUR = 1 / 24


@pytest.fixture
def desk(app, make_ae, make_order):
    ae = make_ae("BPOI")
    incomplete = make_order(ae, number=961100, phase="validation", substate="to_check",
                            requester_email="demandeur@example.org", otp_contact="0612345678")
    started = utcnow() - 8 * DAY
    Order.update(state_since=started, submitted_at=started).where(
        Order.id == incomplete.id).execute()
    return {"app": app, "ae": ae, "order": incomplete, "now": utcnow()}


def run(desk, days_later: float = 0) -> reminders.Report:
    with desk["app"].app_context():
        return reminders.job(desk["app"], desk["now"] + days_later * DAY)


def sent(type_=reminders.TYPE_REMINDER):
    return list(Notification.select().where(Notification.type == type_).order_by(Notification.id))


def test_an_incomplete_dossier_is_reminded_at_most_k_times(desk):
    assert run(desk).reminded == 1
    assert run(desk).reminded == 0  # not twice the same day
    [first] = sent()
    assert first.subject == "Commande N° 961100 : votre dossier est incomplet (relance 1/2)"
    assert "Déposer la pièce manquante" in first.body and "{lien}" in first.body
    assert run(desk, 6).reminded == 0
    assert run(desk, 7 + HOUR).reminded == 1  # the hourly job's next pass after 7 days
    assert sent()[-1].subject.endswith("(relance 2/2)")
    assert run(desk, 30).reminded == 0  # K reached; cancellation is off by default
    assert Order.get_by_id(desk["order"].id).phase == "validation"
    events = AuditEvent.select().where(AuditEvent.action == reminders.ACTION_REMINDED)
    assert [e.actor for e in events] == ["RA Desk", "RA Desk"]


def test_the_reminder_email_says_what_to_do_and_links_the_follow_up_page(desk, client):
    run(desk)
    with running_smtp(desk["app"]) as server:
        assert outbox.flush(desk["app"]).failed == 0
        [mail] = server.inbox.wait_for(1)
    assert mail.recipients == ["demandeur@example.org"]
    body = " ".join(mail.text.split())
    assert "Le dossier de la commande N° 961100" in body and "est toujours incomplet" in body
    link = re.search(r"http://localhost/suivi/\S+", mail.text).group(0)
    assert client.get(link.replace("http://localhost", "")).status_code == 200


def test_a_change_by_the_requester_starts_again(desk):
    run(desk)
    Order.update(requester_modified_at=desk["now"] + 3 * DAY).where(
        Order.id == desk["order"].id).execute()
    assert run(desk, 7).reminded == 0  # 4 days after the change
    assert run(desk, 10).reminded == 1
    assert sent()[-1].subject.endswith("(relance 1/2)")


def test_a_complete_dossier_or_a_validated_order_is_left_alone(desk, make_order):
    Order.update(phase="generation", substate=None).where(Order.id == desk["order"].id).execute()
    assert run(desk, 1).reminded == 0 and sent() == []


def test_after_k_reminders_the_ae_may_have_it_cancelled(desk):
    AE.update(cancel_incomplete=True, cancel_after_days=20).execute()
    run(desk)
    assert run(desk, 7 + HOUR).reminded == 1
    assert run(desk, 11).cancelled == 0  # 19 days into the episode
    assert run(desk, 12).cancelled == 1
    order = Order.get_by_id(desk["order"].id)
    assert (order.phase, order.substate) == ("cancelled", None)
    [notice] = sent(reminders.TYPE_CANCELLED)
    assert notice.subject == "Commande N° 961100 : commande annulée, dossier incomplet"
    event = AuditEvent.get(AuditEvent.action == reminders.ACTION_CANCELLED)
    assert "dossier incomplet depuis 20 jours malgré les relances" in event.details


@pytest.fixture
def admin_client(client, desk, make_operator):
    login_as(client, make_operator(desk["ae"], roles="AEA,admin", name="Nadia Admin"))
    return client


@pytest.mark.parametrize("form, reason", [
    ({"reminder_after_days": "x"}, "Le délai avant relance est un nombre de jours de 0"),
    ({"reminder_max": "0"}, "Le nombre de relances est un nombre de 1 à 10."),
    ({"cancel_incomplete": "1", "cancel_after_days": "10"},
     "L'annulation doit venir après les relances : plus de 14 jours"),
    ({"reminder_after_days": "0", "cancel_incomplete": "1"},
     "L'annulation suppose des relances"),
])
def test_settings_that_make_no_sense_are_refused(admin_client, desk, form, reason):
    token = csrf_token_from(admin_client.get("/parametres/ae").get_data(as_text=True))
    data = {"csrf_token": token, "reminder_after_days": "7", "reminder_max": "2",
            "cancel_after_days": "30", **form}
    refused = admin_client.post("/parametres/ae/relances", data=data)
    assert refused.status_code == 422 and reason in text(refused)
    ae = AE.get_by_id(desk["ae"].id)
    assert (ae.reminder_after_days, ae.reminder_max, ae.cancel_incomplete) == (7, 2, False)


def test_settings_are_saved_and_audited(admin_client, desk):
    token = csrf_token_from(admin_client.get("/parametres/ae").get_data(as_text=True))
    saved = admin_client.post("/parametres/ae/relances", follow_redirects=True, data={
        "csrf_token": token, "reminder_after_days": "5", "reminder_max": "3",
        "cancel_incomplete": "1", "cancel_after_days": "21"})
    assert "Relances automatiques enregistrées." in text(saved)
    ae = AE.get_by_id(desk["ae"].id)
    assert (ae.reminder_after_days, ae.reminder_max, ae.cancel_incomplete,
            ae.cancel_after_days) == (5, 3, True, 21)
    event = AuditEvent.get(AuditEvent.action == "ae_reminders_changed")
    assert '"annulation":"non"' in event.details and '"annulation":"oui"' in event.details
