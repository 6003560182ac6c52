"""The audit trail: append-only, hash-chained events, and the head that serialises appends."""
from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import (JOIN, BigIntegerField, CharField, DateTimeField, ForeignKeyField, IntegerField,
                    TextField)

from models.base import BaseModel, utcnow
from models.orders import Order
from models.tenants import AE, Operator

if TYPE_CHECKING:  # the scope module imports these models
    from models.scope import OperatorScope


class AuditEvent(BaseModel):
    """Append-only, hash-chained event. Written only by services.audit."""
    at = DateTimeField(default=utcnow)
    ae = ForeignKeyField(AE, null=True, on_delete="RESTRICT")
    operator = ForeignKeyField(Operator, null=True, on_delete="RESTRICT")
    actor = CharField(default="")     # readable name kept even if the operator goes
    action = CharField(index=True)
    order = ForeignKeyField(Order, null=True, on_delete="RESTRICT")
    details = TextField(default="{}")  # canonical JSON
    ip = CharField(default="")
    prev_hash = CharField()
    hash = CharField(unique=True)

    class Meta:
        indexes = ((("order", "at"), False), (("ae", "at"), False))

    @classmethod
    def visible_to(cls, scope: OperatorScope):
        return cls.select().where(cls.ae == scope.ae_id)

    @classmethod
    def for_order(cls, order):
        """The order's events (``order``: the order or its id), oldest first."""
        return (cls
                .select(cls, Operator)
                .join(Operator, JOIN.LEFT_OUTER, on=(cls.operator == Operator.id))
                .where(cls.order == getattr(order, "id", order))
                .order_by(cls.id))


class AuditHead(BaseModel):
    """One row: the hash of the last event. Updating it first serialises appends."""
    id = IntegerField(primary_key=True)
    seq = BigIntegerField(default=0)
    last_hash = CharField(default="0" * 64)
