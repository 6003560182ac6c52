"""Helpers for end-to-end tests: the real app served by gunicorn in a subprocess, with its own
instance folder and database; the real token bridge; SoftHSM2 keys whose certificates come from
the app's embedded CA; headless Chromium.

A typical module (tests/test_e2e_login.py is one)::

    @pytest.fixture(scope="module")
    def site(tmp_path_factory):
        directory = tmp_path_factory.mktemp("site")
        with AppInstance.create(directory) as instance:
            softhsm = SoftHSM(directory / "softhsm")          # tests/softhsm.py
            with instance.seeding() as app:
                ae = make_ae("BPOI")
                operator = make_operator(ae, "Camille Martin")
                token = make_operator_key(app, softhsm, operator, label="cle-camille")
            with start_app_server(instance), start_bridge(instance, softhsm):
                yield instance, token

The app is a subprocess, never a thread of the test process: the peewee database proxy, the
rate limiter and the CA cache are process-wide, and the test process's fixtures re-point them.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
from types import SimpleNamespace
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qsl, urlsplit

import requests
from cryptography.hazmat.primitives import serialization

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PG_BASE_URL = os.environ.get("TEST_DATABASE_URL", "")
START_TIMEOUT = 40.0

_numbers = itertools.count(1)


def free_port() -> int:
    """A loopback port free right now (the OS does not hand it out again at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = START_TIMEOUT, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError("le processus s'est arrêté avant d'écouter")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"rien n'écoute sur 127.0.0.1:{port}")


# --- databases ---------------------------------------------------------------------------

@contextlib.contextmanager
def throwaway_database(directory: Path) -> Iterator[str]:
    """A database for one app instance: a fresh PostgreSQL database when TEST_DATABASE_URL
    names a server (dropped afterwards), else an SQLite file in ``directory``."""
    if not PG_BASE_URL.startswith("postgres"):
        yield f"sqlite:///{Path(directory) / 'radesk.db'}"
        return
    import peewee
    from playhouse.db_url import connect

    name = f"radesk_e2e_{uuid.uuid4().hex[:10]}"
    admin = connect(PG_BASE_URL)
    assert isinstance(admin, peewee.PostgresqlDatabase)
    with admin.connection_context():
        admin.execute_sql(f'CREATE DATABASE "{name}"')
    try:
        yield PG_BASE_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connection_context():
            admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the application -----------------------------------------------------------------------

@dataclass
class AppInstance:
    """Everything one app server runs on: instance folder, database, port, configuration.

    ``settings`` are app config keys; they reach the server subprocess as the environment
    variables config.py reads, and the in-process app (for seeding) as a config dict.
    """
    directory: Path
    database_url: str
    port: int
    bridge_port: int
    trusted_proxies: list[str] = field(default_factory=list)
    public_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    @contextlib.contextmanager
    def create(cls, directory: Path, **options) -> Iterator["AppInstance"]:
        directory = Path(directory)
        with throwaway_database(directory) as database_url:
            yield cls(directory, database_url, free_port(), free_port(), **options)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        """The origin pages are served from (what the bridge signs for)."""
        parts = urlsplit(self.public_url or self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def bridge_url(self) -> str:
        return f"http://127.0.0.1:{self.bridge_port}"

    @property
    def instance_path(self) -> Path:
        return self.directory / "instance"

    @property
    def secret_key(self) -> str:
        return f"e2e-{self.directory.name}"

    def config(self) -> dict:
        return {
            "INSTANCE_PATH": self.instance_path,
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": self.secret_key,
            "RADESK_PUBLIC_URL": self.public_url or self.url,
            "RADESK_LOGIN_ORIGINS": [self.origin],
            "RADESK_BRIDGE_URL": self.bridge_url,
            "RADESK_TRUSTED_PROXIES": list(self.trusted_proxies),
        }

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "RADESK_INSTANCE_PATH": str(self.instance_path),
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": self.secret_key,
            "RADESK_PUBLIC_URL": self.public_url or self.url,
            "RADESK_LOGIN_ORIGINS": self.origin,
            "RADESK_BRIDGE_URL": self.bridge_url,
            "RADESK_TRUSTED_PROXIES": ",".join(self.trusted_proxies),
            **self.extra_env,
        }

    def open_app(self):
        """The same app in this process (schema, CA), its database proxy pointed at ours."""
        from app import create_app
        return create_app(self.config())

    @contextlib.contextmanager
    def seeding(self):
        """An app context with an open connection, to create rows before or between requests."""
        from models import db
        app = self.open_app()
        with app.app_context(), db.connection_context():
            yield app

    def query(self):
        """Re-point the database proxy at this instance (another app may have moved it) and
        open a connection: ``with instance.query(): AuditEvent.select()...``."""
        from database import open_database
        from models import db
        open_database(self.database_url)
        return db.connection_context()


