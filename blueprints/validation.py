"""The order file's validation block: the two boxes and « Valider », the confirmation page,
« Mettre en attente » / « Reprendre le traitement », « Refuser la commande ». Plain forms with
redirects and messages (no JavaScript needed); the server re-checks everything."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

import workflow
from blueprints import refusals
from blueprints.common import current_certificate_fingerprint, current_operator, order_or_404, role_required
from extensions import client_ip
from services import validation
from services.dossiers import piece_checks
from workflow import piece_comparison

bp = Blueprint("validation", __name__, url_prefix="/commandes")
refusals.register(bp, "validation", prefixes={"validation.validate": "Validation refusée : "})

NOT_VALIDABLE = "La commande ne peut pas être validée."
VALIDATED = ("Commande N° {number} validée : elle passe en phase « Génération du certificat ». "
             "Le dossier est désormais en lecture seule.")
ON_HOLD = "Commande mise en attente ; le demandeur est prévenu."
RESUMED = "Traitement de la commande repris."
REFUSED = ("Commande N° {number} refusée : elle est annulée et le demandeur est prévenu. "
           "Motif : {comment}")


def _ticked(name: str) -> bool:
    return request.form.get(name) in ("1", "on", "oui")


@bp.post("/<int:order_id>/validation/confirmation")
@role_required(workflow.ROLE_AEA)
def confirm(order_id: int):
    """« Valider »: the boxes are recorded, then the confirmation is shown if nothing blocks."""
    order, operator = order_or_404(order_id), current_operator()
    validation.set_flags(order, operator, _ticked("payment_ok"), _ticked("dossier_complete_ok"),
                         request.form.get("version", ""), ip=client_ip())
    panel = validation.panel(order, operator)
    if panel is None or panel.blockers or not panel.can_edit:
        reasons = panel.blockers if panel and panel.blockers else [NOT_VALIDABLE]
        raise workflow.Refused("Validation impossible : " + " ".join(reasons))
    return render_template("validation/confirm.html", panel=panel, order=panel.order,
                           piece_differences=piece_checks.differences_to_confirm(panel.order),
                           confirmation_label=piece_comparison.CONFIRMATION_LABEL)


@bp.post("/<int:order_id>/validation")
@role_required(workflow.ROLE_AEA)
def validate(order_id: int):
    order = order_or_404(order_id)
    validation.validate(order, current_operator(), current_certificate_fingerprint() or "",
                        request.form.get("version", ""), ip=client_ip(),
                        differences_checked=_ticked("piece_differences_checked"))
    return refusals.back_to_order_file(order.id, "informations",
                                       VALIDATED.format(number=order.number))


@bp.post("/<int:order_id>/attente")
@role_required(workflow.ROLE_AEA)
def hold(order_id: int):
    return _decide(order_id, validation.hold, ON_HOLD, "validation")


@bp.post("/<int:order_id>/refus")
@role_required(workflow.ROLE_AEA)
def refuse(order_id: int):
    # A refused order is cancelled and its validation block gone: back at the page's top, where
    # the message and the file's « Motif du refus » are in sight.
    return _decide(order_id, validation.refuse, REFUSED, None)


def _decide(order_id: int, decision, message: str, anchor: str | None):
    """Hold or refusal: ``decision(app, order, operator, comment)``, the comment going to the
    requester."""
    order = order_or_404(order_id)
    comment = request.form.get("comment", "")
    decision(current_app, order, current_operator(), comment, ip=client_ip())
    return refusals.back_to_order_file(order.id, anchor,
                                       message.format(number=order.number, comment=comment.strip()))


@bp.post("/<int:order_id>/reprise")
@role_required(workflow.ROLE_AEA)
def resume(order_id: int):
    order = order_or_404(order_id)
    validation.resume(order, current_operator(), ip=client_ip())
    return refusals.back_to_order_file(order.id, "validation", RESUMED)
