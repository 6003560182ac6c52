"""/api/v1/webhooks (scope « webhooks:gerer »): a shop's system declares its own endpoint, gets
the secret once (again only for a retry under the same Idempotency-Key), receives signed events,
changes the secret with the 24-hour overlap, sends a failed delivery again and deactivates the
endpoint; refusals are problem details in French with a code per field; another AE's ids are
404; every change is audited with the client as actor and without the secret."""
from __future__ import annotations

import pytest
from standardwebhooks import Webhook

from models import AuditEvent, WebhookDelivery, WebhookEndpoint
from services.api import clients
from services.webhooks import events
from tests.e2e_support import free_port
from tests.test_api import problem
from tests.webhook_receiver import Receiver, declare, deliver, emit

HOOKS = "/api/v1/webhooks"


@pytest.fixture
def shop(app, bpoi, make_order):
    app.config.update(RADESK_WEBHOOKS_ALLOW_HTTP=True, RADESK_WEBHOOKS_BACKOFF_SECONDS=0)
    issued = clients.create(bpoi, "Boutique", ["bpoi-occitanie"], [clients.SCOPE_WEBHOOKS],
                            created_by="test")
    return {"app": app, "ae": bpoi, "client": issued.client,
            "headers": {"Authorization": f"Bearer {issued.credential}"},
            "order": make_order(bpoi, number=960300)}


def add(client, shop, url, evenements=("commande.validee",), **extra):
    headers = {**shop["headers"], **extra.pop("headers", {})}
    return client.post(HOOKS, json={"url": url, "description": "Boutique", "evenements":
                                    list(evenements), "adresses_privees": True, **extra},
                       headers=headers)


def audit_texts() -> str:
    return " ".join(event.details for event in AuditEvent.select())


def test_a_declared_webhook_receives_signed_events_with_the_secret_given_once(client, shop):
    with Receiver() as receiver:
        response = add(client, shop, receiver.url, ["commande.recue", "commande.validee"])
        assert response.status_code == 201, response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store"
        body = response.get_json()
        secret = body["secret"]
        assert secret.startswith("whsec_") and body["actif"] is True
        assert body["evenements"] == ["commande.recue", "commande.validee"]
        assert response.headers["Location"] == f"{HOOKS}/{body['id']}"

        event = emit(shop["order"], events.ORDER_VALIDATED)
        assert deliver(shop["app"]).sent == 1
        Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)

    read = client.get(f"{HOOKS}/{body['id']}", headers=shop["headers"]).get_json()
    assert "secret" not in read and secret not in str(read)
    assert read["envois"] == {"sent": 1}
    assert [(d["webhook_id"], d["evenement"], d["commande"], d["etat_libelle"])
            for d in read["derniers_envois"]] == [
        (event.webhook_id, "commande.validee", 960300, "envoyé")]
    listed = client.get(HOOKS, headers=shop["headers"]).get_json()["webhooks"]
    assert [hook["id"] for hook in listed] == [body["id"]] and "secret" not in listed[0]

    created = AuditEvent.get(AuditEvent.action == "webhook_endpoint_created")
    assert created.actor == "API « Boutique »" and created.ae_id == shop["ae"].id
    assert secret not in audit_texts()


