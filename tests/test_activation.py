"""Hand-over and activation: the AET marks the key delivered, the link goes to the holder and a
one-time code to the Contact OTP (e-mail or SMS); the holder types the code (limited tries,
expiry, single use) and, with the token bridge, sets their own PIN; the order is « Terminée »."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pkcs11 import Attribute, ObjectClass

import workflow
from models import Activation, AuditEvent, Order, utcnow
from services.certificates import activation as activation_service
from demo.generation_local import instruction_keys
from tests.conftest import csrf_token_from, login_as
from tests.generation_support import (ORIGIN, PageSteps, activation_code, activation_link,
                                      blank_key, hand_over_data, post_json, validated_order)
from tests.smtp_support import eml_messages
from tests.text import mail_text, source
from token_bridge import generation as bridge
from bridge_protocol import INSTRUCTION_ACTIVATION
from token_bridge.tokens import pkcs11_library


@pytest.fixture(autouse=True)
def outbox_sends_at_once(app):
    """As the server's scheduler does when woken: the activation link and code, queued in the
    outbox, leave at once (tests/test_activation_outbox.py covers the outbox's side)."""
    from services.messaging import outbox
    outbox.register_outbox_wake(app, lambda woken: outbox.run(woken))


def generated(app, client, aet, order, softhsm) -> str:
    login_as(client, aet)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    serial = blank_key(softhsm)
    PageSteps(app, client, order, softhsm, token).run(serial)
    return serial


@pytest.fixture
def delivered(app, client, aet, bpoi, make_order, softhsm):
    """An order whose key was generated and handed over; the Contact OTP is an e-mail."""
    order = validated_order(make_order, bpoi, otp_contact="Sandra.Boileau@Exemple.fr")
    serial = generated(app, client, aet, order, softhsm)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    response = client.post(f"/commandes/{order.id}/remise", data=hand_over_data(token, order),
                           follow_redirects=True)
    assert "Clé remise" in response.get_data(as_text=True)
    client.post("/deconnexion", data={"csrf_token": token})
    return order, serial


def instance_path(app) -> Path:
    return Path(app.config["INSTANCE_PATH"])


def open_link(client, app) -> tuple[str, str]:
    path = urlsplit(activation_link(eml_messages(instance_path(app)))).path
    html = client.get(path).get_data(as_text=True)
    return path, csrf_token_from(html)


def audit_actions(order) -> list[str]:
    return [e.action for e in AuditEvent.select().where(AuditEvent.order == order.id).order_by(AuditEvent.id)
            if e.action != "order_viewed"]


# --- hand-over ----------------------------------------------------------------------------------

def test_hand_over_sends_the_link_and_the_code(app, client, delivered):
    order, _ = delivered
    messages = eml_messages(instance_path(app))
    link_mail = next(m for m in messages if m["Subject"].startswith("Activation de votre clé"))
    code_mail = next(m for m in messages if m["Subject"].startswith("Code d'activation"))
    assert link_mail["To"] == "porteur@example.org"
    assert code_mail["To"] == "Sandra.Boileau@exemple.fr"
    assert f"commande N° {order.number}" in mail_text(link_mail)
    assert "S•••@exemple.fr" in mail_text(link_mail)
    code = activation_code(messages)
    assert code not in mail_text(link_mail)
    row = Activation.get()
    assert row.code_hash and code not in row.code_hash and row.codes_sent == 1
    assert [a for a in audit_actions(order) if not a.startswith("notification_")][-2:] == [
        "key_delivered", "activation_code_sent"]
    assert Order.get_by_id(order.id).phase == workflow.PHASE_HANDOVER


def test_the_order_file_shows_the_hand_over(client, delivered, aet):
    order, _ = delivered
    login_as(client, aet)
    html = source(client.get(f"/commandes/{order.id}"))
    assert "Remise et activation" in html and "par e-mail à Sandra.Boileau@exemple.fr" in html
    assert "Renvoyer le lien et le code d'activation" in html
    assert "Code d'activation envoyé" in html


def test_a_mobile_contact_gets_the_code_by_sms(app, client, aet, bpoi, make_order, softhsm):
    order = validated_order(make_order, bpoi, otp_contact="06 12 34 56 78")
    generated(app, client, aet, order, softhsm)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    client.post(f"/commandes/{order.id}/remise", data=hand_over_data(token, order))
    texts = [p.read_text() for p in (instance_path(app) / "sms").glob("*.txt")]
    assert len(texts) == 1 and texts[0].startswith("À : +33612345678")
    assert re.search(r"est \d{6}\. Valable 30 minutes", texts[0])
    assert Activation.get().channel == "sms"


def test_an_invalid_contact_otp_blocks_the_hand_over(app, client, aet, bpoi, make_order, softhsm):
    order = validated_order(make_order, bpoi)
    generated(app, client, aet, order, softhsm)
    Order.update(otp_contact="01 23").where(Order.id == order.id).execute()
    html = source(client.get(f"/commandes/{order.id}"))
    assert "n'est ni un numéro de mobile" in html
    token = csrf_token_from(html)
    refused = client.post(f"/commandes/{order.id}/remise", data=hand_over_data(token, order),
                          follow_redirects=True)
    assert "ni un numéro de mobile valide" in refused.get_data(as_text=True)
    assert Activation.select().count() == 0


def test_resend_replaces_the_link_and_the_code(app, client, delivered, aet):
    order, _ = delivered
    first_link = activation_link(eml_messages(instance_path(app)))
    Activation.update(code_sent_at=utcnow() - dt.timedelta(minutes=5)).execute()
    login_as(client, aet)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    client.post(f"/commandes/{order.id}/remise/renvoi", data={"csrf_token": token})
    new_link = activation_link(eml_messages(instance_path(app)))
    assert new_link != first_link
    assert client.get(urlsplit(first_link).path).status_code == 404
    assert client.get(urlsplit(new_link).path).status_code == 200
    assert Activation.get().codes_sent == 2


# --- the holder ---------------------------------------------------------------------------------

def test_holder_activates_the_key_with_the_code_and_a_new_pin(app, client, delivered, softhsm):
    order, serial = delivered
    path, token = open_link(client, app)
    page = source(client.get(path))
    assert "Activation de votre clé USB ou carte à puce" in page and "Code d'activation" in page
    assert "Nouveau code PIN" not in page

    wrong = client.post(f"{path}/code", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 400
    assert "Code incorrect. Il reste 4 essais." in wrong.get_data(as_text=True)
    code = activation_code(eml_messages(instance_path(app)))
    accepted = client.post(f"{path}/code", data={"csrf_token": token, "code": code}, follow_redirects=True)
    page = accepted.get_data(as_text=True)
    assert "Code accepté" in page and "Nouveau code PIN" in page and "Activer la clé" in page
    assert "/static/js/activation.js" in page

    signed = post_json(client, f"{path}/instruction", {}, token)
    assert signed.status_code == 200
    keys = instruction_keys(app)
    instruction = bridge.verify_instruction(signed.get_json()["instruction"], signed.get_json()["signature"],
                                            kind=INSTRUCTION_ACTIVATION, origin=ORIGIN, keys=keys)
    bridge.activate(softhsm.module_path, serial, instruction, "24681357")
    done = post_json(client, f"{path}/terminee", {}, token)
    assert done.status_code == 200 and "Votre clé est activée" in done.get_json()["message"]

    assert Order.get_by_id(order.id).phase == workflow.PHASE_DONE
    # then the e-mail that gives the holder the link to ask for a revocation
    assert [a for a in audit_actions(order) if a != "notification_sent"][-4:] == [
        "activation_code_refused", "activation_code_accepted",
                                         "key_activated", "notification_queued"]
    with pkcs11_library(softhsm.module_path) as lib:
        token_ = next(t for t in lib.get_tokens() if t.label == "vierge")
        with token_.open(user_pin="24681357") as session:
            assert len(list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))) == 1
    again = client.get(path)
    assert again.status_code == 410 and "déjà été activée" in again.get_data(as_text=True)


