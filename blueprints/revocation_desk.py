"""The AEA's decisions on a revocation request, from its order file: « Révoquer » and
« Rejeter la demande » (services.certificates.revocation_orders). Plain forms; a refusal comes
back to the order file's « Demande de révocation » section with its French reasons."""
from __future__ import annotations

from flask import Blueprint, current_app, request

import workflow
from blueprints import refusals
from blueprints.common import current_operator, order_or_404, role_required
from extensions import client_ip
from models import utcnow
from services.certificates import revocation_orders

bp = Blueprint("revocation_desk", __name__, url_prefix="/commandes")

ANCHOR = "demande-revocation"
REVOKED = ("Certificat n° {} révoqué ({}) : la liste de révocation est republiée. La commande "
           "est « Terminée » ; le porteur et le demandeur sont prévenus par e-mail.")
REJECTED = ("Demande de révocation rejetée : la commande est « Annulée »{} ; le demandeur et le "
            "porteur sont prévenus par e-mail.")

refusals.register(bp, ANCHOR)


@bp.post("/<int:order_id>/demande-revocation/revoquer")
@role_required(workflow.ROLE_AEA)
def revoke(order_id: int):
    order = order_or_404(order_id)
    state = revocation_orders.revoke(current_app, order, current_operator(),
                                     confirmed=request.form.get("confirm") == "1",
                                     ip=client_ip())
    return refusals.back_to_order_file(order.id, ANCHOR, REVOKED.format(
        state.row.serial_hex, state.revocation_label))


@bp.post("/<int:order_id>/demande-revocation/rejeter")
@role_required(workflow.ROLE_AEA)
def reject(order_id: int):
    order = order_or_404(order_id)
    state = revocation_orders.target_certificate(order)
    suspended = bool(state and state.suspended)
    revocation_orders.reject(current_app, order, current_operator(),
                             comment=request.form.get("comment", ""), ip=client_ip())
    return refusals.back_to_order_file(order.id, ANCHOR, REJECTED.format(
        " et la suspension du certificat est levée" if suspended else ""))


@bp.app_context_processor
def inject_revocation_file():
    """The order file's « Demande de révocation » panel, for a revocation order."""
    return {"revocation_file": lambda order: revocation_orders.file_of(order, current_operator()),
            "now_utc": utcnow(), "revocation_target": workflow.REVOCATION_TARGET}
