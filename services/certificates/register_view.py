"""« Certificats »: the holder certificates of the operator's AE and portals — a page of the
search, newest first, and one certificate with the orders that made, renewed or revoked it.

Every query goes through the certificate's order and OperatorScope's condition, as the
Commandes list does: another AE's certificate is never read. A page costs at most four
queries: its ids (sorted and cut on the certificate and order tables), their rows joined, the
orders that follow its certificates (Order.target_serial), and a count when the page is full or
past the first.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from peewee import JOIN, SqliteDatabase

import workflow
from bridge_protocol import KEY_TYPES
from models import (Company, HolderCertificate, IssuedCertificate, Operator, OperatorScope, Order,
                    Person, db, utcnow)
from services.certificates.holder_certificates import REVOCATION_REASONS
from services.certificates.register_filters import (HOLD_REASON, STATES, CertificateFilters,
                                                    conditions, state_of)

PER_PAGE = 50
COUNT_CAP = 10_000  # past this the page says « plus de 10 000 »
HOLD_LABEL = "Suspendu (certificateHold)"


def reason_label(reason: str | None) -> str:
    """The revocation reason in French; a hold is « Suspendu (certificateHold) »."""
    if reason == HOLD_REASON:
        return HOLD_LABEL
    return REVOCATION_REASONS.get(reason or "", reason or "")


@dataclass(frozen=True)
class LinkedOrder:
    """An order beside a certificate: the one that made it, or one that renews or revokes it."""
    id: int
    number: int
    process: str
    phase: str
    substate: str | None

    @property
    def process_label(self) -> str:
        return workflow.label(workflow.PROCESSES, self.process)

    @property
    def phase_label(self) -> str:
        text = workflow.label(workflow.PHASES, self.phase)
        return f"{text} ({workflow.label(workflow.SUBSTATES, self.substate)})" if self.substate else text


@dataclass
class CertificateRow:
    """One row of the results: the certificate, its holder and company, its state, the order
    that made it and those that follow it."""
    id: int
    serial_hex: str
    not_before: dt.datetime
    not_after: dt.datetime
    state: str
    holder_name: str
    holder_key: str
    company_name: str
    siren: str
    order: LinkedOrder
    followers: list[LinkedOrder] = field(default_factory=list)

    @property
    def state_label(self) -> str:
        return STATES[self.state]


@dataclass(frozen=True)
class ResultPage:
    rows: list[CertificateRow]
    page: int
    total: int
    capped: bool
    has_next: bool

    @property
    def last_page(self) -> int | None:
        return None if self.capped else max(1, -(-self.total // PER_PAGE))


def _matching(scope: OperatorScope, filters: CertificateFilters, now: dt.datetime, *columns,
              newest_first: bool = False):
    """The scope's certificates under the filters (the register joined for « État » only).
    ``newest_first`` without a selective filter: on SQLite the certificates are read in the
    (issued_at, id) index and stop at the page's end (CROSS JOIN keeps that table outer; its
    planner would rather gather the AE's orders and sort them all); PostgreSQL finds that plan
    on its own."""
    walk_dates = (newest_first and not filters.selective
                  and isinstance(db.obj, SqliteDatabase))
    query = HolderCertificate.select(*columns)
    if walk_dates:
        query = query.join(Order, JOIN.CROSS).where(HolderCertificate.order == Order.id)
    else:
        query = query.join(Order, on=(HolderCertificate.order == Order.id))
    query = query.where(scope.order_condition())
    if filters.state and walk_dates:
        query = (query.switch(HolderCertificate).join(IssuedCertificate, JOIN.CROSS)
                 .where(HolderCertificate.issued == IssuedCertificate.id))
    elif filters.state:
        query = query.switch(HolderCertificate).join(
            IssuedCertificate, on=(HolderCertificate.issued == IssuedCertificate.id))
    for condition in conditions(filters, now):
        query = query.where(condition)
    return query


NEWEST_FIRST = (HolderCertificate.issued_at.desc(), HolderCertificate.id.desc())


def search(scope: OperatorScope, filters: CertificateFilters, page: int = 1,
           now: dt.datetime | None = None) -> ResultPage:
    """One page of the search; a page past the end shows the last one."""
    now = now or utcnow()
    page = max(1, page)
    total = None
    if page > 1:
        total = count(scope, filters, now)
        if total <= COUNT_CAP:
            page = min(page, max(1, -(-total // PER_PAGE)))
    # The page's ids first, on their own: as a sub-select PostgreSQL reads every certificate
    # to join them back.
    ids = [certificate_id for (certificate_id,) in
           _matching(scope, filters, now, HolderCertificate.id, newest_first=True)
           .order_by(*NEWEST_FIRST).offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1).tuples()]
    rows = _rows(scope, ids, now) if ids else []
    has_next = len(rows) > PER_PAGE
    if total is None:
        total = count(scope, filters, now) if has_next else len(rows)
    return ResultPage(rows=rows[:PER_PAGE], page=page, total=min(total, COUNT_CAP),
                      capped=total > COUNT_CAP, has_next=has_next)


def count(scope: OperatorScope, filters: CertificateFilters, now: dt.datetime) -> int:
    """Matching certificates, counted up to COUNT_CAP + 1."""
    return _matching(scope, filters, now, HolderCertificate.id).limit(COUNT_CAP + 1).count()


def _rows(scope: OperatorScope, ids: list[int], now: dt.datetime) -> list[CertificateRow]:
    query = (HolderCertificate
             .select(HolderCertificate.id, HolderCertificate.serial_hex,
                     HolderCertificate.not_before, HolderCertificate.not_after,
                     HolderCertificate.written_at, IssuedCertificate.revoked_at,
                     IssuedCertificate.revocation_reason, Order.id.alias("order_id"),
                     Order.number, Order.process, Order.phase, Order.substate,
                     Order.holder_search, Company.name.alias("company_name"), Company.siren,
                     Person.first_name, Person.last_name)
             .join(IssuedCertificate, on=(HolderCertificate.issued == IssuedCertificate.id))
             .switch(HolderCertificate)
             .join(Order, on=(HolderCertificate.order == Order.id))
             .join(Company, on=(Order.company == Company.id))
             .switch(Order)
             .join(Person, on=(Order.holder == Person.id))
             .where(HolderCertificate.id.in_(ids), scope.order_condition())
             .order_by(*NEWEST_FIRST)
             .dicts())
    rows = [_row(data, now) for data in query]
    followers = following_orders(scope, [row.serial_hex for row in rows])
    for row in rows:
        row.followers = followers.get(row.serial_hex, [])
    return rows


def _row(data: dict, now: dt.datetime) -> CertificateRow:
    return CertificateRow(
        id=data["id"], serial_hex=data["serial_hex"], not_before=data["not_before"],
        not_after=data["not_after"],
        state=state_of(data["revoked_at"], data["revocation_reason"], data["written_at"],
                       data["not_after"], now),
        holder_name=f"{data['first_name']} {data['last_name']}".strip(),
        holder_key=data["holder_search"], company_name=data["company_name"],
        siren=data["siren"],
        order=LinkedOrder(data["order_id"], data["number"], data["process"], data["phase"],
                          data["substate"]))


def following_orders(scope: OperatorScope, serials: list[str]) -> dict[str, list[LinkedOrder]]:
    """The renewal and revocation orders naming each serial (Order.target_serial), oldest
    first, in one query on its index."""
    if not serials:
        return {}
    query = (Order
             .select(Order.id, Order.number, Order.process, Order.phase, Order.substate,
                     Order.target_serial)
             .where(Order.target_serial.in_(serials), scope.order_condition())
             .order_by(Order.created_at, Order.number)
             .tuples())
    found: dict[str, list[LinkedOrder]] = {}
    for order_id, number, process, phase, substate, serial in query:
        found.setdefault(serial, []).append(LinkedOrder(order_id, number, process, phase, substate))
    return found


@dataclass(frozen=True)
class CertificateDetail:
    """The certificate page: every field, its register row, its orders."""
    row: HolderCertificate
    issued: IssuedCertificate
    order: Order
    company: Company
    holder: Person
    issued_by: str
    state: str
    followers: list[LinkedOrder]

    @property
    def state_label(self) -> str:
        return STATES[self.state]

    @property
    def key_type_label(self) -> str:
        return KEY_TYPES.get(self.row.key_type, self.row.key_type)

    @property
    def revocation_label(self) -> str:
        return reason_label(self.issued.revocation_reason)

    @property
    def made_by(self) -> LinkedOrder:
        order = self.order
        return LinkedOrder(order.id, order.number, order.process, order.phase, order.substate)


def certificate_or_none(scope: OperatorScope, certificate_id: int,
                        now: dt.datetime | None = None) -> CertificateDetail | None:
    """The certificate ``certificate_id`` when its order is in the scope, else None (one
    query, and one for the orders that follow it)."""
    issuer = Operator.alias()
    row = (HolderCertificate
           .select(HolderCertificate, IssuedCertificate, Order, Company, Person,
                   issuer.display_name)
           .join(IssuedCertificate, on=(HolderCertificate.issued == IssuedCertificate.id),
                 attr="issued")
           .switch(HolderCertificate)
           .join(Order, on=(HolderCertificate.order == Order.id), attr="order")
           .join(Company, on=(Order.company == Company.id), attr="company")
           .switch(Order)
           .join(Person, on=(Order.holder == Person.id), attr="holder")
           .switch(HolderCertificate)
           .join(issuer, JOIN.LEFT_OUTER, on=(HolderCertificate.issued_by == issuer.id),
                 attr="issuer")
           .where(HolderCertificate.id == certificate_id, scope.order_condition())
           .first())
    if row is None:
        return None
    now = now or utcnow()
    issued = row.issued
    return CertificateDetail(
        row=row, issued=issued, order=row.order, company=row.order.company,
        holder=row.order.holder,
        issued_by=row.issuer.display_name if row.issued_by_id else "",
        state=state_of(issued.revoked_at, issued.revocation_reason, row.written_at,
                       row.not_after, now),
        followers=following_orders(scope, [row.serial_hex]).get(row.serial_hex, []))
