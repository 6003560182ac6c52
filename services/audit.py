"""The audit trail: append-only events, each chained to the previous one by an HMAC-SHA256
under a key kept outside the database (``services.audit_anchor`` loads it from the instance
folder), so that whoever can write the database cannot recompute the chain.

``record`` first bumps the single ``AuditHead`` row: that write lock serialises
appends on SQLite and PostgreSQL alike, so two processes can never chain two
events onto the same predecessor. ``verify`` recomputes the chain, and checks it against the
signed checkpoints it is given; an edited, inserted or deleted row breaks it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

from models import AE, AuditEvent, AuditHead, Operator, Order, db, utcnow
from models.prepared import PreparedQuery

GENESIS_HASH = "0" * 64


def canonical_details(details: dict | None) -> str:
    return json.dumps(details or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


_chain_key: bytes | None = None


def use_chain_key(key: bytes) -> None:
    """The key events are MACed with from now on in this process (create_app binds the
    instance's, as it binds the database)."""
    global _chain_key
    _chain_key = key


def chain_key() -> bytes:
    if _chain_key is None:
        raise RuntimeError("clé de la piste d'audit non chargée (create_app la charge)")
    return _chain_key


def event_payload(prev_hash: str, seq: int, at: dt.datetime, ae_id, operator_id, actor: str,
                  action: str, order_id, details: str, ip: str) -> bytes:
    """What an event's MAC covers: its place in the chain and every column."""
    return json.dumps(
        [prev_hash, seq, at.isoformat(timespec="microseconds"), ae_id, operator_id, actor,
         action, order_id, details, ip],
        ensure_ascii=False, separators=(",", ":"),
    ).encode("utf-8")


def event_hash(prev_hash: str, seq: int, at: dt.datetime, ae_id, operator_id, actor: str,
               action: str, order_id, details: str, ip: str) -> str:
    payload = event_payload(prev_hash, seq, at, ae_id, operator_id, actor, action, order_id,
                            details, ip)
    return hmac.new(chain_key(), payload, hashlib.sha256).hexdigest()


_HEAD = PreparedQuery(lambda: AuditHead.select().where(AuditHead.id == 1))  # its SQL written once


def record(action: str, *, operator: Operator | None = None, ae: AE | int | None = None,
           order: Order | None = None, details: dict | None = None, actor: str | None = None,
           ip: str = "") -> AuditEvent:
    """Append one event; joins the caller's transaction when there is one."""
    fields = _fields(action, operator, ae, order, details, actor, ip)
    at = utcnow()
    with db.atomic():
        AuditHead.update(seq=AuditHead.seq + 1).where(AuditHead.id == 1).execute()
        head = _HEAD.first()
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
        head = _HEAD.first()
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


@dataclass(frozen=True)
class Anchor:
    """A signed checkpoint's word: event n° ``seq`` had ``hash`` (``label`` names it in French)."""
    seq: int
    hash: str
    label: str


def verify(batch_size: int = 5000, anchors: Iterable[Anchor] = ()) -> list[ChainProblem]:
    """Walk the whole chain in id order, checking it against ``anchors`` on the way; returns
    what is wrong (empty when intact)."""
    problems: list[ChainProblem] = []
    pinned: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        pinned.setdefault(anchor.seq, []).append(anchor)
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
            if not hmac.compare_digest(recomputed, event.hash):
                problems.append(ChainProblem(event.id, f"contenu modifié au n° {event.id}"))
            for anchor in pinned.pop(event.id, ()):
                if anchor.hash != event.hash:
                    problems.append(ChainProblem(
                        event.id, f"le n° {event.id} ne correspond pas au {anchor.label}"))
            expected_prev, expected_id = event.hash, event.id + 1
            last_id = event.id
    for seq, cut in sorted(pinned.items()):
        if seq > last_id:  # a checkpoint saw events the table no longer holds
            problems.append(ChainProblem(None, f"événement(s) n° {last_id + 1} à {seq} "
                                               f"supprimé(s) : attesté(s) par le {cut[0].label}"))
        elif seq == 0:
            if any(anchor.hash != GENESIS_HASH for anchor in cut):
                problems.append(ChainProblem(None, f"début de chaîne différent du {cut[0].label}"))
        else:
            problems.append(ChainProblem(seq, f"n° {seq} absent : attesté par le {cut[0].label}"))
    head = AuditHead.get_or_none(AuditHead.id == 1)
    if head is None:
        problems.append(ChainProblem(None, "tête de chaîne (audit_head) absente"))
    elif head.seq != last_id or head.last_hash != expected_prev:
        problems.append(ChainProblem(None, "dernier(s) événement(s) supprimé(s) ou tête de chaîne modifiée"))
    return problems


def _id(value) -> int:
    return value if isinstance(value, int) else value.id
