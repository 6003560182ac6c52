"""« Recherches enregistrées »: an operator names the Commandes list's current filters; they
show as shortcuts above the list. Only the filters are kept (never the page), as the list's
own URL arguments, so a shortcut opens exactly the list the operator saved — each of its
values checked again by the list when it opens."""
from __future__ import annotations

from urllib.parse import urlencode

import workflow
from models import Operator, SavedSearch, db
from models.prepared import PreparedQuery
from services import audit
from services.orders.order_search import OrderFilters

NAME_MAX = 60
PER_OPERATOR = 20
ACTION_SAVED = "search_saved"
ACTION_DELETED = "search_deleted"
AUDIT_ACTIONS = {ACTION_SAVED: "Recherche enregistrée", ACTION_DELETED: "Recherche supprimée"}


def of(operator: Operator) -> list[SavedSearch]:
    return list(_OF_OPERATOR.execute(operator_id=operator.id))


_OF_OPERATOR = PreparedQuery(  # read by every whole list page
    lambda operator_id: (SavedSearch.select().where(SavedSearch.operator == operator_id)
                         .order_by(SavedSearch.name)),
    "operator_id")


def find(operator: Operator, search_id: int) -> SavedSearch | None:
    """One of the operator's own searches (another operator's id finds nothing)."""
    return SavedSearch.get_or_none((SavedSearch.id == search_id)
                                   & (SavedSearch.operator == operator.id))


def save(operator: Operator, name: str, filters: OrderFilters, ip: str = "") -> SavedSearch:
    """Save the filters under ``name`` (a search of the same name is replaced). Raises Refused."""
    name = " ".join((name or "").split())
    query = urlencode(filters.url_args())
    problems = []
    if not name:
        problems.append("Donnez un nom à la recherche.")
    elif len(name) > NAME_MAX:
        problems.append(f"Le nom de la recherche est trop long ({NAME_MAX} caractères au plus).")
    if not query:
        problems.append("Aucun filtre n'est choisi : il n'y a rien à enregistrer.")
    with db.atomic():
        existing = SavedSearch.get_or_none((SavedSearch.operator == operator.id)
                                           & (SavedSearch.name == name))
        if existing is None and len(of(operator)) >= PER_OPERATOR:
            problems.append(f"Vous avez déjà {PER_OPERATOR} recherches enregistrées : "
                            f"supprimez-en une d'abord.")
        if problems:
            raise workflow.Refused(problems)
        if existing is not None:
            SavedSearch.update(query=query).where(SavedSearch.id == existing.id).execute()
            search = SavedSearch.get_by_id(existing.id)
        else:
            search = SavedSearch.create(operator=operator.id, name=name, query=query)
        audit.record(ACTION_SAVED, operator=operator, ip=ip,
                     details={"nom": name, "filtres": query,
                              **({"avant": {"filtres": existing.query}} if existing else {})})
    return search


def delete(search: SavedSearch, operator: Operator, ip: str = "") -> None:
    with db.atomic():
        SavedSearch.delete().where(SavedSearch.id == search.id).execute()
        audit.record(ACTION_DELETED, operator=operator, ip=ip,
                     details={"nom": search.name, "filtres": search.query})
