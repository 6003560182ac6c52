"""« Webhooks » under Administration: the list, the form and its French refusals, the secret
shown once (at creation and at « Changer le secret »), the old secret signing alongside the new
one for 24 hours, « Désactiver », the deliveries with « Renvoyer » for a failed one; admins of
the AE only, CSRF-protected, audited without the secret, another AE's ids answering 404."""
from __future__ import annotations

import re

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from models import AuditEvent, WebhookDelivery, WebhookEndpoint, utcnow
from services.webhooks import events
from tests.conftest import csrf_token_from, login_as
from tests.e2e_support import free_port
from tests.text import text
from tests.webhook_receiver import Receiver, declare, deliver, emit

SECRET = re.compile(r'<code class="credential" id="secret">(whsec_[A-Za-z0-9+/=]+)</code>')
LIST = "/parametres/webhooks"


@pytest.fixture
def desk(app, client, make_ae, make_operator, make_order):
    app.config.update(RADESK_WEBHOOKS_ALLOW_HTTP=True, RADESK_WEBHOOKS_BACKOFF_SECONDS=0)
    ae = make_ae("BPOI")
    admin = make_operator(ae, roles="AEA,admin", name="Nadia Admin")
    login_as(client, admin)
    token = csrf_token_from(client.get(LIST).get_data(as_text=True))
    return {"app": app, "ae": ae, "admin": admin, "token": token,
            "order": make_order(ae, number=960072)}


def add(client, desk, url, events_=("commande.validee", "commande.refusee"), private=True,
        description="Boutique en ligne", token=None):
    data = {"csrf_token": desk["token"] if token is None else token, "url": url,
            "description": description, "events": list(events_)}
    if private:
        data["allow_private_network"] = "1"
    return client.post(LIST, data=data)


def secret_in(response) -> str:
    match = SECRET.search(response.get_data(as_text=True))
    assert match, "no secret on the page"
    return match.group(1)


def audit_texts() -> str:
    return " ".join(e.details for e in AuditEvent.select())


def test_administration_links_to_the_list_of_webhooks(client, desk):
    assert 'href="/parametres/webhooks"' in client.get("/parametres/operateurs").get_data(as_text=True)
    assert "Aucun webhook n'est déclaré." in text(client.get(LIST))
    add(client, desk, "http://127.0.0.1:9/hooks")
    shown = text(client.get(LIST))
    assert "http://127.0.0.1:9/hooks Boutique en ligne" in shown
    assert "Commande validée Commande refusée Actif 0 envoyé(s), 0 en attente, 0 en échec" in shown


def test_a_new_webhook_shows_its_secret_once(client, desk):
    response = add(client, desk, "http://127.0.0.1:9/hooks")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = secret_in(response)
    endpoint = WebhookEndpoint.get()
    assert secret == endpoint.secret and len(secret) == len("whsec_") + 44
    shown = text(response)
    assert "Webhook ajouté." in shown and "il ne sera plus affiché" in shown
    assert (endpoint.url, endpoint.event_list, endpoint.allow_private_network,
            endpoint.created_by_id) == ("http://127.0.0.1:9/hooks",
                                        ["commande.validee", "commande.refusee"], True,
                                        desk["admin"].id)
    page = client.get(f"{LIST}/{endpoint.id}").get_data(as_text=True)
    assert secret not in page and secret not in client.get(LIST).get_data(as_text=True)
    assert "Autoriser les adresses privées Oui" in text(page)
    created = AuditEvent.get(AuditEvent.action == "webhook_endpoint_created")
    assert created.operator_id == desk["admin"].id and created.ae_id == desk["ae"].id
    assert "Commande validée" in created.details and secret not in audit_texts()


@pytest.mark.parametrize("url, events_, private, allow_http, reason", [
    ("http://127.0.0.1:9/hooks", (), True, True, "Choisissez au moins un type d'événement."),
    ("http://127.0.0.1:9/hooks", ("commande.validee",), False, True,
     "L'adresse « 127.0.0.1 » mène à une adresse privée, locale ou réservée (127.0.0.1) : elle "
     "est refusée, sauf si « Autoriser les adresses privées » est coché pour ce webhook."),
    ("http://boutique.example.fr/hooks", ("commande.validee",), True, False,
     "L'adresse du webhook doit commencer par https://."),
    ("http://127.0.0.1:9/hooks", ("commande.inventee",), True, True, "Type d'événement inconnu."),
])
def test_the_form_says_why_it_refuses(client, desk, url, events_, private, allow_http, reason):
    desk["app"].config["RADESK_WEBHOOKS_ALLOW_HTTP"] = allow_http
    response = add(client, desk, url, events_, private)
    assert response.status_code == 422
    shown = text(response)
    assert f"Le webhook n'est pas ajouté : {reason}" in shown
    assert f'value="{url}"' in response.get_data(as_text=True)  # what was typed stays
    assert WebhookEndpoint.select().count() == 0


def test_changes_need_the_csrf_token(client, desk):
    assert add(client, desk, "http://127.0.0.1:9/hooks", token="").status_code == 400
    assert WebhookEndpoint.select().count() == 0
    endpoint, secret = declare(desk["app"], desk["ae"], "http://127.0.0.1:9/hooks")
    for action in ("secret", "desactivation"):
        assert client.post(f"{LIST}/{endpoint.id}/{action}").status_code == 400
    endpoint = WebhookEndpoint.get_by_id(endpoint.id)
    assert endpoint.secret == secret and endpoint.active


def test_only_the_aes_admins_see_webhooks(app, client, desk, make_operator):
    login_as(client, make_operator(desk["ae"], roles="AEA,AET"))
    assert client.get(LIST).status_code == 403


