"""Connexion routes with the real login services: the page, the key (bridge) path signed by a
key held in memory exactly as the bridge signs, logout, refusals, rate limit, CSRF and the idle
timeout (the proxy path: test_auth_proxy.py)."""
from __future__ import annotations

import base64
import datetime as dt
import json
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from blueprints import auth
from models import AuditEvent, LoginChallenge, LoginSession, Operator, utcnow
from services import audit
from adapters.ca import get_ca
from services.operator_auth.login import MESSAGES, bind_certificate, issue_login_nonce, trust_embedded_ca
from tests.conftest import csrf_token_from
from tests.softhsm import TestCA
from tests.text import source
from bridge_protocol import ALGORITHM_ECDSA, build_login_message

PEM = serialization.Encoding.PEM


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(PEM).decode("ascii")


class MemoryKey:
    """An operator key held in memory, answering like the bridge's /v1/login-signature."""

    def __init__(self, ca, *, given_name="Camille", surname="Martin", issue=True, **cert_fields):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.chain = [ca.issuing_certificate] if hasattr(ca, "issuing_certificate") else []
        self.certificate = None
        if issue:
            self.certificate = ca.issue_operator_certificate(
                self.private_key.public_key(), given_name=given_name, surname=surname,
                email=f"{given_name.lower()}@bpoi.example", organization="BPOI", **cert_fields)

    def proof(self, origin: str, nonce: str) -> dict:
        signature = self.private_key.sign(build_login_message(origin, nonce),
                                          ec.ECDSA(hashes.SHA256()))
        return {"nonce": nonce, "certificate_pem": pem(self.certificate),
                "chain_pem": [pem(c) for c in self.chain],
                "signature": base64.b64encode(signature).decode("ascii"),
                "algorithm": ALGORITHM_ECDSA}


@pytest.fixture
def origin(app):
    return app.config["RADESK_LOGIN_ORIGINS"][0]


@pytest.fixture
def bpoi(app, make_ae, make_order):
    """AE « BPOI » trusting the embedded CA, an AEA operator with a key, and one order."""
    ae = make_ae("BPOI")
    ca = get_ca(app)
    trust_embedded_ca(ae, ca)
    operator = Operator.create(ae=ae, display_name="Camille Martin", roles="AEA",
                               email="camille@bpoi.example")
    key = MemoryKey(ca)
    bind_certificate(operator, key.certificate)
    order = make_order(ae, number=960072)
    return SimpleNamespace(ae=ae, ca=ca, operator=operator, key=key, order=order)


def bound_key(bpoi, **cert_fields) -> MemoryKey:
    key = MemoryKey(bpoi.ca, **cert_fields)
    bind_certificate(bpoi.operator, key.certificate)
    return key


def csrf(client) -> str:
    return csrf_token_from(source(client.get("/connexion")))


def ask_nonce(client, token: str) -> str:
    response = client.post("/connexion/defi", headers={"X-CSRFToken": token})
    assert response.status_code == 200, source(response)
    return response.get_json()["nonce"]


def key_login(client, key: MemoryKey, origin: str, *, sign_origin=None, body=None, headers=None,
              nonce=None):
    """What login.js does: ask a nonce, have it signed, hand the proof over."""
    token = csrf(client)
    nonce = nonce or ask_nonce(client, token)
    payload = body if body is not None else key.proof(sign_origin or origin, nonce)
    sent = {"X-CSRFToken": token, "Origin": origin, **(headers or {})}
    return client.post("/connexion/cle", json=payload,
                       headers={k: v for k, v in sent.items() if v is not None})


def logged_in(client) -> bool:
    """Whether the client's cookie opens the operator pages."""
    return client.get("/commandes").status_code == 200


def events(action: str) -> list[dict]:
    rows = AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id)
    return [{**json.loads(row.details), "ip": row.ip, "operator": row.operator_id}
            for row in rows]


