"""« Administration » (issue 7): an AE's admins see its operators, switch each one's activity
digest on or off, set the AE's digest times, and preview the digest an operator would receive
now. Forms work without JavaScript (POST, then back to the page); with htmx the digest switch
replaces only its row. Another AE's operator ids answer 404."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from jinja2_fragments.flask import render_block

from blueprints.common import current_operator, role_required
from extensions import client_ip
from models import utcnow
from services import administration, digest

bp = Blueprint("admin", __name__)

PAGE = "admin/operators.html"
PREVIEW = "admin/preview.html"


def _operator_or_404(operator_id: int):
    operator = administration.operator_of_ae(current_operator().ae_id, operator_id)
    if operator is None:
        abort(404)
    return operator


@bp.get("/parametres/operateurs")
@role_required("admin")
def operators():
    ae = current_operator().ae
    return render_template(PAGE, lines=administration.operators(ae.id), ae=ae,
                           slots=ae.digest_slots, send_empty=ae.digest_send_empty)


@bp.post("/parametres/operateurs/<int:operator_id>/resume")
@role_required("admin")
def switch_digest(operator_id: int):
    operator = _operator_or_404(operator_id)
    enabled = request.form.get("resume") == "1"
    digest.set_digest(operator, enabled, current_operator(), ip=client_ip())
    message = (f"Résumé d'activité activé pour {operator.display_name}." if enabled else
               f"Résumé d'activité désactivé pour {operator.display_name}.")
    if request.headers.get("HX-Request") == "true":
        line = next(line for line in administration.operators(operator.ae_id)
                    if line.operator.id == operator.id)
        return render_block(PAGE, "operator_row", line=line, message=message)
    flash(message, "success")
    return redirect(url_for(".operators", _anchor=f"operateur-{operator.id}"), 303)


@bp.post("/parametres/resume")
@role_required("admin")
def save_settings():
    ae = current_operator().ae
    send_empty = request.form.get("envoyer_vide") == "1"
    try:
        slots = digest.set_settings(ae, request.form.get("heures", ""), send_empty,
                                    current_operator(), ip=client_ip())
    except digest.DigestError as refused:
        return render_template(PAGE, lines=administration.operators(ae.id), ae=ae,
                               slots=request.form.get("heures", ""), send_empty=send_empty,
                               slot_error=str(refused)), 422
    flash(f"Heures d'envoi enregistrées : {slots.replace(',', ', ')}.", "success")
    return redirect(url_for(".operators", _anchor="reglages-resume"), 303)


@bp.get("/parametres/operateurs/<int:operator_id>/apercu")
@role_required("admin")
def preview(operator_id: int):
    operator = _operator_or_404(operator_id)
    content = digest.preview(current_app._get_current_object(), operator, utcnow())
    return render_template(PREVIEW, target=operator, digest=content)
