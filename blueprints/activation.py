"""The holder's activation page, opened from the link e-mailed at hand-over (no login: the
link and the one-time code sent to the Contact OTP stand for the holder).

Step 1, a plain form: the one-time code. Once accepted, this browser session may, for a while,
fetch the signed instruction with which activation.js has the token bridge replace the key's
activation PIN by the holder's own; the page then reports it and the order is « Terminée ».
"""
from __future__ import annotations

import time

from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template,
                   request, session, url_for)
from flask_limiter.errors import RateLimitExceeded

from blueprints.link_pages import protect_link_pages
from extensions import client_ip, limiter
from services.certificates import activation
from services.certificates.activation import ACTIVATION_PATH
from workflow import Refused

bp = Blueprint("activation", __name__, url_prefix=ACTIVATION_PATH)

PAGE = "activation/page.html"
SESSION_KEY = "activations_verified"  # {activation id: time the code was accepted here}
CODE_SENT = "Un nouveau code d'activation vous a été envoyé."
CODE_ACCEPTED = "Code accepté. Choisissez maintenant le code PIN personnel de votre clé."
TOO_MANY = "Trop de tentatives depuis cette adresse : réessayez dans une minute."

code_rate_limit = limiter.limit("10 per minute", key_func=client_ip)
protect_link_pages(bp, "followup/message.html", "une minute")


def _activation_or_404(secret: str):
    found = activation.by_link(secret)
    if found is None:
        abort(404)
    return found


def _verified_here(found) -> bool:
    """The code was accepted in this browser session, and not too long ago."""
    accepted = (session.get(SESSION_KEY) or {}).get(str(found.id))
    return (accepted is not None and activation.is_verified(found)
            and time.time() - accepted <= activation.VERIFIED_TTL.total_seconds())


def _page(secret: str, found, *, error: str | None = None, status: int = 200):
    return render_template(PAGE, secret=secret, activation=found, order=found.order,
                           problem=activation.link_problem(found), error=error,
                           verified=_verified_here(found), masked=activation.mask(found.recipient),
                           max_tries=activation.CODES.max_tries), status


@bp.errorhandler(Refused)
def refused(refusal: Refused):
    """Said where the holder acted: the page's script gets JSON, the new-code button a message
    on the page, the code form the page with the error next to the code."""
    secret = request.view_args["secret"]
    if request.is_json:
        return jsonify(message=refusal.message), 409
    if request.endpoint == "activation.new_code":
        flash(refusal.message, "error")
        return redirect(url_for(".page", secret=secret), 303)
    return _page(secret, activation.by_link(secret), error=refusal.message, status=400)


def _verified_or_refused(found) -> None:
    if not _verified_here(found):
        raise Refused("Saisissez d'abord le code d'activation reçu.", "not_verified")


@bp.get("/<secret>")
def page(secret: str):
    found = _activation_or_404(secret)
    return _page(secret, found, status=410 if activation.link_problem(found) else 200)


@bp.post("/<secret>/code")
@code_rate_limit
def check_code(secret: str):
    found = _activation_or_404(secret)
    activation.verify_code(current_app, found, request.form.get("code"), ip=client_ip())
    verified = dict(session.get(SESSION_KEY) or {})
    verified[str(found.id)] = time.time()
    session[SESSION_KEY] = verified
    flash(CODE_ACCEPTED, "success")
    return redirect(url_for(".page", secret=secret), 303)


@bp.post("/<secret>/nouveau-code")
@code_rate_limit
def new_code(secret: str):
    found = _activation_or_404(secret)
    activation.send_code(current_app, found, ip=client_ip())
    flash(CODE_SENT, "success")
    return redirect(url_for(".page", secret=secret), 303)


@bp.post("/<secret>/instruction")
def instruction(secret: str):
    found = _activation_or_404(secret)
    _verified_or_refused(found)
    signed = activation.instruction(current_app, found, request.headers.get("Origin"))
    return jsonify(signed.as_json())


@bp.post("/<secret>/terminee")
def completed(secret: str):
    found = _activation_or_404(secret)
    _verified_or_refused(found)
    activation.complete(current_app, found, ip=client_ip())
    return jsonify(message="Votre clé est activée : elle s'ouvre désormais avec le code PIN que "
                           "vous venez de choisir. Vous pouvez fermer cette page.")


@bp.errorhandler(RateLimitExceeded)
def rate_limited(error):
    found = activation.by_link(request.view_args.get("secret", "")) if request.view_args else None
    if found is None:  # an unknown link: the message alone
        return render_template("followup/message.html", title="Trop de demandes",
                               message=TOO_MANY), 429
    return _page(request.view_args["secret"], found, error=TOO_MANY, status=429)
