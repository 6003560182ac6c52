"""« Envoyer pour signature » and its follow-up in the order file: sending, a
reminder, a new link, cancellation. Plain forms (they work without JavaScript): each answers
with a redirect to the order file's « Signature des documents contractuels » section and a
message. Every route answers 404 outside the operator's scope."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, url_for

import workflow
from blueprints.common import current_operator, order_or_404, role_required
from extensions import client_ip
from services.signing import reminders, sending, signatures, status
from services import validation

bp = Blueprint("signature", __name__, url_prefix="/commandes")


@bp.app_context_processor
def panels():
    """The order file's partials ask for their data by order (templates/signature/,
    templates/validation/)."""
    def signature_panel(order, documents=None):
        operator = current_operator()
        return status.panel(order, operator, documents=documents) if operator else None

    def validation_panel(order, documents=None):
        operator = current_operator()
        return validation.panel(order, operator, documents) if operator else None

    return {"signature_panel": signature_panel, "validation_panel": validation_panel,
            "id_doc_types": workflow.ID_DOC_TYPES}


@bp.app_template_filter("signer_role")
def signer_role(code: str) -> str:
    return workflow.label(workflow.SIGNER_ROLES, code)


@bp.app_template_filter("document_label")
def document_label(kind: str) -> str:
    return workflow.document_kind_label(kind)


def _back(order_id: int):
    return redirect(url_for("order_file.show", order_id=order_id, _anchor="signature"), 303)


def _refused(refusal: workflow.Refused) -> None:
    flash(" ".join(refusal.reasons), "error")


@bp.post("/<int:order_id>/signature/envoi")
@role_required(workflow.ROLE_AEA)
def send(order_id: int):
    order = order_or_404(order_id)
    try:
        requests = sending.send_for_signature(current_app, order, current_operator(),
                                              ip=client_ip())
    except workflow.Refused as refused:
        _refused(refused)
    else:
        flash(f"Documents envoyés pour signature à {len(requests)} signataire"
              f"{'s' if len(requests) > 1 else ''} ; le demandeur est prévenu.", "success")
    return _back(order.id)


def _request_or_404(order, request_id: int):
    request = signatures.request_of(order, request_id)
    if request is None:
        abort(404)
    return request


@bp.post("/<int:order_id>/signature/<int:request_id>/relance")
@role_required(workflow.ROLE_AEA)
def remind(order_id: int, request_id: int):
    order = order_or_404(order_id)
    request = _request_or_404(order, request_id)
    try:
        reminders.remind(current_app, order, request, current_operator(), ip=client_ip())
    except workflow.Refused as refused:
        _refused(refused)
    else:
        flash(f"Relance envoyée à {request.name}.", "success")
    return _back(order.id)


@bp.post("/<int:order_id>/signature/<int:request_id>/nouveau-lien")
@role_required(workflow.ROLE_AEA)
def resend(order_id: int, request_id: int):
    order = order_or_404(order_id)
    request = _request_or_404(order, request_id)
    try:
        sending.resend_link(current_app, order, request, current_operator(), ip=client_ip())
    except workflow.Refused as refused:
        _refused(refused)
    else:
        flash(f"Nouveau lien de signature envoyé à {request.name} ; l'ancien ne fonctionne plus.",
              "success")
    return _back(order.id)


@bp.post("/<int:order_id>/signature/annulation")
@role_required(workflow.ROLE_AEA)
def cancel(order_id: int):
    order = order_or_404(order_id)
    try:
        sending.cancel(current_app, order, current_operator(), ip=client_ip())
    except workflow.Refused as refused:
        _refused(refused)
    else:
        flash("Demande de signature annulée : les liens envoyés ne fonctionnent plus et la "
              "commande revient au sous-état « à vérifier ».", "success")
    return _back(order.id)
