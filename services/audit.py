"""The audit trail: append-only events, each hash-chained to the previous one.

``record`` first bumps the single ``AuditHead`` row: that write lock serialises
appends on SQLite and PostgreSQL alike, so two processes can never chain two
events onto the same predecessor. ``verify`` recomputes the chain; an edited,
inserted or deleted row breaks it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from models import AE, AuditEvent, AuditHead, Operator, Order, db, utcnow

GENESIS_HASH = "0" * 64


def canonical_details(details: dict | None) -> str:
    return json.dumps(details or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def event_hash(prev_hash: str, seq: int, at: dt.datetime, ae_id, operator_id, actor: str,
               action: str, order_id, details: str, ip: str) -> str:
    payload = json.dumps(
        [prev_hash, seq, at.isoformat(timespec="microseconds"), ae_id, operator_id, actor,
         action, order_id, details, ip],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def record(action: str, *, operator: Operator | None = None, ae: AE | int | None = None,
           order: Order | None = None, details: dict | None = None, actor: str | None = None,
           ip: str = "") -> AuditEvent:
    """Append one event; joins the caller's transaction when there is one."""
    fields = _fields(action, operator, ae, order, details, actor, ip)
    at = utcnow()
    with db.atomic():
        AuditHead.update(seq=AuditHead.seq + 1).where(AuditHead.id == 1).execute()
        head = AuditHead.get_by_id(1)
        digest = _hash(head.last_hash, head.seq, at, fields)
        event = AuditEvent.create(id=head.seq, at=at, prev_hash=head.last_hash, hash=digest,
                                  **fields)
        AuditHead.update(last_hash=digest).where(AuditHead.id == 1).execute()
    return event


def record_many(events: list[dict]) -> None:
    """Append several events (each given as ``record``'s keyword arguments plus ``action``) in
    one go: the head is bumped once and the rows inserted together, chained as ``record``
    chains them one by one. For a batch of orders handled at once."""
    if not events:
        return
    rows = [_fields(**event) for event in events]
    at = utcnow()
    with db.atomic():
        AuditHead.update(seq=AuditHead.seq + len(rows)).where(AuditHead.id == 1).execute()
        head = AuditHead.get_by_id(1)
        seq, previous = head.seq - len(rows) + 1, head.last_hash
        for offset, fields in enumerate(rows):
            digest = _hash(previous, seq + offset, at, fields)
            fields.update(id=seq + offset, at=at, prev_hash=previous, hash=digest)
            previous = digest
        AuditEvent.insert_many(rows).execute()
        AuditHead.update(last_hash=previous).where(AuditHead.id == 1).execute()


def _fields(action: str, operator: Operator | None = None, ae: AE | int | None = None,
            order: Order | None = None, details: dict | None = None, actor: str | None = None,
            ip: str = "") -> dict:
    """An event's columns but its place in the chain."""
    ae_id = _id(ae) if ae is not None else (
        operator.ae_id if operator is not None else (order.ae_id if order is not None else None))
    return {"ae": ae_id, "operator": operator.id if operator is not None else None,
            "actor": actor if actor is not None else (operator.display_name if operator else ""),
            "action": action, "order": order.id if order is not None else None,
            "details": canonical_details(details), "ip": ip}


def _hash(previous: str, seq: int, at: dt.datetime, fields: dict) -> str:
    return event_hash(previous, seq, at, fields["ae"], fields["operator"], fields["actor"],
                      fields["action"], fields["order"], fields["details"], fields["ip"])


@dataclass
class ChainProblem:
    event_id: int | None
    message: str


def verify(batch_size: int = 5000) -> list[ChainProblem]:
    """Walk the whole chain in id order; returns what is wrong (empty when intact)."""
    problems: list[ChainProblem] = []
    expected_prev, expected_id = GENESIS_HASH, 1
    last_id = 0
    while True:
        rows = (AuditEvent
                .select()
                .where(AuditEvent.id > last_id)
                .order_by(AuditEvent.id)
                .limit(batch_size))
        rows = list(rows)
        if not rows:
            break
        for event in rows:
            if event.id != expected_id:
                problems.append(ChainProblem(event.id, f"événement(s) manquant(s) avant le n° {event.id}"))
            if event.prev_hash != expected_prev:
                problems.append(ChainProblem(event.id, f"chaînage rompu au n° {event.id}"))
            recomputed = event_hash(event.prev_hash, event.id, event.at, event.ae_id,
                                    event.operator_id, event.actor, event.action, event.order_id,
                                    event.details, event.ip)
            if recomputed != event.hash:
                problems.append(ChainProblem(event.id, f"contenu modifié au n° {event.id}"))
            expected_prev, expected_id = event.hash, event.id + 1
            last_id = event.id
    head = AuditHead.get_or_none(AuditHead.id == 1)
    if head is not None and (head.seq != last_id or head.last_hash != expected_prev):
        problems.append(ChainProblem(None, "dernier(s) événement(s) supprimé(s) ou tête de chaîne modifiée"))
    return problems


def _id(value) -> int:
    return value if isinstance(value, int) else value.id
