"""« Administration »: an AE's admins see its operators, switch each one's activity digest on or
off, set the AE's digest times, and preview the digest an operator would receive now. Forms work
without JavaScript (POST, then back to the page); with htmx the digest switch replaces only its
row, and the notice of certificates expiring that no admin's digest announces. Another AE's
operator ids answer 404."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from jinja2_fragments.flask import render_blocks

from blueprints.common import current_operator, role_required
from blueprints.lookups import operator_or_404
from extensions import client_ip, htmx
from models import utcnow
from services import administration, digest

bp = Blueprint("admin", __name__)

PAGE = "admin/operators.html"
PREVIEW = "admin/preview.html"


@bp.get("/parametres/operateurs")
@role_required("admin")
def operators():
    ae = current_operator().ae
    lines = administration.operators(ae.id)
    return render_template(PAGE, lines=lines, ae=ae,
                           unannounced=administration.unannounced_expiries(lines),
                           portals=administration.portals(ae.id),
                           slots=ae.digest_slots, send_empty=ae.digest_send_empty)


@bp.post("/parametres/operateurs/<int:operator_id>/resume")
@role_required("admin")
def switch_digest(operator_id: int):
    operator = operator_or_404(operator_id)
    enabled = request.form.get("digest") == "1"
    digest.set_digest(operator, enabled, current_operator(), ip=client_ip())
    message = (f"Résumé d'activité activé pour {operator.display_name}." if enabled else
               f"Résumé d'activité désactivé pour {operator.display_name}.")
    if htmx:  # the row, and the notice that no admin gets the digest (out of band)
        lines = administration.operators(operator.ae_id)
        line = next(line for line in lines if line.operator.id == operator.id)
        return render_blocks(PAGE, ["operator_row", "expiry_notice"], line=line,
                             message=message, oob=True,
                             unannounced=administration.unannounced_expiries(lines))
    flash(message, "success")
    return redirect(url_for(".operators", _anchor=f"operateur-{operator.id}"), 303)


@bp.post("/parametres/resume")
@role_required("admin")
def save_settings():
    operator = current_operator()
    slots = digest.set_settings(operator.ae, request.form.get("slots", ""),
                                operator.ae.digest_send_empty,
                                operator, ip=client_ip())
    flash(f"Heures d'envoi enregistrées : {slots.replace(',', ', ')}.", "success")
    return redirect(url_for(".operators", _anchor="reglages-resume"), 303)


@bp.errorhandler(digest.DigestError)
def bad_slots(problem: digest.DigestError):
    """Malformed sending times: the page again, with what was typed and why it is refused."""
    ae = current_operator().ae
    lines = administration.operators(ae.id)
    return render_template(PAGE, lines=lines, ae=ae,
                           unannounced=administration.unannounced_expiries(lines),
                           portals=administration.portals(ae.id),
                           slots=request.form.get("slots", ""), send_empty=ae.digest_send_empty,
                           slot_error=str(problem)), 422


@bp.get("/parametres/operateurs/<int:operator_id>/apercu")
@role_required("admin")
def preview(operator_id: int):
    operator = operator_or_404(operator_id)
    content = digest.preview(current_app._get_current_object(), operator, utcnow())
    return render_template(PREVIEW, target=operator, digest=content)


# The operator pages join this blueprint from a module of their own (the endpoints stay
# ``admin.*``); importing it here registers them whoever imports the blueprint.
from blueprints import admin_operators  # noqa: E402
VIEW_MODULES = (admin_operators,)
