"""The order file's « Prise en charge »: « Prendre en charge » (confirmed when a colleague has
the order, who then sees it on their open file), « Attribuer à », « Libérer ». Plain forms with
redirects and messages; the rules are checked again on the server (workflow.handling)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for

from blueprints import refusals
from blueprints.common import current_operator, login_required, order_or_404
from extensions import client_ip
from services.orders import handling

bp = Blueprint("handling", __name__, url_prefix="/commandes")
ANCHOR = "prise-en-charge"
refusals.register(bp, ANCHOR)


@bp.app_context_processor
def handling_helpers():
    def handling_panel(order):
        operator = current_operator()
        return handling.panel(order, operator) if operator else None
    return {"handling_panel": handling_panel}


@bp.post("/<int:order_id>/prise-en-charge")
@login_required
def take(order_id: int):
    order = order_or_404(order_id)
    try:
        handling.take(order, current_operator(), confirm=request.form.get("confirm") == "1",
                      ip=client_ip())
    except handling.TakenByOther as taken:
        flash(taken.message, "warning")
        return redirect(url_for("order_file.show", order_id=order.id, confirmer=1,
                                _anchor=ANCHOR), 303)
    return refusals.back_to_order_file(order.id, ANCHOR, "Vous prenez en charge cette commande.")


@bp.post("/<int:order_id>/attribution")
@login_required
def assign(order_id: int):
    order = order_or_404(order_id)
    target = handling.assign(order, request.form.get("operator_id", type=int), current_operator(),
                             ip=client_ip())
    return refusals.back_to_order_file(order.id, ANCHOR,
                                       f"Commande attribuée à {target.display_name}.")


@bp.post("/<int:order_id>/liberation")
@login_required
def release(order_id: int):
    order = order_or_404(order_id)
    handling.release(order, current_operator(), ip=client_ip())
    return refusals.back_to_order_file(order.id, ANCHOR,
                                       "Commande libérée : personne ne la prend plus en charge.")
