"""Orders and the people and companies they name; who has an order file open."""
from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import (JOIN, BigIntegerField, BooleanField, CharField, DateTimeField,
                    ForeignKeyField, IntegerField, TextField, fn)

from models.base import BaseModel, phone_key, search_key, utcnow
from models.prepared import one_of
from models.tenants import AE, Operator, Portal

if TYPE_CHECKING:  # the scope module imports these models
    from models.scope import OperatorScope


class Company(BaseModel):
    ae = ForeignKeyField(AE, on_delete="CASCADE")
    name = CharField()  # raison sociale
    siren = CharField(index=True)  # 9 digits, no prefix, no spaces
    rcs_registered = BooleanField(default=True)
    name_search = CharField(default="", index=True)  # search_key(name): « Raison sociale »

    def save(self, *args, **kwargs):
        self.name_search = search_key(self.name)
        return super().save(*args, **kwargs)


class Person(BaseModel):
    ae = ForeignKeyField(AE, on_delete="CASCADE")
    civility = CharField(default="")  # M. / Mme
    first_name = CharField()
    last_name = CharField()
    email = CharField(default="")  # indexed in lower case (database.EXPRESSION_INDEXES)
    phone = CharField(default="")
    phone_search = CharField(default="", index=True)  # phone_key(phone): « Téléphone »

    def save(self, *args, **kwargs):
        self.phone_search = phone_key(self.phone)
        return super().save(*args, **kwargs)


