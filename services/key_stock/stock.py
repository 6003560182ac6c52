"""« Stock de clés »: the blank USB keys and smart cards an AE received, as its admins enter
them one by one and its operators read them (filters by state, counts per state, a key's
history), a key declared « défectueuse », and the AE's rule « N'accepter que les clés du
stock ». Every change is one transaction with its audit event; lookups take the AE, so another
AE's ids find nothing. (The CSV import is services.key_stock.csv_import; what generation and
hand-over do to a key, services.key_stock.assignment.)
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import JOIN, IntegrityError, fn

import workflow
from formatting import to_paris
from models import (BlankKey, HolderCertificate, IssuedCertificate, KeyStockSettings, Operator,
                    Order, db, utcnow)
from services import audit
from services.key_stock import events
from workflow import keys as rules

PAGE_SIZE = 100
STOCK_ONLY_LABEL = "N'accepter que les clés du stock"


@dataclass(frozen=True)
class KeyForm:
    """A blank key as typed in the form (or read from a CSV line)."""
    serial: str = ""
    model_name: str = ""
    medium: str = "usb"
    received_on: str = ""  # as typed: jj/mm/aaaa or aaaa-mm-jj
    batch: str = ""

    @classmethod
    def cleaned(cls, serial="", model_name="", medium="usb", received_on="", batch=""):
        return cls(serial=(serial or "").strip(), model_name=" ".join((model_name or "").split()),
                   medium=(medium or "").strip(), received_on=(received_on or "").strip(),
                   batch=" ".join((batch or "").split()))

    def problems(self, today: dt.date) -> list[str]:
        return rules.key_fields_problems(self.serial, self.model_name, self.medium,
                                         self.received_on, self.batch, today)


@dataclass(frozen=True)
class Line:
    """A key of the list, with the number of the order it went to."""
    key: BlankKey
    order_number: int | None

    @property
    def state_label(self) -> str:
        return rules.state_label(self.key.state, self.order_number)


def today() -> dt.date:
    """Today in Paris, the day people write on their forms."""
    return to_paris(utcnow()).date()


# --- reading ------------------------------------------------------------------------------------

def key_of_ae(ae_id: int, key_id: int) -> BlankKey | None:
    return BlankKey.get_or_none((BlankKey.id == key_id) & (BlankKey.ae == ae_id))


def listing(ae_id: int, *, state: str | None = None, serial: str = "",
            page: int = 1) -> tuple[list[Line], bool]:
    """A page of the AE's keys, the latest received first, and whether another page follows
    (one query)."""
    query = (BlankKey
             .select(BlankKey, Order.number)
             .join(Order, JOIN.LEFT_OUTER, on=(BlankKey.order == Order.id))
             .where(BlankKey.ae == ae_id))
    if state in rules.KEY_STATES:
        query = query.where(BlankKey.state == state)
    if serial:
        query = query.where(BlankKey.serial.contains(serial))
    rows = list(query
                .order_by(BlankKey.received_on.desc(), BlankKey.id.desc())
                .offset((max(page, 1) - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE + 1)
                .objects())
    lines = [Line(row, row.number) for row in rows[:PAGE_SIZE]]
    return lines, len(rows) > PAGE_SIZE


def counts(ae_id: int) -> dict[str, int]:
    """How many keys of the AE are in each state, every state named (one query)."""
    found = dict(BlankKey
                 .select(BlankKey.state, fn.COUNT(BlankKey.id))
                 .where(BlankKey.ae == ae_id)
                 .group_by(BlankKey.state)
                 .tuples())
    return {state: found.get(state, 0) for state in rules.KEY_STATES}


def order_number(key: BlankKey) -> int | None:
    return Order.get_by_id(key.order_id).number if key.order_id else None


def holds_valid_certificate(key: BlankKey) -> bool:
    """A certificate of the key's order was written onto this key and is not revoked."""
    if key.order_id is None:
        return False
    return (HolderCertificate
            .select()
            .join(IssuedCertificate, on=(HolderCertificate.issued == IssuedCertificate.id))
            .where((HolderCertificate.order == key.order_id)
                   & (HolderCertificate.token_serial == key.serial)
                   & HolderCertificate.written_at.is_null(False)
                   & IssuedCertificate.revoked_at.is_null())
            .exists())


