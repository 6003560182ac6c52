"""« Statistiques »: volumes and delays of the operator's orders over a period (AEA and admin
operators; an operator with no other role than AET gets 403). The filters live in the URL
(a GET form that works without JavaScript); the CSV export takes the same ones."""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request, stream_with_context

import workflow
from blueprints.common import any_role_required, current_operator, current_scope
from extensions import client_ip
from formatting import to_paris
from models import utcnow
from services import audit, statistics
from services.statistics import export
from services.statistics.charts import thousands
from services.statistics.volumes import MEASURES

bp = Blueprint("statistics", __name__, url_prefix="/statistiques")
ROLES = (workflow.ROLE_AEA, "admin")


aea_or_admin = any_role_required(*ROLES)


def _figures() -> statistics.Figures:
    now = utcnow()
    scope = current_scope()
    filters = statistics.parse_filters(request.args, scope, to_paris(now).date())
    return statistics.figures(scope, filters, now)


@bp.get("")
@aea_or_admin
def page():
    figures = _figures()
    return render_template("statistics/page.html", figures=figures, filters=figures.filters,
                           portals=current_scope().portals(), measures=MEASURES,
                           thousands=thousands)


@bp.get("/export.csv")
@aea_or_admin
def export_csv():
    """The page's figures as CSV (French spreadsheet), streamed."""
    figures = _figures()
    operator = current_operator()
    audit.record(statistics.ACTION_EXPORTED, operator=operator, ip=client_ip(),
                 details={"filtres": figures.filters.url_args()})
    response = Response(stream_with_context(export.lines(figures, operator.ae.name)),
                        mimetype="text/csv")
    stamp = to_paris(figures.computed_at).strftime("%Y%m%d-%H%M")
    response.headers["Content-Disposition"] = f'attachment; filename="statistiques-{stamp}.csv"'
    return response
