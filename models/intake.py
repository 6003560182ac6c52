"""An order placed on a portal's ordering page: the requester's proof of address (a one-time
code e-mailed before « Envoyer la commande ») and where the draft stands."""
from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField

from models.base import OneTimeCodeRow, OrderRow, utcnow
from models.orders import Order


class OrderIntake(OrderRow, OneTimeCodeRow):
    """The ordering page's state of one order. The code is derived from the app's secret and
    ``code_nonce`` (services.public_links), never stored; it proves ``code_email``."""
    order = ForeignKeyField(Order, unique=True, backref="intakes", on_delete="CASCADE")
    link_nonce = CharField()                # in the page's token: a new one voids the old links
    created_at = DateTimeField(default=utcnow)
    steps_done = CharField(default="")      # the steps saved so far (workflow.ordering.STEPS)
    code_nonce = CharField(null=True)
    code_email = CharField(null=True)       # where the current code went
    verified_email = CharField(null=True)   # the requester's address, once proven
    verified_at = DateTimeField(null=True)
