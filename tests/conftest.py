"""Shared fixtures: a fresh database per test (SQLite file, or PostgreSQL when
TEST_DATABASE_URL names one), the app, its client and CLI runner, and the factories for
tenants, operators and orders (tests/factories.py). The browser tests' fixtures are in
tests/browser_fixtures.py, loaded here as a plugin."""
from __future__ import annotations

import re

import pytest
from playhouse.db_url import connect

from app import create_app
from database import close_pooled_connections
from models import db
from tests import factories
from tests.e2e_support import PG_BASE_URL, throwaway_postgres
from tests.softhsm import SoftHSM

pytest_plugins = ("tests.browser_fixtures",)


@pytest.fixture(scope="session")
def pg_database_url():
    """A throwaway PostgreSQL database for this test session (when asked for)."""
    if not PG_BASE_URL.startswith("postgres"):
        yield None
        return
    with throwaway_postgres(PG_BASE_URL, "radesk_test") as url:
        yield url


def fresh_database_url(folder, pg_database_url, *, keep_schema: bool = False) -> str:
    """An empty database: a new SQLite file, or the session's PostgreSQL database emptied.
    ``keep_schema`` (the app's tests): truncated when its schema is the models' own — building
    44 tables again costs a second a test on PostgreSQL; else (migration tests) no table."""
    if pg_database_url is None:
        return f"sqlite:///{folder / 'radesk.db'}"
    conn = connect(pg_database_url)
    with conn.connection_context():
        if not (keep_schema and _truncated(conn)):
            conn.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    return pg_database_url


def _truncated(conn) -> bool:
    """Empty every table of a schema that has exactly the models' columns at the latest
    version, and put back the rows a new database starts with (database._migrate)."""
    from database import LATEST_VERSION
    from models import ALL_MODELS
    expected = {(model._meta.table_name, field.column_name)
                for model in ALL_MODELS for field in model._meta.sorted_fields}
    found = set(conn.execute_sql("SELECT table_name, column_name FROM information_schema.columns "
                                 "WHERE table_schema = 'public'").fetchall())
    if found != expected:
        return False
    version = conn.execute_sql("SELECT version FROM schema_version WHERE id = 1").fetchone()
    if version is None or version[0] != LATEST_VERSION:
        return False
    tables = sorted({table for table, _ in found})
    conn.execute_sql("TRUNCATE " + ", ".join(f'"{table}"' for table in tables)
                     + " RESTART IDENTITY CASCADE")
    conn.execute_sql("INSERT INTO schema_version (id, version, migrated_at) "
                     "VALUES (1, %s, now())", (LATEST_VERSION,))
    conn.execute_sql("INSERT INTO audit_head (id, seq, last_hash) VALUES (1, 0, %s)",
                     ("0" * 64,))
    conn.execute_sql("INSERT INTO order_counter (id, last) VALUES (1, 960000)")
    return True


@pytest.fixture
def database_url(request, tmp_path, pg_database_url):
    """The test's database; emptied here unless the test's app does it (keeping the schema)."""
    if "app" in request.fixturenames:
        return _app_database_url(tmp_path, pg_database_url)
    return fresh_database_url(tmp_path, pg_database_url)


def _app_database_url(tmp_path, pg_database_url) -> str:
    return (f"sqlite:///{tmp_path / 'radesk.db'}" if pg_database_url is None
            else pg_database_url)


def make_test_app(folder, database_url):
    return create_app({
        "TESTING": True,
        "INSTANCE_PATH": folder / "instance",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "RADESK_PUBLIC_URL": "http://localhost",
    })


@pytest.fixture
def app(tmp_path, pg_database_url):
    app = make_test_app(tmp_path, fresh_database_url(tmp_path, pg_database_url,
                                                     keep_schema=True))
    db.connect(reuse_if_open=True)
    yield app
    if not db.is_closed():
        db.close()
    close_pooled_connections(db.obj)  # PostgreSQL counts the connections a finished test keeps


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- factories (tests/factories.py) ----------------------------------------------------

@pytest.fixture
def make_ae():
    return factories.make_ae


@pytest.fixture
def make_operator():
    return factories.make_operator


@pytest.fixture
def make_order():
    return factories.make_order


# --- the usual tenant, and USB keys ----------------------------------------------------------

@pytest.fixture
def bpoi(make_ae):
    """AE « BPOI » and its two portals."""
    return make_ae("BPOI")


@pytest.fixture
def aet(bpoi, make_operator):
    """Julien Roux, who generates BPOI's certificates."""
    return make_operator(bpoi, roles="AET", name="Julien Roux")


@pytest.fixture
def softhsm(tmp_path, monkeypatch):
    """Real SoftHSM2 USB keys of this test's own (tests/softhsm.py)."""
    return SoftHSM.start(tmp_path / "softhsm", monkeypatch)


def login_as(client, operator) -> str:
    """Test shortcut around the USB-key login (which has its own tests): a login session of the
    operator's certificate, and Flask-Login's cookie key naming it. Returns its token."""
    from services.operator_auth.sessions import open_session

    certificate = operator.certificates.get()
    _, token = open_session(operator, certificate.fingerprint_sha256, method="bridge")
    with client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True
    return token


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page carries no CSRF token"
    return match.group(1)
