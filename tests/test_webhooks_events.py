"""Each step of an order's life reports its event, written by the service that makes the step,
with the order as it stands after it: « Envoyer la commande » (commande.recue), an operator's
missing or invalid piece notice (commande.incomplete), « Envoyer pour signature » and the last
signature (commande.envoyee_en_signature, commande.signee), « Valider » and « Refuser »
(commande.validee, commande.refusee), then the certificate generated, handed over, activated by
its holder and revoked (certificat.emis, .remis, .active, .revoque, on real SoftHSM keys)."""
from __future__ import annotations

import json

import pytest

from models import Order, Portal, WebhookDelivery, WebhookEvent
from services import validation
from services.certificates import generation
from services.intake import submission
from services.messaging import drafts, notifications, wordings
from services.signing import sending
from services.webhooks import events
from tests.conftest import csrf_token_from
from tests.generation_support import ORIGIN, hand_over_data, post_json, validated_order
from tests.signature_support import ready_order
from tests.test_activation import (activation_code, generated, instance_path, open_link,
                                   outbox_sends_at_once)  # noqa: F401  (autouse fixture)
from tests.test_followup_submission import make_draft
from tests.test_signatures import Signer, last_code, signer_links
from tests.test_webhooks import validate
from tests.smtp_support import eml_messages
from tests.webhook_receiver import declare
from bridge_protocol import INSTRUCTION_ACTIVATION
from demo.generation_local import instruction_keys
from token_bridge import generation as bridge

SENDER = "RA Desk <no-reply@radesk.example>"


def reported(order) -> list[tuple]:
    """The order's events: type, phase and sub-state the payload shows, and its other data."""
    rows = WebhookEvent.select().where(WebhookEvent.order == order.id).order_by(WebhookEvent.id)
    result = []
    for event in rows:
        payload = json.loads(event.payload)
        assert payload["type"] == event.type
        data = dict(payload["data"])
        commande = data.pop("commande")
        assert commande["numero"] == Order.get_by_id(order.id).number
        result.append((event.type, commande["phase"], commande["sous_etat"], data))
    return result


def types(order) -> list[str]:
    return [row[0] for row in reported(order)]


@pytest.fixture
def listening(app, bpoi):
    """BPOI's systems listen to every event (nothing is sent in these tests: they read the
    events written)."""
    app.config["RADESK_WEBHOOKS_ALLOW_HTTP"] = True
    declare(app, bpoi, "http://127.0.0.1:9/hooks")
    return bpoi


def test_submission_reports_commande_recue(app, listening):
    portal = Portal.get(Portal.ae == listening)
    order = make_draft(app, portal)
    assert types(order) == []  # a draft is not reported
    with app.app_context():
        submission.submit(app, order, address_proven=True, via=submission.VIA_FOLLOWUP_PAGE)
    assert reported(order) == [("commande.recue", "validation", "to_check", {})]
    assert WebhookDelivery.select().where(WebhookDelivery.order == order.id).count() == 1


def test_an_operators_missing_or_invalid_piece_notice_reports_commande_incomplete(
        app, listening, make_operator, make_order):
    operator = make_operator(listening, roles="AEA")
    order = make_order(listening, requester_email="alice@example.org")
    with app.app_context():
        for type_ in (wordings.TYPE_MISSING, wordings.TYPE_INVALID, "other"):
            draft = drafts.Draft(type_, "alice@example.org", f"Commande N° {order.number}",
                                 "Bonjour,\n{lien}")
            notifications.queue(order, draft, operator=operator, sender=SENDER)
    assert reported(order) == [
        ("commande.incomplete", "validation", "to_check", {"motif": "piece_manquante"}),
        ("commande.incomplete", "validation", "to_check", {"motif": "piece_invalide"})]


def test_signature_validation_and_refusal_report_their_events(app, listening, make_operator,
                                                              make_order):
    operator = make_operator(listening, roles="AEA", email="camille@example.org")
    order = ready_order(app, make_order, listening)
    with app.app_context():
        sending.send_for_signature(app, order, operator)
    assert types(order) == ["commande.envoyee_en_signature"]
    links = list(signer_links(app).values())
    assert len(links) == 2  # the holder and the legal representative
    for index, link in enumerate(links):
        assert types(order)[-1] != "commande.signee"  # not before the last signature
        signer = Signer(app, link)
        assert signer.post("code").status_code == 200
        signed = signer.post("signer", code=last_code(app), consent="yes")
        assert signed.status_code == 200, index
    validate(order, operator)
    assert reported(order) == [
        ("commande.envoyee_en_signature", "validation", "in_signature", {}),
        ("commande.signee", "validation", "to_validate", {}),
        ("commande.validee", "generation", None, {})]

    other = ready_order(app, make_order, listening)
    validation.refuse(app, other, operator, "Kbis d'une autre société.")
    assert reported(other) == [("commande.refusee", "cancelled", None,
                                {"commentaire": "Kbis d'une autre société."})]


def test_the_certificates_life_reports_its_events(app, client, aet, listening, make_operator,
                                                  make_order, softhsm):
    order = validated_order(make_order, listening, otp_contact="Sandra.Boileau@Exemple.fr")
    serial = generated(app, client, aet, order, softhsm)
    [(kind, phase, _, data)] = reported(order)
    row = generation.current_certificate(order).row
    assert (kind, phase) == ("certificat.emis", "generation")  # issued, not yet written
    assert data == {"certificat": {"numero_serie": row.serial_hex,
                                   "empreinte_sha256": row.fingerprint_sha256,
                                   "debut_validite": events.timestamp(row.not_before),
                                   "fin_validite": events.timestamp(row.not_after)}}

    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    client.post(f"/commandes/{order.id}/remise", data=hand_over_data(token, order))
    client.post("/deconnexion", data={"csrf_token": token})
    assert reported(order)[-1][:3] == ("certificat.remis", "handover", None)

    path, token = open_link(client, app)
    code = activation_code(eml_messages(instance_path(app)))
    client.post(f"{path}/code", data={"csrf_token": token, "code": code})
    signed = post_json(client, f"{path}/instruction", {}, token).get_json()
    instruction = bridge.verify_instruction(signed["instruction"], signed["signature"],
                                            kind=INSTRUCTION_ACTIVATION, origin=ORIGIN,
                                            keys=instruction_keys(app))
    bridge.activate(softhsm.module_path, serial, instruction, "24681357")
    assert post_json(client, f"{path}/terminee", {}, token).status_code == 200
    assert reported(order)[-1][:3] == ("certificat.active", "done", None)

    aea = make_operator(listening, roles="AEA")
    generation.revoke(app, order, aea, reason="keyCompromise", confirmed=True)
    kind, _, _, data = reported(order)[-1]
    assert kind == "certificat.revoque"
    assert data["certificat"]["numero_serie"] == row.serial_hex
    assert data["certificat"]["motif_revocation"] == "keyCompromise"
    assert types(order) == ["certificat.emis", "certificat.remis", "certificat.active",
                            "certificat.revoque"]
    # The endpoint got one delivery per event, in that order.
    assert [d.event.type for d in WebhookDelivery.select().join(WebhookEvent)
            .where(WebhookDelivery.order == order.id).order_by(WebhookDelivery.id)] == types(order)
