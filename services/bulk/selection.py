"""The selection an action applies to: the orders ticked in the list, or every order of the
current search (its filters evaluated again here, on the server). Either way only the orders of
the operator's scope are kept, at most MAX_ORDERS."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import workflow
from models import Order, OperatorScope
from services.orders import order_search

MAX_ORDERS = 5_000
KIND_IDS, KIND_SEARCH = "ids", "search"
CHUNK = 500  # ids per IN (…): well under every engine's limit on bound parameters


def thousands(number: int) -> str:
    return f"{number:,}".replace(",", " ")


def count_phrase(number: int) -> str:
    """« 1 234 commandes sélectionnées », « 1 commande sélectionnée »."""
    if number == 0:
        return "Aucune commande sélectionnée"
    if number == 1:
        return "1 commande sélectionnée"
    return f"{thousands(number)} commandes sélectionnées"


TOO_MANY = (f"La sélection compte plus de {thousands(MAX_ORDERS)} commandes : une action porte "
            f"sur {thousands(MAX_ORDERS)} commandes au plus. Affinez la recherche.")
NOTHING = ("Aucune commande sélectionnée : cochez des commandes de la liste, ou « Tout "
           "sélectionner ».")


@dataclass(frozen=True)
class Selection:
    kind: str                        # KIND_IDS or KIND_SEARCH
    search: str                      # the list's URL arguments (also kept for « Retour »)
    orders: list[tuple[int, int]]    # (id, number), in the list's order

    @property
    def size(self) -> int:
        return len(self.orders)

    @property
    def phrase(self) -> str:
        return count_phrase(self.size)

    @property
    def ids_text(self) -> str:
        """The ticked ids as the next form carries them (one field, not thousands)."""
        return ",".join(str(order_id) for order_id, _ in self.orders)

    def stored(self) -> dict:
        """What the job row keeps of how the selection was made."""
        if self.kind == KIND_SEARCH:
            return {"search": self.search}
        return {"ids": self.size}


def resolve(scope: OperatorScope, *, ids: list[str], everything: bool,
            search: str = "") -> Selection:
    """The selection the form describes; Refused when it is empty or too large."""
    search = (search or "")[:2000]
    if everything:
        filters = order_search.parse_filters(dict(parse_qsl(search)), scope)
        orders = order_search.matching_ids(scope, filters, MAX_ORDERS + 1)
        kind = KIND_SEARCH
    else:
        orders = _ticked(scope, ids)
        kind = KIND_IDS
    if len(orders) > MAX_ORDERS:
        raise workflow.Refused([TOO_MANY])
    if not orders:
        raise workflow.Refused([NOTHING])
    return Selection(kind, search, orders)


def _ticked(scope: OperatorScope, raw_ids: list[str]) -> list[tuple[int, int]]:
    """The ids sent, as numbers, without repeats, limited to the scope (an id of another AE or
    of a portal the operator does not see is dropped), in the order they came."""
    wanted: dict[int, None] = {}
    for raw in raw_ids:
        for part in str(raw).split(","):
            part = part.strip()
            if part.isdigit():
                wanted[int(part)] = None
        if len(wanted) > MAX_ORDERS:
            raise workflow.Refused([TOO_MANY])
    ordered = list(wanted)
    numbers: dict[int, int] = {}
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start:start + CHUNK]
        numbers.update(Order.select(Order.id, Order.number)
                       .where(scope.order_condition() & Order.id.in_(chunk))
                       .tuples())
    return [(order_id, numbers[order_id]) for order_id in ordered if order_id in numbers]
