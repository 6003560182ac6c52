"""« Certificats »: the search form's filters, parsed from the URL (never trusted) and turned
into peewee conditions on the holder certificate, its order and the CA's register. Bad values
are reported in French and ignored, as in the Commandes list."""
from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass, field, fields
from typing import Mapping

from peewee import Expression

import workflow
from formatting import paris_midnight_utc, parse_date
from models import Company, HolderCertificate, IssuedCertificate, Order, search_key
from services.orders import order_search

HOLD_REASON = "certificateHold"  # a suspension: the register's row carries this reason
STATE_VALID, STATE_SUSPENDED, STATE_REVOKED = "valid", "suspended", "revoked"
STATE_EXPIRED, STATE_UNWRITTEN = "expired", "unwritten"
STATES = {  # the « État » filter and the rows' badges
    STATE_VALID: "valide",
    STATE_SUSPENDED: "suspendu",
    STATE_REVOKED: "révoqué",
    STATE_EXPIRED: "expiré",
    STATE_UNWRITTEN: "émis non inscrit",
}
MIN_SERIAL_PREFIX = 6  # hex digits: fewer are looked up as a whole serial only
MIN_NAME = order_search.MIN_NAME
MAX_TEXT = 100
SERIAL_SEPARATORS = str.maketrans("", "", ": -\t")
HEX = set(string.hexdigits)


@dataclass(frozen=True)
class CertificateFilters:
    """The filters by their URL names; empty string = not filtered."""
    serial: str = ""
    holder: str = ""          # « Porteur »: start of a first name or surname
    siren: str = ""           # « SIREN », also « par société »
    company: str = ""         # « Raison sociale »: its start
    state: str = ""           # one of STATES
    expires_before: str = ""  # « Expire avant », jj/mm/aaaa
    holder_key: str = ""      # « par porteur »: the holder's whole name, as search_key spells it
    problems: tuple[str, ...] = field(default=(), compare=False)

    def url_args(self, **overrides) -> dict[str, str]:
        """Non-empty filter values, for links that keep them; ``overrides`` change some."""
        values = {f.name: getattr(self, f.name) for f in URL_FIELDS}
        values.update(overrides)
        return {name: value for name, value in values.items() if value}

    @property
    def selective(self) -> bool:
        """A filter that leaves few certificates, found through its own index."""
        return bool(self.serial or self.holder or self.holder_key or self.siren or self.company)

    @property
    def active(self) -> bool:
        return bool(self.url_args())

    @property
    def serial_hex(self) -> str:
        return normalize_serial(self.serial)


URL_FIELDS = tuple(f for f in fields(CertificateFilters) if f.name != "problems")


def normalize_serial(text: str) -> str:
    """A serial as the register spells it: lowercase hex without separators or leading zeros
    (« 0A:1B 2c » → « a1b2c »); '' when it is not hexadecimal."""
    compact = (text or "").translate(SERIAL_SEPARATORS).lower()
    if not compact or not set(compact) <= HEX:
        return ""
    return compact.lstrip("0") or "0"


def parse_filters(args: Mapping[str, str]) -> CertificateFilters:
    problems: list[str] = []
    raw = {f.name: " ".join((args.get(f.name) or "").split())[:MAX_TEXT] for f in URL_FIELDS}

    def reject(name: str, message: str) -> None:
        problems.append(message)
        raw[name] = ""

    if raw["serial"] and not normalize_serial(raw["serial"]):
        reject("serial", f"Numéro de série ignoré : « {raw['serial']} » n'est pas hexadécimal.")
    if raw["holder"] and len(search_key(raw["holder"])) < MIN_NAME:
        reject("holder", f"Porteur ignoré : saisissez au moins {MIN_NAME} lettres du prénom ou du nom.")
    if raw["company"] and len(search_key(raw["company"])) < MIN_NAME:
        reject("company", f"Raison sociale ignorée : saisissez au moins {MIN_NAME} lettres.")
    if raw["siren"]:
        siren = workflow.normalize_siren(raw["siren"])
        if len(siren) != 9 or not siren.isdigit():
            reject("siren", f"SIREN ignoré : « {raw['siren']} » ne compte pas 9 chiffres.")
    if raw["state"] and raw["state"] not in STATES:
        reject("state", "Filtre « État » ignoré : valeur inconnue.")
    if raw["expires_before"] and parse_date(raw["expires_before"]) is None:
        reject("expires_before", f"Date « Expire avant » ignorée : « {raw['expires_before']} » "
                                 f"n'est pas une date (jj/mm/aaaa).")
    raw["holder_key"] = search_key(raw["holder_key"])
    return CertificateFilters(**raw, problems=tuple(problems))




