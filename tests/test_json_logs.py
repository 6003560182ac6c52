"""Request ids and JSON logs: every request gets an id (the incoming X-Request-Id when
well-formed), returned in that header; with RADESK_LOG_FORMAT=json each log line is one JSON
object carrying it. The default format stays Python's own."""
from __future__ import annotations

import json
import logging
import re

import peewee
import pytest
from pythonjsonlogger.json import JsonFormatter

from adapters import json_logs
from app import create_app
from database import close_pooled_connections
from models import db

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_app(app):
    """The test's app again, with RADESK_LOG_FORMAT=json; the root logger put back after."""
    root = logging.getLogger()
    level = root.level
    db.close()
    close_pooled_connections(db.obj)
    settings = {key: app.config[key] for key in ("TESTING", "INSTANCE_PATH", "DATABASE_URL",
                                                 "SECRET_KEY", "RADESK_PUBLIC_URL")}
    yield create_app({**settings, "RADESK_LOG_FORMAT": "json"})
    for handler in [h for h in root.handlers if h.name == json_logs.HANDLER_NAME]:
        root.removeHandler(handler)
    root.setLevel(level)


def json_lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.strip()]


def test_every_request_gets_an_id_in_the_response(client):
    first, second = client.get("/connexion"), client.get("/connexion")
    assert HEX_ID.fullmatch(first.headers["X-Request-Id"])
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


@pytest.mark.parametrize("incoming", ["abc-123", "req_9f.2:1", "A" * 128])
def test_a_well_formed_incoming_id_is_kept(client, incoming):
    response = client.get("/connexion", headers={"X-Request-Id": incoming})
    assert response.headers["X-Request-Id"] == incoming


@pytest.mark.parametrize("incoming", ["", "-abc", "a b", 'x"}{"level": "ERROR', "A" * 129,
                                      "é-accentué"])
def test_a_malformed_incoming_id_is_replaced(client, incoming):
    response = client.get("/connexion", headers={"X-Request-Id": incoming})
    assert HEX_ID.fullmatch(response.headers["X-Request-Id"])


def test_json_lines_carry_the_request_id(json_app, capsys):
    capsys.readouterr()
    response = json_app.test_client().get("/sante", headers={"X-Request-Id": "essai-42"})
    assert response.status_code == 503  # no scheduler ever ran: a warning is logged

    lines = json_lines(capsys.readouterr().err)
    warning = next(line for line in lines if line["logger"] == "radesk.health")
    assert warning["level"] == "WARNING"
    assert warning["message"].startswith("Contrôle de santé : En échec : planificateur — ")
    assert warning["request_id"] == "essai-42" == response.headers["X-Request-Id"]
    assert set(warning) >= {"time", "level", "logger", "message", "request_id"}
    assert warning["time"].endswith("+00:00")


def test_every_line_of_a_request_has_its_id(json_app, capsys, monkeypatch):
    """A database that does not answer: the error with its traceback, then the summary."""
    def refused():
        raise peewee.OperationalError("connection refused")

    monkeypatch.setattr(db.obj, "_connect", refused)
    capsys.readouterr()
    response = json_app.test_client().get("/sante")
    assert response.status_code == 503

    lines = [line for line in json_lines(capsys.readouterr().err)
             if line["logger"] == "radesk.health"]
    assert [line["level"] for line in lines] == ["ERROR", "WARNING"]
    assert "OperationalError: connection refused" in lines[0]["exc_info"]
    assert {line["request_id"] for line in lines} == {response.headers["X-Request-Id"]}


def test_lines_outside_a_request_have_no_id(json_app, capsys):
    capsys.readouterr()
    logging.getLogger("radesk.scheduler").warning("Tâche « essai » en erreur")
    (line,) = json_lines(capsys.readouterr().err)
    assert (line["message"], line["request_id"]) == ("Tâche « essai » en erreur", None)


def test_the_default_format_is_unchanged(client, caplog):
    response = client.get("/sante")
    assert "Contrôle de santé : En échec" in caplog.text
    assert response.headers["X-Request-Id"]
    assert not any(handler.name == json_logs.HANDLER_NAME
                   or isinstance(handler.formatter, JsonFormatter)
                   for handler in logging.getLogger().handlers)
