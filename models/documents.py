"""An order's documents, and the files being added to the document store."""
from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import (BigIntegerField, BooleanField, CharField, DateField, DateTimeField,
                    ForeignKeyField, IntegerField)

from models.base import BaseModel, OrderRow, utcnow
from models.contract_texts import ContractTextVersion
from models.orders import Order
from models.tenants import Operator

if TYPE_CHECKING:  # the scope module imports these models
    from models.scope import OperatorScope


class Document(OrderRow):
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
    crc32 = BigIntegerField(null=True)          # of the file, for the dossier's ZIP
    # A generated contract's wording; a version a contract used can never be deleted.
    text_version = ForeignKeyField(ContractTextVersion, null=True, on_delete="RESTRICT",
                                   backref="documents")

    class Meta:
        indexes = ((("order", "kind", "is_current"), False),)

    @classmethod
    def visible_to(cls, scope: OperatorScope):
        return (cls
                .select(cls)
                .join(Order)
                .where(scope.order_condition()))

    @classmethod
    def current_of(cls, order_id: int):
        """The order's current documents (the latest version of each kind), oldest first."""
        return (cls
                .select()
                .where((cls.order == order_id) & (cls.is_current == True))  # noqa: E712
                .order_by(cls.id))


class PendingFile(BaseModel):
    """A file being added to the document store, noted before the file is written and removed
    in the transaction that links it to its Document row. A row left behind names a file an
    interrupted import may have written without linking it: recovery deletes such files."""
    sha256 = CharField(index=True)
    created_at = DateTimeField(default=utcnow, index=True)