def test_a_retry_with_the_same_key_gives_the_same_webhook_and_secret(client, shop):
    key = {"Idempotency-Key": "hook-1"}
    first = add(client, shop, "http://127.0.0.1:9/hooks", headers=key)
    again = add(client, shop, "http://127.0.0.1:9/hooks", headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["secret"] == first.get_json()["secret"]
    assert WebhookEndpoint.select().count() == 1


@pytest.mark.parametrize("payload, code, reason", [
    ({"url": "ftp://boutique.example/hooks"}, "url.invalide",
     "L'adresse du webhook doit commencer par https:// ou http://."),
    ({"url": "http://127.0.0.1:9/hooks", "adresses_privees": False}, "url.invalide",
     "mène à une adresse privée, locale ou réservée (127.0.0.1)"),
    ({"url": "http://127.0.0.1:9/hooks", "description": "x" * 201}, "description.invalide",
     None),
])
def test_a_refused_webhook_says_why_in_french_and_changes_nothing(client, shop, payload, code,
                                                                  reason):
    response = client.post(HOOKS, json={"url": "", "evenements": ["commande.recue"], **payload},
                           headers=shop["headers"])
    assert response.status_code == 422
    body = response.get_json()
    assert code in [error["code"] for error in body["erreurs"]]
    if reason:
        assert reason in body["detail"]
    assert WebhookEndpoint.select().count() == 0


def test_an_unknown_event_type_is_refused_by_the_published_schema(client, shop):
    response = client.post(HOOKS, json={"url": "http://127.0.0.1:9/hooks",
                                        "evenements": ["commande.perdue"]},
                           headers=shop["headers"])
    body = problem(response, 422, "requete_invalide")
    assert "evenements" in body["detail"] and WebhookEndpoint.select().count() == 0


def test_only_a_client_with_the_webhooks_scope_manages_them(client, shop, bpoi):
    orders_only = clients.create(bpoi, "Lecture", ["bpoi-occitanie"],
                                 [clients.SCOPE_READ_ORDERS], created_by="test")
    headers = {"Authorization": f"Bearer {orders_only.credential}"}
    body = problem(client.get(HOOKS, headers=headers), 403, "portee_insuffisante")
    assert "webhooks:gerer" in body["detail"]
    response = client.post(HOOKS, json={"url": "http://127.0.0.1:9/hooks",
                                        "evenements": ["commande.recue"]}, headers=headers)
    problem(response, 403, "portee_insuffisante")
    assert WebhookEndpoint.select().count() == 0


def test_another_aes_webhooks_and_deliveries_answer_404(client, shop, make_ae, make_order):
    other = make_ae("Atlantique")
    theirs, _ = declare(shop["app"], other, "http://127.0.0.1:9/hooks")
    emit(make_order(other, number=960301), events.ORDER_VALIDATED)
    delivery = WebhookDelivery.get()
    for method, path in (("get", f"{HOOKS}/{theirs.id}"),
                         ("post", f"{HOOKS}/{theirs.id}/secret"),
                         ("post", f"{HOOKS}/{theirs.id}/desactivation"),
                         ("post", f"{HOOKS}/{theirs.id}/envois/{delivery.id}/renvoi")):
        problem(getattr(client, method)(path, headers=shop["headers"]), 404, "introuvable")
    ours = add(client, shop, "http://127.0.0.1:9/hooks").get_json()
    problem(client.post(f"{HOOKS}/{ours['id']}/envois/{delivery.id}/renvoi",
                        headers=shop["headers"]), 404, "introuvable")
    assert client.get(HOOKS, headers=shop["headers"]).get_json()["webhooks"][0]["id"] == ours["id"]
    assert WebhookEndpoint.get_by_id(theirs.id).active
    assert WebhookEndpoint.get_by_id(theirs.id).secret == theirs.secret


def test_a_new_secret_signs_alongside_the_old_one_for_a_day(client, shop):
    with Receiver() as receiver:
        created = add(client, shop, receiver.url, ["commande.recue"]).get_json()
        rotated = client.post(f"{HOOKS}/{created['id']}/secret", headers=shop["headers"])
        assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
        new = rotated.get_json()
        assert new["secret"] != created["secret"] and new["ancien_secret_valable_jusqu_au"]
        emit(shop["order"], events.ORDER_RECEIVED)
        deliver(shop["app"])
        for secret in (created["secret"], new["secret"]):
            Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)
    rotation = AuditEvent.get(AuditEvent.action == "webhook_secret_rotated")
    assert rotation.actor == "API « Boutique »" and new["secret"] not in audit_texts()


def test_a_failed_delivery_is_sent_again_then_the_webhook_deactivated(client, shop):
    app = shop["app"]
    app.config["RADESK_WEBHOOKS_MAX_TRIES"] = 1
    port = free_port()
    created = add(client, shop, f"http://127.0.0.1:{port}/hooks").get_json()
    event = emit(shop["order"], events.ORDER_VALIDATED)
    deliver(app)
    failed = client.get(f"{HOOKS}/{created['id']}", headers=shop["headers"]).get_json()
    line = failed["derniers_envois"][0]
    assert line["etat"] == "failed" and "Connexion refusée par 127.0.0.1" in line["derniere_erreur"]

    path = f"{HOOKS}/{created['id']}/envois/{line['id']}/renvoi"
    requeued = client.post(path, headers=shop["headers"])
    assert requeued.status_code == 200
    assert requeued.get_json()["etat"] == "queued" and requeued.get_json()["commande"] == 960300
    with Receiver(port) as receiver:
        assert deliver(app).sent == 1
    assert receiver.ids() == [event.webhook_id]
    body = problem(client.post(path, headers=shop["headers"]), 409, "action_refusee")
    assert body["detail"] == "Seul un envoi en échec peut être renvoyé."

    off = client.post(f"{HOOKS}/{created['id']}/desactivation", headers=shop["headers"])
    assert off.status_code == 200 and off.get_json()["actif"] is False
    emit(shop["order"], events.ORDER_VALIDATED)
    assert deliver(app).attempted == 0
    body = problem(client.post(f"{HOOKS}/{created['id']}/desactivation", headers=shop["headers"]),
                   409, "action_refusee")
    assert body["detail"] == "Ce webhook est déjà désactivé."
    assert [e.actor for e in AuditEvent.select().where(AuditEvent.action.in_(
        ["webhook_delivery_requeued", "webhook_endpoint_deactivated"]))] == ["API « Boutique »"] * 2


def test_the_webhook_operations_are_in_the_published_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/webhooks", "/api/v1/webhooks/{endpoint_id}",
            "/api/v1/webhooks/{endpoint_id}/secret",
            "/api/v1/webhooks/{endpoint_id}/desactivation",
            "/api/v1/webhooks/{endpoint_id}/envois/{delivery_id}/renvoi"} <= set(document["paths"])
    kinds = document["components"]["schemas"]["WebhookCreate"]["properties"]["evenements"]
    assert set(kinds["items"]["enum"]) == set(events.EVENT_TYPES)
