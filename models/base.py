"""The database proxy, the base model, and the small helpers every model module shares."""
from __future__ import annotations

import datetime as dt
import unicodedata

import phonenumbers

from peewee import DatabaseProxy, DateTimeField, IntegerField, Model

db = DatabaseProxy()


def utcnow() -> dt.datetime:
    """Naive UTC timestamp: stored everywhere, shown in Europe/Paris."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def search_key(text: str) -> str:
    """Lower-case, accent-free form used by the name filter: « Lefèvre » matches « lefevre »."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def phone_key(text: str) -> str:
    """A telephone number as the « Téléphone du porteur » filter compares it: E.164 when it
    reads as a number (« 06 12 34 56 78 » and « +33 6 12 34 56 78 » meet), else its digits."""
    text = (text or "").strip()
    try:
        number = phonenumbers.parse(text, "FR")
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    return "".join(c for c in text if c.isdigit())


def holder_search_fields(first_name: str, last_name: str) -> dict[str, str]:
    """The order's name-filter columns: the holder's name first-name-first and surname-first, so
    a prefix of either name is found through an index."""
    return {"holder_search": search_key(f"{first_name} {last_name}"),
            "holder_search_last": search_key(f"{last_name} {first_name}")}


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class OrderRow(BaseModel):
    """A row that belongs to one order (document, notification, signature request…)."""

    @classmethod
    def of_order(cls, order, row_id: int):
        """The row ``row_id`` of ``order`` (which must come from a scoped lookup), or None: an
        id guessed from another order answers None, never that order's row."""
        return cls.select().where((cls.id == row_id) & (cls.order == order.id)).first()


class SchemaVersion(BaseModel):
    """One row: the schema version in force (see migrations.MIGRATIONS)."""
    id = IntegerField(primary_key=True)
    version = IntegerField()
    migrated_at = DateTimeField(default=utcnow)


class OneTimeCodeRow(BaseModel):
    """A row whose holder proves who they are with one-time codes (a signer, a key's holder):
    the state services.public_links.CodeRules keeps for the latest code sent."""
    code_sent_at = DateTimeField(null=True)
    code_expires_at = DateTimeField(null=True)
    code_tries = IntegerField(default=0)   # spent by guarded UPDATEs
    codes_sent = IntegerField(default=0)
