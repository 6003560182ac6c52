"""Tenants and the people who work for them: AEs, their portals, their operators."""
from __future__ import annotations

from peewee import (BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField,
                    TextField)

from models.base import BaseModel, utcnow
from models.prepared import PreparedQuery

ROLES = ("AEA", "AET", "admin")


class AE(BaseModel):
    """An Autorité d'Enregistrement: the tenant."""
    name = CharField(unique=True)
    four_eyes = BooleanField(default=False)
    digest_slots = CharField(default="07:10,12:10,17:10")
    created_at = DateTimeField(default=utcnow)
    holder_policy_oid = CharField(null=True)  # the AE's own certificate policy
    digest_send_empty = BooleanField(default=True)  # send a digest even when all is zero
    late_after_days = IntegerField(default=5)  # « en retard » past this many days in a sub-state
    # « Relances automatiques » of requesters whose dossier stays incomplete (0 days: none).
    reminder_after_days = IntegerField(default=7)
    reminder_max = IntegerField(default=2)
    cancel_incomplete = BooleanField(default=False)
    cancel_after_days = IntegerField(default=30)
    # How the AE signs its e-mails and documents (services.ae_settings.ae_identity).
    postal_address = TextField(null=True)  # one line per line of the address
    contact_email = CharField(null=True)
    contact_phone = CharField(null=True)
    # « Relances avant expiration (jours) »: days before a holder certificate expires at which
    # its holder and requester are reminded, largest first (« 90,30,7 »; empty: none).
    expiry_reminder_days = CharField(default="90,30,7")


class Portal(BaseModel):
    ae = ForeignKeyField(AE, backref="portals", on_delete="CASCADE")
    name = CharField()
    # The ordering page's address, /commander/<code>; None: the portal takes no orders online.
    code = CharField(null=True, unique=True)
    closed_at = DateTimeField(null=True)  # a closed portal's ordering page says so, takes nothing
    # Shown to requesters on its ordering pages and its orders' follow-up pages.
    contact_email = CharField(null=True)
    contact_phone = CharField(null=True)
    contact_address = TextField(null=True)  # one line per line of the address
    contact_hours = CharField(null=True)

    class Meta:
        indexes = ((("ae", "name"), True),)

    @classmethod
    def by_code(cls, code: str):
        """The portal with this ordering code, open or closed, with its AE, or None."""
        return (cls
                .select(cls, AE)
                .join(AE)
                .where(cls.code == code)
                .first())

    @classmethod
    def open_by_code(cls, code: str):
        """The open portal with this ordering code, with its AE, or None."""
        return (cls
                .select(cls, AE)
                .join(AE)
                .where((cls.code == code) & cls.closed_at.is_null())
                .first())


class Offer(BaseModel):
    """A certificate offer an AE sells on its ordering pages: its name, the validities and the
    media (« Clé USB », « Carte à puce ») it comes with. ``portal`` None: every portal."""
    ae = ForeignKeyField(AE, backref="offers", on_delete="CASCADE")
    portal = ForeignKeyField(Portal, null=True, backref="offers", on_delete="CASCADE")
    name = CharField()
    durations = CharField(default="1,2,3")  # years, comma-separated
    media = CharField(default="usb,card")   # see workflow.MEDIA
    position = IntegerField(default=0)
    active = BooleanField(default=True)

    @property
    def duration_list(self) -> list[int]:
        return [int(part) for part in self.durations.split(",") if part.strip().isdigit()]

    @property
    def media_list(self) -> list[str]:
        return [part for part in self.media.split(",") if part]

    @classmethod
    def on_sale(cls, portal: "Portal"):
        """The active offers of ``portal``'s AE sold on that portal, in display order."""
        return (cls
                .select()
                .where((cls.ae == portal.ae_id) & cls.active
                       & (cls.portal.is_null() | (cls.portal == portal.id)))
                .order_by(cls.position, cls.id))


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
        """The portals this operator may see, by name (read on every request: built once)."""
        if self.all_portals:
            return list(_AE_PORTALS.execute(ae_id=self.ae_id))
        return list(_OPERATOR_PORTALS.execute(ae_id=self.ae_id, operator_id=self.id))


class OperatorPortal(BaseModel):
    operator = ForeignKeyField(Operator, backref="portal_links", on_delete="CASCADE")
    portal = ForeignKeyField(Portal, on_delete="CASCADE")

    class Meta:
        indexes = ((("operator", "portal"), True),)


def _portals(ae_id, operator_id=None):
    query = Portal.select(Portal.id, Portal.name).where(Portal.ae == ae_id)
    if operator_id is not None:
        query = query.where(Portal.id.in_(
            OperatorPortal.select(OperatorPortal.portal).where(OperatorPortal.operator == operator_id)))
    return query.order_by(Portal.name)


_AE_PORTALS = PreparedQuery(_portals, "ae_id")
_OPERATOR_PORTALS = PreparedQuery(_portals, "ae_id", "operator_id")
