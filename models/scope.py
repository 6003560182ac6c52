"""The tenancy scope: what one operator may see. Every tenant query on orders, documents,
notifications and audit events carries its condition, so a view cannot forget it."""
from __future__ import annotations

from models.documents import Document
from models.orders import Order
from models.tenants import Operator, Portal


class OperatorScope:
    """What one operator may see: its AE and its portals. Built once per request."""

    def __init__(self, operator: Operator):
        self.operator = operator
        self.ae_id = operator.ae_id
        self._portals = operator.visible_portals()
        self.portal_ids = [portal.id for portal in self._portals] or [-1]
        self.all_portals = operator.all_portals

    def order_condition(self):
        """The WHERE clause every tenant query on orders carries. An operator who sees all the
        AE's portals needs no portal test, which keeps counts on the (ae, …) indexes."""
        condition = Order.ae == self.ae_id
        if not self.all_portals:
            condition &= Order.portal.in_(self.portal_ids)
        return condition

    def order_or_none(self, order_id: int) -> Order | None:
        return Order.visible_to(self).where(Order.id == order_id).first()

    def order_by_number(self, number: int) -> Order | None:
        return Order.visible_to(self).where(Order.number == number).first()

    def document_or_none(self, document_id: int) -> Document | None:
        return Document.visible_to(self).where(Document.id == document_id).first()

    def portals(self) -> list[Portal]:
        """The visible portals (id and name), by name."""
        return self._portals
