"""Database models (peewee) on a DatabaseProxy initialised by the app factory.

Queries live on the models as small methods returning query objects. Every query
for tenant data (orders, documents, notifications, audit events) goes through an
``OperatorScope`` so a view cannot forget the AE and portal restriction.
"""
from __future__ import annotations

import datetime as dt
import unicodedata

from peewee import DateField
from peewee import (
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    BigIntegerField,
    JOIN,
    Model,
    TextField,
    fn,
)

db = DatabaseProxy()


def utcnow() -> dt.datetime:
    """Naive UTC timestamp: stored everywhere, shown in Europe/Paris."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def search_key(text: str) -> str:
    """Lower-case, accent-free form used by the name filter: « Lefèvre » matches « lefevre »."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def holder_search_fields(first_name: str, last_name: str) -> dict[str, str]:
    """The order's name-filter columns: the holder's name first-name-first and surname-first, so
    a prefix of either name is found through an index."""
    return {"holder_search": search_key(f"{first_name} {last_name}"),
            "holder_search_last": search_key(f"{last_name} {first_name}")}


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


# --- Tenants, portals, operators -------------------------------------------

class AE(BaseModel):
    """An Autorité d'Enregistrement: the tenant."""
    name = CharField(unique=True)
    four_eyes = BooleanField(default=False)
    digest_slots = CharField(default="07:10,12:10,17:10")
    created_at = DateTimeField(default=utcnow)
    holder_policy_oid = CharField(null=True)  # the AE's own certificate policy (issue 8)
    digest_send_empty = BooleanField(default=True)  # issue 7: send an all-zero digest


class Portal(BaseModel):
    ae = ForeignKeyField(AE, backref="portals", on_delete="CASCADE")
    name = CharField()

    class Meta:
        indexes = ((("ae", "name"), True),)


ROLES = ("AEA", "AET", "admin")


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

    def visible_portals(self) -> list["Portal"]:
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


# --- Orders ----------------------------------------------------------------

class Company(BaseModel):
    ae = ForeignKeyField(AE, on_delete="CASCADE")
    name = CharField()  # raison sociale
    siren = CharField(index=True)  # 9 digits, no prefix, no spaces
    rcs_registered = BooleanField(default=True)


class Person(BaseModel):
    ae = ForeignKeyField(AE, on_delete="CASCADE")
    civility = CharField(default="")  # M. / Mme
    first_name = CharField()
    last_name = CharField()
    email = CharField(default="")
    phone = CharField(default="")


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
        )

    @classmethod
    def visible_to(cls, scope: "OperatorScope"):
        """Orders of the scope's AE, limited to the portals the operator may see."""
        return (cls
                .select()
                .where(scope.order_condition()))

    @classmethod
    def listing(cls, scope: "OperatorScope"):
        """The Commandes list and its CSV: one flat dict per order (holder, company and portal
        columns under their own names), newest first. Dicts, not models: building three
        related models per row was a fifth of the page's time."""
        return (cls
                .select(cls.id, cls.number, cls.created_at, cls.process, cls.phase,
                        cls.substate, cls.order_type, cls.requester_modified_at,  # issue 5
                        Company.name.alias("company_name"), Company.siren.alias("siren"),
                        Person.first_name.alias("holder_first_name"),
                        Person.last_name.alias("holder_last_name"),
                        Portal.name.alias("portal_name"))
                .join(Company, on=(cls.company == Company.id))
                .switch(cls)
                .join(Person, on=(cls.holder == Person.id))
                .switch(cls)
                .join(Portal, on=(cls.portal == Portal.id))
                .where(scope.order_condition())
                .order_by(cls.created_at.desc(), cls.number.desc())
                .dicts())


class Document(BaseModel):
    order = ForeignKeyField(Order, backref="documents", on_delete="CASCADE")
    kind = CharField()          # see workflow.DOCUMENT_KINDS
    category = CharField()      # justificatif | contractuel
    status = CharField()        # imported | not_imported | unsigned | signed
    filename = CharField(null=True)
    sha256 = CharField(null=True, index=True)
    media_type = CharField(null=True)
    size = IntegerField(null=True)
    page_count = IntegerField(null=True)
    imported_at = DateTimeField(null=True)
    imported_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL")
    imported_by_label = CharField(default="")  # "Demandeur", "Système", operator name
    is_current = BooleanField(default=True)     # False once replaced by a newer version
    verified_at = DateTimeField(null=True)
    verified_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL",
                                  backref="documents_verified")
    expires_on = DateField(null=True)           # justificatif's expiry date, noted when verified
    crc32 = BigIntegerField(null=True)          # of the file, for the dossier's ZIP (issue 4)

    class Meta:
        indexes = ((("order", "kind", "is_current"), False),)

    @classmethod
    def visible_to(cls, scope: "OperatorScope"):
        return (cls
                .select(cls)
                .join(Order)
                .where(scope.order_condition()))


