"""Log lines as JSON objects (python-json-logger), one per line, when RADESK_LOG_FORMAT=json:
time, level, logger, message and the id of the request the line was written for.

The request id is kept in ``flask.g`` (blueprints.operations gives one to every request);
gunicorn's access lines, written after the response, take it from the response's
X-Request-Id header. ``gunicorn_logconfig`` is the same set-up for gunicorn's own loggers
(deploy/gunicorn.conf.py); the app installs it on the root logger when gunicorn has not.
"""
from __future__ import annotations

import logging
import re
import sys
import uuid

from flask import Flask, g, has_request_context
from pythonjsonlogger.json import JsonFormatter

HANDLER_NAME = "radesk_json"
REQUEST_ID_HEADER = "X-Request-Id"
# An incoming id is kept when it looks like one (a proxy's or a client's), else replaced: it
# goes into every log line of the request, so nothing that could forge a line gets in.
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_ACCESS_ATOM = "{x-request-id}o"  # gunicorn's access-log atom of that response header


def request_id_from(header: str | None) -> str:
    """The incoming X-Request-Id when well-formed, else a new random one."""
    if header and _WELL_FORMED.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record: the current request's, or the one gunicorn's access
    line carries, or None (a scheduled job, the start)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _current_request_id(record)
        return True


def _current_request_id(record: logging.LogRecord) -> str | None:
    if has_request_context():
        return g.get("request_id")
    if isinstance(record.args, dict) and _ACCESS_ATOM in record.args:
        value = record.args[_ACCESS_ATOM]
        return value if value and value != "-" else None
    return None


def json_formatter() -> JsonFormatter:
    return JsonFormatter("{levelname}{name}{message}{request_id}", style="{", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"},
                         json_ensure_ascii=False)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (a test capturing it, a redirect)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def gunicorn_logconfig() -> dict:
    """gunicorn's ``logconfig_dict``: its error and access loggers and the root logger (the
    app's) write JSON lines, the access lines with their response's request id."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"json": {"()": json_formatter}},
        "handlers": {
            HANDLER_NAME: {"class": "logging.StreamHandler", "formatter": "json",
                           "filters": ["request_id"], "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "json",
                       "filters": ["request_id"], "stream": "ext://sys.stdout"},
        },
        "root": {"level": "INFO", "handlers": [HANDLER_NAME]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [HANDLER_NAME], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
    }


def install(app: Flask) -> None:
    """RADESK_LOG_FORMAT=json: the root logger writes JSON lines to stderr (once per process;
    under gunicorn its logconfig did it already), and Flask's own handler is removed so the
    app's lines are not written twice."""
    from flask.logging import default_handler

    root = logging.getLogger()
    if not any(handler.name == HANDLER_NAME for handler in root.handlers):
        handler = StderrHandler()
        handler.name = HANDLER_NAME
        handler.setFormatter(json_formatter())
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
        if root.level > logging.INFO:
            root.setLevel(logging.INFO)
    app.logger.removeHandler(default_handler)
