"""The order file (« Fiche de commande »): one order, what it lacks, its ID document number,
its audit trail, and who else is on it. Every view answers 404 outside the operator's scope."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from jinja2_fragments.flask import render_block, render_blocks

import workflow
from blueprints.common import (current_operator, current_scope, login_required, order_or_404,
                               passive, role_required)
from extensions import client_ip
from services.messaging import notifications
from services.orders import order_file

bp = Blueprint("order_file", __name__, url_prefix="/commandes")

PAGE = "order_file/show.html"
ID_DOCUMENT_SAVED = "N° de justificatif d'identité enregistré."
ID_DOCUMENT_UNCHANGED = "N° de justificatif d'identité inchangé : rien à enregistrer."


@bp.context_processor
def vocabulary():
    return {"id_doc_types": workflow.ID_DOC_TYPES,
            "document_categories": workflow.DOCUMENT_CATEGORIES,
            "order_type_titles": workflow.ORDER_TYPE_TITLES}


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


@bp.get("/<int:order_id>")
@login_required
def show(order_id: int):
    operator = current_operator()
    order = order_file.full_order(current_scope(), order_id)
    if order is None:
        abort(404)
    previous_review = order_file.open_file(order, operator, ip=client_ip())
    file = order_file.load_file(order, operator)
    # The opener has just taken the review over: the live notice starts empty.
    return render_template(PAGE, file=file, order=file.order, review=None,
                           previous_review=previous_review,
                           heartbeat_seconds=order_file.HEARTBEAT_SECONDS,
                           notification_panel=notifications.panel(file.order, operator))  # issue 5


@bp.post("/<int:order_id>/justificatif-identite")
@role_required(workflow.ROLE_AEA)
def record_id_document(order_id: int):
    operator = current_operator()
    order = order_or_404(order_id)
    problem, message = None, ID_DOCUMENT_UNCHANGED
    try:
        if order_file.record_id_document(order, operator, request.form.get("id_doc_type"),
                                         request.form.get("id_doc_number"), ip=client_ip()):
            message = ID_DOCUMENT_SAVED
    except workflow.Refused as refused:
        problem, message = " ".join(refused.reasons), None
    if not _is_htmx():
        flash(problem or message, "error" if problem else "success")
        return redirect(url_for(".show", order_id=order.id, _anchor="justificatif-identite"), 303)
    file = order_file.load_file(order, operator)
    # After a save the checklist and the audit trail changed too: they come along out of band.
    blocks = ["id_document"] + (["checklist", "history"] if message == ID_DOCUMENT_SAVED else [])
    return render_blocks(PAGE, blocks, file=file, id_problem=problem, id_message=message,
                         submitted=request.form if problem else None, out_of_band=True)


@bp.post("/<int:order_id>/presence")
@passive
@login_required
def presence(order_id: int):
    order = order_or_404(order_id)
    review = order_file.keep_reviewing(order, current_operator())
    if not _is_htmx():
        return redirect(url_for(".show", order_id=order.id), 303)
    if order_file.review_key(review) == request.form.get("affiche", ""):
        return "", 204  # nothing new: no swap, so screen readers hear nothing every 30 s
    return render_block(PAGE, "presence", order=order, review=review,
                        heartbeat_seconds=order_file.HEARTBEAT_SECONDS)