class ServerProcess:
    """A subprocess whose output goes to a log file, stopped with its process group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_until(self, url: str, headers: dict | None = None,
                   timeout: float = START_TIMEOUT) -> None:
        """Until ``url`` answers over HTTP at all (any status), or fail with the log."""
        deadline = time.monotonic() + timeout
        session = requests.Session()
        session.trust_env = False  # no proxy from the environment for 127.0.0.1
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} s'est arrêté :\n{self.log_tail()}")
            try:
                session.get(url, headers=headers, timeout=2)
                return
            except (requests.ConnectionError, requests.Timeout):
                # Not listening yet, or listening while its worker still loads the app
                # (slow on a loaded machine): both mean « not up yet ».
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"{self.name} ne répond pas sur {url} :\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._log.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_app_server(instance: AppInstance, *, workers: int = 1) -> ServerProcess:
    """gunicorn serving create_app() on 127.0.0.1:instance.port, as deploy/README.md runs it."""
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{instance.port}",
            "--workers", str(workers), "--threads", "4", "--graceful-timeout", "3",
            "--access-logfile", "-", "--error-logfile", "-", "app:create_app()"]
    log = instance.directory / f"app-{next(_numbers)}.log"
    server = ServerProcess("l'application", argv, instance.environment(), log)
    server.wait_until(f"{instance.url}/connexion")
    return server


# --- the token bridge and its keys ----------------------------------------------------------

def start_bridge(instance: AppInstance, softhsm, state_dir: Path | None = None) -> ServerProcess:
    """``python -m token_bridge`` on the instance's bridge port, answering the app's origin."""
    state_dir = state_dir or instance.directory / f"bridge-state-{next(_numbers)}"
    argv = [sys.executable, "-m", "token_bridge", "--port", str(instance.bridge_port),
            "--origin", instance.origin, "--state-dir", str(state_dir)]
    log = instance.directory / f"bridge-{next(_numbers)}.log"
    bridge = ServerProcess("le pont de clés USB", argv, softhsm.environment, log)
    bridge.wait_until(f"{instance.bridge_url}/v1/status", headers={"Origin": instance.origin})
    return bridge


@contextlib.contextmanager
def softhsm_environment(softhsm):
    """SoftHSM2 reads SOFTHSM2_CONF from this process's environment when the module is
    (re)initialised: point it at ``softhsm`` for the block (module-scoped fixtures have no
    monkeypatch)."""
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(softhsm.conf_path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


def make_operator_key(app, softhsm, operator, *, label: str, pin: str = "1234",
                      key_type: str = "EC"):
    """A SoftHSM2 key for ``operator``: key pair generated on the token, certificate issued by
    the app's embedded CA (trusted by the operator's AE), written on the token and bound.
    Call inside ``instance.seeding()``. Returns the tests.softhsm.SoftToken."""
    from adapters.ca import get_ca
    from services.operator_auth.login import bind_certificate, trust_embedded_ca
    from token_bridge import provision

    ca = get_ca(app)
    trust_embedded_ca(operator.ae, ca)
    given_name, _, surname = operator.display_name.partition(" ")

    def embedded_ca_certificate(public_key, _label, _test_ca):
        return ca.issue_operator_certificate(
            public_key, given_name=given_name, surname=surname or given_name,
            email=operator.email or f"{label}@example.org", organization=operator.ae.name)

    with softhsm_environment(softhsm):
        token = softhsm.make_token(label, pin=pin, key_type=key_type,
                                   cert_builder=embedded_ca_certificate, with_chain=False)
        provision.write_ca_certificate(softhsm.module_path, label, pin, ca.issuing_certificate)
    token.chain = [ca.issuing_certificate]
    bind_certificate(operator, token.certificate)
    return token


# --- rows ---------------------------------------------------------------------------------

def make_operator(ae, display_name: str, roles: str = "AEA", email: str | None = None):
    from models import Operator
    return Operator.create(ae=ae, display_name=display_name, roles=roles, all_portals=True,
                           email=email or f"{display_name.split()[0].lower()}@example.org")


def make_ae(name: str, portals=("BPOI-Occitanie", "BPOI-Rhône")):
    from models import AE, Portal
    ae = AE.create(name=name)
    for portal in portals:
        Portal.create(ae=ae, name=portal)
    return ae


def make_order(ae, number: int, first_name: str = "Sandra", last_name: str = "Boileau",
               siren: str = "434202180", phase: str = "validation", substate: str = "to_check"):
    from models import Company, Order, Person, Portal, holder_search_fields
    portal = Portal.select().where(Portal.ae == ae).order_by(Portal.id).first()
    company = Company.create(ae=ae, name="Boileau Colbert Conseil", siren=siren)
    holder = Person.create(ae=ae, civility="Mme", first_name=first_name, last_name=last_name,
                           email="porteur@example.org", phone="0612345678")
    legal = Person.create(ae=ae, civility="Mme", first_name="Alice", last_name="Colbert",
                          email="rl@example.org")
    return Order.create(number=number, ae=ae, portal=portal, company=company, holder=holder,
                        legal_representative=legal, phase=phase, substate=substate,
                        otp_contact="0612345678",
                        **holder_search_fields(first_name, last_name))


# --- the browser ----------------------------------------------------------------------------

def launch_chromium(playwright):
    """Debian's Chromium, headless (never `playwright install`)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                      headless=True)


