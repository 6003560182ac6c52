"""The order file's validation block (issue 6): the two boxes and « Valider », the confirmation
page, « Mettre en attente » / « Reprendre le traitement », « Refuser la commande ». Plain forms
with redirects and messages (no JavaScript needed); the server re-checks everything."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for

import workflow
from blueprints.common import current_operator, order_or_404, role_required
from extensions import client_ip
from services import validation

bp = Blueprint("validation", __name__, url_prefix="/commandes")


def _back(order_id: int, anchor: str = "validation"):
    return redirect(url_for("order_file.show", order_id=order_id, _anchor=anchor), 303)


def _ticked(name: str) -> bool:
    return request.form.get(name) in ("1", "on", "oui")


@bp.post("/<int:order_id>/validation/confirmation")
@role_required(workflow.ROLE_AEA)
def confirm(order_id: int):
    """« Valider »: the boxes are recorded, then the confirmation is shown if nothing blocks."""
    order = order_or_404(order_id)
    operator = current_operator()
    try:
        validation.set_flags(order, operator, _ticked("payment_ok"), _ticked("dossier_complete_ok"),
                             request.form.get("version", ""), ip=client_ip())
    except workflow.Refused as refused:
        flash(" ".join(refused.reasons), "error")
        return _back(order.id)
    panel = validation.panel(order, operator)
    if panel is None or panel.blockers or not panel.can_edit:
        reasons = panel.blockers if panel and panel.blockers else ["La commande ne peut pas être validée."]
        flash("Validation impossible : " + " ".join(reasons), "error")
        return _back(order.id)
    return render_template("validation/confirm.html", panel=panel, order=panel.order)


@bp.post("/<int:order_id>/validation")
@role_required(workflow.ROLE_AEA)
def validate(order_id: int):
    order = order_or_404(order_id)
    try:
        validation.validate(order, current_operator(), session.get("cert_fp", ""),
                            request.form.get("version", ""), ip=client_ip())
    except workflow.Refused as refused:
        flash("Validation refusée : " + " ".join(refused.reasons), "error")
        return _back(order.id)
    flash(f"Commande N° {order.number} validée : elle passe en phase « Génération du "
          f"certificat ». Le dossier est désormais en lecture seule.", "success")
    return _back(order.id, "informations")


@bp.post("/<int:order_id>/attente")
@role_required(workflow.ROLE_AEA)
def hold(order_id: int):
    order = order_or_404(order_id)
    try:
        validation.hold(current_app, order, current_operator(), request.form.get("commentaire", ""),
                        ip=client_ip())
    except workflow.Refused as refused:
        flash(" ".join(refused.reasons), "error")
    else:
        flash("Commande mise en attente ; le demandeur est prévenu.", "success")
    return _back(order.id)


@bp.post("/<int:order_id>/reprise")
@role_required(workflow.ROLE_AEA)
def resume(order_id: int):
    order = order_or_404(order_id)
    try:
        validation.resume(order, current_operator(), ip=client_ip())
    except workflow.Refused as refused:
        flash(" ".join(refused.reasons), "error")
    else:
        flash("Traitement de la commande repris.", "success")
    return _back(order.id)


@bp.post("/<int:order_id>/refus")
@role_required(workflow.ROLE_AEA)
def refuse(order_id: int):
    order = order_or_404(order_id)
    try:
        validation.refuse(current_app, order, current_operator(),
                          request.form.get("commentaire", ""), ip=client_ip())
    except workflow.Refused as refused:
        flash(" ".join(refused.reasons), "error")
        return _back(order.id)
    flash(f"Commande N° {order.number} refusée : elle est annulée et le demandeur est prévenu.",
          "success")
    return _back(order.id, "informations")
