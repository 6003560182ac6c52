"""The server side of the login: a key pair in memory plays the USB key and signs exactly
what the token bridge signs."""
from __future__ import annotations

import base64
import datetime as dt
import json
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from flask import session

from formatting import paris_date
from models import (AuditEvent, LoginChallenge, LoginSession, Operator, OperatorCertificate,
                    TrustedCA, db,
                    utcnow)
from adapters.ca import EmbeddedCA, get_ca, serial_to_hex
from services.operator_auth.login import (CertificateAlreadyBound, LoginRefused, bind_certificate,
                            issue_login_nonce, login_with_bridge_proof,
                            login_with_proxy_certificate, trust_embedded_ca)
from bridge_protocol import ALGORITHM_ECDSA, ALGORITHM_RSA, build_login_message

ORIGIN = "https://radesk.example"
IP = "192.0.2.10"
UTC = dt.timezone.utc
NONCE_REFUSED = "Défi de connexion expiré ou déjà utilisé. Recommencez."
UNTRUSTED = "Certificat émis par une autorité non reconnue par votre AE."


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


class UsbKey:
    """An operator's key pair and certificate, signing like the bridge does."""

    def __init__(self, ca: EmbeddedCA, key=None, **certificate_fields):
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        fields = dict(given_name="Camille", surname="Martin", email="camille.martin@bpoi.example",
                      organization="BPOI")
        fields.update(certificate_fields)
        self.ca = ca
        self.certificate = ca.issue_operator_certificate(self.key.public_key(), **fields)

    @property
    def algorithm(self) -> str:
        return ALGORITHM_RSA if isinstance(self.key, rsa.RSAPrivateKey) else ALGORITHM_ECDSA

    def sign(self, origin: str, nonce: str) -> str:
        message = build_login_message(origin, nonce)
        if isinstance(self.key, rsa.RSAPrivateKey):
            signature = self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        else:
            signature = self.key.sign(message, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode("ascii")

    def proof(self, nonce: str, *, origin: str = ORIGIN, signed_origin: str | None = None,
              signed_nonce: str | None = None) -> dict:
        """The arguments the auth blueprint passes for what the bridge answered."""
        return dict(nonce=nonce, origin=origin, certificate_pem=pem(self.certificate),
                    chain_pem=[pem(self.ca.issuing_certificate)],
                    signature_b64=self.sign(signed_origin or origin, signed_nonce or nonce),
                    algorithm=self.algorithm, ip=IP)


@pytest.fixture
def ctx(app):
    """A request context, so the services see current_app and the test sees the session."""
    app.config["RADESK_LOGIN_ORIGINS"] = [ORIGIN]
    with app.test_request_context():
        yield


@pytest.fixture
def ca(app, ctx):
    return get_ca(app)


@pytest.fixture
def ae(make_ae, ca):
    ae = make_ae()
    trust_embedded_ca(ae, ca)
    return ae


@pytest.fixture
def operator(ae, make_operator):
    return make_operator(ae, name="Camille Martin")


@pytest.fixture
def usb_key(ca, operator):
    key = UsbKey(ca)
    bind_certificate(operator, key.certificate)
    return key


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id))


def refused_login(call, **kwargs) -> LoginRefused:
    """Run a login meant to fail; check the one audit event and the untouched session."""
    before = len(events("login_refused"))
    with pytest.raises(LoginRefused) as refused:
        call(**kwargs)
    refusals = events("login_refused")
    assert len(refusals) == before + 1
    assert refusals[-1].ip == IP
    assert json.loads(refusals[-1].details)["code"] == refused.value.code
    assert events("login") == []
    assert "_user_id" not in session and LoginSession.select().count() == 0
    return refused.value


def refusal_details() -> dict:
    return json.loads(events("login_refused")[-1].details)


# --- the bridge path ---------------------------------------------------------------

def test_bridge_login_succeeds_and_is_audited(operator, usb_key):
    nonce = issue_login_nonce()
    result = login_with_bridge_proof(**usb_key.proof(nonce))

    fingerprint = usb_key.certificate.fingerprint(hashes.SHA256()).hex()
    assert (result.operator.id, result.fingerprint) == (operator.id, fingerprint)
    [event] = events("login")
    assert (event.operator_id, event.ae_id, event.ip) == (operator.id, operator.ae_id, IP)
    assert json.loads(event.details) == {
        "method": "bridge", "fingerprint": fingerprint,
        "subject": usb_key.certificate.subject.rfc4514_string()}
    assert events("login_refused") == []
    assert LoginChallenge.get(LoginChallenge.nonce == nonce).used_at is not None


def test_bridge_login_with_an_rsa_key(ca, operator):
    key = UsbKey(ca, key=rsa.generate_private_key(65537, 2048))
    bind_certificate(operator, key.certificate)
    assert login_with_bridge_proof(**key.proof(issue_login_nonce())).operator.id == operator.id


