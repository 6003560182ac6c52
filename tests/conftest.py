"""Shared fixtures: a fresh database per test (SQLite file, or PostgreSQL when
TEST_DATABASE_URL names one), the app, its client and CLI runner, and small
factories for tenants, operators and orders."""
from __future__ import annotations

import hashlib
import itertools
import os
import re
import uuid

import peewee
import pytest

from app import create_app
from database import close_pooled_connections
from models import (AE, Company, Operator, OperatorCertificate, OperatorPortal, Order, Person,
                    Portal, db, holder_search_fields, utcnow)

PG_BASE_URL = os.environ.get("TEST_DATABASE_URL", "")


@pytest.fixture(scope="session")
def pg_database_url():
    """A throwaway PostgreSQL database for this test session (when asked for)."""
    if not PG_BASE_URL.startswith("postgres"):
        yield None
        return
    admin = peewee.PostgresqlDatabase(None)
    admin.init(**_pg_params(PG_BASE_URL))
    name = f"radesk_test_{uuid.uuid4().hex[:10]}"
    admin.connect()
    admin.execute_sql(f'CREATE DATABASE "{name}"')
    admin.close()
    yield PG_BASE_URL.rsplit("/", 1)[0] + "/" + name
    admin.connect()
    admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _pg_params(url: str) -> dict:
    from playhouse.db_url import parseresult_to_dict
    from urllib.parse import urlparse
    return parseresult_to_dict(urlparse(url))


def fresh_database_url(folder, pg_database_url) -> str:
    """An empty database: a new SQLite file, or the session's PostgreSQL database emptied."""
    if pg_database_url is None:
        return f"sqlite:///{folder / 'radesk.db'}"
    conn = peewee.PostgresqlDatabase(None)
    conn.init(**_pg_params(pg_database_url))
    conn.connect()
    conn.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    conn.close()
    return pg_database_url


@pytest.fixture
def database_url(tmp_path, pg_database_url):
    return fresh_database_url(tmp_path, pg_database_url)


def make_test_app(folder, database_url):
    return create_app({
        "TESTING": True,
        "INSTANCE_PATH": folder / "instance",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "RADESK_PUBLIC_URL": "http://localhost",
    })


@pytest.fixture
def app(tmp_path, database_url):
    app = make_test_app(tmp_path, database_url)
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


# --- factories -------------------------------------------------------------

_numbers = itertools.count(1)


@pytest.fixture
def make_ae():
    def make(name="BPOI", portals=("BPOI-Occitanie", "BPOI-Rhône")):
        ae = AE.create(name=name)
        for portal in portals:
            Portal.create(ae=ae, name=portal)
        return ae
    return make


@pytest.fixture
def make_operator():
    def make(ae, roles="AEA", name=None, portals=None, email=None):
        operator = Operator.create(ae=ae, display_name=name or f"Opérateur {next(_numbers)}",
                                   roles=roles, all_portals=portals is None,
                                   email=email or f"op{next(_numbers)}@example.org")
        for portal in portals or ():
            OperatorPortal.create(operator=operator, portal=portal)
        fingerprint = hashlib.sha256(f"cert-{operator.id}-{uuid.uuid4()}".encode()).hexdigest()
        OperatorCertificate.create(operator=operator, fingerprint_sha256=fingerprint,
                                   subject=f"CN={operator.display_name}", issuer="CN=Test CA",
                                   serial_hex="01", not_after=utcnow().replace(year=2099), pem="")
        return operator
    return make


@pytest.fixture
def make_order():
    def make(ae, portal=None, number=None, phase="validation", substate="to_check",
             first_name="Sandra", last_name="Boileau", siren="434202180", **fields):
        portal = portal or Portal.select().where(Portal.ae == ae).order_by(Portal.id).first()
        company = Company.create(ae=ae, name="Société Exemple", siren=siren)
        holder = Person.create(ae=ae, civility="Mme", first_name=first_name, last_name=last_name,
                               email="porteur@example.org", phone="0612345678")
        legal = Person.create(ae=ae, civility="M.", first_name="Alain", last_name="Colbert",
                              email="rl@example.org")
        return Order.create(number=number or 950000 + next(_numbers), ae=ae, portal=portal,
                            company=company, holder=holder, legal_representative=legal,
                            phase=phase, substate=substate,
                            **holder_search_fields(first_name, last_name), **fields)
    return make


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
