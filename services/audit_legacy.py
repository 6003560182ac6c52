"""The one-time move of an existing audit trail from the plain SHA-256 chain (before the
chain had a key) to the HMAC chain: the schema's v32 step.

The plain chain is checked first. Intact, every event is chained again with the instance's key
(same rows, same order, new ``prev_hash``/``hash``). Broken, nothing is rewritten — a fresh MAC
must not launder an edit — and ``audit verify`` goes on reporting those events.
"""
from __future__ import annotations

import hashlib
import logging

from models import AuditEvent, AuditHead
from services import audit

log = logging.getLogger("radesk.audit")


def mac_plain_chain(batch_size: int = 5000) -> bool:
    """Chain every event again with the key when the plain chain is intact; whether it did
    (True as well when there is nothing to chain)."""
    head = AuditHead.get_or_none(AuditHead.id == 1)
    if not AuditEvent.select().exists():
        return True
    if head is None or not _plain_chain_intact(head, batch_size):
        log.warning("Piste d'audit : chaîne SHA-256 rompue, laissée telle quelle (non signée "
                    "avec la clé) ; « flask audit verify » la signale.")
        return False
    previous = audit.GENESIS_HASH
    for event in _events(batch_size):
        digest = audit.event_hash(previous, event.id, event.at, event.ae_id, event.operator_id,
                                  event.actor, event.action, event.order_id, event.details,
                                  event.ip)
        (AuditEvent
         .update(prev_hash=previous, hash=digest)
         .where(AuditEvent.id == event.id)
         .execute())
        previous = digest
    AuditHead.update(last_hash=previous).where(AuditHead.id == 1).execute()
    return True


def _plain_chain_intact(head: AuditHead, batch_size: int) -> bool:
    expected_prev, expected_id = audit.GENESIS_HASH, 1
    for event in _events(batch_size):
        payload = audit.event_payload(event.prev_hash, event.id, event.at, event.ae_id,
                                      event.operator_id, event.actor, event.action,
                                      event.order_id, event.details, event.ip)
        if (event.id != expected_id or event.prev_hash != expected_prev
                or hashlib.sha256(payload).hexdigest() != event.hash):
            return False
        expected_prev, expected_id = event.hash, event.id + 1
    return head.seq == expected_id - 1 and head.last_hash == expected_prev


def _events(batch_size: int):
    """Every event in id order, read a batch at a time (a batch is read whole before the
    caller updates its rows)."""
    last_id = 0
    while True:
        rows = list(AuditEvent
                    .select()
                    .where(AuditEvent.id > last_id)
                    .order_by(AuditEvent.id)
                    .limit(batch_size))
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
