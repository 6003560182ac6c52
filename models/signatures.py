"""Signature of an order's contractual documents: one request per signer, the documents each
must sign, and which outbox e-mail is about which request."""
from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from models.base import BaseModel, OneTimeCodeRow, OrderRow, utcnow
from models.documents import Document
from models.notifications import Notification
from models.orders import Order, Person
from models.tenants import Operator


class SignatureRequest(OrderRow, OneTimeCodeRow):
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


class SignatureMessage(BaseModel):
    """Which signature request an e-mail of the outbox is about (the link, a reminder, a
    one-time code): its text is composed when it leaves, with a link or code made then."""
    notification = ForeignKeyField(Notification, unique=True, on_delete="CASCADE")
    request = ForeignKeyField(SignatureRequest, backref="messages", on_delete="CASCADE")
