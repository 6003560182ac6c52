"""« Certificats »: the holder certificates of the operator's AE and portals (AEA and AET),
searched through the URL; a certificate's page and its PEM.

HTMX requests get only the results block; plain requests the whole page from the same URL.
A certificate of another AE, or of a portal the operator does not see, answers 404.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request
from jinja2_fragments.flask import render_block

import workflow
from blueprints.common import any_role_required, current_scope
from extensions import htmx
from services.certificates import register_filters, register_view

bp = Blueprint("certificates", __name__, url_prefix="/certificats")
ROLES = (workflow.ROLE_AEA, workflow.ROLE_AET)
TEMPLATE = "certificates/list.html"


aea_or_aet = any_role_required(*ROLES)


@bp.get("")
@aea_or_aet
def list_certificates():
    filters = register_filters.parse_filters(request.args)
    results = register_view.search(current_scope(), filters, _page_number())
    context = dict(filters=filters, results=results, states=register_filters.STATES,
                   per_page=register_view.PER_PAGE, count_cap=register_view.COUNT_CAP)
    if htmx and not htmx.history_restore_request:
        context["refresh_form"] = htmx.trigger != "certificates-form"
        response = Response(render_block(TEMPLATE, "results", **context))
    else:
        response = Response(render_template(TEMPLATE, **context))
    response.vary.add("HX-Request")
    return response


def _page_number() -> int:
    text = request.args.get("page", "")
    return int(text) if text.isdigit() and 0 < int(text) < 100_000 else 1


def _certificate_or_404(holder_certificate_id: int) -> register_view.CertificateDetail:
    detail = register_view.certificate_or_none(current_scope(), holder_certificate_id)
    if detail is None:
        abort(404)
    return detail


@bp.get("/<int:holder_certificate_id>")
@aea_or_aet
def show(holder_certificate_id: int):
    return render_template("certificates/show.html",
                           certificate=_certificate_or_404(holder_certificate_id))


@bp.get("/<int:holder_certificate_id>/certificat.pem")
@aea_or_aet
def download_pem(holder_certificate_id: int):
    """The certificate as issued (PEM), to save or to hand to the holder."""
    detail = _certificate_or_404(holder_certificate_id)
    response = Response(detail.row.pem, mimetype="application/x-pem-file")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="certificat-{detail.row.serial_hex}.pem"')
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
