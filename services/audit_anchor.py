"""What anchors the audit trail outside the database, in ``<instance>/audit/``:

* ``chain.key`` — the HMAC-SHA256 key every event's hash is made with (``services.audit``);
* ``checkpoint.key`` — the Ed25519 key that signs the checkpoints;
* ``checkpoints.jsonl`` — append-only, one signed JSON line per checkpoint: the chain's head
  (``seq``, ``hash``) at a moment (``at``), written by the hourly job and ``audit checkpoint``.

Whoever can write the database but not this folder can neither recompute the chain after an
edit nor move the head back below a checkpoint (a cut tail). Backups hold this folder with the
database.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import fcntl
import hmac
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask

from adapters.atomic_files import fsync_folder, load_or_create_private_key, load_or_create_secret
from formatting import paris_datetime
from models import AuditEvent, AuditHead
from services import audit

log = logging.getLogger("radesk.audit")

FOLDER = "audit"
CHAIN_KEY = "chain.key"
CHECKPOINT_KEY = "checkpoint.key"
CHECKPOINTS = "checkpoints.jsonl"
# Signed with the line's fields, so that a checkpoint's signature means nothing elsewhere.
SIGNED_PREFIX = b"radesk-audit-checkpoint-v1\n"


class CheckpointRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: dt.datetime  # UTC, aware


@dataclass
class Report:
    problems: list[audit.ChainProblem]
    checkpoints: int  # the well-signed ones the chain was checked against


def folder(app: Flask) -> Path:
    return Path(app.config["INSTANCE_PATH"]) / FOLDER


def init_app(app: Flask) -> None:
    """Load (or make, on first start) the chain's key and give it to ``services.audit``;
    before the schema's upgrade, whose v32 step MACs an older chain with it."""
    path = folder(app)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    audit.use_chain_key(load_or_create_secret(path / CHAIN_KEY))


def write_checkpoint(app: Flask) -> Checkpoint:
    """Sign the chain's head as it is now and append it to the checkpoints file.

    The head must be the last event, with a valid MAC: a head someone moved is refused rather
    than signed."""
    head = AuditHead.get_or_none(AuditHead.id == 1)
    if head is None:
        raise CheckpointRefused("tête de chaîne (audit_head) absente : aucun point de contrôle "
                                "écrit (lancez « flask audit verify »).")
    if not _head_is_last_event(head):
        raise CheckpointRefused("la tête de chaîne ne correspond pas au dernier événement : "
                                "aucun point de contrôle écrit (lancez « flask audit verify »).")
    checkpoint = Checkpoint(head.seq, head.last_hash,
                            dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
    fields = _fields(checkpoint)
    signature = _signing_key(app).sign(_signed_bytes(fields))
    fields["signature"] = base64.b64encode(signature).decode("ascii")
    _append_line(folder(app) / CHECKPOINTS, json.dumps(fields, sort_keys=True) + "\n")
    return checkpoint


def job(app: Flask) -> None:
    """The scheduler's hourly checkpoint."""
    try:
        checkpoint = write_checkpoint(app)
    except CheckpointRefused as refused:
        log.error("Point de contrôle de la piste d'audit refusé : %s", refused.message)
        return
    log.info("Point de contrôle de la piste d'audit : %s événements", checkpoint.seq)


def verify(app: Flask) -> Report:
    """The chain walked and checked against every well-signed checkpoint; a line that does not
    read or whose signature fails is a problem of its own."""
    anchors, problems = read_checkpoints(app)
    problems += audit.verify(anchors=anchors)
    return Report(problems, len(anchors))


def read_checkpoints(app: Flask) -> tuple[list[audit.Anchor], list[audit.ChainProblem]]:
    path = folder(app) / CHECKPOINTS
    if not path.exists():
        return [], []
    public_key = _signing_key(app).public_key()
    anchors, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            checkpoint = Checkpoint(int(record["seq"]), str(record["hash"]),
                                    dt.datetime.fromisoformat(record["at"]))
            signature = base64.b64decode(record["signature"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            problems.append(audit.ChainProblem(None, f"point de contrôle illisible (ligne {number})"))
            continue
        try:
            public_key.verify(signature, _signed_bytes(_fields(checkpoint)))
        except InvalidSignature:
            problems.append(audit.ChainProblem(
                None, f"point de contrôle falsifié (ligne {number}) : signature invalide"))
            continue
        label = f"point de contrôle du {paris_datetime(checkpoint.at)} (ligne {number})"
        anchors.append(audit.Anchor(checkpoint.seq, checkpoint.hash, label))
    return anchors, problems


def _head_is_last_event(head: AuditHead) -> bool:
    if head.seq == 0:
        return head.last_hash == audit.GENESIS_HASH
    last = AuditEvent.get_or_none(AuditEvent.id == head.seq)
    if last is None or last.hash != head.last_hash:
        return False
    recomputed = audit.event_hash(last.prev_hash, last.id, last.at, last.ae_id, last.operator_id,
                                  last.actor, last.action, last.order_id, last.details, last.ip)
    return hmac.compare_digest(recomputed, last.hash)


def _fields(checkpoint: Checkpoint) -> dict:
    return {"seq": checkpoint.seq, "hash": checkpoint.hash,
            "at": checkpoint.at.isoformat(timespec="seconds")}


def _signed_bytes(fields: dict) -> bytes:
    return SIGNED_PREFIX + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _signing_key(app: Flask) -> Ed25519PrivateKey:
    key = app.extensions.get("radesk_audit_checkpoint_key")
    if key is None:
        key = load_or_create_private_key(folder(app) / CHECKPOINT_KEY, Ed25519PrivateKey.generate)
        app.extensions["radesk_audit_checkpoint_key"] = key
    return key


def _append_line(path: Path, line: str) -> None:
    """One whole line at the file's end, durable; the lock keeps two writers' lines apart."""
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)  # and the lock with it
    if created:
        fsync_folder(path.parent)
