"""E-mails to send (the outbox), the AEs' wordings of them, and the activity digests."""
from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from models.base import BaseModel, OrderRow, utcnow
from models.orders import Order
from models.tenants import AE, Operator

if TYPE_CHECKING:  # the scope module imports these models
    from models.scope import OperatorScope


class Notification(OrderRow):
    ae = ForeignKeyField(AE, on_delete="CASCADE")
    order = ForeignKeyField(Order, null=True, backref="notifications", on_delete="CASCADE")
    type = CharField()
    recipient = CharField()
    subject = CharField()
    body = TextField()
    sent_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)
    state = CharField(default="queued", index=True)  # queued | sent | failed
    tries = IntegerField(default=0)
    next_try_at = DateTimeField(default=utcnow, index=True)
    last_error = TextField(null=True)
    message_id = CharField(unique=True)

    class Meta:
        indexes = ((("ae", "type", "created_at", "order"), False),)  # « Statistiques »

    @classmethod
    def visible_to(cls, scope: OperatorScope):
        return (cls
                .select(cls)
                .join(Order)
                .where((cls.ae == scope.ae_id) & scope.order_condition()))


class MessageTemplate(BaseModel):
    """An AE's wording of one notification type; the built-in wording serves until an admin
    edits it (services.messaging.wordings.DEFAULT_TEMPLATES)."""
    ae = ForeignKeyField(AE, backref="message_templates", on_delete="CASCADE")
    code = CharField()  # see services.messaging.wordings.MESSAGE_TYPES
    subject = CharField()
    body = TextField()
    updated_at = DateTimeField(default=utcnow)
    updated_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("ae", "code"), True),)

    @classmethod
    def of_ae(cls, ae_id: int):
        return cls.select().where(cls.ae == ae_id)


class DigestRun(BaseModel):
    """One activity digest: an operator's slot, claimed once by the unique (operator, slot_at)
    index in the same transaction as its outbox e-mail, so several scheduler processes or a
    restart never send a slot twice. ``content`` is the digest as JSON, rendered to text and
    HTML when the outbox sends it."""
    operator = ForeignKeyField(Operator, backref="digest_runs", on_delete="CASCADE")
    slot_at = DateTimeField()            # the slot's time (UTC)
    created_at = DateTimeField(default=utcnow)
    notification = ForeignKeyField(Notification, null=True, unique=True, on_delete="SET NULL")
    content = TextField(default="{}")

    class Meta:
        indexes = ((("operator", "slot_at"), True),)
