"""The requester's follow-up page (« page de suivi »), opened from the link in their e-mails:
no operator login, the signed link is the key (services.messaging.followup). It shows the order's state
and what is missing, and lets the requester correct their information and upload pieces.

Every endpoint answers an HTMX request with the block it replaces and a plain request with the
whole page (or a redirect after a change), so the page works without JavaScript.
"""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, make_response, redirect,
                   render_template, request, url_for)
from jinja2_fragments.flask import render_blocks

import workflow
from blueprints.link_pages import protect_link_pages
from blueprints.request_guards import accepts_upload
from extensions import client_ip, htmx, limiter
from models import Order, Portal
from services import public_links
from services.certificates import revocation_requests
from services.intake import drafts, submission
from services.messaging import followup, outbox
from adapters.document_store import RefusedDocument
from services.dossiers.documents import document_store
from workflow import ordering

bp = Blueprint("followup", __name__, url_prefix="/suivi")

PAGE = "followup/page.html"
MESSAGE = "followup/message.html"
UPLOAD_MARGIN = 64 * 1024  # the multipart envelope around the file
requester_limit = limiter.limit("60 per hour", key_func=client_ip)
# The page's forms: the block an answer replaces, the anchor a plain answer returns to, and
# the field a refusal is shown against.
FORMS = {"followup.update_information": ("information", "vos-informations", ""),
         "followup.upload": ("pieces", "vos-pieces", "file")}

protect_link_pages(bp, MESSAGE, "quelques minutes")


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """A change or a new link the requester may not have: said in the form they used."""
    if request.endpoint not in FORMS:
        return render_template(MESSAGE, title="Nouveau lien de suivi",
                               message=" ".join(refusal.reasons))
    block, _, field = FORMS[request.endpoint]
    token = request.view_args["token"]
    order = _order(token)
    submitted = (followup.clean_information(request.form) if block == "information"
                 else {"kind": request.form.get("kind", "")})
    return _answer(order, token, None, {field: " ".join(refusal.reasons)}, submitted)


def _revoked():
    """A link the AE revoked: says so, and nothing of the order (not even a new link)."""
    return make_response(render_template(MESSAGE, title="Lien de suivi révoqué",
                                         message=followup.RevokedLink.message), 410)


def _refusal(expired: bool, token: str):
    """The page shown instead of the order's: invalid (404) or expired (410) link."""
    if not expired:
        return make_response(render_template(MESSAGE, title="Lien de suivi invalide",
                                             message=followup.InvalidLink.message), 404)
    return make_response(render_template("followup/expired.html", token=token), 410)


def _order(token: str):
    """The order of a valid link; otherwise the request ends with the page that says why."""
    try:
        check = followup.check_link(current_app, token)
        order = followup.order_of(check)
        if check.expired:
            abort(_refusal(True, token))
        return order
    except followup.InvalidLink:
        abort(_refusal(False, token))
    except followup.RevokedLink:
        abort(_revoked())


@bp.get("/<token>")
def show(token: str):
    order = _order(token)
    return render_template(PAGE, **followup.page(order, token, **_draft_context(order)),
                           revocation_url=_revocation_url(order))


def _revocation_url(order) -> str | None:
    """« Révoquer mon certificat »: for an order whose certificate is written and valid."""
    serial = revocation_requests.current_serial(order)
    if serial is None:
        return None
    return url_for("revocation.show", token=revocation_requests.make_token(
        current_app.config["SECRET_KEY"], order, serial, workflow.ASKED_VIA_FOLLOWUP))


def _draft_context(order, problems=None) -> dict:
    """For an order still in « Saisie des informations »: what « Envoyer la commande » lacks,
    and whether its ordering page can take the requester back to the steps."""
    if order.phase != workflow.PHASE_ENTRY:
        return {"submission_problems": problems} if problems else {}
    portal = Portal.get_by_id(order.portal_id)
    return {"draft": True,
            "submission_blockers": submission.blockers(drafts_order(order), address_proven=True),
            "submission_problems": problems or [],
            "can_resume": portal.code is not None and portal.closed_at is None}


def drafts_order(order):
    return Order.with_people().where(Order.id == order.id).get()


