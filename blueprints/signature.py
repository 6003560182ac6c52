"""« Envoyer pour signature » and its follow-up in the order file: sending, a reminder, a new
link, cancellation. Plain forms (they work without JavaScript): each answers with a redirect to
the order file's « Signature des documents contractuels » section and a message. Every route
answers 404 outside the operator's scope."""
from __future__ import annotations

from flask import Blueprint, current_app

import workflow
from blueprints import refusals
from blueprints.common import current_operator, order_or_404, role_required
from blueprints.lookups import signature_request_or_404
from extensions import client_ip
from services.signing import reminders, sending, status
from services import validation

bp = Blueprint("signature", __name__, url_prefix="/commandes")
refusals.register(bp, "signature")

SENT = "Documents envoyés pour signature à {count} signataire{s} ; le demandeur est prévenu."
REMINDED = "Relance envoyée à {name}."
RESENT = "Nouveau lien de signature envoyé à {name} ; l'ancien ne fonctionne plus."
CANCELLED = ("Demande de signature annulée : les liens envoyés ne fonctionnent plus et la "
             "commande revient au sous-état « à vérifier ».")


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


def _back(order_id: int, message: str):
    return refusals.back_to_order_file(order_id, "signature", message)


@bp.post("/<int:order_id>/signature/envoi")
@role_required(workflow.ROLE_AEA)
def send(order_id: int):
    order = order_or_404(order_id)
    requests = sending.send_for_signature(current_app, order, current_operator(), ip=client_ip())
    return _back(order.id, SENT.format(count=len(requests), s="s" if len(requests) > 1 else ""))


def _follow_up(order_id: int, request_id: int, action, message: str):
    """A reminder or a new link for one signer: ``action(app, order, request, operator)``."""
    order = order_or_404(order_id)
    request = signature_request_or_404(order, request_id)
    action(current_app, order, request, current_operator(), ip=client_ip())
    return _back(order.id, message.format(name=request.name))


@bp.post("/<int:order_id>/signature/<int:request_id>/relance")
@role_required(workflow.ROLE_AEA)
def remind(order_id: int, request_id: int):
    return _follow_up(order_id, request_id, reminders.remind, REMINDED)


@bp.post("/<int:order_id>/signature/<int:request_id>/nouveau-lien")
@role_required(workflow.ROLE_AEA)
def resend(order_id: int, request_id: int):
    return _follow_up(order_id, request_id, sending.resend_link, RESENT)


@bp.post("/<int:order_id>/signature/annulation")
@role_required(workflow.ROLE_AEA)
def cancel(order_id: int):
    order = order_or_404(order_id)
    sending.cancel(current_app, order, current_operator(), ip=client_ip())
    return _back(order.id, CANCELLED)
