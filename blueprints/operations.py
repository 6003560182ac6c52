"""What operations watch: « /sante » (health, no login, JSON) and « /metrics » (Prometheus,
to the loopback or a bearer token), and what every request gets for them — an id (accepted
from X-Request-Id when well-formed, returned in that header, carried by every log line) and
its count and duration by URL rule.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import time

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from flask_limiter.errors import RateLimitExceeded

import scheduler
from adapters import json_logs, metrics
from extensions import client_ip, limiter
from services import health

log = logging.getLogger("radesk.health")

bp = Blueprint("operations", __name__)

# Headers a reverse proxy adds: a request that carries one came through it, not from the
# loopback itself, even when the proxy runs on this host.
PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


def init_app(app: Flask) -> None:
    """The blueprint, the request hooks (before the app's own, which opens the database), and
    JSON logs when RADESK_LOG_FORMAT=json."""
    app.register_blueprint(bp)
    app.before_request(_start_request)
    app.after_request(_finish_request)
    if app.config.get("RADESK_LOG_FORMAT") == "json":
        json_logs.install(app)


def opens_database_itself(view):
    """The app's hook leaves the connection to this view: a database that does not answer is
    what it reports, not a reason to fail before it runs."""
    view.opens_database_itself = True
    return view


def _start_request():
    g.request_id = json_logs.request_id_from(request.headers.get(json_logs.REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()


def _finish_request(response):
    request_id = g.get("request_id") or json_logs.request_id_from(None)
    response.headers[json_logs.REQUEST_ID_HEADER] = request_id
    started = g.get("request_started")
    if started is not None:
        route = request.url_rule.rule if request.url_rule else metrics.UNMATCHED_ROUTE
        metrics.observe_request(route, request.method, response.status_code,
                                time.perf_counter() - started)
    return response


def _json(body: dict, status: int) -> Response:
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/sante")
@opens_database_itself
@limiter.limit(lambda: current_app.config["RADESK_HEALTH_RATE_LIMIT"], key_func=client_ip)
def sante():
    checks = health.run(current_app, scheduler.job_intervals(current_app))
    body, ok = health.summary(checks)
    if not ok:
        log.warning("Contrôle de santé : %s", body["message"])
    return _json(body, 200 if ok else 503)


@bp.errorhandler(RateLimitExceeded)
def too_many_checks(error):
    return _json({"status": "erreur",
                  "message": "Trop de contrôles de santé demandés : réessayez dans une minute."},
                 429)


@bp.get("/metrics")
@opens_database_itself
def prometheus_metrics():
    _refuse_unless_allowed()
    body, content_type = metrics.exposition()
    response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


def _refuse_unless_allowed() -> None:
    """A scraper on this host (the loopback, not through the proxy) or one with the bearer
    token RADESK_METRICS_TOKEN; without a token set, /metrics does not exist for others."""
    if _direct_loopback():
        return
    token = current_app.config.get("RADESK_METRICS_TOKEN")
    if not token:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
        abort(403)


def _direct_loopback() -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return address.is_loopback and not any(name in request.headers for name in PROXY_HEADERS)
