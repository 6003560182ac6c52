"""The Commandes tab: the operator's orders, newest first, scoped to its AE and portals."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from blueprints.common import current_scope, login_required
from models import Order

bp = Blueprint("orders", __name__, url_prefix="/commandes")


@bp.get("")
@login_required
def list_orders():
    per_page = current_app.config["ORDERS_PER_PAGE"]
    page = _page_number(request.args.get("page"))
    query = Order.listing(current_scope())
    total = query.count()
    last_page = max(1, (total + per_page - 1) // per_page)
    page = min(page, last_page)
    orders = list(query.paginate(page, per_page))
    return render_template("orders/list.html", orders=orders, page=page,
                           last_page=last_page, total=total)


def _page_number(raw: str | None) -> int:
    """A bad or huge page number falls back to a valid page, never an error."""
    try:
        return max(1, min(int(raw or 1), 10**6))
    except ValueError:
        return 1
