"""Pooled connections (database.open_database): a connection handed back after a request is
reused by the next one, keeps SQLite's pragmas, and never carries a transaction over."""
from __future__ import annotations

import peewee
import pytest
from playhouse.pool import PooledDatabase

from models import AE, Portal, db


def _request(app, path="/connexion"):
    """One request's connection life: opened by before_request, handed back at teardown."""
    with app.test_request_context(path):
        app.preprocess_request()
        connection = db.connection()
        app.do_teardown_request()
    return connection


def test_the_next_request_reuses_the_connection_handed_back(app):
    db.close()
    assert isinstance(db.obj, PooledDatabase)
    first = _request(app)
    assert db.is_closed()  # handed back to the pool, not left open on the thread
    assert _request(app) is first


def test_a_reused_sqlite_connection_still_enforces_foreign_keys(app):
    if not isinstance(db.obj, peewee.SqliteDatabase):
        pytest.skip("SQLite pragmas")
    db.close()
    _request(app)
    with app.test_request_context("/connexion"):
        app.preprocess_request()
        with pytest.raises(peewee.IntegrityError):
            Portal.create(ae=987654, name="Portail sans AE")
        app.do_teardown_request()


def test_a_transaction_left_open_by_a_request_is_rolled_back_before_reuse(app):
    db.close()
    with app.test_request_context("/connexion"):
        app.preprocess_request()
        db.begin()
        AE.create(name="AE jamais validée")
        app.do_teardown_request()  # the view failed before committing
    with app.test_request_context("/connexion"):
        app.preprocess_request()
        assert AE.select().where(AE.name == "AE jamais validée").count() == 0
        app.do_teardown_request()
