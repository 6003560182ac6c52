"""Reading the machine-readable part of the pieces in the background: a pending reading is
written with each import of an identity document or a KBIS extract (in the import's own
transaction), and the reading job takes the pending ones in turn.

A run claims one reading at a time with a lease (``claimed_until``) and an attempt number, so
several scheduler processes never read the same piece at once, and a reading asked again
(« Relire la pièce ») while a run was reading is not overwritten by that run's older result.
The reader (adapters.piece_reader.read_piece) runs in the bounded render sandbox with the
previews' limits (time, memory, render slots). A piece that yields nothing is « lecture
automatique impossible »; a reader that keeps failing leaves the reading ``failed``: either
way the review goes on as without it.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time

from flask import Flask
from peewee import fn

import workflow
from adapters import piece_reader
from adapters.piece_reader import IDENTITY, KBIS
from adapters.render_slots import RenderSlots
from models import Document, DocumentReading, Operator, Order, db, utcnow
from models import readings as states
from services import audit, wakeups
from services.dossiers import piece_checks
from workflow import piece_comparison

log = logging.getLogger(__name__)

WAKE_KEY = "radesk_piece_reading_wake"
MAX_ATTEMPTS = 3
RETRY_DELAY = dt.timedelta(minutes=1)
RUN_BUDGET_SECONDS = 45.0  # a run stops taking new pieces after this (the job ticks again)
READER_LABEL = "RA Desk (lecture automatique)"
FROZEN = "Le dossier est en lecture seule : ses pièces ne sont plus relues."

ACTION_READ = "piece_read"
ACTION_REREAD = "piece_reread_asked"
AUDIT_ACTIONS = {
    ACTION_READ: "Lecture automatique d'une pièce",
    ACTION_REREAD: "Nouvelle lecture d'une pièce demandée (« Relire la pièce »)",
}
DETAIL_LABELS = {"lecture": "Lecture", "écarts": "Écarts avec la commande",
                 "champs_lus": "Champs lus"}
READ_KINDS = piece_comparison.READ_KINDS
RESULT_WORDS = {states.DONE: "lue", states.UNREADABLE: "lecture automatique impossible",
                states.FAILED: "lecture automatique impossible (échec du lecteur)"}


def reader_kind(document_kind: str) -> str | None:
    """What the reader looks for on a document of that kind, or None: not read."""
    if document_kind in piece_comparison.IDENTITY_KINDS:
        return IDENTITY
    return KBIS if document_kind == piece_comparison.KBIS_KIND else None


# --- Asked: with each import, and by « Relire la pièce » -------------------------------------

def queue(document: Document, requested_at: dt.datetime | None = None) -> DocumentReading | None:
    """Inside the import's transaction: the new version's pending reading (if its kind is
    read). The job reads the oldest ``requested_at`` first."""
    if document.kind not in piece_comparison.READ_KINDS or not document.sha256:
        return None
    return _ask(document, requested_at)


def carry(source: Document, copy: Document) -> DocumentReading | None:
    """A piece carried onto another order (a renewal's still-valid pieces): the same file says
    the same, so a finished reading is copied (compared with the new order when shown); an
    unfinished one is asked for the copy."""
    if copy.kind not in piece_comparison.READ_KINDS or not copy.sha256:
        return None
    done = DocumentReading.get_or_none((DocumentReading.document == source.id)
                                       & DocumentReading.state.in_([states.DONE,
                                                                    states.UNREADABLE]))
    if done is None:
        return _ask(copy)
    return DocumentReading.create(
        document=copy.id, order=copy.order_id, kind=copy.kind, state=done.state,
        reading=done.reading, requested_at=utcnow(), attempts=done.attempts,
        read_at=done.read_at, seconds=done.seconds, detail=done.detail)


def _ask(document: Document, requested_at: dt.datetime | None = None) -> DocumentReading:
    now = requested_at or utcnow()
    (DocumentReading
     .insert(document=document.id, order=document.order_id, kind=document.kind,
             state=states.PENDING, requested_at=now, attempts=0)
     .on_conflict(conflict_target=[DocumentReading.document],
                  update={DocumentReading.state: states.PENDING,
                          DocumentReading.requested_at: now,
                          DocumentReading.claimed_until: None,
                          DocumentReading.attempts: 0, DocumentReading.reading: None,
                          DocumentReading.read_at: None, DocumentReading.seconds: None,
                          DocumentReading.detail: ""})
     .execute())
    return DocumentReading.get(DocumentReading.document == document.id)


def reread(app: Flask, order: Order, document_id: int, operator: Operator,
           ip: str = "") -> DocumentReading | None:
    """« Relire la pièce »: the current version's reading asked again, audited. ``order`` comes
    from a scoped lookup; None when the document is not one of its current, read pieces."""
    if not operator.has_role(workflow.ROLE_AEA):
        raise workflow.Refused([f"Rôle {workflow.ROLE_AEA} requis."])
    if workflow.is_read_only(order):
        raise workflow.Refused([FROZEN])
    with db.atomic():
        document = Document.of_order(order, document_id)
        if (document is None or not document.is_current or not document.sha256
                or document.kind not in piece_comparison.READ_KINDS):
            return None
        reading = _ask(document)
        audit.record(ACTION_REREAD, operator=operator, order=order, ip=ip,
                     details={"document": workflow.document_kind_label(document.kind),
                              "filename": document.filename})
    wake(app)
    return reading


def register_wake(app: Flask, hook: wakeups.Hook) -> None:
    """What ``wake`` calls: in the server, the scheduler running the reading job now."""
    wakeups.register(app, WAKE_KEY, hook)


def wake(app: Flask) -> None:
    """After the commit that queued a reading: the job runs now rather than at its next tick."""
    wakeups.wake(app, WAKE_KEY)


# --- Read: the job ---------------------------------------------------------------------------

def job(app: Flask) -> int:
    """The scheduler's run: the pending readings, oldest first, within the run's budget."""
    return run_pending(app)


def run_pending(app: Flask, *, budget_seconds: float = RUN_BUDGET_SECONDS,
                limit: int | None = None, order_ids: list[int] | None = None) -> int:
    """Read pending pieces until none is left, the budget is spent or ``limit`` were read;
    ``order_ids``: only those orders' pieces (the demo's seed, tests)."""
    deadline, count = time.monotonic() + budget_seconds, 0
    while time.monotonic() < deadline and (limit is None or count < limit):
        claimed = claim(_lease(app), order_ids)
        if claimed is None:
            break
        read_one(app, claimed)
        count += 1
    return count


def _lease(app: Flask) -> dt.timedelta:
    return dt.timedelta(seconds=3 * float(app.config.get("PREVIEW_TIMEOUT_SECONDS", 20)) + 60)


def _claimable(now: dt.datetime):
    return ((DocumentReading.state == states.PENDING)
            & (DocumentReading.claimed_until.is_null() | (DocumentReading.claimed_until < now)))


def claim(lease: dt.timedelta, order_ids: list[int] | None = None) -> DocumentReading | None:
    """The oldest pending reading nobody holds, now held by this run; None when none waits."""
    now = utcnow()
    condition = _claimable(now)
    if order_ids is not None:
        condition &= DocumentReading.order.in_(order_ids)
    # Read whole before writing (an open SQLite cursor keeps its snapshot).
    candidates = list(DocumentReading
                      .select(DocumentReading.id, DocumentReading.attempts)
                      .where(condition)
                      .order_by(DocumentReading.requested_at, DocumentReading.id)
                      .limit(5)
                      .tuples())
    for reading_id, attempts in candidates:
        with db.atomic():
            taken = (DocumentReading
                     .update(claimed_until=now + lease, attempts=attempts + 1)
                     .where((DocumentReading.id == reading_id)
                            & (DocumentReading.attempts == attempts) & _claimable(now))
                     .execute())
        if taken:
            return DocumentReading.get_by_id(reading_id)
    return None


def read_one(app: Flask, reading: DocumentReading) -> str:
    """Read the claimed piece and store what came of it; returns the reading's state."""
    from services.dossiers.documents import document_store  # which imports this module

    document = Document.get_by_id(reading.document_id)
    config = app.config
    started = time.monotonic()
    try:
        result = piece_reader.read_piece(
            document_store(app).path_for(document.sha256), document.media_type,
            reader_kind(document.kind),
            timeout=float(config.get("PREVIEW_TIMEOUT_SECONDS", 20)),
            memory_bytes=int(config.get("PREVIEW_MEMORY_MB", 1024)) * 2**20,
            slots=RenderSlots.for_background(app),
            niceness=int(config.get("RADESK_PIECE_READING_NICENESS", 10)))
    except Exception as error:  # noqa: BLE001 — a reader failure never stops the job
        log.warning("lecture de la pièce %s impossible : %r", document.id, error)
        return _failed(reading, f"{type(error).__name__}: {error}"[:250])
    return _store(reading, document, result, time.monotonic() - started)