def test_the_code_is_single_use_and_tries_are_limited(app, client, delivered):
    path, token = open_link(client, app)
    for left in (4, 3, 2, 1):
        response = client.post(f"{path}/code", data={"csrf_token": token, "code": "999999"})
        assert f"Il reste {left} essai" in response.get_data(as_text=True)
    last = client.post(f"{path}/code", data={"csrf_token": token, "code": "999999"})
    assert "Plus aucun essai avec ce code" in last.get_data(as_text=True)
    code = activation_code(eml_messages(instance_path(app)))
    refused = client.post(f"{path}/code", data={"csrf_token": token, "code": code})
    assert "Trop d'essais" in source(refused)
    assert Activation.get().verified_at is None


def test_an_expired_code_is_refused_and_a_new_one_can_be_asked(app, client, delivered):
    path, token = open_link(client, app)
    code = activation_code(eml_messages(instance_path(app)))
    Activation.update(code_expires_at=utcnow() - dt.timedelta(seconds=1),
                      code_sent_at=utcnow() - dt.timedelta(minutes=31)).execute()
    expired = client.post(f"{path}/code", data={"csrf_token": token, "code": code})
    assert "Ce code a expiré : demandez un nouveau code." in expired.get_data(as_text=True)
    asked = client.post(f"{path}/nouveau-code", data={"csrf_token": token}, follow_redirects=True)
    assert "Un nouveau code d'activation vous a été envoyé." in source(asked)
    new_code = activation_code(eml_messages(instance_path(app)))
    too_soon = client.post(f"{path}/nouveau-code", data={"csrf_token": token}, follow_redirects=True)
    assert "attendez une minute" in too_soon.get_data(as_text=True)
    accepted = client.post(f"{path}/code", data={"csrf_token": token, "code": new_code})
    assert accepted.status_code == 303
    reused = client.post(f"{path}/code", data={"csrf_token": token, "code": new_code})
    assert reused.status_code == 400