class FormFields(HTMLParser):
    """The attributes of every input, select, label and button of the page."""

    def __init__(self, html: str):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.labels: dict[str, str] = {}
        self._label_for = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("input", "select", "button", "textarea", "form"):
            self.elements.append((tag, attributes))
        if tag == "label":
            self._label_for = attributes.get("for")

    def handle_data(self, data):
        if self._label_for:
            self.labels[self._label_for] = self.labels.get(self._label_for, "") + data

    def handle_endtag(self, tag):
        if tag == "label":
            self._label_for = None

    def by_id(self, element_id: str) -> dict:
        return next(attrs for _, attrs in self.elements if attrs.get("id") == element_id)


# --- the page -------------------------------------------------------------------------

def test_login_page_has_the_exact_labels_and_a_nameless_pin(client, app):
    page = client.get("/connexion")
    html = source(page)
    assert page.status_code == 200
    fields = FormFields(html)
    assert fields.labels["login-key"].strip() == "Clé USB"
    assert fields.labels["login-pin"].strip() == "Code PIN"
    assert ">Se connecter</button>" in html and ">Actualiser</button>" in html
    pin = fields.by_id("login-pin")
    assert pin["type"] == "password" and pin["autocomplete"] == "off"
    assert "name" not in pin, "the PIN must never be part of a request to the server"
    # Nothing in the login form can be submitted to the server.
    assert all("name" not in attrs for tag, attrs in fields.elements if tag != "form")
    form = fields.by_id("login-form")
    assert form["data-bridge-url"] == app.config["RADESK_BRIDGE_URL"].rstrip("/")
    assert form["data-challenge-url"] == "/connexion/defi"
    assert form["data-login-url"] == "/connexion/cle"
    assert 'role="status" aria-live="polite"' in html
    assert "Insérez votre clé USB" in html and "<noscript>" in html
    assert "/connexion/certificat" in html.split("<noscript>")[1]
    assert 'src="/static/js/login.js"' in html and "<script>" not in html
    assert 'href="/static/css/login.css"' in html


def test_root_sends_to_login_or_to_orders(client, bpoi, origin):
    assert client.get("/").headers["Location"] == "/connexion"
    assert key_login(client, bpoi.key, origin).status_code == 200
    assert client.get("/").headers["Location"] == "/commandes"
    assert client.get("/connexion").headers["Location"] == "/commandes"


# --- key (bridge) path ----------------------------------------------------------------

def test_key_login_opens_commandes_and_logout_closes_it(client, bpoi, origin):
    response = key_login(client, bpoi.key, origin)
    assert response.status_code == 200, source(response)
    assert response.get_json() == {"redirect": "/commandes"}

    page = client.get("/commandes")
    html = source(page)
    assert page.status_code == 200
    assert "<h1>Commandes</h1>" in html and "960072" in html and "Se déconnecter" in html
    login_event = events("login")[-1]
    assert login_event["method"] == "bridge" and login_event["operator"] == bpoi.operator.id

    out = client.post("/deconnexion", data={"csrf_token": csrf_token_from(html)})
    assert out.status_code == 302 and out.headers["Location"] == "/connexion"
    assert "Vous êtes déconnecté." in source(client.get("/connexion"))
    assert not logged_in(client)
    assert client.get("/commandes").headers["Location"].startswith("/connexion")
    assert events("logout")[-1]["operator"] == bpoi.operator.id
    assert audit.verify() == []


def test_key_login_returns_to_the_page_that_asked_for_it(client, bpoi, origin):
    token = csrf(client)
    nonce = ask_nonce(client, token)
    body = {**bpoi.key.proof(origin, nonce), "next": "/commandes?page=2"}
    response = client.post("/connexion/cle", json=body,
                           headers={"X-CSRFToken": token, "Origin": origin})
    assert response.get_json() == {"redirect": "/commandes?page=2"}


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil",
                                    "javascript:alert(1)", "/commandes\n"])
def test_next_never_leaves_the_site(client, bpoi, origin, target):
    token = csrf(client)
    nonce = ask_nonce(client, token)
    body = {**bpoi.key.proof(origin, nonce), "next": target}
    response = client.post("/connexion/cle", json=body,
                           headers={"X-CSRFToken": token, "Origin": origin})
    assert response.get_json() == {"redirect": "/commandes"}


def _unbound(bpoi, origin):
    return {"key": MemoryKey(bpoi.ca)}


