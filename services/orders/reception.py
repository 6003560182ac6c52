"""When an order counts as « reçue » (it reached the AE), written once: the « Statistiques »
page counts orders received by it (services.statistics) and the Commandes list filters on it
when its « Dates » are « de réception » (services.orders.order_search), so that the list shows,
for the same dates and portal, exactly the orders the statistics count as received."""
from __future__ import annotations

import datetime as dt
import operator
from functools import reduce

from peewee import SQL, Case, fn

import workflow
from models import Order, OrderIntake


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


def received_between(start: dt.datetime | None, end: dt.datetime | None, *,
                     ae_id: int | None = None, portal_ids: list[int] = ()):
    """The orders received from ``start`` (included) to ``end`` (excluded), naive UTC, either
    bound possibly None: received_at's two branches as range conditions — received_at itself
    would be computed on every order of the AE. With ``ae_id`` and ``portal_ids`` (the AE's
    portals counted), each branch names them, so that one range of the (ae, portal,
    submitted_at, created_at, phase) index answers it from the index alone."""
    def within(column) -> list:
        return ([column >= start] if start is not None else []) + \
               ([column < end] if end is not None else [])

    mine = [Order.ae == ae_id, Order.portal.in_(list(portal_ids))] if ae_id is not None else []
    sent = mine + (within(Order.submitted_at) or [Order.submitted_at.is_null(False)])
    created = mine + within(Order.created_at) + received_since_created()
    return reduce(operator.and_, sent) | reduce(operator.and_, created)