class Notification(BaseModel):
    ae = ForeignKeyField(AE, on_delete="CASCADE")
    order = ForeignKeyField(Order, null=True, backref="notifications", on_delete="CASCADE")
    type = CharField()
    recipient = CharField()
    subject = CharField()
    body = TextField()
    sent_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)
    state = CharField(default="queued", index=True)  # queued | sent | failed
    tries = IntegerField(default=0)
    next_try_at = DateTimeField(default=utcnow, index=True)
    last_error = TextField(null=True)
    message_id = CharField(unique=True)

    @classmethod
    def visible_to(cls, scope: "OperatorScope"):
        return (cls
                .select(cls)
                .join(Order)
                .where((cls.ae == scope.ae_id) & scope.order_condition()))


class OrderReview(BaseModel):
    """« En cours de traitement par … »: who has the order file open; expires when idle."""
    order = ForeignKeyField(Order, unique=True, on_delete="CASCADE")
    operator = ForeignKeyField(Operator, on_delete="CASCADE")
    since = DateTimeField(default=utcnow)       # when this operator took the file over
    last_seen = DateTimeField(default=utcnow, index=True)


# --- Audit trail -----------------------------------------------------------

class AuditEvent(BaseModel):
    """Append-only, hash-chained event. Written only by services.audit."""
    at = DateTimeField(default=utcnow)
    ae = ForeignKeyField(AE, null=True, on_delete="RESTRICT")
    operator = ForeignKeyField(Operator, null=True, on_delete="RESTRICT")
    actor = CharField(default="")     # readable name kept even if the operator goes
    action = CharField(index=True)
    order = ForeignKeyField(Order, null=True, on_delete="RESTRICT")
    details = TextField(default="{}")  # canonical JSON
    ip = CharField(default="")
    prev_hash = CharField()
    hash = CharField(unique=True)

    class Meta:
        indexes = ((("order", "at"), False), (("ae", "at"), False))

    @classmethod
    def visible_to(cls, scope: "OperatorScope"):
        return cls.select().where(cls.ae == scope.ae_id)

    @classmethod
    def for_order(cls, order: Order):
        return (cls
                .select(cls, Operator)
                .join(Operator, JOIN.LEFT_OUTER, on=(cls.operator == Operator.id))
                .where(cls.order == order.id)
                .order_by(cls.id))


class AuditHead(BaseModel):
    """One row: the hash of the last event. Updating it first serialises appends."""
    id = IntegerField(primary_key=True)
    seq = BigIntegerField(default=0)
    last_hash = CharField(default="0" * 64)


# --- Login -----------------------------------------------------------------

class LoginChallenge(BaseModel):
    nonce = CharField(unique=True)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)


class SchemaVersion(BaseModel):
    id = IntegerField(primary_key=True)
    version = IntegerField()
    migrated_at = DateTimeField(default=utcnow)


# --- Tenancy scope ---------------------------------------------------------

class OperatorScope:
    """What one operator may see: its AE and its portals. Built once per request."""

    def __init__(self, operator: Operator):
        self.operator = operator
        self.ae_id = operator.ae_id
        self._portals = operator.visible_portals()
        self.portal_ids = [portal.id for portal in self._portals] or [-1]
        self.all_portals = operator.all_portals

    def order_condition(self):
        """The WHERE clause every tenant query on orders carries. An operator who sees all the
        AE's portals needs no portal test, which keeps counts on the (ae, …) indexes."""
        condition = Order.ae == self.ae_id
        if not self.all_portals:
            condition &= Order.portal.in_(self.portal_ids)
        return condition

    def order_or_none(self, order_id: int) -> Order | None:
        return Order.visible_to(self).where(Order.id == order_id).first()

    def order_by_number(self, number: int) -> Order | None:
        return Order.visible_to(self).where(Order.number == number).first()

    def document_or_none(self, document_id: int) -> Document | None:
        return Document.visible_to(self).where(Document.id == document_id).first()

    def portals(self) -> list["Portal"]:
        """The visible portals (id and name), by name."""
        return self._portals


ALL_MODELS = [
    AE, Portal, Operator, OperatorPortal, OperatorCertificate, TrustedCA, IssuedCertificate,
    Company, Person, Order, Document, Notification, AuditEvent, AuditHead, LoginChallenge,
    SchemaVersion, OrderReview,
]


def next_order_number() -> int:
    """Order numbers are increasing; a unique index catches races."""
    current = Order.select(fn.MAX(Order.number)).scalar()
    return (current or 960000) + 1


# --- Notification message types (issue 5) ------------------------------------

class MessageTemplate(BaseModel):
    """An AE's wording of one notification type; the built-in wording serves until an admin
    edits it (services.messaging.wordings.DEFAULT_TEMPLATES)."""
    ae = ForeignKeyField(AE, backref="message_templates", on_delete="CASCADE")
    code = CharField()  # see services.messaging.wordings.MESSAGE_TYPES
    subject = CharField()
    body = TextField()
    updated_at = DateTimeField(default=utcnow)
    updated_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("ae", "code"), True),)

    @classmethod
    def of_ae(cls, ae_id: int):
        return cls.select().where(cls.ae == ae_id)


