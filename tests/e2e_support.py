"""Servers for end-to-end tests: the real app served by gunicorn in a subprocess, with its own
instance folder and database; the real token bridge; SoftHSM2 keys whose certificates come from
the app's embedded CA; the demo data behind them. The browser side (Playwright fixtures) is in
tests/browser_fixtures.py.

A typical module (tests/test_e2e_login.py is one)::

    def seed(app, softhsm):
        ae, operator, token = operator_with_key(app, softhsm, label="cle-camille")
        make_order(ae, number=960072)
        return {"token": token}

    @pytest.fixture(scope="module")
    def site(tmp_path_factory):
        with operator_site(tmp_path_factory.mktemp("site"), seed) as site:
            yield site          # site.instance, site.server, site.bridge, site.token…

The app is a subprocess, never a thread of the test process: the peewee database proxy, the
rate limiter and the CA cache are process-wide, and the test process's fixtures re-point them.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterator
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization

REPO = Path(__file__).resolve().parent.parent
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
def throwaway_postgres(base_url: str, prefix: str) -> Iterator[str]:
    """A new PostgreSQL database on the server ``base_url`` names, dropped afterwards."""
    from playhouse.db_url import connect

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = connect(base_url)
    with admin.connection_context():
        admin.execute_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connection_context():
            admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def throwaway_database(directory: Path) -> Iterator[str]:
    """A database for one app instance: a fresh PostgreSQL database when TEST_DATABASE_URL
    names a server (dropped afterwards), else an SQLite file in ``directory``."""
    if not PG_BASE_URL.startswith("postgres"):
        yield f"sqlite:///{Path(directory) / 'radesk.db'}"
        return
    with throwaway_postgres(PG_BASE_URL, "radesk_e2e") as url:
        yield url


# --- the application -----------------------------------------------------------------------

@dataclass
class AppInstance:
    """Everything one app server runs on: instance folder, database, port, configuration.

    The settings reach the server subprocess as the environment variables config.py reads,
    and the in-process app (for seeding) as a config dict; ``extra_env`` goes to the server only.
    """
    directory: Path
    database_url: str
    port: int
    bridge_port: int
    trusted_proxies: list[str] = field(default_factory=list)
    public_url: str | None = None
    pki_url: str | None = None
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
            "RADESK_PKI_URL": self.pki_url,
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
            "RADESK_PKI_URL": self.pki_url or "",
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
    """A subprocess whose output goes to a log file, stopped with its process group.
    ``running`` lists those not stopped yet: a failed test shows the end of their logs."""

    running: list["ServerProcess"] = []

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        ServerProcess.running.append(self)

    def log_tail(self, lines: int = 40) -> str:
        if not self._log.closed:
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

    def wait_for_output(self, text: str, timeout: float = START_TIMEOUT) -> None:
        """Until ``text`` appears in the process's output, or fail with the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_path.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} s'est arrêté :\n{self.log_tail()}")
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"{self.name} n'a pas écrit « {text} » :\n{self.log_tail()}")

    def stop(self) -> None:
        if self in ServerProcess.running:
            ServerProcess.running.remove(self)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        if not self._log.closed:
            self._log.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_app_server(instance: AppInstance, *, workers: int = 1,
                     threads: int = 4) -> ServerProcess:
    """gunicorn serving create_app() on 127.0.0.1:instance.port, as deploy/README.md runs it."""
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{instance.port}",
            "--workers", str(workers), "--threads", str(threads), "--graceful-timeout", "3",
            "--access-logfile", "-", "--error-logfile", "-", "app:create_app()"]
    log = instance.directory / f"app-{next(_numbers)}.log"
    server = ServerProcess("l'application", argv, instance.environment(), log)
    server.wait_until(f"{instance.url}/connexion")
    return server


def start_scheduler(instance: AppInstance) -> ServerProcess:
    """``flask --app app scheduler`` for the instance (the background jobs), as
    deploy/README.md runs it beside gunicorn; returns once its jobs have started."""
    argv = [sys.executable, "-m", "flask", "--app", "app", "scheduler"]
    log = instance.directory / f"scheduler-{next(_numbers)}.log"
    scheduler = ServerProcess("le planificateur", argv,
                              {**instance.environment(), "PYTHONUNBUFFERED": "1"}, log)
    scheduler.wait_for_output("Tâches de fond démarrées")
    return scheduler


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
        _restore_environment("SOFTHSM2_CONF", previous)


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


def operator_with_key(app, softhsm, *, label: str, roles: str = "AEA", pin: str = "1234"):
    """AE « BPOI » and its operator Camille Martin, whose SoftHSM2 key ``label`` logs her in.
    Returns (ae, operator, token)."""
    from tests.factories import make_ae, make_operator
    ae = make_ae("BPOI")
    operator = make_operator(ae, "Camille Martin", roles=roles)
    return ae, operator, make_operator_key(app, softhsm, operator, label=label, pin=pin)