def _store(reading: DocumentReading, document: Document, result, elapsed: float) -> str:
    state = states.DONE if result.status == piece_reader.READ else states.UNREADABLE
    with db.atomic():
        # Only the run that holds this attempt writes: a reading asked again meanwhile
        # (attempts back to 0) is read anew rather than given this older result.
        stored = (DocumentReading
                  .update(state=state, reading=json.dumps(result.to_json(), ensure_ascii=False),
                          read_at=utcnow(), seconds=round(result.seconds or elapsed, 3),
                          claimed_until=None, detail=(result.detail or "")[:250])
                  .where((DocumentReading.id == reading.id)
                         & (DocumentReading.attempts == reading.attempts)
                         & (DocumentReading.state == states.PENDING))
                  .execute())
        if stored:
            _audit_result(document, state, result)
    return state if stored else states.PENDING


def _failed(reading: DocumentReading, detail: str) -> str:
    final = reading.attempts >= MAX_ATTEMPTS
    values = ({"state": states.FAILED, "claimed_until": None, "read_at": utcnow()} if final
              else {"claimed_until": utcnow() + RETRY_DELAY})
    with db.atomic():
        stored = (DocumentReading
                  .update(detail=detail, **values)
                  .where((DocumentReading.id == reading.id)
                         & (DocumentReading.attempts == reading.attempts)
                         & (DocumentReading.state == states.PENDING))
                  .execute())
        if stored and final:
            _audit_result(Document.get_by_id(reading.document_id), states.FAILED, None)
    return states.FAILED if stored and final else states.PENDING


def _audit_result(document: Document, state: str, result) -> None:
    order = piece_checks.order_with_people(document.order_id)
    details = {"document": workflow.document_kind_label(document.kind),
               "filename": document.filename, "lecture": RESULT_WORDS[state]}
    if result is not None and state == states.DONE:
        checks = piece_checks.compare(order, document.kind, result)
        details["champs_lus"] = ", ".join(c.label for c in checks
                                          if c.outcome != piece_comparison.UNREADABLE) or "aucun"
        details["écarts"] = ", ".join(c.label for c in piece_comparison.differences(checks)) \
            or "aucun"
    audit.record(ACTION_READ, order=order, actor=READER_LABEL, details=details)


def pending_count() -> int:
    return DocumentReading.select(fn.COUNT(DocumentReading.id)).where(
        DocumentReading.state == states.PENDING).scalar() or 0
