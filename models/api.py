"""The machine interface's rows: API clients of an AE (bound to portals, with scopes), their
secrets (kept as hashes; two live at once while a rotation overlaps), and the answers kept
for ``Idempotency-Key``."""
from __future__ import annotations

from peewee import (CharField, DateTimeField, ForeignKeyField, IntegerField, TextField)

from models.base import BaseModel, utcnow
from models.tenants import AE, Portal


class ApiClient(BaseModel):
    ae = ForeignKeyField(AE, backref="api_clients", on_delete="CASCADE")
    name = CharField()
    scopes = CharField(default="")  # comma-separated, see services.api.clients.SCOPES
    created_at = DateTimeField(default=utcnow)
    created_by = CharField(default="")  # who created it, as the audit trail names them
    revoked_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("ae", "name"), True),)

    @property
    def scope_set(self) -> set[str]:
        return {scope for scope in self.scopes.split(",") if scope}


class ApiClientPortal(BaseModel):
    client = ForeignKeyField(ApiClient, backref="portal_links", on_delete="CASCADE")
    portal = ForeignKeyField(Portal, on_delete="CASCADE")

    class Meta:
        indexes = ((("client", "portal"), True),)


class ApiSecret(BaseModel):
    """One credential of a client: ``rad_<key_id>_<secret>``; only the secret's hash is kept."""
    client = ForeignKeyField(ApiClient, backref="secrets", on_delete="CASCADE")
    key_id = CharField(unique=True)
    secret_hash = CharField()
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(null=True)  # set on the old secret when a rotation overlaps
    last_used_at = DateTimeField(null=True)


class IdempotentRequest(BaseModel):
    """The first answer to a POST carrying ``Idempotency-Key``, replayed for its retries."""
    client = ForeignKeyField(ApiClient, on_delete="CASCADE")
    key = CharField()
    fingerprint = CharField()  # method, path and body: the same key for another request is refused
    status = IntegerField(null=True)  # None while the first request is being answered
    body = TextField(default="")
    location = CharField(null=True)
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("client", "key"), True),)