def stock_only(ae_id: int) -> bool:
    """« N'accepter que les clés du stock » (off unless an admin switched it on)."""
    row = KeyStockSettings.get_or_none(KeyStockSettings.ae == ae_id)
    return bool(row and row.stock_only)


# --- changes --------------------------------------------------------------------------------------

def add(ae_id: int, form: KeyForm, *, by: Operator, ip: str = "") -> BlankKey:
    """One blank key received, entered by hand."""
    problems = form.problems(today())
    if not problems:
        problems = _already_in_stock(ae_id, form.serial)
    if problems:
        raise workflow.Refused(problems, "key_form")
    with db.atomic():
        try:
            with db.atomic():
                key = BlankKey.create(
                    ae=ae_id, serial=form.serial, model_name=form.model_name, medium=form.medium,
                    received_on=rules.parse_date(form.received_on), batch=form.batch,
                    added_by=by.id, added_how="form")
        except IntegrityError:
            raise workflow.Refused(_already_in_stock(ae_id, form.serial), "key_form") from None
        events.record(events.ACTION_ADDED, [key], operator=by, ae_id=ae_id, ip=ip,
                      details=events.key_details(key))
    return key


def _already_in_stock(ae_id: int, serial: str) -> list[str]:
    key = BlankKey.by_serial(ae_id, serial)
    if key is None:
        return []
    return [f"La clé n° {serial} est déjà dans le stock "
            f"({rules.state_label(key.state, order_number(key))})."]


def declare_defective(key: BlankKey, reason: str, *, by: Operator, ip: str = "") -> BlankKey:
    """An admin declares the key « défectueuse »: it can no longer receive a certificate."""
    reason = " ".join((reason or "").split())
    problems = rules.defect_problems(key, reason,
                                     holds_valid_certificate=holds_valid_certificate(key))
    if problems:
        raise workflow.Refused(problems, "defect")
    with db.atomic():
        changed = (BlankKey
                   .update(state=rules.DEFECTIVE, defect_reason=reason, updated_at=utcnow())
                   .where((BlankKey.id == key.id) & (BlankKey.state == key.state))
                   .execute())
        if changed != 1:
            raise workflow.Refused("La clé a changé entre-temps : rechargez la page.", "state")
        events.record(events.ACTION_DEFECTIVE, [key], operator=by, ae_id=key.ae_id, ip=ip,
                      order=Order.get_by_id(key.order_id) if key.order_id else None,
                      details={"key_serial": key.serial, "previous_state": key.state,
                               "defect": reason})
    return BlankKey.get_by_id(key.id)


def set_stock_only(ae_id: int, value: bool, *, by: Operator, ip: str = "") -> bool:
    """Switch « N'accepter que les clés du stock »; returns whether anything changed."""
    with db.atomic():
        row = KeyStockSettings.get_or_none(KeyStockSettings.ae == ae_id)
        before = bool(row and row.stock_only)
        if before == value:
            return False
        if row is None:
            KeyStockSettings.create(ae=ae_id, stock_only=value, updated_by=by.id)
        else:
            (KeyStockSettings
             .update(stock_only=value, updated_at=utcnow(), updated_by=by.id)
             .where(KeyStockSettings.id == row.id)
             .execute())
        audit.record(events.ACTION_SETTINGS, operator=by, ae=ae_id, ip=ip,
                     details={"avant": {STOCK_ONLY_LABEL: _yes_no(before)},
                              "après": {STOCK_ONLY_LABEL: _yes_no(value)}})
    return True


def _yes_no(value: bool) -> str:
    return "oui" if value else "non"
