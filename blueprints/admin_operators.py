"""« Opérateurs » (Administration), one operator at a time: « Ajouter un opérateur », the
operator's page (roles and portals, « Désactiver » / « Réactiver »), and their certificates
(« Associer un certificat », « Retirer », « Révoquer » after an irreversible confirmation).
These views join the ``admin`` blueprint (blueprints.admin imports this module); another AE's
ids answer 404, a refused change shows the page again with what was typed and why (422)."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

import workflow
from blueprints.admin import bp
from blueprints.common import current_certificate_fingerprint, current_operator, role_required
from blueprints.lookups import operator_certificate_or_404, operator_or_404
from extensions import client_ip
from models import Operator
from services import administration
from services.admin import operator_certificates as certificates, operators
from workflow.operators import ROLES

NEW = "admin/operator_new.html"
PAGE = "admin/operator.html"
REVOKE = "admin/operator_certificate_revoke.html"


@bp.get("/parametres/operateurs/nouveau")
@role_required("admin")
def new_operator():
    return _new_page(operators.OperatorForm(roles=["AEA"]))


@bp.post("/parametres/operateurs/nouveau")
@role_required("admin")
def create_operator():
    form = _form(with_identity=True)
    try:
        created = operators.create(current_operator().ae, form, by=current_operator(),
                                   ip=client_ip())
    except workflow.Refused as refused:
        return _new_page(form, refused.reasons), 422
    flash(f"Opérateur « {created.display_name} » ajouté. Associez-lui un certificat pour qu'il "
          f"puisse se connecter.", "success")
    return redirect(url_for(".operator", operator_id=created.id), 303)


@bp.get("/parametres/operateurs/<int:operator_id>")
@role_required("admin")
def operator(operator_id: int):
    return _page(operator_or_404(operator_id))


@bp.post("/parametres/operateurs/<int:operator_id>")
@role_required("admin")
def save_operator(operator_id: int):
    target, form = operator_or_404(operator_id), _form(with_identity=False)
    try:
        changed = operators.update_access(target, form, by=current_operator(), ip=client_ip())
    except workflow.Refused as refused:
        return _page(target, form=form, access_problems=refused.reasons), 422
    flash("Rôles et portails enregistrés." if changed else "Aucun changement.", "success")
    if not Operator.get_by_id(current_operator().id).has_role("admin"):
        return redirect(url_for("orders.list_orders"), 303)  # no longer sees this page
    return redirect(url_for(".operator", operator_id=target.id), 303)


@bp.post("/parametres/operateurs/<int:operator_id>/desactivation")
@role_required("admin")
def deactivate_operator(operator_id: int):
    return _switch(operator_or_404(operator_id), active=False)


@bp.post("/parametres/operateurs/<int:operator_id>/reactivation")
@role_required("admin")
def reactivate_operator(operator_id: int):
    return _switch(operator_or_404(operator_id), active=True)


def _switch(target: Operator, *, active: bool):
    try:
        ended = administration.set_operator_active(target, active, by=current_operator(),
                                                   ip=client_ip())
    except workflow.Refused as refused:
        return _page(target, account_problems=refused.reasons), 422
    flash(f"« {target.display_name} » réactivé : il peut de nouveau se connecter." if active else
          f"« {target.display_name} » désactivé : connexion refusée, {ended} session(s) "
          f"fermée(s) aussitôt.", "success")
    return redirect(url_for(".operator", operator_id=target.id), 303)


@bp.post("/parametres/operateurs/<int:operator_id>/certificats")
@role_required("admin")
def associate_certificate(operator_id: int):
    target = operator_or_404(operator_id)
    upload = request.files.get("certificate")
    data = upload.stream.read(certificates.MAX_FILE_BYTES + 1) if upload else b""
    try:
        row = certificates.associate(target, data, by=current_operator(), ip=client_ip())
    except workflow.Refused as refused:
        return _page(target, certificate_problems=refused.reasons), 422
    flash(f"Certificat N° {row.serial_hex} associé à « {target.display_name} ».", "success")
    return redirect(url_for(".operator", operator_id=target.id, _anchor="certificats"), 303)


@bp.post("/parametres/operateurs/<int:operator_id>/certificats/<int:certificate_id>/retrait")
@role_required("admin")
def remove_certificate(operator_id: int, certificate_id: int):
    target = operator_or_404(operator_id)
    row = operator_certificate_or_404(target, certificate_id)
    try:
        ended = certificates.remove(row, by=current_operator(), ip=client_ip(),
                                    session_fingerprint=current_certificate_fingerprint())
    except workflow.Refused as refused:
        flash(refused.message, "error")
        return redirect(url_for(".operator", operator_id=target.id, _anchor="certificats"), 303)
    flash(f"Certificat N° {row.serial_hex} retiré : il ne permet plus de se connecter "
          f"({ended} session(s) fermée(s)).", "success")
    return redirect(url_for(".operator", operator_id=target.id, _anchor="certificats"), 303)


@bp.route("/parametres/operateurs/<int:operator_id>/certificats/<int:certificate_id>/revocation",
          methods=["GET", "POST"])
@role_required("admin")
def revoke_certificate(operator_id: int, certificate_id: int):
    target = operator_or_404(operator_id)
    row = operator_certificate_or_404(target, certificate_id)
    if request.method == "GET":
        return _revoke_page(target, row)
    try:
        row = certificates.revoke(current_app._get_current_object(), row,
                                  reason=request.form.get("reason"),
                                  confirmed=request.form.get("confirm") == "1",
                                  by=current_operator(), ip=client_ip(),
                                  session_fingerprint=current_certificate_fingerprint())
    except workflow.Refused as refused:
        return _revoke_page(target, row, refused.reasons), 422
    flash(f"Certificat N° {row.serial_hex} révoqué ({_reason_label(row.revocation_reason)}) : "
          f"liste de révocation publiée, sessions fermées.", "success")
    return redirect(url_for(".operator", operator_id=target.id, _anchor="certificats"), 303)


# --- pages ----------------------------------------------------------------------------------

def _form(*, with_identity: bool) -> operators.OperatorForm:
    values = request.form
    return operators.OperatorForm(
        display_name=values.get("display_name", "") if with_identity else "",
        email=values.get("email", "") if with_identity else "",
        roles=values.getlist("roles"),
        all_portals=values.get("portal_scope", "all") != "some",
        portal_ids=[int(v) if v.isdigit() else -1 for v in values.getlist("portals")])


def _new_page(form: operators.OperatorForm, problems: list[str] | None = None):
    ae = current_operator().ae
    return render_template(NEW, ae=ae, form=form, problems=problems or [], roles=ROLES,
                           role_labels=operators.ROLE_LABELS,
                           portals=administration.portals(ae.id))


def _page(target: Operator, *, form: operators.OperatorForm | None = None, **problems):
    line = operators.operator_line(target)
    return render_template(PAGE, target=target, line=line, roles=ROLES,
                           form=form or operators.OperatorForm.of(target, line.portal_ids),
                           role_labels=operators.ROLE_LABELS,
                           portals=administration.portals(target.ae_id), **problems)


def _revoke_page(target: Operator, row, problems: list[str] | None = None):
    return render_template(REVOKE, target=target, certificate=row, problems=problems or [],
                           reasons=certificates.REVOCATION_REASONS,
                           chosen=request.form.get("reason", ""))


def _reason_label(code: str | None) -> str:
    return certificates.REVOCATION_REASONS.get(code or "", code or "")
