"""TLS client authentication through the real nginx, configured by deploy/nginx/radesk.conf
itself (only ports and paths rewritten), in front of the real app served by gunicorn."""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from blueprints import auth
from services.operator_auth.login import MESSAGES
from tests.e2e_support import (REPO, AppInstance, ServerProcess, free_port, pem, start_app_server,
                               wait_for_port)
from tests.factories import make_ae, make_operator, make_order
from tests.softhsm import TestCA
from tests.text import source

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx absent")

SITE_CONF = REPO / "deploy" / "nginx" / "radesk.conf"
PROXY_SECRET = "9f0c4e1d2b7a4c0e8d3f6a5b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"


def render_site_conf(*, https_port: int, http_port: int, app_port: int, tls_dir: Path,
                     secret_conf: Path) -> str:
    """The deployment file with this test's ports and paths; each spelling must be there, so
    the test breaks if the example drifts away from what is tested."""
    text = SITE_CONF.read_text()
    substitutions = {
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "/etc/radesk/tls/": f"{tls_dir}/",
        "/etc/radesk/nginx/proxy-secret.conf": str(secret_conf),
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "/opt/radesk/static/": f"{REPO / 'static'}/",
    }
    for old, new in substitutions.items():
        assert old in text, f"{SITE_CONF} ne contient plus « {old} »"
        text = text.replace(old, new)
    return text


def main_conf(directory: Path) -> str:
    """What /etc/nginx/nginx.conf provides around a site file, inside a scratch folder."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {name}_temp_path {directory / name};"
                     for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"{user}worker_processes 1;\nerror_log {directory / 'error.log'} info;\n"
            "events { worker_connections 64; }\n"
            "http {\n    include /etc/nginx/mime.types;\n"
            f"    access_log {directory / 'access.log'};\n{temp}\n"
            f"    include {directory / 'radesk.conf'};\n}}\n")


def write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def server_certificate(tls_dir: Path) -> Path:
    """A throwaway CA and the server certificate it signs for 127.0.0.1; returns the CA file."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TLS CA")])
    now = dt.datetime.now(dt.timezone.utc)
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    write_pem(tls_dir / "server.crt", pem(cert).encode() + pem(ca_cert).encode())
    write_pem(tls_dir / "server.key", key_pem(key))
    return write_pem(tls_dir / "server-ca.pem", pem(ca_cert).encode())


def client_files(directory: Path, name: str, certificate, key) -> tuple[str, str]:
    cert_path = write_pem(directory / f"{name}.crt", pem(certificate).encode())
    key_path = write_pem(directory / f"{name}.key", key_pem(key))
    return str(cert_path), str(key_path)


def start_nginx(directory: Path, https_port: int) -> ServerProcess:
    conf = directory / "nginx.conf"
    argv = [NGINX, "-p", str(directory), "-c", str(conf), "-e", str(directory / "error.log")]
    checked = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = ServerProcess("nginx", [*argv, "-g", f"daemon off; pid {directory / 'nginx.pid'};"],
                            dict(os.environ), directory / "nginx.log")
    wait_for_port(https_port, process=process.process)
    return process


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    """nginx on 127.0.0.1:<https> → gunicorn, which trusts 127.0.0.1 as its proxy."""
    directory = tmp_path_factory.mktemp("nginx")
    https_port, http_port = free_port(), free_port()
    with AppInstance.create(directory, trusted_proxies=["127.0.0.1"],
                            public_url=f"https://127.0.0.1:{https_port}",
                            extra_env={"RADESK_PROXY_SECRET": PROXY_SECRET}) as instance:
        tls_dir = directory / "tls"
        tls_dir.mkdir()
        server_ca = server_certificate(tls_dir)
        clients = {}
        with instance.seeding() as app:
            from adapters.ca import get_ca
            from services.operator_auth.login import bind_certificate, trust_embedded_ca

            ae = make_ae("BPOI")
            ca = get_ca(app)
            trust_embedded_ca(ae, ca)
            write_pem(tls_dir / "operators-ca.pem",
                      (pem(ca.issuing_certificate) + pem(ca.root_certificate)).encode())
            make_order(ae, number=960072)
            for name in ("Camille Martin", "Julien Roux", "Sans Compte"):
                key = ec.generate_private_key(ec.SECP256R1())
                given, surname = name.split()
                certificate = ca.issue_operator_certificate(
                    key.public_key(), given_name=given, surname=surname,
                    email=f"{given.lower()}@bpoi.example", organization="BPOI")
                if name != "Sans Compte":
                    bind_certificate(make_operator(ae, name), certificate)
                clients[name] = SimpleNamespace(
                    certificate=certificate, files=client_files(tls_dir, given.lower(), certificate, key))
        # As deploy/README.md makes it: one directive, readable by root and nginx's group only.
        secret_conf = directory / "proxy-secret.conf"
        secret_conf.write_text(f'proxy_set_header X-RADesk-Proxy-Secret "{PROXY_SECRET}";\n')
        secret_conf.chmod(0o640)
        (directory / "radesk.conf").write_text(render_site_conf(
            https_port=https_port, http_port=http_port, app_port=instance.port, tls_dir=tls_dir,
            secret_conf=secret_conf))
        (directory / "nginx.conf").write_text(main_conf(directory))
        with start_app_server(instance) as app_server, start_nginx(directory, https_port) as nginx:
            yield SimpleNamespace(url=f"https://127.0.0.1:{https_port}",
                                  http_url=f"http://127.0.0.1:{http_port}", server_ca=str(server_ca),
                                  clients=clients, instance=instance, nginx=nginx,
                                  app_server=app_server, directory=directory)


