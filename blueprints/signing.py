"""The signer's page (« Signature des documents »), opened from the personal link of their
e-mail: no login, the signed link is the key (services.signing.links). The signer reads each
document (page previews rendered on the server, as in the Visionneuse), receives a one-time
code, consents and signs — or declines with a reason. Plain forms: works without JavaScript.

A tampered link answers 404; a replaced or cancelled one, or one past its expiry, says so
(410) and shows nothing of the documents."""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, make_response, render_template, request,
                   send_file)

import workflow
from blueprints.link_pages import protect_link_pages
from extensions import client_ip, limiter
from formatting import paris_date
from services import portals
from services.signing import codes, links, signer
from services.dossiers.documents import document_store
from adapters.previews import DEFAULT_WIDTH, PreviewRenderer, snap_width
from adapters.render_slots import BUSY_MESSAGE, RenderBusy
from services.dossiers.viewer import widths

bp = Blueprint("signing", __name__, url_prefix="/signature")

PAGE = "signing/page.html"
MESSAGE = "signing/message.html"
signer_limit = limiter.limit("30 per minute", key_func=client_ip)

protect_link_pages(bp, MESSAGE, "une minute")


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """A code, a signature or a refusal the signer may not have: their page, saying why."""
    token = request.view_args["token"]
    return _show(token, _request(token), problem=refusal.message, status=422)


def _request(token: str):
    """The signature request of a genuine, current link; otherwise the request ends with the
    page that says why."""
    try:
        return links.request_for_token(current_app.config["SECRET_KEY"], token)
    except links.InvalidLink:
        abort(make_response(render_template(
            MESSAGE, title="Lien de signature invalide",
            message="Ce lien de signature n'est pas valide : il a été modifié ou recopié "
                    "incomplètement. Utilisez le lien exact reçu par e-mail."), 404))
    except links.StaleLink as stale:
        cancelled = stale.request.state == "cancelled"
        abort(make_response(render_template(
            MESSAGE, title="Lien de signature remplacé",
            message=("Cette demande de signature a été annulée par l'Autorité d'Enregistrement."
                     if cancelled else
                     "Ce lien de signature a été remplacé par un lien plus récent, envoyé par "
                     "e-mail : utilisez le dernier lien reçu.")), 410))


def _item_or_404(token: str, item_id: int):
    """A document of this link's signer; 404 for anything else, a stale link included."""
    try:
        signing_request = links.request_for_token(current_app.config["SECRET_KEY"], token)
    except (links.InvalidLink, links.StaleLink):
        abort(404)
    item = signer.item_of(signing_request, item_id)
    if item is None:
        abort(404)
    return signer.preview_document(item)


def _user_agent() -> str:
    return request.headers.get("User-Agent", "")[:250]


def _show(token: str, signing_request, problem: str | None = None, message: str | None = None,
          status: int = 200):
    view = signer.page(signing_request)
    if view.state == "expired":
        return render_template(
            MESSAGE, title="Lien de signature expiré",
            message=f"Ce lien de signature a expiré le {paris_date(signing_request.expires_at)}. "
                    f"Demandez un nouveau lien à l'Autorité d'Enregistrement "
                    f"{view.order.ae.name}."), 410
    return render_template(PAGE, view=view, token=token, problem=problem, message=message,
                           preview_widths=widths(), default_width=DEFAULT_WIDTH,
                           contact=portals.contact_of(view.order.portal)), status


@bp.get("/<token>")
@signer_limit
def show(token: str):
    signing_request = _request(token)
    signer.record_opened(signing_request, ip=client_ip(), user_agent=_user_agent())
    return _show(token, signer.refreshed(signing_request))


@bp.get("/<token>/documents/<int:item_id>/pages/<int:page>")
@signer_limit
def page_image(token: str, item_id: int, page: int):
    document = _item_or_404(token, item_id)
    if not 1 <= page <= (document.page_count or 1):
        abort(404)
    width = snap_width(request.args.get("width", type=int))
    try:
        preview = PreviewRenderer.for_app().render(document.sha256, document.media_type, page,
                                                   width)
        busy = False
    except RenderBusy:  # every render slot taken: the next view tries again
        preview, busy = None, True
    if preview is None:
        response = current_app.response_class(
            render_template("viewer/unavailable.svg", width=width,
                            busy_message=BUSY_MESSAGE if busy else None),
            mimetype="image/svg+xml")
        response.headers["Cache-Control"] = "no-store"
        return response
    response = send_file(preview.path, mimetype=preview.media_type, conditional=False, etag=False)
    response.headers["Cache-Control"] = "private, no-store"  # the contract's pages: personal data
    return response


@bp.get("/<token>/documents/<int:item_id>/pdf")
@signer_limit
def download(token: str, item_id: int):
    document = _item_or_404(token, item_id)
    path = document_store().path_for(document.sha256)
    response = send_file(path, mimetype="application/pdf", as_attachment=True,
                         download_name=document.filename or "document.pdf", conditional=False,
                         etag=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/<token>/code")
@signer_limit
def send_code(token: str):
    signing_request = _request(token)
    where = codes.send_code(current_app, signing_request, ip=client_ip())
    return _show(token, signer.refreshed(signing_request),
                 message=f"Un code à usage unique vient de vous être envoyé ({where}). Il est "
                         f"valable {codes.CODES.minutes} minutes.")


@bp.post("/<token>/signer")
@signer_limit
def sign(token: str):
    signing_request = _request(token)
    signer.sign(current_app, signing_request, request.form.get("code", ""),
                request.form.get("consent") == "yes", ip=client_ip(), user_agent=_user_agent())
    return _show(token, signer.refreshed(signing_request),
                 message="Merci : vos documents sont signés. Vous pouvez les télécharger "
                         "ci-dessous.")


@bp.post("/<token>/refus")
@signer_limit
def decline(token: str):
    signing_request = _request(token)
    signer.decline(current_app, signing_request, request.form.get("reason", ""),
                   ip=client_ip(), user_agent=_user_agent())
    return _show(token, signer.refreshed(signing_request),
                 message="Votre refus est enregistré ; l'Autorité d'Enregistrement en est "
                         "informée.")
