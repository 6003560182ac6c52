"""The AE's stock of blank USB keys and smart cards, each key's history (links to the audit
trail), the AE's stock rule, and the « Remise en face à face » record of a hand-over."""
from __future__ import annotations

from peewee import (BooleanField, CharField, DateField, DateTimeField, ForeignKeyField,
                    TextField)

from models.audit import AuditEvent
from models.base import BaseModel, utcnow
from models.generation import HolderCertificate
from models.orders import Order
from models.tenants import AE, Operator


class BlankKey(BaseModel):
    """A blank key the AE received. ``state``: see workflow.keys.KEY_STATES; ``order`` is the
    order whose certificate it received (or will: « attribuée »)."""
    ae = ForeignKeyField(AE, backref="blank_keys", on_delete="CASCADE")
    serial = CharField(max_length=64)       # the token's serial, as the bridge reads it
    model_name = CharField(default="")
    medium = CharField(default="usb")       # usb | card (workflow.keys.KEY_MEDIA)
    received_on = DateField()
    batch = CharField(default="")           # delivery batch or reference
    state = CharField(default="in_stock")
    order = ForeignKeyField(Order, null=True, on_delete="SET NULL", backref="blank_keys")
    defect_reason = TextField(null=True)
    added_at = DateTimeField(default=utcnow)
    added_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL")
    added_how = CharField(default="form")   # form | import | generation
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        # A serial is unique within an AE (another AE's stock stays invisible: no global check).
        indexes = ((("ae", "serial"), True), (("ae", "state", "serial"), False))

    @classmethod
    def of_ae(cls, ae_id: int):
        return cls.select().where(cls.ae == ae_id)

    @classmethod
    def by_serial(cls, ae_id: int, serial: str) -> "BlankKey | None":
        return cls.get_or_none((cls.ae == ae_id) & (cls.serial == serial))


class BlankKeyEvent(BaseModel):
    """An audit event about a key: its history is read from the audit trail through these."""
    key = ForeignKeyField(BlankKey, backref="events", on_delete="CASCADE", index=False)
    event = ForeignKeyField(AuditEvent, on_delete="RESTRICT")

    class Meta:
        indexes = ((("key", "event"), True),)


class KeyStockSettings(BaseModel):
    """The AE's rule for keys absent from its stock (« N'accepter que les clés du stock »)."""
    ae = ForeignKeyField(AE, unique=True, on_delete="CASCADE")
    stock_only = BooleanField(default=False)
    updated_at = DateTimeField(default=utcnow)
    updated_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL")


class FaceToFaceHandover(BaseModel):
    """« Remise en face à face »: the identity document the operator saw when handing the key
    to the holder, the date, who handed it over; one per certificate handed over."""
    order = ForeignKeyField(Order, backref="face_to_face_handovers", on_delete="CASCADE")
    certificate = ForeignKeyField(HolderCertificate, unique=True, on_delete="CASCADE")
    id_doc_type = CharField()
    id_doc_number = CharField()
    handed_on = DateField()
    operator = ForeignKeyField(Operator, null=True, on_delete="SET NULL")
    operator_name = CharField()             # as it was, even if the operator goes
    token_serial = CharField()
    recorded_at = DateTimeField(default=utcnow)
    audit_event = ForeignKeyField(AuditEvent, null=True, on_delete="RESTRICT")
