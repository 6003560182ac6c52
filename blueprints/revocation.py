"""« Révoquer mon certificat » (public, no login): the page a signed link opens
(``/revoquer/<token>``, from the follow-up page or the holder's activation e-mail). A code sent
to the Contact OTP proves the person; then the reason, a comment, the optional immediate
suspension, and « Demander la révocation » (services.certificates.revocation_requests).
Plain forms: the page works without JavaScript.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, make_response, render_template, request

import workflow
from blueprints.link_pages import protect_link_pages
from extensions import client_ip, limiter
from services.certificates import revocation_requests as requests_

bp = Blueprint("revocation", __name__, url_prefix="/revoquer")

PAGE = "revocation/page.html"
MESSAGE = "followup/message.html"
code_limit = limiter.limit("10 per hour", key_func=client_ip)
try_limit = limiter.limit("30 per hour", key_func=client_ip)

protect_link_pages(bp, MESSAGE, "quelques minutes")


def _target(token: str) -> requests_.Target:
    try:
        return requests_.open_link(current_app, token)
    except requests_.InvalidLink:
        abort(make_response(render_template(MESSAGE, title="Lien de révocation invalide",
                                            message=requests_.InvalidLink.message), 404))
    except requests_.RevokedLink:
        abort(make_response(render_template(MESSAGE, title="Lien de révocation révoqué",
                                            message=requests_.RevokedLink.message), 410))


def _page(target: requests_.Target, token: str, status: int = 200, **extra):
    claim = requests_.claim_of(target)
    context = dict(extra, target=target, order=target.order, token=token,
                   blockers=requests_.blockers(target),
                   contact=requests_.masked_contact(target.order),
                   code_sent=bool(claim and claim.code_hash),
                   choices=workflow.REVOCATION_CHOICES,
                   suspendable=workflow.SUSPENDABLE_CHOICES)
    context.setdefault("problems", [])
    context.update(extra)
    return render_template(PAGE, **context), status


@bp.get("/<token>")
def show(token: str):
    return _page(_target(token), token)


@bp.post("/<token>/code")
@code_limit
def send_code(token: str):
    target = _target(token)
    try:
        masked = requests_.send_code(current_app, target, ip=client_ip())
    except workflow.Refused as refusal:
        return _page(target, token, 422, problems=refusal.reasons)
    return _page(target, token, sent_to=masked)


@bp.post("/<token>/verification")
@try_limit
def verify(token: str):
    target = _target(token)
    try:
        proof = requests_.check_code(current_app, target, request.form.get("code"),
                                     ip=client_ip())
    except workflow.Refused as refusal:
        return _page(target, token, 422, problems=refusal.reasons)
    return _page(target, token, proof=proof)


@bp.post("/<token>/demande")
@try_limit
def submit(token: str):
    target = _target(token)
    form = request.form
    try:
        order = requests_.submit(current_app, target, proof=form.get("preuve"),
                                 choice=form.get("motif"), comment=form.get("commentaire", ""),
                                 suspend=form.get("suspendre") == "1", ip=client_ip())
    except workflow.Refused as refusal:
        proof = form.get("preuve") if requests_.proven_claim(target, form.get("preuve")) else None
        return _page(target, token, 422, problems=refusal.reasons, proof=proof,
                     submitted=form)
    return render_template("revocation/requested.html", order=order,
                           suspended=form.get("suspendre") == "1",
                           choice=workflow.choice_label(form.get("motif")))
