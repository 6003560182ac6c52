"""What every figure of the page shares: when an order counts as received, and the orders the
operator may count (their AE, their portals, the « Portail » filter)."""
from __future__ import annotations

from models import Order, OperatorScope
from services.orders.reception import (had_draft, open_received_at, received_at,
                                       received_since_created)
from services.statistics import time_sql
from services.statistics.filters import StatisticsFilters

# « Reçue » is services.orders.reception's, shared with the Commandes list's « Dates de
# réception »; named here too, where every figure of the page takes its rules.
__all__ = ["counted_portals", "had_draft", "open_received_at", "order_conditions", "received_at",
           "received_since_created"]


def order_conditions(scope: OperatorScope, filters: StatisticsFilters, *,
                     leading: bool = True) -> list:
    """The tenancy scope (AE, visible portals) and the « Portail » filter, on Order.

    ``leading=False`` for a query that starts from another table's times (certificates,
    hand-overs) and reads each one's order by id: on SQLite the same conditions, written so
    that no index on the order table answers them (``+ 0``), or its planner would walk every
    order of the AE and look its certificates up, ten times slower. PostgreSQL's planner
    chooses well from its statistics, which ``+ 0`` would only blind."""
    if leading or time_sql.postgres():
        # The portals named even when the operator sees them all: the figures' indexes start
        # with (ae, portal, …) or (ae, phase, substate, portal, …).
        return [scope.order_condition(), Order.portal.in_(counted_portals(scope, filters))]
    conditions = [(Order.ae + 0) == scope.ae_id]
    if not scope.all_portals:
        conditions.append((Order.portal + 0).in_(scope.portal_ids))
    if filters.portal_id is not None:
        conditions.append((Order.portal + 0) == filters.portal_id)
    return conditions


def counted_portals(scope: OperatorScope, filters: StatisticsFilters) -> list[int]:
    """The ids of the portals counted: the operator's visible ones, or the one filtered on."""
    if filters.portal_id is not None:
        return [filters.portal_id]
    return list(scope.portal_ids)