@contextlib.contextmanager
def seeded_demo_site(directory: Path, prepare_order) -> Iterator[SimpleNamespace]:
    """The demo (8 orders) served by the real app with the bridge holding the demo keys, e-mails
    going to a real SMTP server (tests.smtp_support) and the outbox job running every second.
    ``prepare_order(app)`` returns the id of the order the test works on."""
    from demo.seed import seed_demo, softhsm_conf_path
    from models import Operator
    from tests.smtp_support import SmtpServer
    from token_bridge import provision

    saved_conf = os.environ.get("SOFTHSM2_CONF")  # seeding points it at the demo keys
    smtp = SmtpServer().start()
    try:
        with AppInstance.create(directory, extra_env={
                "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp.port),
                "RADESK_SCHEDULER": "1", "RADESK_OUTBOX_INTERVAL_SECONDS": "1"}) as instance:
            with instance.seeding() as app:
                seed_demo(app, order_count=8)  # the demo AEs, operators and keys
                # The tests count the e-mails they cause: no digest of the demo's operators.
                Operator.update(digest_enabled=False).execute()
                order_id = prepare_order(app)
                module = app.config["PKCS11_MODULE"]
            conf = softhsm_conf_path(instance.instance_path)
            serial = next(s for s, label in provision.softhsm_tokens(conf) if label == "demo-aea")
            keys = SimpleNamespace(environment={**os.environ, "SOFTHSM2_CONF": str(conf),
                                                "PKCS11_MODULE": module})
            with start_app_server(instance) as server, start_bridge(instance, keys):
                yield SimpleNamespace(instance=instance, server=server, serial=serial,
                                      order_id=order_id, smtp=smtp, directory=directory)
    finally:
        smtp.stop()
        if saved_conf is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = saved_conf


def log_in_through_the_page(page, base_url: str, token_serial: str, pin: str = "1234") -> None:
    """The operator's own gesture: choose the key in « Clé USB », type the PIN, « Se connecter »."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/connexion")
    key_chooser = page.get_by_label("Clé USB")
    expect(key_chooser.locator(f'option[value="{token_serial}"]')).to_have_count(1)
    key_chooser.select_option(token_serial)
    page.get_by_label("Code PIN").fill(pin)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{base_url}/commandes**")


class RequestRecorder:
    """Every request a page makes, to check what reached which server."""

    def __init__(self, page):
        self.requests = []
        page.on("request", self._record)  # Playwright wants a Python callable, not list.append

    def _record(self, request) -> None:
        self.requests.append(request)

    def to(self, base_url: str) -> list:
        return [r for r in self.requests if r.url.startswith(base_url.rstrip("/") + "/")]

    def assert_never_sent(self, secret: str, base_url: str) -> None:
        """No request to ``base_url`` carries ``secret`` as a value: not in its URL, headers,
        JSON body (any key or value) or form body. Values are compared whole, so a base64
        signature or certificate that happens to contain the digits is no false alarm."""
        for request in self.to(base_url):
            sent = _values_sent(request)
            assert secret not in sent, f"{request.method} {request.url} a transmis le secret"
            assert "pin" not in {value.lower() for value in sent}, \
                f"{request.method} {request.url} a transmis un champ « pin »"

    def assert_sent(self, secret: str, base_url: str) -> None:
        """The opposite, to prove the recorder does see what is sent."""
        assert any(secret in _values_sent(r) for r in self.to(base_url)), base_url


def _values_sent(request) -> set[str]:
    parts = urlsplit(request.url)
    values = set(parts.path.split("/"))
    values.update(v for pair in parse_qsl(parts.query, keep_blank_values=True) for v in pair)
    values.update(request.headers.values())
    body = request.post_data or ""
    try:
        values.update(_json_strings(json.loads(body)))
    except ValueError:
        values.update(v for pair in parse_qsl(body, keep_blank_values=True) for v in pair)
        values.add(body)
    return values


def _json_strings(data) -> Iterator[str]:
    """Every key and every scalar value of a JSON document, as text."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from _json_strings(value)
    elif isinstance(data, list):
        for item in data:
            yield from _json_strings(item)
    elif data is not None:
        yield str(data)


def pem(certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
