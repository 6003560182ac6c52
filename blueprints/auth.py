"""Connexion: login with the USB key through the local token bridge (challenge–response), or
with a TLS client certificate verified by a trusted reverse proxy; logout.

The PIN never reaches this server: login.js sends it to the bridge on 127.0.0.1 only, and the
server receives a signature over a nonce it issued. Checking certificates and proofs, and
auditing their outcome, is the job of services.operator_auth.login; this module handles HTTP,
the session (blueprints.common) and the refusals it decides itself (rate limit, untrusted
proxy, malformed request).
"""
from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit

from flask import (Blueprint, current_app, flash, jsonify, redirect, render_template, request,
                   session, url_for)
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from limits import parse as parse_limit

from blueprints.common import (current_certificate_fingerprint, current_operator,
                               end_operator_session, start_operator_session)
from extensions import client_ip, is_trusted_proxy, limiter, proxy_secret_presented
from services import audit
from services.operator_auth import sessions
from services.operator_auth.login import (METHOD_BRIDGE, METHOD_PROXY, LoginRefused,
                                          issue_login_nonce, login_with_bridge_proof,
                                          login_with_proxy_certificate)

bp = Blueprint("auth", __name__)
log = logging.getLogger("radesk.auth")

RATE_LIMITED = "Trop de tentatives de connexion. Réessayez dans une minute."
UNTRUSTED_PROXY = ("En-têtes de certificat refusés : cette adresse n'est pas un mandataire "
                   "de confiance.")
NO_PROXY_HERE = ("La connexion par certificat passe par le serveur mandataire TLS de l'AE, "
                 "absent ici. Connectez-vous avec votre clé USB et son code PIN.")
NO_CLIENT_CERTIFICATE = ("Aucun certificat client n'a été présenté. Insérez votre clé USB, "
                         "choisissez son certificat quand le navigateur le demande, puis "
                         "réessayez.")
PROXY_VERIFY_FAILED = "Le serveur mandataire a refusé votre certificat client."
PROXY_LOGIN_OFF = ("La connexion par certificat n'est pas activée sur ce serveur. Connectez-vous "
                   "avec votre clé USB et son code PIN.")
MALFORMED_PROOF = "Réponse de la clé USB incomplète ou illisible : réessayez."
ORIGIN_MISSING = "Origine de la page inconnue : rechargez la page de connexion et réessayez."
NONCE_MISMATCH = "Défi de connexion expiré ou inconnu : réessayez."
PAGE_EXPIRED = "La page a expiré : rechargez-la puis réessayez."
LOGGED_OUT = "Vous êtes déconnecté."
SESSION_EXPIRED = "Session expirée après inactivité : reconnectez-vous."
SESSION_TOO_OLD = "Session expirée : sa durée maximale est atteinte, reconnectez-vous."
EXPIRED_NOTICES = {sessions.IDLE: SESSION_EXPIRED, sessions.MAX_AGE: SESSION_TOO_OLD}

# What login.js may report when no proof can be made on this workstation.
BRIDGE_PROBLEMS = ("bridge_unavailable", "no_key")
PROOF_TEXT_FIELDS = ("nonce", "certificate_pem", "signature", "algorithm")
MAX_CHAIN = 4
# A flood of refused requests must not become a flood of audit writes (each one serialises on
# the chain head): one event per client address and minute is enough to see the attack.
AUDIT_BREACH_ONCE = parse_limit("1 per minute")


login_rate_limit = limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"],
                                 key_func=client_ip)


# --- helpers ----------------------------------------------------------------------

def _next_url(candidate) -> str:
    """Back to the page that asked for a login, but only a path on this site."""
    if (isinstance(candidate, str) and candidate.startswith("/")
            and not candidate.startswith("//") and "\\" not in candidate
            and candidate.isprintable()):
        parts = urlsplit(candidate)
        if not parts.scheme and not parts.netloc:
            return candidate
    return url_for("orders.list_orders")


def _login_page(*, notice: str | None = None, error: str | None = None, status: int = 200):
    next_url = request.args.get("next")
    page = render_template("auth/login.html", notice=notice, error=error,
                           next_url=next_url if _next_url(next_url) == next_url else None)
    return page, status


def _refuse(code: str, method: str, ip: str) -> None:
    audit.record("login_refused", details={"code": code, "method": method}, ip=ip)


def _proxy_secret_problem() -> str | None:
    """The trusted address is shared by every process on the proxy's host: only the secret
    nginx adds to each request (RADESK_PROXY_SECRET) shows that nginx did the handshake."""
    configured = current_app.config.get("RADESK_PROXY_SECRET")
    if not configured:
        log.warning("Connexion par certificat refusée : RADESK_PROXY_SECRET n'est pas défini, "
                    "la connexion par le mandataire TLS est désactivée (deploy/README.md).")
        return "proxy_secret_unset"
    if not proxy_secret_presented():
        return "proxy_secret_mismatch"
    return None


def _json_refusal(code: str, message: str, ip: str):
    _refuse(code, "bridge", ip)
    return jsonify(message=message), 403


def _bridge_proof(payload) -> dict | None:
    """The proof fields as the service expects them, or None when the body is malformed."""
    if not isinstance(payload, dict):
        return None
    proof = {name: payload.get(name) for name in PROOF_TEXT_FIELDS}
    chain = payload.get("chain_pem") or []
    if not all(isinstance(value, str) and value for value in proof.values()):
        return None
    if not isinstance(chain, list) or len(chain) > MAX_CHAIN \
            or not all(isinstance(pem, str) for pem in chain):
        return None
    proof["signature_b64"] = proof.pop("signature")
    proof["chain_pem"] = chain
    return proof


