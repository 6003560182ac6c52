"""An operator's saved searches of the Commandes list: a name and the list's URL arguments."""
from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField

from models.base import BaseModel, utcnow
from models.tenants import Operator


class SavedSearch(BaseModel):
    operator = ForeignKeyField(Operator, backref="saved_searches", on_delete="CASCADE")
    name = CharField(max_length=60)
    query = CharField(max_length=1000)  # the list's URL arguments, as url_args writes them
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "saved_search"
        indexes = ((("operator", "name"), True),)
