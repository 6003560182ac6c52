"""« Associer le certificat d'une clé »: the admin binds to an operator the certificate a
SoftHSM2 key already carries, once the key has signed the server's challenge (its PIN typed on
the admin's workstation), and only a certificate the AE trusts for login, bound to nobody."""
from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization

from adapters.ca import fingerprint_sha256, get_ca
from bridge_protocol import build_login_message
from models import AuditEvent, OperatorCertificate, TrustedCA
from services.operator_auth.login import bind_certificate, trust_embedded_ca
from tests.conftest import csrf_token_from, login_as
from tests.generation_support import ORIGIN, post_json
from tests.text import text
from token_bridge.tokens import sign_login_challenge


@pytest.fixture
def admin(app, bpoi, make_operator):
    trust_embedded_ca(bpoi, get_ca(app))
    return make_operator(bpoi, "Camille Martin", roles="AEA,admin")


@pytest.fixture
def target(bpoi, make_operator):
    operator = make_operator(bpoi, "Lucie Bernard", roles="AET", email="lucie@bpoi.example")
    OperatorCertificate.delete().where(OperatorCertificate.operator == operator.id).execute()
    return operator


def trust(ae, certificate) -> None:
    TrustedCA.create(ae=ae, name=certificate.subject.rfc4514_string(),
                     fingerprint_sha256=fingerprint_sha256(certificate),
                     pem=certificate.public_bytes(serialization.Encoding.PEM).decode())


class BindingPage:
    def __init__(self, client, admin, target, softhsm):
        self.client, self.softhsm = client, softhsm
        login_as(client, admin)
        self.base = f"/parametres/operateurs/{target.id}"
        self.csrf = csrf_token_from(client.get(f"{self.base}/enrolement").get_data(as_text=True))

    def bind(self, token, *, sign_nonce=None, pin: str = "1234"):
        nonce = post_json(self.client, f"{self.base}/association/defi", {}, self.csrf).get_json()["nonce"]
        signature, algorithm, certificate_pem, chain_pem = sign_login_challenge(
            self.softhsm.module_path, token.serial, pin,
            build_login_message(ORIGIN, sign_nonce or nonce))
        return post_json(self.client, f"{self.base}/association", {
            "nonce": nonce, "certificate_pem": certificate_pem, "chain_pem": chain_pem,
            "signature": base64.b64encode(signature).decode(), "algorithm": algorithm}, self.csrf)


@pytest.fixture
def page(client, admin, target, softhsm):
    return BindingPage(client, admin, target, softhsm)


def last_event(action: str) -> dict:
    event = (AuditEvent.select().where(AuditEvent.action == action)
             .order_by(AuditEvent.id.desc()).first())
    return json.loads(event.details) if event else {}


def test_a_key_from_a_ca_the_ae_trusts_is_bound_with_a_warning_about_its_crl(client, page, softhsm,
                                                                             bpoi, target):
    trust(bpoi, softhsm.ca.certificate)
    token = softhsm.make_token("cle-externe")
    bound = page.bind(token)
    assert bound.status_code == 200, bound.get_json()
    row = OperatorCertificate.get(OperatorCertificate.operator == target.id)
    assert row.fingerprint_sha256 == fingerprint_sha256(token.certificate)
    html = text(client.get(bound.get_json()["redirect"]))
    assert "associé à Lucie Bernard" in html
    assert "La révocation de ce certificat n'a pas pu être vérifiée" in html
    details = last_event("operator_certificate_bound_from_key")
    assert details["operator"] == "Lucie Bernard" and "warning" in details


def test_a_certificate_from_the_embedded_ca_is_bound_without_warning(app, page, softhsm, target):
    ca = get_ca(app)

    def embedded(public_key, label, _):
        return ca.issue_operator_certificate(public_key, given_name="Lucie", surname="Bernard",
                                             email="lucie@bpoi.example", organization="BPOI")

    token = softhsm.make_token("cle-ac-integree", cert_builder=embedded, with_chain=False)
    assert page.bind(token).status_code == 200
    assert "warning" not in last_event("operator_certificate_bound_from_key")


@pytest.mark.parametrize("case, message", [
    ("untrusted", "autorité non reconnue"),
    ("bound_here", "déjà associé à cet opérateur"),
    ("bound_elsewhere", "déjà associé à un autre opérateur"),
    ("other_nonce", "ne correspond pas au certificat"),
])
def test_refusals_bind_nothing_and_are_audited(page, softhsm, bpoi, target, make_operator,
                                               case, message):
    if case != "untrusted":
        trust(bpoi, softhsm.ca.certificate)
    token = softhsm.make_token("cle")
    if case == "bound_elsewhere":
        bind_certificate(make_operator(bpoi, "Julien Roux", roles="AET"), token.certificate)
    if case == "bound_here":
        bind_certificate(target, token.certificate)
    refused = page.bind(token, sign_nonce="A" * 43 if case == "other_nonce" else None)
    assert refused.status_code == 422
    assert message in refused.get_json()["message"]
    assert OperatorCertificate.select().where(
        OperatorCertificate.operator == target.id).count() == (case == "bound_here")
    assert last_event("operator_certificate_binding_refused")["operator"] == "Lucie Bernard"


def test_the_challenge_is_single_use_and_bound_to_the_browser_session(app, page, softhsm, bpoi):
    trust(bpoi, softhsm.ca.certificate)
    token = softhsm.make_token("cle-externe")
    nonce = post_json(page.client, f"{page.base}/association/defi", {}, page.csrf).get_json()["nonce"]
    signature, algorithm, certificate_pem, chain_pem = sign_login_challenge(
        softhsm.module_path, token.serial, "1234", build_login_message(ORIGIN, nonce))
    body = {"nonce": nonce, "certificate_pem": certificate_pem, "chain_pem": chain_pem,
            "signature": base64.b64encode(signature).decode(), "algorithm": algorithm}
    assert post_json(page.client, f"{page.base}/association", body, page.csrf).status_code == 200
    replay = post_json(page.client, f"{page.base}/association", body, page.csrf)
    assert replay.status_code == 422 and "Défi expiré" in replay.get_json()["message"]
