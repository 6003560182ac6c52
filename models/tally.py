"""The Commandes list's counters, kept by the database itself: triggers on ``order``
(database.ORDER_TALLY_TRIGGERS) append +1 for the state an order enters and -1 for the one it
leaves, in the transaction that changes it, whichever code or script writes the order.

Rows are only ever appended by the writers (no row two transactions fight over, so no lock
wait and no deadlock between concurrent transitions); a count is the sum of its rows, and
services.orders.substate_tally folds them from time to time."""
from __future__ import annotations

from peewee import CharField, IntegerField

from models.base import BaseModel


class OrderTally(BaseModel):
    # Plain ids, no foreign keys: the rows of a deleted AE's orders are written while
    # it is being deleted (ON DELETE CASCADE), and folded away afterwards.
    ae_id = IntegerField()
    portal_id = IntegerField()
    process = CharField(null=True)
    order_type = CharField(null=True)
    phase = CharField()
    substate = CharField(null=True)
    n = IntegerField()

    class Meta:
        table_name = "order_tally"
        indexes = ((("ae_id", "portal_id"), False),)