def test_nonce_is_random_and_expires_after_the_configured_delay(app, ctx):
    app.config["LOGIN_NONCE_SECONDS"] = 90
    first, second = issue_login_nonce(), issue_login_nonce()
    assert first != second and len(first) == 43
    challenge = LoginChallenge.get(LoginChallenge.nonce == first)
    assert challenge.used_at is None
    assert dt.timedelta(seconds=89) < challenge.expires_at - challenge.created_at \
        <= dt.timedelta(seconds=90)


def test_replayed_nonce_is_refused(usb_key):
    proof = usb_key.proof(issue_login_nonce())
    login_with_bridge_proof(**proof)
    AuditEvent.delete().where(AuditEvent.action == "login").execute()  # isolate the replay
    refused = refused_login(login_with_bridge_proof, **proof)
    assert (refused.code, refused.message) == ("nonce", NONCE_REFUSED)


def test_expired_nonce_is_refused(usb_key):
    nonce = issue_login_nonce()
    (LoginChallenge
     .update(expires_at=utcnow() - dt.timedelta(seconds=1))
     .where(LoginChallenge.nonce == nonce)
     .execute())
    refused = refused_login(login_with_bridge_proof, **usb_key.proof(nonce))
    assert (refused.code, refused.message) == ("nonce", NONCE_REFUSED)


def test_nonce_never_issued_is_refused(usb_key):
    refused = refused_login(login_with_bridge_proof, **usb_key.proof("A" * 43))
    assert refused.message == NONCE_REFUSED


def test_wrong_origin_is_refused_before_the_nonce_is_spent(usb_key):
    nonce = issue_login_nonce()
    refused = refused_login(login_with_bridge_proof,
                            **usb_key.proof(nonce, origin="https://evil.example"))
    assert refused.code == "origin"
    assert LoginChallenge.get(LoginChallenge.nonce == nonce).used_at is None


def test_signature_by_another_key_is_refused_and_spends_the_nonce(ca, usb_key):
    nonce = issue_login_nonce()
    proof = usb_key.proof(nonce)
    proof["signature_b64"] = UsbKey(ca).sign(ORIGIN, nonce)
    refused = refused_login(login_with_bridge_proof, **proof)
    assert (refused.code, refused.message) == (
        "bad_proof", "La signature de connexion ne correspond pas au certificat présenté.")
    assert refusal_details()["subject"] == usb_key.certificate.subject.rfc4514_string()
    assert LoginChallenge.get(LoginChallenge.nonce == nonce).used_at is not None


def test_proof_made_for_another_nonce_is_refused(usb_key):
    nonce, other = issue_login_nonce(), issue_login_nonce()
    refused = refused_login(login_with_bridge_proof, **usb_key.proof(nonce, signed_nonce=other))
    assert refused.code == "bad_proof"


def test_proof_made_for_another_origin_is_refused(app, usb_key):
    app.config["RADESK_LOGIN_ORIGINS"] = [ORIGIN, "https://other.example"]
    proof = usb_key.proof(issue_login_nonce(), signed_origin="https://other.example")
    assert refused_login(login_with_bridge_proof, **proof).code == "bad_proof"


def test_unreadable_signature_is_refused(usb_key):
    proof = usb_key.proof(issue_login_nonce())
    proof["signature_b64"] = "not base64!"
    assert refused_login(login_with_bridge_proof, **proof).code == "bad_signature"


def test_unreadable_certificate_is_refused(usb_key):
    proof = usb_key.proof(issue_login_nonce())
    proof["certificate_pem"] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    refused = refused_login(login_with_bridge_proof, **proof)
    assert (refused.code, refused.message) == ("malformed", "Certificat illisible ou mal formé.")
    assert "subject" not in refusal_details()


def test_unknown_certificate_is_refused(ca, operator):
    stranger = UsbKey(ca)  # issued by our CA but bound to nobody
    refused = refused_login(login_with_bridge_proof, **stranger.proof(issue_login_nonce()))
    assert (refused.code, refused.message) == (
        "unknown_certificate", "Certificat inconnu : il n'est associé à aucun opérateur.")
    assert events("login_refused")[-1].operator_id is None


def test_inactive_operator_is_refused(operator, usb_key):
    Operator.update(active=False).where(Operator.id == operator.id).execute()
    refused = refused_login(login_with_bridge_proof, **usb_key.proof(issue_login_nonce()))
    assert refused.code == "inactive_operator"
    event = events("login_refused")[-1]
    assert (event.operator_id, event.ae_id) == (operator.id, operator.ae_id)


def test_revoked_certificate_is_refused(ca, usb_key):
    ca.revoke(serial_to_hex(usb_key.certificate.serial_number), reason="keyCompromise")
    today = paris_date(dt.datetime.now(UTC))
    refused = refused_login(login_with_bridge_proof, **usb_key.proof(issue_login_nonce()))
    assert (refused.code, refused.message) == ("revoked", f"Certificat révoqué le {today}.")


def test_expired_certificate_is_refused(ca, operator):
    key = UsbKey(ca, not_before=dt.datetime(2020, 1, 1, tzinfo=UTC),
                 not_after=dt.datetime(2021, 3, 15, 12, tzinfo=UTC))
    bind_certificate(operator, key.certificate)
    refused = refused_login(login_with_bridge_proof, **key.proof(issue_login_nonce()))
    assert (refused.code, refused.message) == ("expired", "Certificat expiré le 15/03/2021.")


