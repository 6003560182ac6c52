"""What every figure of the page shares: when an order counts as received, and the orders the
operator may count (their AE, their portals, the « Portail » filter)."""
from __future__ import annotations

from peewee import SQL, Case, fn

import workflow
from models import Order, OrderIntake, OperatorScope
from services.statistics import time_sql
from services.statistics.filters import StatisticsFilters


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


def had_draft():
    """The order began as a draft of the ordering page or the API (its OrderIntake row)."""
    return fn.EXISTS(OrderIntake.select(SQL("1")).where(OrderIntake.order == Order.id))


def received_at():
    """When the order reached the AE — « reçue »:

    - ``submitted_at``, when the requester sent it (« Envoyer la commande », or the API);
    - else ``created_at``, for an order that never was a draft (older or paper orders,
      entered at the AE): it reached the AE when it was created;
    - else never: a draft still being filled in (« Saisie des informations »), or cancelled
      before it was sent (abandoned: ``order_draft_expired``).

    An order out of « Saisie des informations » that had a draft always has ``submitted_at``
    (leaving that phase means sending it) unless it was cancelled: only cancelled orders need
    the draft looked up."""
    return Case(None, [
        (Order.submitted_at.is_null(False), Order.submitted_at),
        (Order.phase == workflow.PHASE_ENTRY, None),
        ((Order.phase == workflow.PHASE_CANCELLED) & had_draft(), None),
    ], Order.created_at)


def received_since_created():
    """Orders received when they were created (no ``submitted_at``): the second branch of
    received_at, as conditions, for the queries that look these up by ``created_at``."""
    return [Order.submitted_at.is_null(),
            Order.phase != workflow.PHASE_ENTRY,
            ~((Order.phase == workflow.PHASE_CANCELLED) & had_draft())]


def open_received_at():
    """received_at for an order past « Saisie des informations » and not cancelled: such an
    order was received, when it was sent or else when it was created."""
    return fn.COALESCE(Order.submitted_at, Order.created_at)
