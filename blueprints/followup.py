"""The requester's follow-up page (« page de suivi »), opened from the link in their e-mails:
no operator login, the signed link is the key (services.messaging.followup). It shows the order's state
and what is missing, and lets the requester correct their information and upload pieces.

Every endpoint answers an HTMX request with the block it replaces and a plain request with the
whole page (or a redirect after a change), so the page works without JavaScript.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from jinja2_fragments.flask import render_blocks

import scheduler
import workflow
from extensions import client_ip, limiter
from services.messaging import followup
from adapters.document_store import RefusedDocument
from services.dossiers.documents import document_store

bp = Blueprint("followup", __name__, url_prefix="/suivi")

PAGE = "followup/page.html"
UPLOAD_MARGIN = 64 * 1024  # the multipart envelope around the file
requester_limit = limiter.limit("60 per hour", key_func=client_ip)


@bp.after_request
def private(response):
    # The link is a key: not cached, not indexed, never sent on as a Referer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.errorhandler(429)
def too_many(error):
    return render_template("followup/message.html", title="Trop de demandes",
                           message="Trop de demandes depuis votre connexion : patientez quelques "
                                   "minutes avant de réessayer."), 429


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _refusal(check: followup.LinkCheck | None, token: str):
    """The page shown instead of the order's: invalid (404) or expired (410) link."""
    if check is None:
        return render_template("followup/message.html", title="Lien de suivi invalide",
                               message=followup.InvalidLink.message), 404
    return render_template("followup/expired.html", token=token), 410


def _order(token: str):
    """(order, None) for a valid link; (None, response) otherwise."""
    try:
        check = followup.check_link(current_app, token)
        if check.expired:
            return None, _refusal(check, token)
        return followup.order_of(check), None
    except followup.InvalidLink:
        return None, _refusal(None, token)


@bp.get("/<token>")
def show(token: str):
    order, refusal = _order(token)
    if refusal:
        return refusal
    return render_template(PAGE, **followup.page(order, token))


@bp.post("/<token>/informations")
@requester_limit
def update_information(token: str):
    order, refusal = _order(token)
    if refusal:
        return refusal
    values = followup.clean_information(request.form)
    problems = followup.information_problems(values)
    message = None
    if not problems:
        try:
            changed = followup.update_information(order, values, ip=client_ip())
            message = ("Vos informations sont enregistrées." if changed
                       else "Aucune modification : vos informations sont inchangées.")
        except workflow.Refused as refused:
            problems = {"": " ".join(refused.reasons)}
    return _answer(order, token, "information", "vos-informations", message, problems,
                   values if problems else None)


@bp.post("/<token>/pieces")
@requester_limit
def upload(token: str):
    order, refusal = _order(token)
    if refusal:
        return refusal
    kind, problem, message = "", None, None
    store = document_store()
    if (request.content_length or 0) > store.max_bytes + UPLOAD_MARGIN:
        problem = f"Fichier trop volumineux (maximum {store.max_bytes // (1024 * 1024)} Mo)."
    else:
        kind, upload_file = request.form.get("piece", ""), request.files.get("fichier")
        data = upload_file.read(store.max_bytes + 1) if upload_file else b""
        try:
            if not upload_file or not upload_file.filename:
                raise RefusedDocument("Choisissez un fichier à déposer.")
            document = followup.upload_document(order, kind, upload_file.filename, data,
                                                ip=client_ip())
            message = (f"Pièce reçue : {workflow.document_kind_label(kind)} "
                       f"(« {document.filename} »). Merci !")
        except RefusedDocument as refused:
            problem = refused.message
        except workflow.Refused as refused:
            problem = " ".join(refused.reasons)
    return _answer(order, token, "pieces", "vos-pieces", message,
                   {"fichier": problem} if problem else {}, {"piece": kind} if problem else None)


def _answer(order, token: str, block: str, anchor: str, message, problems, submitted):
    """HTMX: the changed block (with « what is missing » out of band); plain: redirect or page."""
    if _is_htmx():
        context = followup.page(order, token, message=message, problems=problems,
                                submitted=submitted, changed_block=block)
        return render_blocks(PAGE, [block, "expected"], **context, out_of_band=True)
    if not problems:
        flash(message, "success")
        return redirect(url_for(".show", token=token, _anchor=anchor), 303)
    context = followup.page(order, token, message=message, problems=problems,
                            submitted=submitted, changed_block=block)
    return render_template(PAGE, **context), 422


@bp.post("/renouveler")
@limiter.limit("5 per hour", key_func=client_ip)
def renew():
    """A new link, sent to the order's own address, for an expired (or lost) one."""
    token = request.form.get("jeton", "")
    try:
        order = followup.order_of(followup.check_link(current_app, token))
    except followup.InvalidLink:
        return _refusal(None, token)
    try:
        notification = followup.renew_link(order, sender=current_app.config["MAIL_DEFAULT_SENDER"],
                                           ip=client_ip())
    except workflow.Refused as refused:
        return render_template("followup/message.html", title="Nouveau lien de suivi",
                               message=" ".join(refused.reasons))
    scheduler.wake(current_app)
    return render_template("followup/message.html", title="Nouveau lien de suivi",
                           message=f"Un nouveau lien vers la page de suivi de la commande "
                                   f"N° {order.number} vient d'être envoyé à "
                                   f"{followup.mask_address(notification.recipient)}. "
                                   f"Il arrive dans quelques minutes.")