def test_certificate_from_a_foreign_ca_is_refused(app, operator, tmp_path):
    foreign = EmbeddedCA.open(tmp_path / "foreign", "http://localhost")
    key = UsbKey(foreign)
    bind_certificate(operator, key.certificate)
    refused = refused_login(login_with_bridge_proof, **key.proof(issue_login_nonce()))
    assert (refused.code, refused.message) == ("untrusted", UNTRUSTED)


def test_certificate_is_checked_against_its_own_ae_trust(ca, make_ae, make_operator):
    other_ae = make_ae(name="AE Atlantique", portals=("Atlantique-Nantes",))  # trusts nothing
    operator = make_operator(other_ae)
    key = UsbKey(ca)
    bind_certificate(operator, key.certificate)
    refused = refused_login(login_with_bridge_proof, **key.proof(issue_login_nonce()))
    assert refused.code == "untrusted"
    assert events("login_refused")[-1].ae_id == other_ae.id


def test_certificate_without_client_auth_is_refused(ca, operator):
    key = UsbKey(ca, client_auth=False)
    bind_certificate(operator, key.certificate)
    refused = refused_login(login_with_bridge_proof, **key.proof(issue_login_nonce()))
    assert refused.code == "no_client_auth"


def test_one_nonce_logs_in_once_under_concurrency(app, usb_key):
    proof = usb_key.proof(issue_login_nonce())
    barrier, outcomes = threading.Barrier(4), []

    def attempt():
        with app.app_context():
            db.connect(reuse_if_open=True)
            try:
                barrier.wait(timeout=30)
                login_with_bridge_proof(**proof)
                outcomes.append("login")
            except LoginRefused as refused:
                outcomes.append(refused.code)
            finally:
                db.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["login", "nonce", "nonce", "nonce"]
    assert (len(events("login")), len(events("login_refused"))) == (1, 3)


# --- the proxy path ---------------------------------------------------------------

def test_proxy_login_succeeds_and_is_audited(operator, usb_key):
    result = login_with_proxy_certificate(certificate_pem=pem(usb_key.certificate), ip=IP)
    assert result.operator.id == operator.id
    [event] = events("login")
    assert json.loads(event.details)["method"] == "proxy"
    assert event.ip == IP


@pytest.mark.parametrize("problem, code", [
    ("unknown", "unknown_certificate"), ("revoked", "revoked"), ("garbage", "malformed"),
    ("no_client_auth", "no_client_auth"),
])
def test_proxy_login_refusals(ca, operator, usb_key, problem, code):
    certificate_pem = pem(usb_key.certificate)
    if problem == "unknown":
        certificate_pem = pem(UsbKey(ca).certificate)
    elif problem == "revoked":
        ca.revoke(serial_to_hex(usb_key.certificate.serial_number))
    elif problem == "garbage":
        certificate_pem = "garbage"
    elif problem == "no_client_auth":
        key = UsbKey(ca, client_auth=False)
        bind_certificate(operator, key.certificate)
        certificate_pem = pem(key.certificate)
    refused = refused_login(login_with_proxy_certificate, certificate_pem=certificate_pem, ip=IP)
    assert refused.code == code
    assert refusal_details()["method"] == "proxy"


# --- binding and trust ---------------------------------------------------------------

def test_bind_certificate_stores_what_identifies_it(operator, usb_key):
    row = OperatorCertificate.get(
        OperatorCertificate.fingerprint_sha256
        == usb_key.certificate.fingerprint(hashes.SHA256()).hex())
    certificate = usb_key.certificate
    assert row.operator_id == operator.id
    assert row.subject == certificate.subject.rfc4514_string()
    assert row.issuer == certificate.issuer.rfc4514_string()
    assert row.serial_hex == format(certificate.serial_number, "x")
    assert row.not_after == certificate.not_valid_after_utc.replace(tzinfo=None)
    assert x509.load_pem_x509_certificate(row.pem.encode()) == certificate


def test_a_certificate_binds_to_one_operator_only(ae, make_operator, usb_key):
    with pytest.raises(CertificateAlreadyBound) as refused:
        bind_certificate(make_operator(ae), usb_key.certificate)
    assert refused.value.message == "Ce certificat est déjà associé à un opérateur."
    # The failed insert left the connection usable (PostgreSQL aborts a failed transaction).
    assert OperatorCertificate.select().count() == 3


def test_trust_embedded_ca_is_idempotent(ae, ca):
    again = trust_embedded_ca(ae, ca)
    assert TrustedCA.select().where(TrustedCA.ae == ae).count() == 1
    assert again.is_root
    assert x509.load_pem_x509_certificate(again.pem.encode()) == ca.root_certificate


def test_an_oversized_chain_is_refused(usb_key):
    proof = usb_key.proof(issue_login_nonce())
    proof["chain_pem"] = proof["chain_pem"] * 5
    refused = refused_login(login_with_bridge_proof, **proof)
    assert (refused.code, refused.message) == ("malformed", "Chaîne de certificats trop longue.")