def _wrong_signer(bpoi, origin):
    impostor = MemoryKey(bpoi.ca, issue=False)
    impostor.certificate = bpoi.key.certificate  # someone else's certificate, own key
    return {"key": impostor}


def _foreign_origin(bpoi, origin):
    return {"origin": "https://evil.example", "sign_origin": "https://evil.example"}


def _signed_for_another_origin(bpoi, origin):
    return {"sign_origin": "https://evil.example"}


def _revoked(bpoi, origin):
    key = bound_key(bpoi)
    bpoi.ca.revoke(format(key.certificate.serial_number, "x"))
    return {"key": key}


def _expired(bpoi, origin):
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    return {"key": bound_key(bpoi, not_before=start, not_after=start + dt.timedelta(days=10))}


def _no_client_auth(bpoi, origin):
    return {"key": bound_key(bpoi, client_auth=False)}


def _untrusted_ca(bpoi, origin):
    foreign_ca = TestCA()
    key = MemoryKey(foreign_ca, issue=False)
    key.certificate = foreign_ca.issue_client_certificate(key.private_key.public_key(), "Intrus")
    key.chain = [foreign_ca.certificate]
    bind_certificate(bpoi.operator, key.certificate)
    return {"key": key}


def _inactive(bpoi, origin):
    Operator.update(active=False).where(Operator.id == bpoi.operator.id).execute()
    return {}


def _missing_origin(bpoi, origin):
    return {"origin": None, "sign_origin": origin}


def _malformed(bpoi, origin):
    return {"body": {"nonce": "x", "certificate_pem": 12, "signature": None}}


REFUSALS = [
    (_unbound, "unknown_certificate", MESSAGES["unknown_certificate"]),
    (_wrong_signer, "bad_proof", "La signature de connexion ne correspond pas au certificat présenté."),
    (_signed_for_another_origin, "bad_proof", "La signature de connexion ne correspond pas au certificat présenté."),
    (_foreign_origin, "origin", MESSAGES["origin"]),
    (_revoked, "revoked", "Certificat révoqué le "),
    (_expired, "expired", "Certificat expiré le "),
    (_no_client_auth, "no_client_auth", "Ce certificat ne permet pas l'authentification"),
    (_untrusted_ca, "untrusted", "Certificat émis par une autorité non reconnue par votre AE."),
    (_inactive, "inactive_operator", MESSAGES["inactive_operator"]),
    (_missing_origin, "origin_missing", auth.ORIGIN_MISSING),
    (_malformed, "malformed_proof", auth.MALFORMED_PROOF),
]


@pytest.mark.parametrize("arrange, code, message", REFUSALS,
                         ids=[case[0].__name__.strip("_") for case in REFUSALS])
def test_refused_key_login_says_why_in_french_and_opens_nothing(client, bpoi, origin, arrange,
                                                                code, message):
    setup = arrange(bpoi, origin)
    response = key_login(client, setup.get("key", bpoi.key), setup.get("origin", origin),
                         sign_origin=setup.get("sign_origin"), body=setup.get("body"))
    assert response.status_code == 403
    assert response.get_json()["message"].startswith(message)
    assert not logged_in(client)
    assert client.get("/commandes").status_code == 302
    assert events("login_refused")[-1]["code"] == code
    assert events("login") == []


def test_expired_nonce_is_refused(client, bpoi, origin):
    token = csrf(client)
    nonce = ask_nonce(client, token)
    LoginChallenge.update(expires_at=utcnow() - dt.timedelta(seconds=1)).execute()
    response = client.post("/connexion/cle", json=bpoi.key.proof(origin, nonce),
                           headers={"X-CSRFToken": token, "Origin": origin})
    assert response.status_code == 403
    assert response.get_json()["message"] == MESSAGES["nonce"]
    assert events("login_refused")[-1]["code"] == "nonce"


