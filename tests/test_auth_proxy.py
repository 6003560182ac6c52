"""Login through the TLS proxy (/connexion/certificat): the certificate nginx forwards is
believed only from RADESK_TRUSTED_PROXIES and beside the proxy's secret, and is verified again
by the app; X-Real-IP counts only beside that secret."""
from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import quote

import pytest
from cryptography import x509

from app import create_app
from blueprints import auth
from models import LoginSession, Operator, db
from adapters.ca import get_ca
from services.operator_auth.login import MESSAGES, bind_certificate, trust_embedded_ca
from tests.test_auth_routes import MemoryKey, bpoi, events, logged_in, pem  # noqa: F401 (bpoi: fixture)
from tests.text import source

PROXY_SECRET = "secret-du-mandataire-0123456789abcdef"


def proxy_headers(certificate: x509.Certificate, verify="SUCCESS", secret=PROXY_SECRET) -> dict:
    # nginx's $ssl_client_escaped_cert: the PEM, URL-encoded; and the secret only nginx knows.
    headers = {"X-SSL-Client-Verify": verify,
               "X-SSL-Client-Cert": quote(pem(certificate), safe="")}
    if secret is not None:
        headers["X-RADesk-Proxy-Secret"] = secret
    return headers


@pytest.fixture
def proxied_app(tmp_path, database_url):
    """The app as deployed behind nginx on the same host."""
    app = create_app({
        "TESTING": True,
        "INSTANCE_PATH": tmp_path / "instance",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "RADESK_PUBLIC_URL": "https://radesk.example.org",
        "RADESK_TRUSTED_PROXIES": ["127.0.0.1", "10.20.0.0/16"],
        "RADESK_PROXY_SECRET": PROXY_SECRET,
    })
    db.connect(reuse_if_open=True)
    yield app
    if not db.is_closed():
        db.close()


@pytest.fixture
def proxied(proxied_app, make_ae, make_order):
    ae = make_ae("BPOI")
    ca = get_ca(proxied_app)
    trust_embedded_ca(ae, ca)
    operator = Operator.create(ae=ae, display_name="Camille Martin", roles="AEA")
    key = MemoryKey(ca)
    bind_certificate(operator, key.certificate)
    make_order(ae, number=960066)
    return SimpleNamespace(client=proxied_app.test_client(), operator=operator, key=key, ca=ca)


@pytest.mark.parametrize("remote_addr", ["127.0.0.1", "10.20.3.4", "::ffff:127.0.0.1"])
def test_certificate_from_a_trusted_proxy_logs_in(proxied, remote_addr):
    response = proxied.client.get(
        "/connexion/certificat?next=/commandes%3Fpage%3D1",
        headers={**proxy_headers(proxied.key.certificate), "X-Real-IP": "192.0.2.7"},
        environ_base={"REMOTE_ADDR": remote_addr})
    assert response.status_code == 302
    assert response.headers["Location"] == "/commandes?page=1"
    page = proxied.client.get("/commandes")
    assert page.status_code == 200 and "960066" in source(page)
    event = events("login")[-1]
    # Behind the proxy the operator's own address is the one it forwarded.
    assert event["method"] == "proxy" and event["ip"] == "192.0.2.7"
    session = LoginSession.get()
    assert (session.method, session.ip, session.operator_id) == ("proxy", "192.0.2.7",
                                                                 proxied.operator.id)


def test_proxy_certificate_is_still_verified_by_the_app(proxied):
    stranger = MemoryKey(proxied.ca)  # valid chain, bound to nobody
    response = proxied.client.get("/connexion/certificat", headers=proxy_headers(stranger.certificate),
                                  environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 403
    assert MESSAGES["unknown_certificate"] in source(response)
    assert not logged_in(proxied.client)
    assert events("login_refused")[-1]["code"] == "unknown_certificate"


@pytest.mark.parametrize("verify, code, message", [
    ("NONE", "no_client_certificate", auth.NO_CLIENT_CERTIFICATE),
    ("FAILED:certificate has expired", "proxy_verify_failed", auth.PROXY_VERIFY_FAILED),
])
def test_proxy_without_a_verified_certificate_is_refused(proxied, verify, code, message):
    headers = proxy_headers(proxied.key.certificate, verify=verify)
    if verify == "NONE":
        headers.pop("X-SSL-Client-Cert")
    response = proxied.client.get("/connexion/certificat", headers=headers,
                                  environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 403
    assert message in source(response)
    assert not logged_in(proxied.client)
    assert events("login_refused")[-1]["code"] == code


@pytest.mark.parametrize("remote_addr", ["192.0.2.50", "10.21.0.1"])
def test_forged_certificate_headers_from_an_untrusted_address_are_refused(proxied, remote_addr):
    response = proxied.client.get(
        "/connexion/certificat",
        headers={**proxy_headers(proxied.key.certificate), "X-Real-IP": "127.0.0.1"},
        environ_base={"REMOTE_ADDR": remote_addr})
    assert response.status_code == 403
    assert auth.UNTRUSTED_PROXY in source(response)
    assert not logged_in(proxied.client)
    event = events("login_refused")[-1]
    # X-Real-IP from an untrusted sender is not believed either.
    assert event["code"] == "untrusted_proxy" and event["ip"] == remote_addr
    assert events("login") == []


@pytest.mark.parametrize("secret", [None, "", "devine", PROXY_SECRET[:-1], PROXY_SECRET + "x"])
def test_a_local_process_without_the_proxy_secret_cannot_log_in(proxied, secret):
    """Any process on the proxy's host shares its address: the address alone proves nothing,
    only the secret nginx adds does."""
    response = proxied.client.get("/connexion/certificat",
                                  headers=proxy_headers(proxied.key.certificate, secret=secret),
                                  environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 403
    assert auth.UNTRUSTED_PROXY in source(response)
    assert not logged_in(proxied.client)
    assert events("login_refused")[-1]["code"] == "proxy_secret_mismatch"
    assert events("login") == []


def test_a_local_process_without_the_secret_cannot_choose_its_address(proxied):
    """X-Real-IP from the proxy's host counts only beside the proxy's secret: without it the
    refusal is written with the sender's own address, not the one it claimed."""
    response = proxied.client.get(
        "/connexion/certificat",
        headers={**proxy_headers(proxied.key.certificate, secret=None), "X-Real-IP": "192.0.2.99"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 403
    event = events("login_refused")[-1]
    assert event["code"] == "proxy_secret_mismatch" and event["ip"] == "127.0.0.1"


def test_without_a_proxy_secret_configured_the_proxy_login_is_off(proxied, caplog):
    proxied.client.application.config["RADESK_PROXY_SECRET"] = None
    with caplog.at_level("WARNING"):
        response = proxied.client.get("/connexion/certificat",
                                      headers=proxy_headers(proxied.key.certificate),
                                      environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 403
    assert auth.PROXY_LOGIN_OFF in source(response)
    assert not logged_in(proxied.client)
    assert events("login_refused")[-1]["code"] == "proxy_secret_unset"
    assert any("RADESK_PROXY_SECRET" in record.getMessage() for record in caplog.records)


def test_default_config_trusts_no_proxy(client, bpoi):
    response = client.get("/connexion/certificat", headers=proxy_headers(bpoi.key.certificate))
    assert response.status_code == 403
    assert auth.UNTRUSTED_PROXY in source(response)
    assert events("login_refused")[-1]["code"] == "untrusted_proxy"
    assert not logged_in(client)
