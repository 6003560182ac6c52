"""« Lu sur la pièce »: the block of the order file and of the Visionneuse (polled while a
reading is under way), « Relire la pièce » and « Reprendre le numéro lu ». Every route answers
404 outside the operator's scope (order_or_404, the document must belong to the order)."""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, make_response, redirect, request,
                   url_for)
from jinja2_fragments.flask import render_block

import workflow
from blueprints import refusals
from blueprints.common import (current_operator, login_required, order_or_404, passive,
                               role_required)
from extensions import client_ip, htmx
from models import Document
from services.dossiers import piece_checks, piece_readings
from services.orders import order_file

bp = Blueprint("piece_checks", __name__, url_prefix="/commandes")
refusals.register(bp, "lu-sur-la-piece")

ORDER_FILE_BLOCK = "order_file/_piece_checks.html"
VIEWER_BLOCK = "viewer/_piece_check.html"
REREAD = "Nouvelle lecture de la pièce demandée : « {label} »."
TAKEN = "N° de justificatif d'identité repris de la pièce : {number}."
FROM_VIEWER = "visionneuse"


def _fragment(template: str, block: str, **context):
    response = make_response(render_block(template, block, **context))
    response.vary.add("HX-Request")
    return response


@bp.get("/<int:order_id>/lu-sur-la-piece")
@passive
@login_required
def panel(order_id: int):
    """The order file's block (htmx polls it while a reading is under way)."""
    order = order_or_404(order_id)
    if not htmx:
        return redirect(url_for("order_file.show", order_id=order.id, _anchor="lu-sur-la-piece"))
    return _order_file_block(order)


@bp.get("/<int:order_id>/documents/<int:document_id>/lu-sur-la-piece")
@passive
@login_required
def document_panel(order_id: int, document_id: int):
    """The Visionneuse's block for one document (polled while its reading is under way)."""
    order = order_or_404(order_id)
    if not htmx:
        return redirect(url_for("viewer.show", order_id=order.id, document=document_id))
    return _viewer_block(order, document_id)


@bp.post("/<int:order_id>/documents/<int:document_id>/relire")
@role_required(workflow.ROLE_AEA)
def reread(order_id: int, document_id: int):
    """« Relire la pièce »: back where it was asked, the block showing « lecture en cours… »."""
    order = order_or_404(order_id)
    reading = piece_readings.reread(current_app._get_current_object(), order, document_id,
                                    current_operator(), ip=client_ip())
    if reading is None:
        abort(404)
    from_viewer = request.form.get("from") == FROM_VIEWER
    if htmx:
        return _viewer_block(order, document_id) if from_viewer else _order_file_block(order)
    message = REREAD.format(label=workflow.document_kind_label(reading.kind))
    if from_viewer:
        flash(message, "success")
        return redirect(url_for("viewer.show", order_id=order.id, document=document_id), 303)
    return refusals.back_to_order_file(order.id, "lu-sur-la-piece", message)


def _order_file_block(order):
    full = piece_checks.order_with_people(order.id)
    return _fragment(ORDER_FILE_BLOCK, "piece_checks", order=full,
                     pieces=piece_checks.for_order(full),
                     can_act=order_file.can_edit_id_document(full, current_operator()))


def _viewer_block(order, document_id: int):
    full = piece_checks.order_with_people(order.id)
    document = Document.of_order(full, document_id)
    if document is None:
        abort(404)
    return _fragment(VIEWER_BLOCK, "piece_check", order=full,
                     piece=piece_checks.for_document(full, document),
                     can_act=order_file.can_edit_id_document(full, current_operator()))


@bp.post("/<int:order_id>/justificatif-identite/reprendre")
@role_required(workflow.ROLE_AEA)
def take_number(order_id: int):
    """« Reprendre le numéro lu »: recorded as « Modifier » records it, audited."""
    order = order_or_404(order_id)
    number = piece_checks.take_number(order, current_operator(), ip=client_ip())
    return refusals.back_to_order_file(order.id, "justificatif-identite",
                                       TAKEN.format(number=number))