class Order(BaseModel):
    number = BigIntegerField(unique=True)
    ae = ForeignKeyField(AE, backref="orders", on_delete="CASCADE")
    portal = ForeignKeyField(Portal, backref="orders", on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    company = ForeignKeyField(Company, on_delete="CASCADE")
    holder = ForeignKeyField(Person, on_delete="CASCADE")
    legal_representative = ForeignKeyField(Person, on_delete="CASCADE")
    mandataire = ForeignKeyField(Person, null=True, on_delete="SET NULL")
    requester_name = CharField(default="")
    requester_email = CharField(default="")
    product = CharField(default="Certificat RGS** / eIDAS qualifié sur clé USB")
    validity_years = IntegerField(default=3)
    medium = CharField(default="usb")           # see workflow.MEDIA
    process = CharField(default="generation")  # see workflow.PROCESSES
    phase = CharField(default="entry")          # see workflow.PHASES
    substate = CharField(null=True)             # see workflow.SUBSTATES; stored for filtering
    order_type = CharField(default="D")         # D (dématérialisé) | P (papier)
    otp_contact = CharField(default="")
    id_doc_type = CharField(null=True)          # CNI | PASSEPORT | TITRE_SEJOUR
    id_doc_number = CharField(null=True)
    id_doc_recorded_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL",
                                         backref="id_docs_recorded")
    payment_ok = BooleanField(default=False)
    dossier_complete_ok = BooleanField(default=False)
    validated_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL",
                                   backref="validated_orders")
    validated_at = DateTimeField(null=True)
    validated_cert_fingerprint = CharField(null=True)
    holder_search = CharField(default="")       # see holder_search_fields()
    holder_search_last = CharField(default="")  # idem, surname first
    requester_modified_at = DateTimeField(null=True)  # last change made on the follow-up page
    submitted_at = DateTimeField(null=True)     # « Envoyer la commande »: the draft reached the AE
    # « Mettre en attente »: when and why the order was put on hold (None: not on hold).
    on_hold_at = DateTimeField(null=True)
    hold_comment = TextField(null=True)
    held_substate = CharField(null=True)  # the sub-state its progress gives, kept under the hold
    # « Prise en charge »: the operator who handles the order, and since when.
    handled_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL", backref="handled_orders")
    handled_since = DateTimeField(null=True)
    # When the order entered its current (phase, sub-state): « en attente depuis ». A database
    # trigger keeps it (database.STATE_SINCE_TRIGGERS), whichever code moves the order.
    state_since = DateTimeField(default=utcnow)
    # Renouvellement and Révocation: the order whose certificate this one renews or revokes,
    # that certificate's serial (lowercase hex, as the CA's register spells it), and the
    # reason a revocation was asked for (RFC 5280 name).
    previous_order = ForeignKeyField("self", null=True, on_delete="SET NULL",
                                     backref="follow_up_orders")
    target_serial = CharField(null=True, index=True)
    revocation_reason = CharField(null=True)
    # Carried by the follow-up and renewal links' tokens: « Révoquer le lien de suivi » adds
    # one, and every link made before stops working.
    link_generation = IntegerField(default=0)

    class Meta:
        indexes = (
            (("ae", "portal", "created_at"), False),
            # Sub-state lists newest first, and their counters under any date range, portal,
            # type or processus filter, read from the index alone.
            (("ae", "phase", "substate", "created_at", "portal", "order_type", "process"), False),
            (("ae", "order_type", "created_at"), False),  # the Type filter, newest first
            (("ae", "process", "created_at"), False),     # the Processus filter, newest first
            (("ae", "created_at"), False),
            (("ae", "number"), False),  # the list sorted by number
            # A name's orders, with their dates: the period is checked in the index.
            (("holder_search", "created_at"), False),
            (("holder_search_last", "created_at"), False),
            (("ae", "updated_at"), False),
            # « Mes dossiers », « Non attribuées »: their count and counters from the index.
            (("ae", "handled_by", "phase", "substate", "created_at"), False),
            (("ae", "state_since"), False),  # the list by « En attente depuis »
            # « Statistiques »: received, validated, cancelled per week and portal, and the
            # backlog, each counted from its index alone (services.statistics).
            (("ae", "portal", "submitted_at", "created_at", "phase"), False),
            (("ae", "portal", "validated_at", "submitted_at", "created_at"), False),
            (("ae", "phase", "substate", "portal", "state_since", "submitted_at", "created_at"),
             False),
        )

    @classmethod
    def visible_to(cls, scope: OperatorScope):
        """Orders of the scope's AE, limited to the portals the operator may see."""
        return (cls
                .select()
                .where(scope.order_condition()))

    @classmethod
    def with_people(cls):
        """Orders with their AE, company, holder, legal representative and mandataire, in one
        query; ``.switch(Order)`` to join more."""
        holder, legal, mandataire = Person.alias(), Person.alias(), Person.alias()
        return (cls
                .select(cls, AE, Company, holder, legal, mandataire)
                .join(AE, on=(cls.ae == AE.id), attr="ae")
                .switch(cls)
                .join(Company, on=(cls.company == Company.id), attr="company")
                .switch(cls)
                .join(holder, on=(cls.holder == holder.id), attr="holder")
                .switch(cls)
                .join(legal, on=(cls.legal_representative == legal.id),
                      attr="legal_representative")
                .switch(cls)
                .join(mandataire, JOIN.LEFT_OUTER, on=(cls.mandataire == mandataire.id),
                      attr="mandataire"))

    @classmethod
    def listing(cls, scope: OperatorScope):
        """The Commandes list and its CSV: one flat dict per order (holder, company and portal
        columns under their own names), newest first. Dicts, not models: building three
        related models per row was a fifth of the page's time."""
        return (cls._listing_columns()
                .where(scope.order_condition())
                .order_by(cls.created_at.desc(), cls.number.desc()))

    @classmethod
    def listing_rows(cls, ids, ae_id):
        """The same rows for the orders ``ids`` of the AE (a page of the list, its ids
        already chosen in scope), in no particular order."""
        return cls._listing_columns().where(one_of(cls.id, ids) & (cls.ae == ae_id))

    @classmethod
    def _listing_columns(cls):
        handler = Operator.alias()
        return (cls
                .select(cls.id, cls.number, cls.created_at, cls.process, cls.phase,
                        cls.substate, cls.order_type, cls.requester_modified_at,
                        cls.on_hold_at, cls.hold_comment, cls.state_since, cls.submitted_at,
                        handler.display_name.alias("handler_name"),
                        Company.name.alias("company_name"), Company.siren.alias("siren"),
                        Person.first_name.alias("holder_first_name"),
                        Person.last_name.alias("holder_last_name"),
                        Portal.name.alias("portal_name"))
                .join(Company, on=(cls.company == Company.id))
                .switch(cls)
                .join(Person, on=(cls.holder == Person.id))
                .switch(cls)
                .join(Portal, on=(cls.portal == Portal.id))
                .switch(cls)
                .join(handler, JOIN.LEFT_OUTER, on=(cls.handled_by == handler.id))
                .dicts())


class OrderNumber(BaseModel):
    """One row, written first by whoever numbers an order: it serialises numbering (a row lock
    on PostgreSQL, the write lock on SQLite) until that transaction commits."""
    id = IntegerField(primary_key=True)
    last = BigIntegerField(default=960000)

    class Meta:
        table_name = "order_counter"  # « order_number » is the name of Order.number's index


def next_order_number() -> int:
    """The next order number: unique and increasing even under concurrent submissions. Call
    it inside the transaction that inserts the order, before any other statement (on SQLite a
    transaction that read first cannot take the write lock later without failing)."""
    if not OrderNumber.update(last=OrderNumber.last).where(OrderNumber.id == 1).execute():
        OrderNumber.insert(id=1).on_conflict_ignore().execute()
    highest = Order.select(fn.MAX(Order.number)).scalar() or 0
    number = max(highest, OrderNumber.get_by_id(1).last) + 1
    OrderNumber.update(last=number).where(OrderNumber.id == 1).execute()
    return number


class OrderReview(BaseModel):
    """« En cours de traitement par … »: who has the order file open; expires when idle."""
    order = ForeignKeyField(Order, unique=True, on_delete="CASCADE")
    operator = ForeignKeyField(Operator, on_delete="CASCADE")
    since = DateTimeField(default=utcnow)       # when this operator took the file over
    last_seen = DateTimeField(default=utcnow, index=True)
