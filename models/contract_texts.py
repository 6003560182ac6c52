"""The wording of an AE's contractual documents, as numbered versions: a draft is edited, a
published version is frozen and comes into force on its date, and every generated contract
(``Document.text_version``) names the version it was made from."""
from __future__ import annotations

from peewee import CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, TextField

from models.base import BaseModel, utcnow
from models.tenants import AE, Operator


class ContractTextVersion(BaseModel):
    """Version ``number`` of the clauses (Markdown with placeholders) of one contractual
    document of an AE. ``published_at`` None: a draft, the only state that may change."""
    ae = ForeignKeyField(AE, backref="contract_text_versions", on_delete="CASCADE")
    document = CharField()                  # the contractual kind: cgu, subscription_contract…
    number = IntegerField()
    body = TextField()
    effective_from = DateField(null=True)   # « en vigueur à partir du » (Paris date)
    published_at = DateTimeField(null=True)
    published_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL",
                                   backref="contract_texts_published")
    published_by_label = CharField(default="")   # the name as it was when published
    created_at = DateTimeField(default=utcnow)
    created_by = ForeignKeyField(Operator, null=True, on_delete="SET NULL",
                                 backref="contract_texts_created")
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("ae", "document", "number"), True),)

    @property
    def is_draft(self) -> bool:
        return self.published_at is None

    @classmethod
    def of_ae(cls, ae_id: int):
        return cls.select().where(cls.ae == ae_id)

    @classmethod
    def of_document(cls, ae_id: int, document: str):
        return (cls
                .select()
                .where((cls.ae == ae_id) & (cls.document == document))
                .order_by(cls.number))
