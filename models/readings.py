"""What RA Desk read on an uploaded piece (the MRZ of an identity document, the text layer of a
KBIS extract): one row per document VERSION, so a replaced piece keeps its own reading and its
new version is read anew."""
from __future__ import annotations

from peewee import CharField, DateTimeField, FloatField, ForeignKeyField, IntegerField, TextField

from models.base import OrderRow, utcnow
from models.documents import Document
from models.orders import Order

PENDING = "pending"        # waiting for the reading job
DONE = "done"              # at least one field was read
UNREADABLE = "unreadable"  # nothing could be read: « lecture automatique impossible »
FAILED = "failed"          # the reader failed (timeout, memory, busy) too many times
STATES = (PENDING, DONE, UNREADABLE, FAILED)


class DocumentReading(OrderRow):
    document = ForeignKeyField(Document, unique=True, backref="readings", on_delete="CASCADE")
    order = ForeignKeyField(Order, backref="document_readings", on_delete="CASCADE")
    kind = CharField()                     # the document's kind (holder_id, kbis…)
    state = CharField(default=PENDING)     # see STATES
    reading = TextField(null=True)         # adapters.piece_reader.PieceReading, as JSON
    requested_at = DateTimeField(default=utcnow)
    claimed_until = DateTimeField(null=True)  # a job run holds it until then (a lease)
    attempts = IntegerField(default=0)
    read_at = DateTimeField(null=True)
    seconds = FloatField(null=True)        # how long the read took
    detail = CharField(default="")         # why nothing was read, for the logs (not the UI)

    class Meta:
        table_name = "document_reading"
        indexes = ((("state", "requested_at"), False),)

    @classmethod
    def waiting(cls):
        return (cls
                .select()
                .where(cls.state == PENDING)
                .order_by(cls.requested_at, cls.id))