def test_another_aes_webhooks_and_deliveries_answer_404(client, desk, make_ae, make_order):
    app, theirs = desk["app"], make_ae("AE Atlantique", ("Atlantique-Nantes",))
    their_endpoint, _ = declare(app, theirs, "http://127.0.0.1:9/atlantique")
    emit(make_order(theirs), events.ORDER_VALIDATED)
    their_delivery = WebhookDelivery.get(WebhookDelivery.endpoint == their_endpoint.id)
    mine, _ = declare(app, desk["ae"], "http://127.0.0.1:9/hooks")
    token = {"csrf_token": desk["token"]}
    assert client.get(f"{LIST}/{their_endpoint.id}").status_code == 404
    assert client.post(f"{LIST}/{their_endpoint.id}/secret", data=token).status_code == 404
    assert client.post(f"{LIST}/{their_endpoint.id}/desactivation", data=token).status_code == 404
    assert client.post(f"{LIST}/{mine.id}/envois/{their_delivery.id}/renvoi",
                       data=token).status_code == 404
    assert "atlantique" not in client.get(LIST).get_data(as_text=True)
    assert WebhookEndpoint.get_by_id(their_endpoint.id).active


def test_the_old_secret_signs_alongside_the_new_one_for_a_day(client, desk):
    app, order = desk["app"], desk["order"]
    with Receiver() as receiver:
        first = secret_in(add(client, desk, receiver.url, ["commande.recue"]))
        endpoint = WebhookEndpoint.get()
        rotated = client.post(f"{LIST}/{endpoint.id}/secret", data={"csrf_token": desk["token"]})
        assert rotated.headers["Cache-Control"] == "no-store"
        second = secret_in(rotated)
        assert second != first and WebhookEndpoint.get().secret == second
        assert re.search(r"Secret changé\. .* L'ancien secret signe encore les envois, à côté du "
                         r"nouveau, jusqu'au \d\d/\d\d/\d{4}", text(rotated))
        emit(order, events.ORDER_RECEIVED)
        deliver(app)
        during = receiver.received[-1]
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        for secret in (first, second):
            Webhook(secret).verify(during.body, during.headers)

        WebhookEndpoint.update(previous_secret_expires_at=utcnow()).execute()  # a day later
        emit(order, events.ORDER_RECEIVED)
        deliver(app)
        after = receiver.received[-1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        Webhook(second).verify(after.body, after.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(first).verify(after.body, after.headers)
    assert second not in client.get(f"{LIST}/{endpoint.id}").get_data(as_text=True)
    assert AuditEvent.select().where(AuditEvent.action == "webhook_secret_rotated").count() == 1
    assert first not in audit_texts() and second not in audit_texts()


def test_a_deactivated_webhook_is_sent_nothing(client, desk):
    app, order = desk["app"], desk["order"]
    with Receiver() as receiver:
        endpoint, _ = declare(app, desk["ae"], receiver.url)
        emit(order, events.ORDER_RECEIVED)  # waiting when the admin deactivates
        response = client.post(f"{LIST}/{endpoint.id}/desactivation",
                               data={"csrf_token": desk["token"]}, follow_redirects=True)
        shown = text(response)
        assert "Webhook désactivé : plus rien ne lui est envoyé." in shown
        assert "État Désactivé" in shown and "Changer le secret" not in shown
        emit(order, events.ORDER_VALIDATED)
        assert deliver(app).attempted == 0
    assert receiver.received == [] and WebhookDelivery.select().count() == 1
    assert AuditEvent.get(AuditEvent.action == "webhook_endpoint_deactivated").ae_id == desk["ae"].id


def test_a_failed_delivery_is_shown_and_sent_again_with_renvoyer(client, desk):
    app, order = desk["app"], desk["order"]
    app.config["RADESK_WEBHOOKS_MAX_TRIES"] = 2
    port = free_port()
    endpoint, secret = declare(app, desk["ae"], f"http://127.0.0.1:{port}/hooks")
    event = emit(order, events.ORDER_VALIDATED)
    deliver(app)
    deliver(app)
    failed = WebhookDelivery.get()
    assert failed.state == "failed"
    later = emit(order, events.CERTIFICATE_ISSUED)  # held back behind the failed one
    assert deliver(app).attempted == 0
    page = f"{LIST}/{endpoint.id}"
    shown = text(client.get(page))
    assert (f"Commande validée {event.webhook_id} N° 960072" in shown
            and "échec 2 essai(s) — Connexion refusée par 127.0.0.1. Renvoyer" in shown)
    assert (f"Certificat émis {later.webhook_id} N° 960072" in shown
            and "en attente de l'envoi précédent de cette commande — " in shown)

    response = client.post(f"{page}/envois/{failed.id}/renvoi", data={"csrf_token": desk["token"]})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"#envoi-{failed.id}")
    assert "Envoi relancé : il part au prochain passage de la tâche d'envoi." in text(client.get(page))
    assert AuditEvent.get(AuditEvent.action == "webhook_delivery_requeued").operator_id == desk["admin"].id
    with Receiver(port) as receiver:
        assert deliver(app).sent == 2
    assert receiver.ids() == [event.webhook_id, later.webhook_id]  # the same ids, in order
    Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)
    shown = text(client.get(page))
    assert shown.count("envoyé 1 essai(s) 200 ok") == 2 and "Renvoyer" not in shown

    again = client.post(f"{page}/envois/{failed.id}/renvoi", data={"csrf_token": desk["token"]},
                        follow_redirects=True)
    assert "Seul un envoi en échec peut être renvoyé." in text(again)
    assert WebhookDelivery.get_by_id(failed.id).state == "sent"
