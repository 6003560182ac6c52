"""Reading what an uploaded piece says: the MRZ of an identity document, the text layer of a
KBIS extract. Every read runs in the bounded render sandbox (adapters.sandbox); a field that
cannot be read with certainty is None — the reader never guesses.

This module holds the results' shapes; ``read_piece`` (the reading itself, in reading.py) is
re-exported here.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

IDENTITY = "identity"
KBIS = "kbis"
READ = "read"              # at least one field was read with certainty
UNREADABLE = "unreadable"  # nothing could be read: « lecture automatique impossible »


@dataclass(frozen=True)
class IdentityReading:
    document_type: str | None = None     # "CNI" | "PASSEPORT" | "TITRE_SEJOUR" (Order.id_doc_type)
    document_number: str | None = None
    surname: str | None = None            # as the MRZ spells it: upper case, '<' fillers as spaces
    given_names: tuple[str, ...] | None = None
    birth_date: dt.date | None = None
    expiry_date: dt.date | None = None
    nationality: str | None = None        # ISO 3166-1 alpha-3
    surname_truncated: bool = False       # the MRZ's name field was full: compare as a prefix
    given_names_truncated: bool = False
    absent_fields: tuple[str, ...] = ()   # fields this MRZ format does not carry at all


@dataclass(frozen=True)
class KbisReading:
    siren: str | None = None              # 9 digits, no spaces
    company_name: str | None = None
    extract_date: dt.date | None = None


@dataclass(frozen=True)
class PieceReading:
    kind: str                             # IDENTITY | KBIS
    status: str                           # READ | UNREADABLE
    identity: IdentityReading | None = None
    kbis: KbisReading | None = None
    page: int | None = None               # 1-based page the reading came from
    seconds: float = 0.0                  # time the read took
    detail: str = ""                      # why nothing was read (for the logs, not the UI)
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return _jsonable(asdict(self))

    @classmethod
    def from_json(cls, data: dict) -> "PieceReading":
        identity = data.get("identity")
        kbis = data.get("kbis")
        return cls(
            kind=data["kind"], status=data["status"],
            identity=IdentityReading(**_dates(identity, ("birth_date", "expiry_date"),
                                              tuples=("given_names", "absent_fields")))
            if identity else None,
            kbis=KbisReading(**_dates(kbis, ("extract_date",))) if kbis else None,
            page=data.get("page"), seconds=data.get("seconds", 0.0),
            detail=data.get("detail", ""), extra=data.get("extra") or {})


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _dates(data: dict, names: tuple[str, ...], tuples: tuple[str, ...] = ()) -> dict:
    data = dict(data)
    for name in names:
        if data.get(name):
            data[name] = dt.date.fromisoformat(data[name])
    for name in tuples:
        if data.get(name) is not None:
            data[name] = tuple(data[name])
    return data


from adapters.piece_reader.reading import read_piece  # noqa: E402  (reading uses the shapes)
