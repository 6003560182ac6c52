"""« Statistiques »: volumes and delays of the operator's orders over a period (AEA and admin
operators; an operator with no other role than AET gets 403). The filters live in the URL
(a GET form that works without JavaScript); the CSV export takes the same ones."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, render_template, request, stream_with_context, url_for

import workflow
from blueprints.common import any_role_required, current_operator, current_scope
from extensions import client_ip
from formatting import to_paris
from models import utcnow
from services import audit, statistics
from services.orders import order_search
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
                           thousands=thousands, received_list=_received_list(figures.filters))


def _received_list(filters: statistics.StatisticsFilters):
    """``received_list(first_day, last_day, portal_id)``: the Commandes list of the orders
    received those days (the period by default) on that portal (the filtered one by
    default): the list's « Dates de réception » count what « Reçues » counts."""
    def url(first_day: dt.date | None = None, last_day: dt.date | None = None,
            portal_id: int | None = None) -> str:
        args = {"dates": order_search.DATES_RECEIVED,
                "from": (first_day or filters.since).strftime("%d/%m/%Y"),
                "to": (last_day or filters.until).strftime("%d/%m/%Y")}
        portal_id = portal_id if portal_id is not None else filters.portal_id
        if portal_id is not None:
            args["portal"] = str(portal_id)
        return url_for("orders.list_orders", **args)
    return url


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