def test_a_proof_is_accepted_once_and_only_in_the_session_that_asked(client, app, bpoi, origin):
    token = csrf(client)
    nonce = ask_nonce(client, token)
    proof = bpoi.key.proof(origin, nonce)
    headers = {"X-CSRFToken": token, "Origin": origin}

    thief = app.test_client()
    thief_token = csrf(thief)
    stolen = thief.post("/connexion/cle", json=proof,
                        headers={"X-CSRFToken": thief_token, "Origin": origin})
    assert stolen.status_code == 403
    assert stolen.get_json()["message"] == auth.NONCE_MISMATCH

    assert client.post("/connexion/cle", json=proof, headers=headers).status_code == 200
    with client.session_transaction() as session:
        session.clear()
        session["login_nonce"] = nonce  # even the right session cannot use a nonce twice
    replay = client.post("/connexion/cle", json=proof,
                         headers={"X-CSRFToken": csrf(client), "Origin": origin})
    assert replay.status_code == 403 and not logged_in(client)
    assert replay.get_json()["message"] == MESSAGES["nonce"]


def test_nonce_issued_elsewhere_is_refused(client, app, bpoi, origin):
    with app.app_context():
        foreign_nonce = issue_login_nonce()
    csrf(client)
    response = key_login(client, bpoi.key, origin, nonce=foreign_nonce)
    assert response.status_code == 403
    assert events("login_refused")[-1]["code"] == "nonce_mismatch"


@pytest.mark.parametrize("reported, recorded", [
    ({"code": "bridge_unavailable"}, "bridge_unavailable"),
    ({"code": "no_key"}, "no_key"),
    ({"code": "<script>"}, "bridge_unavailable"),
    (None, "bridge_unavailable"),
])
def test_login_js_reports_when_no_proof_can_be_made(client, reported, recorded):
    token = csrf(client)
    response = client.post("/connexion/pont-indisponible", json=reported,
                           headers={"X-CSRFToken": token})
    assert response.status_code == 204
    event = events("login_refused")[-1]
    assert event["code"] == recorded and event["method"] == "bridge"


# --- rate limit and CSRF --------------------------------------------------------------

def test_login_endpoints_are_rate_limited_in_french_and_audited_once(client, app, bpoi, origin):
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    token = csrf(client)
    for _ in range(2):
        ask_nonce(client, token)
    for _ in range(3):
        refused = client.post("/connexion/defi", headers={"X-CSRFToken": token})
        assert refused.status_code == 429
        assert refused.get_json() == {"message": auth.RATE_LIMITED}
    # A flood of refusals leaves one audit event, not one per request.
    limited = events("login_rate_limited")
    assert len(limited) == 1 and limited[0]["endpoint"] == "auth.challenge"
    assert limited[0]["ip"] == "127.0.0.1"

    # The certificate path answers with the login page, in French too.
    for _ in range(2):
        client.get("/connexion/certificat")
    page = client.get("/connexion/certificat")
    assert page.status_code == 429
    assert auth.RATE_LIMITED in source(page)


def test_post_without_csrf_token_is_refused(client, bpoi, origin):
    csrf(client)
    challenge = client.post("/connexion/defi")
    assert challenge.status_code == 400
    assert challenge.get_json() == {"message": auth.PAGE_EXPIRED}
    assert LoginChallenge.select().count() == 0

    assert key_login(client, bpoi.key, origin).status_code == 200
    logout = client.post("/deconnexion")
    assert logout.status_code == 400
    assert auth.PAGE_EXPIRED in source(logout)
    assert logged_in(client)


# --- session lifetime -----------------------------------------------------------------

def test_idle_session_expires_back_to_the_login_page(client, app, bpoi, origin):
    assert key_login(client, bpoi.key, origin).status_code == 200
    assert client.get("/commandes").status_code == 200
    idle = dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"], seconds=1)
    LoginSession.update(last_seen_at=utcnow() - idle).execute()

    response = client.get("/commandes")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/connexion?next=/commandes")
    page = source(client.get(response.headers["Location"]))
    assert auth.SESSION_EXPIRED in page
    assert not logged_in(client)
    # Said once: reloading the login page does not repeat it.
    assert auth.SESSION_EXPIRED not in source(client.get("/connexion"))


def test_unbinding_the_certificate_ends_the_session(client, bpoi, origin):
    assert key_login(client, bpoi.key, origin).status_code == 200
    bpoi.operator.certificates.get().delete_instance()
    assert client.get("/commandes").status_code == 302