def https_session(proxy, client: str | None = None) -> requests.Session:
    """A client of the proxy, presenting the TLS client certificate of ``client`` if named."""
    session = requests.Session()
    # REQUESTS_CA_BUNDLE (and proxy variables) would override session.verify: ignore them.
    session.trust_env = False
    session.verify = proxy.server_ca
    if client:
        session.cert = proxy.clients[client].files
    return session


def last_event(proxy, action: str) -> dict:
    from models import AuditEvent
    with proxy.instance.query():
        row = (AuditEvent.select().where(AuditEvent.action == action)
               .order_by(AuditEvent.id.desc()).first())
        return {**json.loads(row.details), "ip": row.ip, "actor": row.actor}


def test_client_certificate_logs_in_through_nginx(proxy):
    session = https_session(proxy, "Camille Martin")
    response = session.get(f"{proxy.url}/connexion/certificat", allow_redirects=False)
    assert response.status_code == 302, source(response)
    assert response.headers["Location"] == "/commandes"

    page = session.get(f"{proxy.url}/commandes", allow_redirects=False)
    assert page.status_code == 200
    assert "<h1>Commandes</h1>" in page.text and "960072" in page.text
    assert "Camille Martin" in page.text
    event = last_event(proxy, "login")
    assert event["method"] == "proxy" and event["ip"] == "127.0.0.1"


def test_without_client_certificate_the_login_is_refused(proxy):
    session = https_session(proxy)
    response = session.get(f"{proxy.url}/connexion/certificat", allow_redirects=False)
    assert response.status_code == 403
    assert auth.NO_CLIENT_CERTIFICATE in source(response)
    assert session.get(f"{proxy.url}/commandes", allow_redirects=False).status_code == 302
    assert last_event(proxy, "login_refused")["code"] == "no_client_certificate"


def test_certificate_headers_sent_by_the_client_are_overwritten(proxy):
    forged = {"X-SSL-Client-Cert": quote(pem(proxy.clients["Camille Martin"].certificate), safe=""),
              "X-SSL-Client-Verify": "SUCCESS"}
    anonymous = https_session(proxy)
    refused = anonymous.get(f"{proxy.url}/connexion/certificat", headers=forged,
                            allow_redirects=False)
    assert refused.status_code == 403
    assert auth.NO_CLIENT_CERTIFICATE in source(refused)

    # With a certificate of its own, the client is who its certificate says, not its header.
    julien = https_session(proxy, "Julien Roux")
    response = julien.get(f"{proxy.url}/connexion/certificat", headers=forged,
                          allow_redirects=False)
    assert response.status_code == 302
    page = julien.get(f"{proxy.url}/commandes")
    assert "Julien Roux" in page.text and "Camille Martin" not in page.text


def test_a_local_process_going_around_nginx_cannot_log_in(proxy):
    """gunicorn trusts 127.0.0.1, which every process of the host shares: a certificate's
    public part in the headers is not enough without the secret nginx adds."""
    forged = {"X-SSL-Client-Cert": quote(pem(proxy.clients["Camille Martin"].certificate), safe=""),
              "X-SSL-Client-Verify": "SUCCESS"}
    direct = requests.Session()
    direct.trust_env = False
    for guess in ({}, {"X-RADesk-Proxy-Secret": "secret"}):
        response = direct.get(f"{proxy.instance.url}/connexion/certificat",
                              headers={**forged, **guess}, allow_redirects=False)
        assert response.status_code == 403, source(response)
        assert auth.UNTRUSTED_PROXY in source(response)
        assert last_event(proxy, "login_refused")["code"] == "proxy_secret_mismatch"
    assert direct.get(f"{proxy.instance.url}/commandes", allow_redirects=False).status_code == 302


def test_the_proxy_secret_sent_by_a_client_is_replaced_by_nginx(proxy):
    julien = https_session(proxy, "Julien Roux")
    response = julien.get(f"{proxy.url}/connexion/certificat",
                          headers={"X-RADesk-Proxy-Secret": "autre chose"}, allow_redirects=False)
    assert response.status_code == 302


def test_a_valid_certificate_bound_to_nobody_is_refused_by_the_app(proxy):
    response = https_session(proxy, "Sans Compte").get(f"{proxy.url}/connexion/certificat",
                                                 allow_redirects=False)
    assert response.status_code == 403
    assert MESSAGES["unknown_certificate"] in source(response)


def test_a_certificate_from_an_unknown_ca_never_reaches_the_app(proxy, tmp_path):
    stranger_ca = TestCA()
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = stranger_ca.issue_client_certificate(key.public_key(), "Intrus")
    session = https_session(proxy)
    session.cert = client_files(tmp_path, "intrus", certificate, key)
    response = session.get(f"{proxy.url}/connexion/certificat", allow_redirects=False)
    assert response.status_code == 400  # nginx: "The SSL certificate error"
    assert "connexion" not in response.text.lower()


def test_the_rest_of_the_site_is_served_too(proxy):
    session = https_session(proxy)
    login = session.get(f"{proxy.url}/connexion")
    assert login.status_code == 200 and "Clé USB" in login.text
    assert "Strict-Transport-Security" in login.headers
    script = session.get(f"{proxy.url}/static/js/bridge.js")
    assert script.status_code == 200 and "python -m token_bridge" in script.text
    redirect = session.get(f"{proxy.http_url}/connexion", allow_redirects=False)
    assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://")
