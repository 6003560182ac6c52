"""Revocation requests made by a holder or requester without login: the one-time code that
proves them (sent to the order's Contact OTP), and the request a revocation order carries."""
from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField, TextField

from models.base import BaseModel, OneTimeCodeRow, utcnow
from models.orders import Order


class RevocationClaim(OneTimeCodeRow):
    """Someone asks to revoke the certificate ``serial_hex`` of ``order``: the latest code sent
    to the Contact OTP (kept as a keyed hash), and once the code was typed back, the proof the
    request form carries (kept as a hash, spent by the request)."""
    order = ForeignKeyField(Order, backref="revocation_claims", on_delete="CASCADE")
    serial_hex = CharField()
    channel = CharField(default="email")  # email | sms
    recipient = CharField(default="")
    code_hash = CharField(null=True)
    created_at = DateTimeField(default=utcnow)
    verified_at = DateTimeField(null=True)
    proof_hash = CharField(null=True)
    used_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("order", "serial_hex", "created_at"), False),)


class RevocationRequest(BaseModel):
    """What a revocation order (processus « Révocation ») was asked for: the certificate, the
    reason chosen, the comment, who asked and whether the certificate was suspended at once.
    ``open_serial`` is the serial while the request waits, NULL once decided: its unique
    index lets one request at a time wait for a certificate."""
    order = ForeignKeyField(Order, unique=True, backref="revocation_requests",
                            on_delete="CASCADE")
    previous_order = ForeignKeyField(Order, on_delete="CASCADE", backref="revocations_asked")
    serial_hex = CharField(index=True)
    open_serial = CharField(null=True, unique=True)
    choice = CharField()               # workflow.REVOCATION_CHOICES
    comment = TextField(default="")
    asked_via = CharField()            # workflow.REVOCATION_ASKED_VIA
    contact = CharField(default="")    # the Contact OTP that received the code
    asked_at = DateTimeField(default=utcnow)
    suspended_at = DateTimeField(null=True)
    decided_at = DateTimeField(null=True)
