"""What the public pages (follow-up, signing, activation) use to know who opens them, without a
login: signed link tokens, random link secrets kept as hashes, one-time codes, and contacts
shown masked. Each page keeps its own purpose (salt, HMAC prefix), lifetimes and French words;
what is shared is how these are made and checked, so a fix here holds for every page.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from peewee import Field, Model

from models import db


# --- Signed link tokens ------------------------------------------------------------------------

class BadToken(Exception):
    """Not a token signed by this app for this purpose (tampered, truncated, foreign)."""


@dataclass(frozen=True)
class OpenedToken:
    payload: Any
    expired: bool  # authentic, but older than the lifetime asked for


@dataclass(frozen=True)
class TokenKind:
    """Tokens of one purpose, signed with the app's secret (itsdangerous, HMAC-SHA-256). The
    salt keeps a token of one page from opening another. ``timed`` tokens carry their date,
    so they expire; the others live as long as the row they name says (a nonce in it)."""
    salt: str
    timed: bool = False

    def _serializer(self, secret: str):
        kind = URLSafeTimedSerializer if self.timed else URLSafeSerializer
        return kind(secret, salt=self.salt, signer_kwargs={"digest_method": hashlib.sha256})

    def make(self, secret: str, payload: Any) -> str:
        return self._serializer(secret).dumps(payload)

    def open(self, secret: str, token: str, max_age_seconds: int | None = None) -> OpenedToken:
        """The payload of an authentic token; an expired one still says what it was for (so a
        page can offer a new link), flagged ``expired``. BadToken otherwise."""
        serializer = self._serializer(secret)
        try:
            if self.timed:
                return OpenedToken(serializer.loads(token, max_age=max_age_seconds), False)
            return OpenedToken(serializer.loads(token), False)
        except SignatureExpired as error:
            try:
                return OpenedToken(serializer.load_payload(error.payload), True)
            except BadData:
                raise BadToken() from None
        except BadData:
            raise BadToken() from None


def nonce(size: int = 16) -> str:
    """A random part for a token or a code (``size`` bytes, URL-safe text)."""
    return secrets.token_urlsafe(size)


# --- Random link secrets kept as hashes ----------------------------------------------------------

SECRET_MIN, SECRET_MAX = 20, 100  # a secret's length in the URL; anything else is not ours


def new_secret() -> str:
    """A 256-bit secret for a link; only its hash is stored (``secret_hash``)."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def plausible_secret(secret: object) -> bool:
    """Worth a lookup: a string of the length our secrets have."""
    return isinstance(secret, str) and SECRET_MIN <= len(secret) <= SECRET_MAX


# --- One-time codes ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CodeRules:
    """The one-time codes of one page. Codes are HMACs of the app's secret bound to ``purpose``
    and to the row they are for, so a code never works for another page or another row.
    Either the code is *derived* from a nonce stored on the row (nothing secret stored; the
    e-mail is written when it leaves), or a random code is sent at once and only its *digest*
    is stored."""
    purpose: str
    lifetime: dt.timedelta
    max_tries: int          # per code, spent by a guarded UPDATE (``spend_try``)
    max_sent: int           # codes per request (link, hand-over)
    interval: dt.timedelta  # between two codes
    digits: int = 6

    def derive(self, secret: str, row_id: int, code_nonce: str) -> str:
        digest = hmac.new(secret.encode("utf-8"),
                          f"{self.purpose}:{row_id}:{code_nonce}".encode("utf-8"),
                          hashlib.sha256).digest()
        return f"{int.from_bytes(digest[:8], 'big') % 10 ** self.digits:0{self.digits}d}"

    def random_code(self) -> str:
        return f"{secrets.randbelow(10 ** self.digits):0{self.digits}d}"

    def digest(self, secret: str, row_id: int, code: str) -> str:
        return hmac.new(secret.encode("utf-8"), f"{self.purpose}:{row_id}:{code}".encode("utf-8"),
                        hashlib.sha256).hexdigest()

    @property
    def minutes(self) -> int:
        return int(self.lifetime.total_seconds() // 60)

    def wait(self, last_sent_at: dt.datetime | None, now: dt.datetime) -> dt.timedelta | None:
        """How long before another code may be sent, or None when it may be now."""
        if last_sent_at is None or now - last_sent_at >= self.interval:
            return None
        return self.interval - (now - last_sent_at)

    def exhausted(self, sent: int) -> bool:
        return sent >= self.max_sent


def typed_code(value: object) -> str:
    """What the person typed, spaces removed (« 123 456 » is « 123456 »)."""
    return "".join(str(value or "").split())


def same(typed: str, expected: str) -> bool:
    """Constant-time comparison, safe for any text typed."""
    return hmac.compare_digest(typed.encode("utf-8"), expected.encode("utf-8"))


# The refusals of a code typed back, in the words every page that asks for one uses.
NO_CODE_YET = "Demandez d'abord un code : cliquez sur « Recevoir un code »."
CODE_EXPIRED = "Ce code a expiré : demandez-en un nouveau."
NO_TRY_LEFT = "Trop d'essais avec ce code : demandez-en un nouveau."


def wrong_code(tries_left: int) -> str:
    """The refusal of a wrong code, saying how many tries are left."""
    if tries_left <= 0:
        return "Code incorrect. Trop d'essais avec ce code : demandez-en un nouveau."
    return f"Code incorrect. Il vous reste {tries_left} essai{'s' if tries_left > 1 else ''}."


def spend_try(tries: Field, row_id: int, max_tries: int, *guards) -> int | None:
    """Spend one try of the row's current code with one guarded UPDATE, so parallel guesses
    can never exceed ``max_tries``. Returns the tries spent so far, this one included, or
    None when none was left (or a guard failed: the code was replaced or used meanwhile)."""
    model: type[Model] = tries.model
    condition = (model._meta.primary_key == row_id) & (tries < max_tries)
    for guard in guards:
        condition &= guard
    with db.atomic():
        if not model.update({tries: tries + 1}).where(condition).execute():
            return None
        return model.select(tries).where(model._meta.primary_key == row_id).scalar()


def consume(model: type[Model], row_id: int, changes: dict, *guards) -> bool:
    """Mark the code used with one guarded UPDATE: True for the one caller that did."""
    condition = model._meta.primary_key == row_id
    for guard in guards:
        condition &= guard
    with db.atomic():
        return bool(model.update(changes).where(condition).execute())


# --- Contacts shown masked -----------------------------------------------------------------------

def mask_contact(contact: str, *, fixed_width: bool = False) -> str:
    """An e-mail address or phone number shown so its owner recognises it and nobody else
    learns it: « s•••••@exemple.fr », « +336••••••78 ». ``fixed_width`` hides the length as
    well: « s•••@exemple.fr », « +3361••••78 »."""
    contact = (contact or "").strip()
    if "@" in contact:
        local, _, domain = contact.partition("@")
        if not local or not domain:
            return "•••"
        hidden = 3 if fixed_width else max(3, len(local) - 1)
        return f"{local[:1]}{'•' * hidden}@{domain}"
    if len(contact) <= 7:
        return "••••"
    if fixed_width:
        return f"{contact[:5]}••••{contact[-2:]}"
    return contact[:4] + "•" * max(len(contact) - 6, 3) + contact[-2:]
