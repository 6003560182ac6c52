"""The Commandes tab: the operator's orders, filtered through the URL, newest first.

HTMX requests get only the results block; plain requests (no JavaScript, reload,
bookmark, back button) get the whole page built from the same URL. The filters have one name
each, from the URL to the query (services.orders.order_search.OrderFilters)."""
from __future__ import annotations

import datetime as dt
import itertools

from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template,
                   request, stream_with_context, url_for)
from jinja2_fragments.flask import render_block

import workflow
from adapters import spreadsheet_csv
from blueprints.common import current_operator, current_scope, login_required, passive
from extensions import client_ip, htmx
from models import utcnow
from services import audit
from services.bulk import selection as bulk_selection
from services.bulk import export
from services.orders import order_search, saved_searches
from services.orders.order_file import list_rows

bp = Blueprint("orders", __name__, url_prefix="/commandes")
TEMPLATE = "orders/list.html"
# The French names the URL once had: bookmarks and activity digests already sent still use them.
FRENCH_NAMES = {"numero": "number", "nom": "name", "du": "from", "au": "to", "portail": "portal",
                "processus": "process", "sous_etat": "substate", "tri": "sort", "depuis": "since"}
FRENCH_SORTS = {"numero_desc": "number_desc", "numero_asc": "number_asc"}


@bp.get("")
@login_required
def list_orders():
    loaded_at = utcnow()  # before reading: a change made meanwhile is noticed by the next poll
    scope = current_scope()
    filters = _filters(scope)
    counts, page = _page(scope, filters)
    context = dict(
        **page, filters=filters, counts=counts, choices=order_search.choices(scope.portals()),
        loaded_at=loaded_at.isoformat(), workflow=workflow, handlers=order_search.HANDLERS,
        now=loaded_at, late_after=current_operator().ae.late_after_days,
        waiting_phases=workflow.HANDLING_ROLES, bulk_max=bulk_selection.MAX_ORDERS,
    )
    if htmx and not htmx.history_restore_request:
        # A link changed the filters: the form is refreshed too; typing in the form is not disturbed.
        context["refresh_form"] = htmx.trigger != "filters-form"
        return render_block(TEMPLATE, "results", **context)
    # The shortcuts sit above the results: only a whole page reads them.
    return render_template(TEMPLATE, saved=saved_searches.of(current_operator()), **context)


def _page(scope, filters: order_search.OrderFilters) -> tuple[dict[str, int], dict]:
    """The sub-state counters, and the asked page of the list with what the pager says."""
    per_page = current_app.config["ORDERS_PER_PAGE"]
    cap = order_search.count_cap(filters)
    page = _page_number(request.args.get("page"))
    counts, total = order_search.counters(scope, filters)  # total: exact, when it came along
    capped = total is not None and total > cap  # « Plus de 10 000 », as when counted
    # Past page 1 the count comes first, so that a page beyond the end shows the last one.
    if total is None and page > 1:
        total = order_search.count(scope, filters)
        capped = total > cap
    if total is not None and not capped:
        page = min(page, _page_count(total, per_page))
    rows = _page_rows(scope, filters, page, per_page)
    if total is None and len(rows) > per_page:
        total = order_search.count(scope, filters)
        capped = total > cap
    elif total is None:
        total = len(rows)  # the whole list is on page 1: nothing left to count
    return counts, dict(orders=rows[:per_page], page=page, total=total, capped=capped,
                        last_page=None if capped else _page_count(total, per_page),
                        has_next=len(rows) > per_page, count_cap=cap)


@bp.get("/nouveautes")
@passive
@login_required
def changes_notice():
    """Polled by the list: says how many orders changed since it was loaded."""
    scope = current_scope()
    filters = _filters(scope)
    try:
        since = dt.datetime.fromisoformat(_url_args().get("since") or "")
    except ValueError:
        since = utcnow()
    changed = order_search.changed_since(scope, filters, since)
    return render_template("orders/_changes_notice.html", changed=changed, filters=filters,
                           loaded_at=since.isoformat())


def _filters(scope) -> order_search.OrderFilters:
    return order_search.parse_filters(_url_args(), scope)


def _url_args() -> dict[str, str]:
    """The URL's arguments, those of older links under their French names read as English."""
    args = request.args.to_dict()
    for french, english in FRENCH_NAMES.items():
        older = args.pop(french, "")
        args[english] = args.get(english) or older
    args["sort"] = FRENCH_SORTS.get(args["sort"], args["sort"])
    return args


@bp.post("/recherches")
@login_required
def save_search():
    """« Enregistrer cette recherche »: the filters the form carries, under the name typed."""
    filters = order_search.parse_filters(request.form.to_dict(), current_scope())
    try:
        saved_searches.save(current_operator(), request.form.get("search_name", ""), filters,
                            ip=client_ip())
        flash(f"Recherche « {' '.join(request.form.get('search_name', '').split())} » "
              f"enregistrée.", "success")
    except workflow.Refused as refusal:
        flash(refusal.message, "error")
    return redirect(url_for(".list_orders", **filters.url_args()), 303)


@bp.post("/recherches/<int:search_id>/suppression")
@login_required
def delete_search(search_id: int):
    operator = current_operator()
    search = saved_searches.find(operator, search_id)
    if search is None:
        abort(404)
    saved_searches.delete(search, operator, ip=client_ip())
    flash(f"Recherche « {search.name} » supprimée.", "success")
    return redirect(url_for(".list_orders"), 303)


@bp.get("/export.csv")
@login_required
def export_csv():
    """The current filtered list as CSV for a French spreadsheet (BOM, « ; »), streamed."""
    scope = current_scope()
    filters = _filters(scope)
    audit.record("orders_exported", operator=current_operator(), ip=client_ip(),
                 details={"filters": filters.url_args()})
    query = order_search.search(scope, filters)
    response = Response(stream_with_context(_csv_lines(query)), mimetype="text/csv")
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    response.headers["Content-Disposition"] = f'attachment; filename="commandes-{stamp}.csv"'
    return response


def _csv_lines(query):
    # The selection's export writes the same lines.
    return spreadsheet_csv.lines(itertools.chain(
        [export.COLUMNS], (export.row(order) for order in query.iterator())))


def _page_rows(scope, filters, page: int, per_page: int) -> list[dict]:
    """One row more than shown says whether a next page exists, even past the counted cap.
    Each row says who else is reviewing that order right now (``reviewer``)."""
    ids = order_search.page_ids(scope, filters, (page - 1) * per_page, per_page + 1)
    return list_rows(ids, scope, excluding=current_operator())


def _page_count(total: int, per_page: int) -> int:
    return max(1, (total + per_page - 1) // per_page)


def _page_number(raw: str | None) -> int:
    """A bad or huge page number falls back to a valid page, never an error."""
    try:
        return max(1, min(int(raw or 1), 10**6))
    except ValueError:
        return 1
