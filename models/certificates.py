"""Certificates on the operators' side: the ones bound to operators for login, the CAs an AE
trusts for them, and the register of everything the embedded CA issued."""
from __future__ import annotations

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, TextField

from models.base import BaseModel, utcnow
from models.tenants import AE, Operator


class OperatorCertificate(BaseModel):
    """A certificate bound to an operator: the only way to log in."""
    operator = ForeignKeyField(Operator, backref="certificates", on_delete="CASCADE")
    fingerprint_sha256 = CharField(unique=True)  # hex, lowercase
    subject = CharField()
    issuer = CharField()
    serial_hex = CharField()
    not_after = DateTimeField()
    pem = TextField()
    bound_at = DateTimeField(default=utcnow)
    # Set when the embedded CA revoked it from the administration: login is refused from then.
    revoked_at = DateTimeField(null=True)
    revocation_reason = CharField(null=True)  # RFC 5280 name (keyCompromise…)


class TrustedCA(BaseModel):
    """A CA certificate an AE trusts for its operators' login certificates."""
    ae = ForeignKeyField(AE, backref="trusted_cas", on_delete="CASCADE")
    name = CharField()
    fingerprint_sha256 = CharField()
    pem = TextField()
    is_root = BooleanField(default=True)

    class Meta:
        indexes = ((("ae", "fingerprint_sha256"), True),)


class IssuedCertificate(BaseModel):
    """Register of every certificate the embedded CA issued, for revocation and the CRL."""
    serial_hex = CharField(unique=True)
    kind = CharField()  # operator | holder | seal | ca
    subject = CharField()
    not_before = DateTimeField()
    not_after = DateTimeField()
    pem = TextField()
    issued_at = DateTimeField(default=utcnow)
    revoked_at = DateTimeField(null=True, index=True)
    revocation_reason = CharField(null=True)
    # The signing CA's key id (hex, its SubjectKeyIdentifier): each CA's CRL and the OCSP
    # responder select its own rows without parsing every certificate.
    issuer_key_id = CharField(null=True)

    class Meta:
        indexes = ((("issuer_key_id", "revoked_at"), False),)
