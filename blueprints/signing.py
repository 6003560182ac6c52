"""The signer's page (« Signature des documents »), opened from the personal link of their
e-mail: no login, the signed link is the key (services.signing.signatures). The signer reads each
document (page previews rendered on the server, as in the Visionneuse), receives a one-time
code, consents and signs — or declines with a reason. Plain forms: works without JavaScript.

A tampered link answers 404; a replaced or cancelled one, or one past its expiry, says so
(410) and shows nothing of the documents."""
from __future__ import annotations

import workflow

from flask import Blueprint, abort, current_app, render_template, request, send_file

from extensions import client_ip, limiter
from formatting import paris_date
from services.signing import signatures
from services.dossiers.documents import document_store
from adapters.previews import DEFAULT_WIDTH, PreviewRenderer, snap_width
from services.dossiers.viewer import widths

bp = Blueprint("signing", __name__, url_prefix="/signature")

PAGE = "signing/page.html"
MESSAGE = "signing/message.html"
signer_limit = limiter.limit("30 per minute", key_func=client_ip)


@bp.after_request
def private(response):
    # The link is a key: not cached (previews aside, see page_image), not indexed, no Referer.
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.errorhandler(429)
def too_many(error):
    return render_template(MESSAGE, title="Trop de demandes",
                           message="Trop de demandes depuis votre connexion : patientez une "
                                   "minute avant de réessayer."), 429


def _request(token: str):
    """(signature request, None) for a genuine, current link; (None, response) otherwise."""
    try:
        return signatures.request_for_token(current_app.config["SECRET_KEY"], token), None
    except signatures.InvalidLink:
        return None, (render_template(
            MESSAGE, title="Lien de signature invalide",
            message="Ce lien de signature n'est pas valide : il a été modifié ou recopié "
                    "incomplètement. Utilisez le lien exact reçu par e-mail."), 404)
    except signatures.StaleLink as stale:
        cancelled = stale.request.state == "cancelled"
        return None, (render_template(
            MESSAGE, title="Lien de signature remplacé",
            message=("Cette demande de signature a été annulée par l'Autorité d'Enregistrement."
                     if cancelled else
                     "Ce lien de signature a été remplacé par un lien plus récent, envoyé par "
                     "e-mail : utilisez le dernier lien reçu.")), 410)


def _user_agent() -> str:
    return request.headers.get("User-Agent", "")[:250]


def _show(token: str, signing_request, problem: str | None = None, message: str | None = None,
          status: int = 200):
    view = signatures.page(signing_request)
    if view.state == "expired":
        return render_template(
            MESSAGE, title="Lien de signature expiré",
            message=f"Ce lien de signature a expiré le {paris_date(signing_request.expires_at)}. "
                    f"Demandez un nouveau lien à l'Autorité d'Enregistrement "
                    f"{view.order.ae.name}."), 410
    return render_template(PAGE, view=view, token=token, problem=problem, message=message,
                           preview_widths=widths(), default_width=DEFAULT_WIDTH), status


@bp.get("/<token>")
@signer_limit
def show(token: str):
    signing_request, refusal = _request(token)
    if refusal:
        return refusal
    signatures.record_opened(signing_request, ip=client_ip(), user_agent=_user_agent())
    return _show(token, signatures.refreshed(signing_request))


@bp.get("/<token>/documents/<int:item_id>/pages/<int:page>")
@signer_limit
def page_image(token: str, item_id: int, page: int):
    signing_request, refusal = _request(token)
    if refusal:
        abort(404)
    item = signatures.item_of(signing_request, item_id)
    if item is None:
        abort(404)
    document = signatures.preview_document(item)
    if not 1 <= page <= (document.page_count or 1):
        abort(404)
    width = snap_width(request.args.get("largeur", type=int))
    preview = PreviewRenderer.for_app().render(document.sha256, document.media_type, page, width)
    if preview is None:
        response = current_app.response_class(
            render_template("viewer/unavailable.svg", width=width), mimetype="image/svg+xml")
        response.headers["Cache-Control"] = "no-store"
        return response
    response = send_file(preview.path, mimetype=preview.media_type, conditional=False, etag=False)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/<token>/documents/<int:item_id>/pdf")
@signer_limit
def download(token: str, item_id: int):
    signing_request, refusal = _request(token)
    if refusal:
        abort(404)
    item = signatures.item_of(signing_request, item_id)
    if item is None:
        abort(404)
    document = signatures.preview_document(item)
    path = document_store().path_for(document.sha256)
    response = send_file(path, mimetype="application/pdf", as_attachment=True,
                         download_name=document.filename or "document.pdf", conditional=False,
                         etag=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/<token>/code")
@signer_limit
def send_code(token: str):
    signing_request, refusal = _request(token)
    if refusal:
        return refusal
    try:
        where = signatures.send_code(current_app, signing_request, ip=client_ip())
    except workflow.Refused as refused:
        return _show(token, signing_request, problem=refused.message, status=422)
    return _show(token, signatures.refreshed(signing_request),
                 message=f"Un code à usage unique vient de vous être envoyé ({where}). Il est "
                         f"valable {int(signatures.CODE_TTL.total_seconds() // 60)} minutes.")


@bp.post("/<token>/signer")
@signer_limit
def sign(token: str):
    signing_request, refusal = _request(token)
    if refusal:
        return refusal
    try:
        signatures.sign(current_app, signing_request, request.form.get("code", ""),
                        request.form.get("consentement") == "oui", ip=client_ip(),
                        user_agent=_user_agent())
    except workflow.Refused as refused:
        return _show(token, signatures.refreshed(signing_request), problem=refused.message,
                     status=422)
    return _show(token, signatures.refreshed(signing_request),
                 message="Merci : vos documents sont signés. Vous pouvez les télécharger "
                         "ci-dessous.")


@bp.post("/<token>/refus")
@signer_limit
def decline(token: str):
    signing_request, refusal = _request(token)
    if refusal:
        return refusal
    try:
        signatures.decline(current_app, signing_request, request.form.get("motif", ""),
                           ip=client_ip(), user_agent=_user_agent())
    except workflow.Refused as refused:
        return _show(token, signatures.refreshed(signing_request), problem=refused.message,
                     status=422)
    return _show(token, signatures.refreshed(signing_request),
                 message="Votre refus est enregistré ; l'Autorité d'Enregistrement en est "
                         "informée.")