def order_with_pieces(number: int, kinds, *, requester_email: str):
    """An order of the demo's « BPOI » at « à vérifier », holder Claire Durand, valid Contact
    OTP, with the demo's supporting documents ``kinds`` imported by the requester (call it inside
    ``instance.seeding()``, after seed_demo). Returns the order."""
    import datetime as dt

    from demo import documents as docs
    from models import AE
    from services.dossiers.documents import import_document
    from tests.factories import make_order

    company, legal = "Boileau Colbert Conseil", "Alice Colbert"
    pieces = {
        "kbis": lambda: docs.kbis_pdf(company, "434202180", "12 rue de la République, Toulouse",
                                      legal, dt.date(2012, 3, 14)),
        "holder_id": lambda: docs.id_card_image("Claire", "Durand", dt.date(1984, 2, 3),
                                                "X4RTBPFW4"),
        "legal_rep_id": lambda: docs.id_card_image("Alice", "Colbert", dt.date(1979, 9, 12),
                                                   "880692310285"),
        "payment_proof": lambda: docs.payment_proof_pdf(number, company, 249.0,
                                                        dt.date(2026, 1, 5)),
    }
    order = make_order(AE.get(AE.name == "BPOI"), number=number, first_name="Claire",
                       last_name="Durand", otp_contact="0612345678",
                       requester_email=requester_email)
    for kind in kinds:
        data = pieces[kind]()
        extension = "jpg" if data[:3] == b"\xff\xd8\xff" else "pdf"
        import_document(order, kind, f"{kind}.{extension}", data, actor_label="Demandeur")
    return order


# --- sites: the app, the bridge and what they serve ----------------------------------------

@contextlib.contextmanager
def operator_site(directory: Path, seed: Callable, *,
                  bridge: bool = True) -> Iterator[SimpleNamespace]:
    """The app on an empty database that ``seed(app, softhsm)`` fills (inside
    ``instance.seeding()``), served with the bridge holding the keys of ``softhsm`` (unless
    ``bridge`` is False: the test starts it). The site has ``instance``, ``server``,
    ``softhsm``, ``bridge`` and whatever ``seed`` returned as a dict."""
    from tests.softhsm import SoftHSM
    with AppInstance.create(directory) as instance:
        softhsm = SoftHSM(directory / "softhsm")
        with instance.seeding() as app:
            seeded = seed(app, softhsm)
        with start_app_server(instance) as server, \
                (start_bridge(instance, softhsm) if bridge else contextlib.nullcontext()) as process:
            yield SimpleNamespace(instance=instance, server=server, softhsm=softhsm,
                                  bridge=process, **seeded)


@dataclass
class DemoKeys:
    """The SoftHSM2 tokens seed_demo made in the instance folder (the bridge's keys)."""
    conf_path: Path
    module_path: str

    @property
    def environment(self) -> dict[str, str]:
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf_path),
                "PKCS11_MODULE": self.module_path}

    def serial(self, label: str) -> str:
        from token_bridge import provision
        return next(s for s, name in provision.softhsm_tokens(self.conf_path) if name == label)


@contextlib.contextmanager
def demo_site(directory: Path, prepare: Callable | None = None, *, order_count: int = 8,
              smtp: bool = False, pki_url: str | None = None) -> Iterator[SimpleNamespace]:
    """The demo (``order_count`` orders) served by the real app, with the bridge holding the
    demo keys. ``prepare(app, keys)``, run after seeding, returns a dict added to the site.
    With ``smtp``, e-mails go to a real SMTP server (tests.smtp_support, ``site.smtp``) and the
    outbox job runs every second. The site's ``serial`` is demo-aea's key."""
    from demo.seed import seed_demo, softhsm_conf_path
    from models import Operator
    from tests.smtp_support import SmtpServer

    saved_conf = os.environ.get("SOFTHSM2_CONF")  # seeding points it at the demo keys
    with contextlib.ExitStack() as stack:
        stack.callback(_restore_environment, "SOFTHSM2_CONF", saved_conf)
        server_smtp = stack.enter_context(SmtpServer()) if smtp else None
        extra_env = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(server_smtp.port),
                     "RADESK_SCHEDULER": "1", "RADESK_OUTBOX_INTERVAL_SECONDS": "1"} if smtp else {}
        instance = stack.enter_context(
            AppInstance.create(directory, pki_url=pki_url, extra_env=extra_env))
        with instance.seeding() as app:
            # The demo AEs, operators and keys; without demo.lifecycle's certificates of last
            # year, whose expiry reminders the tests counting e-mails would receive.
            seed_demo(app, order_count=order_count, with_lifecycle=False)
            # The tests count the e-mails they cause: no digest of the demo's operators.
            Operator.update(digest_enabled=False).execute()
            keys = DemoKeys(softhsm_conf_path(instance.instance_path), app.config["PKCS11_MODULE"])
            prepared = prepare(app, keys) if prepare else {}
        server = stack.enter_context(start_app_server(instance))
        bridge = stack.enter_context(start_bridge(instance, keys))
        yield SimpleNamespace(instance=instance, server=server, bridge=bridge, keys=keys,
                              serial=keys.serial("demo-aea"), smtp=server_smtp,
                              directory=directory, **prepared)


def _restore_environment(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def pem(certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