ALL_MODELS.append(MessageTemplate)


# --- Documents: imports in progress (issue 4) ---------------------------------

class PendingFile(BaseModel):
    """A file being added to the document store, noted before the file is written and removed
    in the transaction that links it to its Document row. A row left behind names a file an
    interrupted import may have written without linking it: recovery deletes such files."""
    sha256 = CharField(index=True)
    created_at = DateTimeField(default=utcnow, index=True)


ALL_MODELS.append(PendingFile)


# --- Certificate generation, hand-over and activation (issue 8) -------------------

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
        indexes = ((("order", "issued_at"), False),)


class Activation(BaseModel):
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
    code_sent_at = DateTimeField(null=True)
    code_expires_at = DateTimeField(null=True)
    code_tries = IntegerField(default=0)
    codes_sent = IntegerField(default=0)
    verified_at = DateTimeField(null=True)
    activated_at = DateTimeField(null=True)


ALL_MODELS.extend([GenerationAttempt, HolderCertificate, Activation])


# --- Signature of the contractual documents, validation, hold and refusal (issue 6) ------

# « Mettre en attente »: when and why the order was put on hold (None: not on hold).
Order._meta.add_field("on_hold_at", DateTimeField(null=True))
Order._meta.add_field("hold_comment", TextField(null=True))


class SignatureRequest(BaseModel):
    """One signer's request to sign the contractual documents of an order that need them
    (workflow.document_signers): the personal link (a token signed with the app's secret over
    the row id and ``link_nonce``, so a new link or a cancellation voids the old one), the
    one-time code (derived from the secret and ``code_nonce``, never stored), and the evidence
    of what happened (times, address, user agent)."""
    order = ForeignKeyField(Order, backref="signature_requests", on_delete="CASCADE")
    role = CharField()                   # see workflow.SIGNER_ROLES
    person = ForeignKeyField(Person, null=True, on_delete="SET NULL")
    name = CharField()                   # as it was when sent
    email = CharField()
    phone = CharField(default="")
    state = CharField(default="sent")    # sent | opened | signed | declined | cancelled
    link_nonce = CharField()
    created_at = DateTimeField(default=utcnow)
    sent_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL",
                              backref="signature_requests_sent")
    last_sent_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    reminders = IntegerField(default=0)
    reminded_at = DateTimeField(null=True)
    opened_at = DateTimeField(null=True)
    code_nonce = CharField(null=True)
    code_channel = CharField(default="email")  # email | sms
    code_sent_at = DateTimeField(null=True)
    code_expires_at = DateTimeField(null=True)
    code_tries = IntegerField(default=0)
    codes_sent = IntegerField(default=0)
    code_verified_at = DateTimeField(null=True)
    signed_at = DateTimeField(null=True)
    declined_at = DateTimeField(null=True)
    decline_reason = TextField(null=True)
    cancelled_at = DateTimeField(null=True)
    ip = CharField(default="")
    user_agent = CharField(default="")

    class Meta:
        indexes = ((("order", "state"), False), (("state", "last_sent_at"), False))


class SignatureItem(BaseModel):
    """A document a signer must sign: the version sent, and once signed the version carrying
    their signature, with the SHA-256 before and after."""
    request = ForeignKeyField(SignatureRequest, backref="items", on_delete="CASCADE")
    document = ForeignKeyField(Document, on_delete="CASCADE")  # the version sent for signature
    kind = CharField()
    signed_at = DateTimeField(null=True)
    sha256_before = CharField(null=True)
    sha256_after = CharField(null=True)
    signed_document = ForeignKeyField(Document, null=True, on_delete="SET NULL",
                                      backref="signature_items_signed")

    class Meta:
        indexes = ((("request", "kind"), True),)


ALL_MODELS.extend([SignatureRequest, SignatureItem])


class SignatureMessage(BaseModel):
    """Which signature request an e-mail of the outbox is about (the link, a reminder, a
    one-time code): its text is composed when it leaves, with a link or code made then."""
    notification = ForeignKeyField(Notification, unique=True, on_delete="CASCADE")
    request = ForeignKeyField(SignatureRequest, backref="messages", on_delete="CASCADE")


ALL_MODELS.append(SignatureMessage)


class DigestRun(BaseModel):
    """One activity digest (issue 7): an operator's slot, claimed once by the unique
    (operator, slot_at) index in the same transaction as its outbox e-mail, so several
    scheduler processes or a restart never send a slot twice. ``content`` is the digest as
    JSON, rendered to text and HTML when the outbox sends it."""
    operator = ForeignKeyField(Operator, backref="digest_runs", on_delete="CASCADE")
    slot_at = DateTimeField()            # the slot's time (UTC)
    created_at = DateTimeField(default=utcnow)
    notification = ForeignKeyField(Notification, null=True, unique=True, on_delete="SET NULL")
    content = TextField(default="{}")

    class Meta:
        indexes = ((("operator", "slot_at"), True),)


ALL_MODELS.append(DigestRun)
