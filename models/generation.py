"""Certificate generation onto a holder's USB key, the certificates issued, and the key's
hand-over and activation."""
from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField, TextField

from models.base import BaseModel, OneTimeCodeRow, utcnow
from models.certificates import IssuedCertificate
from models.orders import Order
from models.tenants import Operator


class GenerationAttempt(BaseModel):
    """One try at generating an order's certificate onto a blank USB key: the instruction the
    server signed for the token bridge (bound to the order, the key and a single-use nonce),
    and how the try ended."""
    order = ForeignKeyField(Order, backref="generation_attempts", on_delete="CASCADE")
    operator = ForeignKeyField(Operator, null=True, on_delete="SET NULL")
    nonce = CharField(unique=True)
    instruction = TextField()           # canonical JSON, exactly as signed
    token_serial = CharField()
    token_label = CharField(default="")
    key_type = CharField()              # see services.certificates.generation.KEY_TYPES
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    state = CharField(default="open")   # open | issued | written | failed | superseded
    failure = TextField(null=True)      # the French reason, shown in the order file
    finished_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("order", "state"), False),)


class HolderCertificate(BaseModel):
    """A holder certificate issued for an order, and whether it reached the key. Revocation is
    read from the CA's register (``issued``), the one place that decides the CRL."""
    order = ForeignKeyField(Order, backref="holder_certificates", on_delete="CASCADE")
    attempt = ForeignKeyField(GenerationAttempt, null=True, on_delete="SET NULL")
    issued = ForeignKeyField(IssuedCertificate, unique=True, on_delete="RESTRICT")
    serial_hex = CharField(unique=True)
    fingerprint_sha256 = CharField(unique=True)
    public_key_sha256 = CharField(unique=True)  # a key is certified once
    subject = CharField()
    key_type = CharField()
    token_serial = CharField()
    token_label = CharField(default="")
    not_before = DateTimeField()
    not_after = DateTimeField()
    pem = TextField()
    issued_at = DateTimeField(default=utcnow)
    issued_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL")
    written_at = DateTimeField(null=True)       # confirmed written onto the key

    class Meta:
        # « Statistiques » counts certificates written per week.
        indexes = ((("order", "issued_at"), False), (("written_at", "order"), False),
                   (("not_after", "written_at"), False),  # soon to expire: reminders, digest
                   (("issued_at", "id"), False))  # « Certificats », newest first


class Activation(OneTimeCodeRow):
    """Hand-over of an order's key: the holder's activation link, the one-time code sent to
    the Contact OTP (kept as a keyed hash), its tries and expiry, and when the holder set
    their own PIN."""
    order = ForeignKeyField(Order, backref="activations", on_delete="CASCADE")
    certificate = ForeignKeyField(HolderCertificate, unique=True, on_delete="CASCADE")
    link_hash = CharField(unique=True)  # SHA-256 of the link's secret
    link_expires_at = DateTimeField()
    delivered_at = DateTimeField(default=utcnow)
    delivered_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL")
    channel = CharField(default="email")  # email | sms
    recipient = CharField(default="")
    code_hash = CharField(null=True)
    # What the link's secret and the current code are derived from when their message leaves
    # the outbox (services.certificates.activation_messages): neither is stored in clear.
    link_nonce = CharField(null=True)
    code_nonce = CharField(null=True)
    verified_at = DateTimeField(null=True)
    activated_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("delivered_at", "order"), False),)  # « Statistiques »: a period's hand-overs
