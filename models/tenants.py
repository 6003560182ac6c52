"""Tenants and the people who work for them: AEs, their portals, their operators."""
from __future__ import annotations

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField

from models.base import BaseModel, utcnow

ROLES = ("AEA", "AET", "admin")


class AE(BaseModel):
    """An Autorité d'Enregistrement: the tenant."""
    name = CharField(unique=True)
    four_eyes = BooleanField(default=False)
    digest_slots = CharField(default="07:10,12:10,17:10")
    created_at = DateTimeField(default=utcnow)
    holder_policy_oid = CharField(null=True)  # the AE's own certificate policy
    digest_send_empty = BooleanField(default=True)  # send a digest even when all is zero


class Portal(BaseModel):
    ae = ForeignKeyField(AE, backref="portals", on_delete="CASCADE")
    name = CharField()

    class Meta:
        indexes = ((("ae", "name"), True),)


class Operator(BaseModel):
    ae = ForeignKeyField(AE, backref="operators", on_delete="CASCADE")
    display_name = CharField()
    email = CharField(null=True)
    roles = CharField(default="AEA")  # comma-separated subset of ROLES
    all_portals = BooleanField(default=True)
    active = BooleanField(default=True)
    digest_enabled = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)

    @property
    def role_set(self) -> set[str]:
        return {r for r in self.roles.split(",") if r}

    def has_role(self, role: str) -> bool:
        return role in self.role_set

    def visible_portals(self) -> list[Portal]:
        """The portals this operator may see, by name."""
        query = Portal.select(Portal.id, Portal.name).where(Portal.ae == self.ae_id)
        if not self.all_portals:
            query = query.where(Portal.id.in_(
                OperatorPortal.select(OperatorPortal.portal).where(OperatorPortal.operator == self.id)))
        return list(query.order_by(Portal.name))


class OperatorPortal(BaseModel):
    operator = ForeignKeyField(Operator, backref="portal_links", on_delete="CASCADE")
    portal = ForeignKeyField(Portal, on_delete="CASCADE")

    class Meta:
        indexes = ((("operator", "portal"), True),)