def test_the_instruction_needs_the_code_first_and_this_browser(app, client, delivered):
    path, token = open_link(client, app)
    assert post_json(client, f"{path}/instruction", {}, token).status_code == 409
    assert post_json(client, f"{path}/terminee", {}, token).status_code == 409
    code = activation_code(eml_messages(instance_path(app)))
    client.post(f"{path}/code", data={"csrf_token": token, "code": code})
    other = app.test_client()
    other_token = csrf_token_from(other.get(path).get_data(as_text=True))
    assert post_json(other, f"{path}/instruction", {}, other_token).status_code == 409


def test_unknown_or_expired_links(app, client, delivered):
    assert client.get("/activation/" + "x" * 43).status_code == 404
    path, token = open_link(client, app)
    Activation.update(link_expires_at=utcnow() - dt.timedelta(seconds=1)).execute()
    expired = client.get(path)
    assert expired.status_code == 410 and "a expiré" in expired.get_data(as_text=True)


def test_a_revoked_certificate_cannot_be_activated(app, client, delivered, make_operator, bpoi):
    order, _ = delivered
    path, token = open_link(client, app)
    code = activation_code(eml_messages(instance_path(app)))
    client.post(f"{path}/code", data={"csrf_token": token, "code": code})
    from services.certificates import generation
    aea = make_operator(bpoi, roles="AEA")
    generation.revoke(app, order, aea, reason="keyCompromise", confirmed=True)
    refused = post_json(client, f"{path}/terminee", {}, token)
    assert refused.status_code == 409 and "révoqué" in refused.get_json()["message"]
    assert Order.get_by_id(order.id).phase == workflow.PHASE_HANDOVER


def test_codes_are_kept_as_keyed_hashes(app, delivered):
    row = Activation.get()
    code = activation_code(eml_messages(instance_path(app)))
    assert row.code_hash == activation_service.CODES.digest(app.config["SECRET_KEY"], row.id, code)
    assert row.code_hash != activation_service.CODES.digest("autre", row.id, code)
    assert json.loads(AuditEvent.select().where(AuditEvent.action == "activation_code_sent").get().details) == {
        "channel": "email", "recipient": "Sandra.Boileau@exemple.fr"}


def test_code_guessing_is_rate_limited_per_address(app, client, delivered):
    path, token = open_link(client, app)
    statuses = [client.post(f"{path}/code", data={"csrf_token": token, "code": "1"}).status_code
                for _ in range(11)]
    assert statuses[-1] == 429
    assert "Trop de tentatives depuis cette adresse" in source(
        client.post(f"{path}/code", data={"csrf_token": token, "code": "1"}))
