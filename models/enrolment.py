"""An operator's login key made through the token bridge: enrolment on a blank key, renewal on
the operator's key, and the operator's own PIN at first use."""
from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField, TextField

from models.base import BaseModel, utcnow
from models.tenants import AE, Operator


class OperatorEnrolment(BaseModel):
    """One try at putting an operator's login certificate on a USB key: the instruction the
    server signed for the bridge (bound to the operator, the key and a single-use nonce), the
    certificate issued for it and how the try ended; for an enrolment, then, whether the
    operator has replaced the key's initial PIN by their own."""
    ae = ForeignKeyField(AE, on_delete="CASCADE")
    operator = ForeignKeyField(Operator, backref="enrolments", on_delete="CASCADE")
    admin = ForeignKeyField(Operator, null=True, on_delete="SET NULL")
    kind = CharField()                       # enrolment | renewal
    nonce = CharField(unique=True)
    instruction = TextField()                # canonical JSON, exactly as signed
    token_serial = CharField()
    token_label = CharField(default="")
    key_type = CharField()                   # bridge_protocol.KEY_TYPES
    renews_sha256 = CharField(null=True)     # renewal: the certificate it replaces
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    state = CharField(default="open")        # open | issued | written | failed | superseded
    failure = TextField(null=True)           # the French reason
    finished_at = DateTimeField(null=True)
    serial_hex = CharField(null=True)        # the certificate issued for this try
    fingerprint_sha256 = CharField(null=True, unique=True)
    public_key_sha256 = CharField(null=True, unique=True)  # a key is certified once
    pem = TextField(null=True)
    pin_nonce = CharField(null=True, unique=True)  # first login: the PIN instruction's nonce
    pin_nonce_expires_at = DateTimeField(null=True)
    pin_set_at = DateTimeField(null=True)    # null: the key still carries the initial PIN

    class Meta:
        indexes = ((("operator", "state"), False),)
