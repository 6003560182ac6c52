"""The order file (« Fiche de commande »): one order, what it lacks, its ID document number,
its audit trail, and who else is on it. Every view answers 404 outside the operator's scope."""
from __future__ import annotations

from flask import (Blueprint, abort, flash, make_response, redirect, render_template, request,
                   url_for)
from jinja2_fragments.flask import render_block, render_blocks

import workflow
from blueprints.common import (current_operator, current_scope, login_required, order_or_404,
                               passive, role_required)
from extensions import client_ip, htmx
from models import Order
from services import validation
from services.messaging import notifications
from services.orders import audit_history, handling, order_file

bp = Blueprint("order_file", __name__, url_prefix="/commandes")

PAGE = "order_file/show.html"
ID_DOCUMENT_SAVED = "N° de justificatif d'identité enregistré."
ID_DOCUMENT_UNCHANGED = "N° de justificatif d'identité inchangé : rien à enregistrer."
# What a saved ID document number changes besides its own block: the next step's checklist,
# « Envoyer pour signature », the validation block (its blockers and the dossier's version
# its form carries), « Lu sur la pièce » (the number read against the new one) and the audit
# trail. The certificate panel does not depend on it: the number can no longer change once the
# order is validated.
ID_DOCUMENT_DEPENDENTS = ["checklist", "piece_checks_panel", "signature", "validation", "history"]


@bp.context_processor
def vocabulary():
    return {"id_doc_types": workflow.ID_DOC_TYPES,
            "document_categories": workflow.DOCUMENT_CATEGORIES,
            "order_type_titles": workflow.ORDER_TYPE_TITLES}


@bp.get("/<int:order_id>")
@login_required
def show(order_id: int):
    operator = current_operator()
    order = order_file.full_order(current_scope(), order_id)
    if order is None:
        abort(404)  # not order_or_404: this one query brings every related row the page shows
    previous_review = order_file.open_file(order, operator, ip=client_ip())
    file = order_file.load_file(order, operator)
    # The opener has just taken the review over: the live notice starts empty.
    return render_template(PAGE, file=file, order=file.order, review=None,
                           previous_review=previous_review, handler=handling.key(file.order),
                           heartbeat_seconds=order_file.HEARTBEAT_SECONDS,
                           notification_panel=notifications.panel(file.order, operator),
                           refusal_comment=validation.refusal_comment(file.order))


@bp.get("/<int:order_id>/historique")
@login_required
def history(order_id: int):
    """An older page of the audit trail: its rows for htmx, a page of its own without."""
    order = order_or_404(order_id)
    page = audit_history.page(order, request.args.get("avant", type=int))
    if htmx:
        response = make_response(render_block("order_file/_history.html", "rows", order=order,
                                              history_page=page))
    else:
        response = make_response(render_template("order_file/history.html", order=order,
                                                 history_page=page))
    response.vary.add("HX-Request")
    return response


@bp.post("/<int:order_id>/justificatif-identite")
@role_required(workflow.ROLE_AEA)
def record_id_document(order_id: int):
    order = order_or_404(order_id)
    saved = order_file.record_id_document(order, current_operator(),
                                          request.form.get("id_doc_type"),
                                          request.form.get("id_doc_number"), ip=client_ip())
    return _id_document_answer(order, message=ID_DOCUMENT_SAVED if saved else ID_DOCUMENT_UNCHANGED,
                               saved=saved)


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """Only the ID document number is refused here: its reasons go in its block."""
    return _id_document_answer(order_or_404(request.view_args["order_id"]),
                               problem=refusal.message)


def _id_document_answer(order: Order, problem: str | None = None, message: str | None = None,
                        saved: bool = False):
    """htmx: the ID document block, and after a save every panel it changed, out of band;
    without it, back to the block with a message."""
    if not htmx:
        flash(problem or message, "error" if problem else "success")
        return redirect(url_for(".show", order_id=order.id, _anchor="justificatif-identite"), 303)
    file = order_file.load_file(order, current_operator())
    blocks = ["id_document"] + (ID_DOCUMENT_DEPENDENTS if saved else [])
    return render_blocks(PAGE, blocks, file=file, order=file.order, id_problem=problem,
                         id_message=message, submitted=request.form if problem else None,
                         out_of_band=True)


@bp.post("/<int:order_id>/presence")
@passive
@login_required
def presence(order_id: int):
    order = order_or_404(order_id)
    review = order_file.keep_reviewing(order, current_operator())
    if not htmx:
        return redirect(url_for(".show", order_id=order.id), 303)
    handler = handling.key(order)
    changed = handler != request.form.get("handler", handler)
    if order_file.review_key(review) == request.form.get("shown", "") and not changed:
        return "", 204  # nothing new: no swap, so screen readers hear nothing every 30 s
    return render_block(PAGE, "presence", order=order, review=review, handler=handler,
                        handler_notice=handling.notice(order, current_operator()) if changed
                        else None, heartbeat_seconds=order_file.HEARTBEAT_SECONDS)
