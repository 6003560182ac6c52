"""« Textes contractuels » (Administration): an AE's admins word the clauses of its contractual
documents as versions — « Nouvelle version » from the one in force, the draft edited, « Aperçu
PDF » from a sample or a chosen order, « Publier » with an in-force date after a confirmation
page. Published versions are read-only. Another AE's ids answer 404 (blueprints.lookups)."""
from __future__ import annotations

from flask import (Blueprint, flash, make_response, redirect, render_template, request,
                   url_for)

import workflow
from blueprints.common import current_operator, current_scope, role_required
from blueprints.lookups import contract_text_version_or_404
from extensions import client_ip
from formatting import paris_date
from services.signing import clauses, text_versions
from workflow import contract_texts as rules

bp = Blueprint("contract_texts_admin", __name__, url_prefix="/parametres/textes-contractuels")

LIST = "admin/contract_texts.html"
VERSION = "admin/contract_text.html"
CONFIRM = "admin/contract_text_publish.html"


@bp.get("")
@role_required("admin")
def index():
    return render_template(LIST, documents=text_versions.overview(current_operator().ae_id),
                           states=rules.STATES)


@bp.post("/nouvelle-version")
@role_required("admin")
def new_version():
    operator = current_operator()
    version = text_versions.create_draft(operator.ae_id, request.form.get("document", ""),
                                         by=operator, ip=client_ip())
    flash(f"Version {version.number} créée en brouillon à partir de la version en vigueur.",
          "success")
    return redirect(url_for(".show", version_id=version.id), 303)


@bp.get("/versions/<int:version_id>")
@role_required("admin")
def show(version_id: int):
    return _version_page(contract_text_version_or_404(version_id))


@bp.post("/versions/<int:version_id>")
@role_required("admin")
def save(version_id: int):
    version = contract_text_version_or_404(version_id)
    body = request.form.get("body", "")
    try:
        changed = text_versions.save_draft(version, body, by=current_operator(), ip=client_ip())
    except workflow.Refused as refused:
        # A published version is not a typing mistake: the text stays as it was published.
        frozen = rules.PUBLISHED_IS_FROZEN in refused.reasons
        return _version_page(version, body=None if frozen else body,
                             problems=refused.reasons), 409 if frozen else 422
    flash("Brouillon enregistré." if changed else "Aucune modification à enregistrer.", "success")
    return redirect(url_for(".show", version_id=version.id), 303)


@bp.get("/versions/<int:version_id>/apercu.pdf")
@role_required("admin")
def preview(version_id: int):
    version = contract_text_version_or_404(version_id)
    typed = request.args.get("commande", "").strip()
    order = None
    if typed:
        order = current_scope().order_by_number(int(typed)) if typed.isdigit() else None
        if order is None:
            return _version_page(version, order_number=typed, preview_problems=[
                f"Aucune commande N° {typed} parmi celles que vous voyez."]), 422
    try:
        pdf = text_versions.preview_pdf(version, order)
    except workflow.Refused as refused:
        return _version_page(version, order_number=typed, preview_problems=refused.reasons), 422
    response = make_response(pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = \
        f'inline; filename="{text_versions.preview_filename(version)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/versions/<int:version_id>/publication")
@role_required("admin")
def publish(version_id: int):
    version = contract_text_version_or_404(version_id)
    date_text = request.form.get("effective_from", "")
    try:
        if request.form.get("confirm") != "1":
            effective_from = text_versions.check_publication(version, date_text)
            return render_template(CONFIRM, version=version, effective_from=effective_from,
                                   label=workflow.document_kind_label(version.document))
        published = text_versions.publish(version, date_text, by=current_operator(),
                                          ip=client_ip())
    except workflow.Refused as refused:
        frozen = rules.PUBLISHED_IS_FROZEN in refused.reasons
        return _version_page(version, effective_from=date_text,
                             publish_problems=refused.reasons), 409 if frozen else 422
    flash(f"Version {published.number} de « {workflow.document_kind_label(published.document)} » "
          f"publiée : en vigueur à partir du {paris_date(published.effective_from)}.", "success")
    return redirect(url_for(".index", _anchor=f"texte-{published.document}"), 303)


@bp.post("/versions/<int:version_id>/suppression")
@role_required("admin")
def delete(version_id: int):
    version = contract_text_version_or_404(version_id)
    text_versions.delete_draft(version, by=current_operator(), ip=client_ip())
    flash(f"Brouillon de la version {version.number} supprimé.", "success")
    return redirect(url_for(".index", _anchor=f"texte-{version.document}"), 303)


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """A refused change: its reasons, back on the version (or the list)."""
    flash(refusal.message, "error")
    version_id = (request.view_args or {}).get("version_id")
    if version_id is not None:
        return redirect(url_for(".show", version_id=version_id), 303)
    return redirect(url_for(".index"), 303)


def _version_page(version, body: str | None = None, problems=(), order_number: str = "",
                  preview_problems=(), effective_from: str = "", publish_problems=()):
    line = text_versions.line_of(version)
    return render_template(
        VERSION, line=line, version=version, label=workflow.document_kind_label(version.document),
        state_label=rules.STATES[line.state], body=version.body if body is None else body,
        problems=list(problems), placeholders=clauses.PLACEHOLDERS,
        text_html=clauses.html(version.body), order_number=order_number,
        preview_problems=list(preview_problems), publish_problems=list(publish_problems),
        effective_from=effective_from or text_versions.today().isoformat())
