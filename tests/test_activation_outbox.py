"""The activation link and code leave through the outbox: queued in the hand-over's
transaction, tried again after a failed try, with their delivery state in the order's
« Historique des notifications » under French labels — and the code is never stored in clear,
neither in the outbox row nor in what the history shows."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from models import Activation, AuditEvent, Notification, utcnow
from services.certificates import activation as activation_service
from services.messaging import outbox
from tests.conftest import csrf_token_from, login_as
from tests.e2e_support import free_port
from tests.generation_support import (activation_code, activation_link, hand_over_data,
                                      validated_order)
from tests.smtp_support import SmtpServer, use_smtp
from tests.test_activation import generated
from tests.text import source


@pytest.fixture
def handed_over_while_smtp_is_down(app, client, aet, bpoi, make_order, softhsm):
    """The key is handed over while the mail server is down (nothing listens on its port)."""
    order = validated_order(make_order, bpoi, otp_contact="Sandra.Boileau@Exemple.fr")
    generated(app, client, aet, order, softhsm)
    port = free_port()
    use_smtp(app, port)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    response = client.post(f"/commandes/{order.id}/remise", data=hand_over_data(token, order),
                           follow_redirects=True)
    assert response.status_code == 200
    return order, port, source(response)


def test_hand_over_queues_the_link_and_the_code_in_the_outbox(app, handed_over_while_smtp_is_down):
    order, _, page = handed_over_while_smtp_is_down
    assert "Clé remise" in page
    queued = {n.type: n for n in Notification.select().where(Notification.order == order.id)}
    assert set(queued) == {"activation_link", "activation_code"}
    assert queued["activation_link"].recipient == "porteur@example.org"
    assert queued["activation_code"].recipient == "Sandra.Boileau@exemple.fr"
    assert {n.state for n in queued.values()} == {"queued"}
    # Queued with the hand-over: the same transaction's rows, before any try.
    assert Activation.get().delivered_at is not None


def test_a_failed_try_is_retried_and_the_holder_gets_a_working_code(app, client,
                                                                    handed_over_while_smtp_is_down):
    order, port, _ = handed_over_while_smtp_is_down
    report = outbox.run(app)
    assert (report.sent, report.retried) == (0, 2)
    waiting = list(Notification.select().where(Notification.order == order.id))
    assert {n.state for n in waiting} == {"queued"} and {n.tries for n in waiting} == {1}
    assert all("injoignable" in n.last_error for n in waiting)
    Notification.update(next_try_at=utcnow() - dt.timedelta(seconds=1)).execute()

    with SmtpServer(port) as server:
        assert outbox.run(app).sent == 2
        received = [mail.message for mail in server.inbox.wait_for(2)]
    code, link = activation_code(received), activation_link(received)
    assert {n.state for n in Notification.select()} == {"sent"}
    assert [e.action for e in AuditEvent.select().where(AuditEvent.order == order.id)
            if e.action.startswith("notification_")].count("notification_retry") == 2

    path = "/" + link.split("/", 3)[3]
    token = csrf_token_from(client.get(path).get_data(as_text=True))
    accepted = client.post(f"{path}/code", data={"csrf_token": token, "code": code},
                           follow_redirects=True)
    assert accepted.status_code == 200 and Activation.get().verified_at is not None


def test_the_history_lists_them_in_french_without_the_code(app, client, aet,
                                                           handed_over_while_smtp_is_down):
    order, port, _ = handed_over_while_smtp_is_down
    with SmtpServer(port) as server:
        outbox.flush(app)
        code = activation_code([mail.message for mail in server.inbox.wait_for(2)])
    link_secret = activation_link([m.message for m in server.inbox.messages]).rsplit("/", 1)[1]
    history = source(client.get(f"/commandes/{order.id}/notifications/historique"))
    assert "Lien d'activation de la clé" in history and "Code d'activation de la clé" in history
    assert code not in history and link_secret not in history
    for row in Notification.select():
        stored = " ".join(str(value) for value in row.__data__.values())
        assert code not in stored and link_secret not in stored
    activation = Activation.get()
    assert code not in " ".join(str(value) for value in activation.__data__.values())


def test_a_mobile_contact_gets_the_code_by_sms_through_the_outbox(app, client, aet, bpoi,
                                                                  make_order, softhsm):
    order = validated_order(make_order, bpoi, otp_contact="06 12 34 56 78")
    generated(app, client, aet, order, softhsm)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    client.post(f"/commandes/{order.id}/remise", data=hand_over_data(token, order))
    sms = Notification.get(Notification.type == "activation_code")
    assert (sms.recipient, sms.state) == ("+33612345678", "queued")
    folder = app.config["INSTANCE_PATH"] / "sms"
    assert not list(folder.glob("*.txt"))  # nothing sent before the outbox runs
    outbox.run(app)
    texts = [p.read_text() for p in folder.glob("*.txt")]
    assert len(texts) == 1 and re.search(r"est \d{6}\. Valable 30 minutes", texts[0])
    assert Notification.get_by_id(sms.id).state == "sent"


def test_a_failing_sms_gateway_is_retried(app, client, aet, bpoi, make_order, softhsm,
                                          monkeypatch):
    order = validated_order(make_order, bpoi, otp_contact="06 12 34 56 78")
    generated(app, client, aet, order, softhsm)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    client.post(f"/commandes/{order.id}/remise", data=hand_over_data(token, order))
    sent = []

    class FlakyGateway:
        def send(self, phone, text):
            if not sent:
                sent.append(None)
                from adapters.sms import SmsError
                raise SmsError("passerelle indisponible.")
            sent.append((phone, text))

    monkeypatch.setattr("services.messaging.outbox.sms_gateway", lambda app: FlakyGateway())
    outbox.run(app)
    sms = Notification.get(Notification.type == "activation_code")
    assert (sms.state, sms.tries) == ("queued", 1) and "passerelle indisponible" in sms.last_error
    outbox.flush(app)
    assert Notification.get_by_id(sms.id).state == "sent"
    assert sent[-1][0] == "+33612345678" and re.search(r"est \d{6}\.", sent[-1][1])


def test_a_code_no_longer_valid_is_not_sent(app, handed_over_while_smtp_is_down):
    order, port, _ = handed_over_while_smtp_is_down
    Activation.update(code_expires_at=utcnow() - dt.timedelta(minutes=1)).execute()
    with SmtpServer(port):
        outbox.flush(app)
    code = Notification.get(Notification.type == "activation_code")
    assert code.state == "failed" and "expiré" in code.last_error
    assert activation_service.CODES.lifetime == dt.timedelta(minutes=30)
