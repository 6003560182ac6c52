"""``Idempotency-Key`` on every POST: the first answer is kept per (client, key) and replayed
for a retry, so a retried creation never makes a second order. The key is reserved before the
request runs (a unique index), so two copies sent at once cannot both run."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from peewee import IntegrityError

from models import ApiClient, IdempotentRequest, db, utcnow

KEY_MAX = 255
KEPT = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Kept:
    status: int | None  # None: the first request is still running
    body: str
    location: str | None
    same_request: bool


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def key_problem(key: str) -> str | None:
    if not key or len(key) > KEY_MAX or not key.isprintable() or not key.isascii():
        return (f"L'en-tête Idempotency-Key doit être une chaîne ASCII imprimable de 1 à "
                f"{KEY_MAX} caractères.")
    return None


def reserve(client: ApiClient, key: str, print_: str) -> Kept | None:
    """None: the key is ours now, run the request. Otherwise what is kept for it."""
    IdempotentRequest.delete().where(IdempotentRequest.created_at < utcnow() - KEPT).execute()
    try:
        with db.atomic():
            IdempotentRequest.create(client=client.id, key=key, fingerprint=print_)
        return None
    except IntegrityError:
        kept = IdempotentRequest.get((IdempotentRequest.client == client.id)
                                     & (IdempotentRequest.key == key))
        return Kept(kept.status, kept.body, kept.location, kept.fingerprint == print_)


def keep(client: ApiClient, key: str, status: int, body: str, location: str | None) -> None:
    (IdempotentRequest
     .update(status=status, body=body, location=location)
     .where((IdempotentRequest.client == client.id) & (IdempotentRequest.key == key))
     .execute())


def release(client: ApiClient, key: str) -> None:
    """The request failed on the server's side: a retry may run it again."""
    (IdempotentRequest
     .delete()
     .where((IdempotentRequest.client == client.id) & (IdempotentRequest.key == key))
     .execute())