@bp.post("/<token>/envoi")
@requester_limit
def submit(token: str):
    """« Envoyer la commande » of a draft: the link came by e-mail, so it proves the address."""
    order = _order(token)
    try:
        sent = submission.submit(current_app, order, address_proven=True,
                                 via=submission.VIA_FOLLOWUP_PAGE, ip=client_ip())
    except workflow.Refused as refusal:
        context = followup.page(order, token, **_draft_context(order, refusal.reasons))
        return render_template(PAGE, **context), 422
    flash(f"Votre commande N° {sent.number} est envoyée à l'Autorité d'Enregistrement "
          f"{sent.ae.name}. Un accusé de réception vient de vous être envoyé par e-mail.",
          "success")
    return redirect(url_for(".show", token=token), 303)


@bp.get("/<token>/reprendre")
def resume(token: str):
    """Back to the ordering page's steps for a draft (its summary says what is missing)."""
    order = _order(token)
    portal = Portal.get_by_id(order.portal_id)
    if order.phase != workflow.PHASE_ENTRY or portal.code is None or portal.closed_at is not None:
        return redirect(url_for(".show", token=token), 303)
    intake = drafts.intake_for(order)
    return redirect(url_for("ordering.step", code=portal.code,
                            token=drafts.make_token(current_app, intake),
                            step=ordering.STEP_SUMMARY), 303)


@bp.post("/<token>/informations")
@requester_limit
def update_information(token: str):
    order = _order(token)
    values = followup.clean_information(request.form)
    problems = followup.information_problems(values)
    if problems:
        return _answer(order, token, None, problems, values)
    changed = followup.update_information(order, values, ip=client_ip())
    message = ("Vos informations sont enregistrées." if changed
               else "Aucune modification : vos informations sont inchangées.")
    return _answer(order, token, message, {}, None)


@bp.post("/<token>/pieces")
@accepts_upload
@requester_limit
def upload(token: str):
    order = _order(token)
    store = document_store()
    if (request.content_length or 0) > store.max_bytes + UPLOAD_MARGIN:  # the body stays unread
        problem = f"Fichier trop volumineux (maximum {store.max_bytes // (1024 * 1024)} Mo)."
        return _answer(order, token, None, {"file": problem}, {"kind": ""})
    kind, upload_file = request.form.get("kind", ""), request.files.get("file")
    if not upload_file or not upload_file.filename:
        raise workflow.Refused(["Choisissez un fichier à déposer."])
    try:
        document = followup.upload_document(order, kind, upload_file.filename,
                                            upload_file.read(store.max_bytes + 1), ip=client_ip())
    except RefusedDocument as refusal:
        raise workflow.Refused([refusal.message]) from None
    message = (f"Pièce reçue : {workflow.document_kind_label(kind)} "
               f"(« {document.filename} »). Merci !")
    return _answer(order, token, message, {}, None)


def _answer(order, token: str, message, problems, submitted):
    """HTMX: the changed block (with « what is missing » out of band); plain: redirect or page.
    The block and anchor are the form's, by the endpoint answering (FORMS)."""
    block, anchor, _ = FORMS[request.endpoint]
    if htmx:
        context = followup.page(order, token, message=message, problems=problems,
                                submitted=submitted, changed_block=block,
                                **_draft_context(order))
        return render_blocks(PAGE, [block, "expected", "submission"], **context, out_of_band=True)
    if not problems:
        flash(message, "success")
        return redirect(url_for(".show", token=token, _anchor=anchor), 303)
    context = followup.page(order, token, message=message, problems=problems,
                            submitted=submitted, changed_block=block, **_draft_context(order))
    return render_template(PAGE, **context), 422


@bp.post("/renouveler")
@limiter.limit("5 per hour", key_func=client_ip)
def renew():
    """A new link, sent to the order's own address, for an expired (or lost) one."""
    token = request.form.get("token", "")
    try:
        order = followup.order_of(followup.check_link(current_app, token))
    except followup.InvalidLink:
        return _refusal(False, token)
    except followup.RevokedLink:
        return _revoked()
    notification = followup.renew_link(order, sender=current_app.config["MAIL_DEFAULT_SENDER"],
                                       ip=client_ip())
    outbox.wake(current_app)
    return render_template(MESSAGE, title="Nouveau lien de suivi",
                           message=f"Un nouveau lien vers la page de suivi de la commande "
                                   f"N° {order.number} vient d'être envoyé à "
                                   f"{public_links.mask_contact(notification.recipient)}. "
                                   f"Il arrive dans quelques minutes.")
