"""``read_piece``: one read of an uploaded piece, in the bounded render sandbox.

The file is opened only by the worker (adapters/piece_reader/worker.py), run by path with
``python -I`` under prlimit's time and memory limits (adapters.sandbox), as previews are.
Whatever goes wrong there — a hostile file, a timeout, a crash — gives an UNREADABLE reading
with a ``detail`` for the logs, never an exception.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import time
from pathlib import Path

from adapters.document_store import JPEG, MIB, PDF, PNG
from adapters.piece_reader import (
    IDENTITY, KBIS, READ, UNREADABLE, IdentityReading, KbisReading, PieceReading)
from adapters.sandbox import BoundedTimeout, run_bounded

WORKER = Path(__file__).with_name("worker.py")
MAX_PIXELS = 40_000_000
IDENTITY_FIELDS = ("document_type", "document_number", "surname", "given_names", "birth_date",
                   "expiry_date", "nationality")


def read_piece(path: Path, media_type: str, kind: str, *, timeout: float = 20.0,
               memory_bytes: int = 1024 * MIB, slots=None, niceness: int = 0) -> PieceReading:
    """What the piece at ``path`` says: the MRZ of an identity document (image or PDF), the
    text layer of a KBIS (PDF). ``slots`` (adapters.render_slots.RenderSlots): one is held for
    the read; RenderBusy propagates when none came free, as for previews. ``niceness``: the
    worker's and Tesseract's priority lowered by that much (the background job's reads)."""
    started = time.monotonic()
    if kind not in (IDENTITY, KBIS):
        raise ValueError(f"unknown kind {kind!r}")
    if media_type not in (PDF, JPEG, PNG) or (kind == KBIS and media_type != PDF):
        return _unreadable(kind, started, f"{media_type} is not read for {kind}")
    if kind == IDENTITY:
        argv = ["identity", str(path), media_type, str(MAX_PIXELS), f"{timeout:g}"]
    else:
        argv = ["kbis", str(path)]
    with slots.held() if slots is not None else contextlib.nullcontext():
        try:
            result = run_bounded([sys.executable, "-I", str(WORKER), *argv], timeout=timeout,
                                 memory_bytes=memory_bytes, output_bytes=64 * MIB,
                                 niceness=niceness)
        except BoundedTimeout:
            return _unreadable(kind, started, f"timed out after {timeout:g} s")
    try:
        answer = json.loads(result.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        reason = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return _unreadable(kind, started,
                           f"worker exited with {result.returncode}: {reason[0][:200]}")
    if "error" in answer:
        return _unreadable(kind, started, answer["error"])
    return _reading(kind, answer, started)


def _unreadable(kind: str, started: float, detail: str) -> PieceReading:
    return PieceReading(kind=kind, status=UNREADABLE, detail=detail,
                        seconds=round(time.monotonic() - started, 3))


def _reading(kind: str, answer: dict, started: float) -> PieceReading:
    fields = answer["fields"]
    if kind == KBIS:
        identity, kbis = None, KbisReading(
            siren=fields.get("siren"), company_name=fields.get("company_name"),
            extract_date=_date(fields.get("extract_date")))
        found = any(value is not None for value in (kbis.siren, kbis.company_name,
                                                     kbis.extract_date))
    else:
        kbis, identity = None, IdentityReading(
            document_type=fields.get("document_type"),
            document_number=fields.get("document_number"),
            surname=fields.get("surname"),
            given_names=tuple(fields["given_names"]) if fields.get("given_names") is not None
            else None,
            birth_date=_date(fields.get("birth_date")),
            expiry_date=_date(fields.get("expiry_date")),
            nationality=fields.get("nationality"),
            surname_truncated=bool(fields.get("surname_truncated")),
            given_names_truncated=bool(fields.get("given_names_truncated")),
            absent_fields=tuple(fields.get("absent_fields") or ()))
        found = any(getattr(identity, name) is not None for name in IDENTITY_FIELDS)
    extra = {key: answer[key] for key in ("attempts",) if key in answer}
    if kind == IDENTITY:
        extra.update(format=fields.get("format"), check_digits_valid=bool(fields.get("valid")))
    if not found:
        return PieceReading(kind=kind, status=UNREADABLE, page=answer.get("page"),
                            seconds=round(time.monotonic() - started, 3),
                            detail="no field could be read with certainty", extra=extra)
    return PieceReading(kind=kind, status=READ, identity=identity, kbis=kbis,
                        page=answer.get("page"), seconds=round(time.monotonic() - started, 3),
                        extra=extra)


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None
