"""The viewer (« Visionneuse »), opened by « Consulter » beside the order file: the dossier's
documents, page previews rendered on the server, the original files (downloads only), the
check of a justificatif, and « Télécharger le dossier ». Every route answers 404 outside the
operator's scope: the order comes from order_or_404, the document must belong to it."""
from __future__ import annotations

import datetime as dt

from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template,
                   request, send_file, url_for)
from jinja2_fragments.flask import render_block, render_blocks

import workflow
from blueprints.common import current_operator, current_scope, login_required, order_or_404
from blueprints.lookups import document_or_404
from extensions import client_ip, htmx
from formatting import PARIS
from models import Order
from services.dossiers import documents, dossier_archive, viewer
from adapters.previews import THUMBNAIL_WIDTH, PreviewRenderer, snap_width
from adapters.render_slots import BUSY_MESSAGE, RenderBusy
from services.dossiers.viewer import widths

bp = Blueprint("viewer", __name__, url_prefix="/commandes")

PAGE = "viewer/show.html"
UNAVAILABLE = "viewer/unavailable.svg"
VERIFIED = "Pièce marquée « vérifiée »."
UNVERIFIED = "Vérification retirée."
UNCHANGED = "Rien à enregistrer : la pièce était déjà dans cet état."
BAD_DATE = "Date d'expiration invalide : utilisez le format jj/mm/aaaa."


@bp.app_template_global("today_paris")
def today_paris() -> dt.date:
    """Today in Paris, for flagging expired pieces (here and in the order file)."""
    return dt.datetime.now(PARIS).date()


@bp.context_processor
def vocabulary():
    return {"document_categories": workflow.DOCUMENT_CATEGORIES, "preview_widths": widths(),
            "thumbnail_width": THUMBNAIL_WIDTH, "view_args": viewer.view_args,
            "status_label": lambda code: workflow.label(workflow.DOCUMENT_STATUSES, code)}


@bp.get("/<int:order_id>/visionneuse")
@login_required
def show(order_id: int):
    order = order_or_404(order_id)
    state = viewer.load(order, current_operator(), request.args.get("document", type=int),
                        request.args.get("page", type=int), request.args.get("zoom", type=int),
                        request.args.get("rotation", type=int))
    if htmx and htmx.target == "document-view":
        return render_block(PAGE, "document_view", view=state)
    documents.record_viewer_opened(order, current_operator(), ip=client_ip())
    return render_template(PAGE, view=state)


@bp.get("/<int:order_id>/documents/<int:document_id>/pages/<int:page>")
@login_required
def page_image(order_id: int, document_id: int, page: int):
    document = documents.preview_source(current_scope(), order_id, document_id)
    if document is None or not 1 <= page <= (document.page_count or 1):
        abort(404)
    width = snap_width(request.args.get("width", type=int))
    rotation = request.args.get("rotation", 0, type=int) % 360 // 90 * 90
    renderer = PreviewRenderer.for_app()
    etag = renderer.etag(document.sha256, page, width, rotation)
    if request.if_none_match.contains(etag):
        return _cached(Response(status=304), etag)
    try:
        preview = renderer.render(document.sha256, document.media_type, page, width, rotation)
    except RenderBusy:  # every render slot taken: say so, and let the next view try again
        return _unavailable(width, busy=True)
    if preview is None:  # « aperçu indisponible »: an image saying so, never an error page
        return _unavailable(width)
    response = send_file(preview.path, mimetype=preview.media_type, conditional=False,
                         etag=False)
    return _cached(response, etag)


def _unavailable(width: int, busy: bool = False) -> Response:
    response = current_app.response_class(
        render_template(UNAVAILABLE, width=width, busy_message=BUSY_MESSAGE if busy else None),
        mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, no-store" if busy else "private, no-cache"
    response.headers["X-Apercu"] = "serveur-charge" if busy else "indisponible"
    return response


def _cached(response: Response, etag: str) -> Response:
    """Never stored by the browser: a page of an ID document, a KBIS or a payment proof would
    stay in the disk cache of a shared workstation after the operator logs out. The server's
    preview cache answers the next view (a document row never changes its content)."""
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/<int:order_id>/documents/<int:document_id>/original")
@login_required
def original(order_id: int, document_id: int):
    order = order_or_404(order_id)
    document = document_or_404(order, document_id)
    path = documents.document_store().path_for(document.sha256)
    if not path.is_file():
        abort(404)
    documents.record_download(order, document, current_operator(), ip=client_ip())
    response = send_file(path, mimetype=document.media_type, as_attachment=True,
                         download_name=documents.download_name(order, document), etag=False,
                         conditional=False, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/<int:order_id>/documents/<int:document_id>/verification")
@login_required
def verification(order_id: int, document_id: int):
    """A justificatif marked « vérifiée » (with its expiry date, if any), or no longer."""
    order = order_or_404(order_id)
    document_or_404(order, document_id)
    verified = request.form.get("action") != "unverify"
    expires_on = _expiry_date() if verified else None
    result = documents.set_verified(order, document_id, current_operator(), verified,
                                    expires_on, ip=client_ip())
    message = (VERIFIED if verified else UNVERIFIED) if result.changed else UNCHANGED
    return _verification_answer(order, document_id, message=message)


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """Only the check of a justificatif is refused here: its reasons go in its block."""
    order = order_or_404(request.view_args["order_id"])
    return _verification_answer(order, request.view_args["document_id"], problem=refusal.message)


def _verification_answer(order: Order, document_id: int, problem: str | None = None,
                         message: str | None = None):
    """htmx: the verification block and the side panel's badges; without it, back to the
    viewer as it was (the form's ``back``) with a message."""
    if not htmx:
        flash(problem or message, "error" if problem else "success")
        return redirect(_local(request.form.get("back") or "", order.id) + "#verification", 303)
    state = viewer.load(order, current_operator(), document_id, 1, None, None)
    return render_blocks(PAGE, ["verification", "panel_badges"], view=state,
                         problem=problem, message=message, out_of_band=True)


def _expiry_date() -> dt.date | None:
    try:
        return _parse_date(request.form.get("expires_on", ""))
    except ValueError:
        raise workflow.Refused(BAD_DATE) from None


def _parse_date(text: str) -> dt.date | None:
    text = (text or "").strip()
    if not text:
        return None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError(text)


def _local(target: str, order_id: int) -> str:
    """Back to the page the form was on: this order's viewer only (no open redirect)."""
    prefix = url_for(".show", order_id=order_id)
    return target if target == prefix or target.startswith(prefix + "?") else prefix


@bp.get("/<int:order_id>/dossier.zip")
@login_required
def archive(order_id: int):
    order = order_or_404(order_id)
    rows = documents.dossier_documents(order)
    documents.record_dossier_download(order, current_operator(), rows, ip=client_ip())
    # Planned after the event is recorded, so the archive's audit trail shows this download.
    plan = dossier_archive.build(order, rows, documents.document_store().root)
    response = Response(plan.stream(), mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Length"] = str(plan.length)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{dossier_archive.archive_name(order)}"')
    response.headers["Cache-Control"] = "private, no-store"
    return response
