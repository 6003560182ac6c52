"""Webhooks (Standard Webhooks): the AEs' endpoints, the events written in the transaction of
the change they report, and one delivery per (event, endpoint) sent by a job."""
from __future__ import annotations

from peewee import (BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField,
                    TextField)

from models.base import BaseModel, utcnow
from models.orders import Order
from models.tenants import AE, Operator


class WebhookEndpoint(BaseModel):
    """Where an AE wants its events POSTed. The ``whsec_`` secret is stored because the
    signature is an HMAC with the shared secret: it is shown once, never logged nor audited.
    After a rotation the previous secret signs alongside until ``previous_secret_expires_at``."""
    ae = ForeignKeyField(AE, backref="webhook_endpoints", on_delete="CASCADE")
    url = TextField()
    description = CharField(default="")
    event_types = TextField(default="")  # comma-separated, see services.webhooks.events.EVENT_TYPES
    secret = CharField()
    previous_secret = CharField(null=True)
    previous_secret_expires_at = DateTimeField(null=True)
    allow_private_network = BooleanField(default=False)  # set by the AE's admin, on purpose
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    created_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("ae", "active"), False),)

    def __repr__(self) -> str:  # never the secrets
        return f"<WebhookEndpoint {self.id} {self.url}>"

    @property
    def event_list(self) -> list[str]:
        return [part for part in self.event_types.split(",") if part]

    def signing_secrets(self, now) -> list[str]:
        """The current secret, and the previous one while its overlap lasts."""
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and \
                self.previous_secret_expires_at > now:
            secrets.append(self.previous_secret)
        return secrets

    @classmethod
    def of_ae(cls, ae_id: int):
        return cls.select().where(cls.ae == ae_id)

    @classmethod
    def subscribed(cls, ae_id: int, event_type: str) -> list["WebhookEndpoint"]:
        """The AE's active endpoints that chose ``event_type`` (a handful per AE: the list of
        types is read here rather than searched in SQL)."""
        active = cls.select(cls.id, cls.event_types).where((cls.ae == ae_id) & cls.active)
        return [endpoint for endpoint in active if event_type in endpoint.event_list]


class WebhookEvent(BaseModel):
    """One change reported to the AE's systems: its type, its payload exactly as signed and
    sent, and its ``webhook-id`` (``msg_…``), the same on every try and every endpoint."""
    ae = ForeignKeyField(AE, on_delete="CASCADE")
    order = ForeignKeyField(Order, null=True, backref="webhook_events", on_delete="CASCADE")
    type = CharField()
    payload = TextField()
    webhook_id = CharField(unique=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("ae", "created_at"), False),)


class WebhookDelivery(BaseModel):
    """One event to one endpoint, with the outbox's states and lease. ``order`` repeats the
    event's, so the rule « an order's deliveries to an endpoint go in order » reads one index."""
    event = ForeignKeyField(WebhookEvent, backref="deliveries", on_delete="CASCADE")
    endpoint = ForeignKeyField(WebhookEndpoint, backref="deliveries", on_delete="CASCADE")
    order = ForeignKeyField(Order, null=True, on_delete="CASCADE")
    state = CharField(default="queued")  # queued | sending | sent | failed
    tries = IntegerField(default=0)
    next_try_at = DateTimeField(default=utcnow)
    last_status = IntegerField(null=True)      # the HTTP status of the last answer
    last_error = TextField(null=True)          # why the last try failed, in French
    response_excerpt = TextField(null=True)    # at most 1 KB of the last answer's body
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)

    class Meta:
        indexes = (
            (("event", "endpoint"), True),
            (("state", "next_try_at"), False),             # the job's due deliveries
            (("endpoint", "order", "state"), False),      # an earlier one not sent yet
            (("endpoint", "created_at"), False),           # an endpoint's recent deliveries
        )
