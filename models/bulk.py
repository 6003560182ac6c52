"""« Actions sur la sélection »: one row per action asked on a selection of the Commandes list
(who, which action, its parameters, the selection, where the background worker is), and one
row per order of it with what was done or why it was refused."""
from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from models.base import BaseModel, utcnow
from models.tenants import AE, Operator


class BulkJob(BaseModel):
    ae = ForeignKeyField(AE, on_delete="CASCADE")
    operator = ForeignKeyField(Operator, on_delete="CASCADE")
    action = CharField()            # services.bulk.jobs.ACTION_LABELS
    parameters = TextField()        # JSON: the target operator, the message, the comment…
    selection = TextField()         # JSON: {"ids": true} or {"search": "<the list's URL arguments>"}
    ip = CharField(default="")
    state = CharField(default="queued")  # queued | running | finished | failed
    total = IntegerField(default=0)
    processed = IntegerField(default=0)
    done = IntegerField(default=0)
    refused = IntegerField(default=0)
    # Which runner has it, until when (renewed after each batch): a runner that died lets
    # another take the job over once its lease has run out.
    runner = CharField(null=True)
    lease_until = DateTimeField(null=True)
    error = TextField(null=True)
    created_at = DateTimeField(default=utcnow)
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)

    class Meta:
        table_name = "bulk_job"
        indexes = ((("state", "created_at"), False), (("operator", "created_at"), False))


class BulkItem(BaseModel):
    """One order of a job's selection; ``outcome`` stays NULL until the worker reaches it."""
    job = ForeignKeyField(BulkJob, backref="items", on_delete="CASCADE")
    position = IntegerField()       # the list's order when the selection was made
    order_id = IntegerField()       # checked against the operator's scope when reached
    number = IntegerField()
    outcome = CharField(null=True)  # done | refused
    message = TextField(null=True)

    class Meta:
        table_name = "bulk_item"
        indexes = ((("job", "outcome", "position"), False),)
