"""« Journal d'administration »: the AE's admin acts, newest first, filtered by who, what and
dates (a GET form: filters live in the URL, so a filtered page can be bookmarked or shared)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request

from blueprints.common import current_operator, role_required
from services import admin_journal

bp = Blueprint("admin_journal", __name__, url_prefix="/parametres/journal")


def _day(name: str) -> tuple[dt.date | None, str | None]:
    text = request.args.get(name, "").strip()
    if not text:
        return None, None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, pattern).date(), None
        except ValueError:
            continue
    return None, f"Date illisible : « {text} » (attendu jj/mm/aaaa)."


@bp.get("")
@role_required("admin")
def journal():
    ae_id = current_operator().ae_id
    people = admin_journal.operators(ae_id)
    who = request.args.get("qui", type=int)
    since, since_problem = _day("du")
    until, until_problem = _day("au")
    filters = admin_journal.Filters(
        operator_id=who if who in {person.id for person in people} else None,
        action=request.args.get("quoi") or None, since=since, until=until)
    return render_template("admin/journal.html", filters=filters, people=people,
                           actions=sorted(admin_journal.ADMIN_ACTIONS.items(),
                                          key=lambda item: item[1]),
                           result=admin_journal.page(ae_id, filters,
                                                     request.args.get("page", 1, type=int)),
                           problems=[p for p in (since_problem, until_problem) if p])