def conditions(filters: CertificateFilters, now: dt.datetime) -> list:
    """peewee conditions; those of « État » read IssuedCertificate, which the query joins."""
    where = []
    if filters.serial_hex:
        where.append(_serial_condition(filters.serial_hex))
    if filters.holder:
        where.append(Expression(Order.id, "in", order_search.holder_named(filters.holder)))
    if filters.holder_key:
        where.append(Order.holder_search == filters.holder_key)  # its (name, date) index
    if filters.siren:
        companies = Company.select(Company.id).where(
            Company.siren == workflow.normalize_siren(filters.siren))
        where.append(Expression(Order.company, "in", companies))
    if filters.company:
        prefix = search_key(filters.company)
        companies = Company.select(Company.id).where(
            (Company.name_search >= prefix) & (Company.name_search < _next_text(prefix)))
        where.append(Expression(Order.company, "in", companies))
    if filters.state:
        where.append(state_condition(filters.state, now))
    if filters.expires_before:
        day = parse_date(filters.expires_before)
        where.append(HolderCertificate.not_after < paris_midnight_utc(day))
    return where


def _serial_condition(serial: str):
    """The whole serial, or with MIN_SERIAL_PREFIX digits or more any serial starting with
    them: a range of the unique index, bounded by the next hex prefix (« ab1f » → « ab2 »),
    which sorts right under any collation (no punctuation in the bound)."""
    column = HolderCertificate.serial_hex
    if len(serial) < MIN_SERIAL_PREFIX:
        return column == serial
    upper = _next_hex(serial)
    return (column >= serial) & (column < upper) if upper else (column >= serial)


def _next_hex(prefix: str) -> str:
    """The smallest hex string above every string starting with ``prefix`` ('' if none)."""
    stripped = prefix.rstrip("f")
    if not stripped:
        return ""
    return stripped[:-1] + "0123456789abcdef"["0123456789abcdef".index(stripped[-1]) + 1]


def _next_text(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def state_condition(state: str, now: dt.datetime):
    """One state, as state_of decides it: revoked or suspended first, then expired, then
    whether it was written onto the key."""
    revoked_at, reason = IssuedCertificate.revoked_at, IssuedCertificate.revocation_reason
    live = revoked_at.is_null() & (HolderCertificate.not_after >= now)
    return {
        STATE_SUSPENDED: revoked_at.is_null(False) & (reason == HOLD_REASON),
        STATE_REVOKED: revoked_at.is_null(False) & (reason.is_null() | (reason != HOLD_REASON)),
        STATE_EXPIRED: revoked_at.is_null() & (HolderCertificate.not_after < now),
        STATE_UNWRITTEN: live & HolderCertificate.written_at.is_null(),
        STATE_VALID: live & HolderCertificate.written_at.is_null(False),
    }[state]


def state_of(revoked_at, reason, written_at, not_after, now: dt.datetime) -> str:
    """A certificate's state code (STATES), from its register row and its writing."""
    if revoked_at is not None:
        return STATE_SUSPENDED if reason == HOLD_REASON else STATE_REVOKED
    if not_after < now:
        return STATE_EXPIRED
    return STATE_VALID if written_at is not None else STATE_UNWRITTEN