# --- pages ------------------------------------------------------------------------

@bp.get("/")
def index():
    if current_operator() is not None:
        return redirect(url_for("orders.list_orders"))
    return redirect(url_for("auth.login"))


@bp.get("/connexion")
def login():
    if current_operator() is not None:
        return redirect(_next_url(request.args.get("next")))
    # common.py leaves this mark when it ended an idle or too old session.
    return _login_page(notice=EXPIRED_NOTICES.get(session.pop("expired", None)))


@bp.post("/connexion/defi")
@login_rate_limit
def challenge():
    nonce = issue_login_nonce()
    # The proof is accepted only from the browser session that asked for its nonce.
    session["login_nonce"] = nonce
    return jsonify(nonce=nonce)


@bp.post("/connexion/cle")
@login_rate_limit
def key_login():
    payload = request.get_json(silent=True)
    proof, ip = _bridge_proof(payload), client_ip()
    expected_nonce = session.pop("login_nonce", None)
    if proof is None:
        return _json_refusal("malformed_proof", MALFORMED_PROOF, ip)
    # Browsers always send Origin on POST; without it the signed message cannot be rebuilt.
    origin = request.headers.get("Origin")
    if not origin:
        return _json_refusal("origin_missing", ORIGIN_MISSING, ip)
    if proof["nonce"] != expected_nonce:
        return _json_refusal("nonce_mismatch", NONCE_MISMATCH, ip)
    try:
        result = login_with_bridge_proof(origin=origin, ip=ip, **proof)
    except LoginRefused as refused:
        return jsonify(message=refused.message), 403
    # A key enrolled here and still on its initial PIN: the operator chooses theirs first.
    from blueprints.operator_keys import first_pin_answer
    asked = first_pin_answer(result.fingerprint, origin, ip, payload.get("next"))
    if asked is not None:
        return asked
    start_operator_session(result.operator, result.fingerprint, METHOD_BRIDGE)
    return jsonify(redirect=_next_url(payload.get("next")))


@bp.post("/connexion/pont-indisponible")
@login_rate_limit
def bridge_unavailable():
    """login.js could not get a proof at all: no bridge running, or no key plugged in."""
    payload = request.get_json(silent=True)
    code = payload.get("code") if isinstance(payload, dict) else None
    _refuse(code if code in BRIDGE_PROBLEMS else "bridge_unavailable", "bridge", client_ip())
    return "", 204


@bp.get("/connexion/certificat")
@login_rate_limit
def certificate_login():
    ip = client_ip()
    verify = request.headers.get("X-SSL-Client-Verify", "")
    escaped_pem = request.headers.get("X-SSL-Client-Cert", "")
    if not is_trusted_proxy(request.remote_addr):
        # Anyone can send these headers: only the configured proxy's word counts.
        forged = bool(verify or escaped_pem)
        _refuse("untrusted_proxy" if forged else "no_proxy", "proxy", ip)
        return _login_page(error=UNTRUSTED_PROXY if forged else NO_PROXY_HERE, status=403)
    secret_problem = _proxy_secret_problem()
    if secret_problem is not None:
        _refuse(secret_problem, "proxy", ip)
        off = secret_problem == "proxy_secret_unset"
        return _login_page(error=PROXY_LOGIN_OFF if off else UNTRUSTED_PROXY, status=403)
    if verify != "SUCCESS" or not escaped_pem:
        code = "no_client_certificate" if verify in ("", "NONE") else "proxy_verify_failed"
        _refuse(code, "proxy", ip)
        message = NO_CLIENT_CERTIFICATE if code == "no_client_certificate" else PROXY_VERIFY_FAILED
        return _login_page(error=message, status=403)
    try:
        result = login_with_proxy_certificate(certificate_pem=unquote(escaped_pem), ip=ip)
    except LoginRefused as refused:
        return _login_page(error=refused.message, status=403)
    start_operator_session(result.operator, result.fingerprint, METHOD_PROXY)
    return redirect(_next_url(request.args.get("next")))


@bp.post("/deconnexion")
def logout():
    operator = current_operator()
    if operator is not None:
        audit.record("logout", operator=operator, ip=client_ip(),
                     details={"certificate_sha256": current_certificate_fingerprint()})
    end_operator_session()
    flash(LOGGED_OUT, "success")
    return redirect(url_for("auth.login"))


# --- errors -----------------------------------------------------------------------

def _wants_json() -> bool:
    return request.method == "POST" and request.endpoint != "auth.logout"


@bp.errorhandler(RateLimitExceeded)
def rate_limited(error):
    ip = client_ip()
    # Under the installation's key prefix, as Flask-Limiter's own counters (a shared Redis).
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    if limiter.limiter.hit(AUDIT_BREACH_ONCE, prefix, "login_rate_limited_audit", ip):
        audit.record("login_rate_limited", ip=ip, details={"endpoint": request.endpoint})
    if _wants_json():
        return jsonify(message=RATE_LIMITED), 429
    return _login_page(error=RATE_LIMITED, status=429)


@bp.errorhandler(CSRFError)
def csrf_refused(error):
    # login.js shows `message`; a stale logout form gets a page saying what to do.
    if _wants_json():
        return jsonify(message=PAGE_EXPIRED), 400
    return render_template("errors/error.html", title="Requête refusée", message=PAGE_EXPIRED), 400
