"""Operator login: the single-use challenges the token bridge signs, and the server-side login
sessions the session cookie points to."""
from __future__ import annotations

from peewee import JOIN, CharField, DateTimeField, ForeignKeyField

from models.base import BaseModel, utcnow
from models.prepared import PreparedQuery
from models.certificates import OperatorCertificate
from models.tenants import AE, Operator


class LoginChallenge(BaseModel):
    nonce = CharField(unique=True)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)


class LoginSession(BaseModel):
    """One login of an operator with one certificate, from the login until it ends. The cookie
    holds a random token; only its SHA-256 is kept here, so reading this table does not let
    anyone act as the operator. A row is never reopened: logout, expiry, deactivation of the
    operator, unbinding or revocation of the certificate set ``ended_at`` and say why in
    ``end_reason``."""
    token_hash = CharField(unique=True)
    operator = ForeignKeyField(Operator, backref="login_sessions", on_delete="CASCADE",
                               index=False)  # the (operator, ended_at) index serves
    certificate_fingerprint = CharField()  # SHA-256 of the certificate that logged in, hex
    method = CharField()                   # bridge | proxy
    created_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)
    ended_at = DateTimeField(null=True)
    end_reason = CharField(null=True)      # see services.operator_auth.sessions.END_REASONS
    ip = CharField(default="")
    user_agent = CharField(default="")

    class Meta:
        indexes = ((("operator", "ended_at"), False),)

    @classmethod
    def with_operator(cls, token_hash: str):
        """The session, its operator and AE, and the operator's certificate it was opened with
        when still bound (``certificate`` is None otherwise, its id and revocation date
        loaded), in one query."""
        bound = ((OperatorCertificate.operator == cls.operator)
                 & (OperatorCertificate.fingerprint_sha256 == cls.certificate_fingerprint))
        return (cls
                .select(cls, Operator, AE, OperatorCertificate.id, OperatorCertificate.revoked_at)
                .join(Operator, on=(cls.operator == Operator.id))
                .join(AE, on=(Operator.ae == AE.id))
                .switch(cls)
                .join(OperatorCertificate, JOIN.LEFT_OUTER, on=bound, attr="certificate")
                .where(cls.token_hash == token_hash))

    @classmethod
    def of_token(cls, token_hash: str) -> "LoginSession | None":
        """``with_operator``'s row, read on every request: a join of four tables planned once
        per connection (models.prepared)."""
        return _WITH_OPERATOR.first(token_hash=token_hash)


_WITH_OPERATOR = PreparedQuery(lambda token_hash: LoginSession.with_operator(token_hash).limit(1),
                               "token_hash")

