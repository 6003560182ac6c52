"""Documents of a dossier: importing a file (requester uploads, intake, tools), the operator's
check of a justificatif, and reading the dossier's documents with their versions.

Importing is crash-safe. The file is checked first (nothing written when refused); then a
``PendingFile`` row is committed, the file written atomically (adapters.document_store), and
one transaction links it: the new ``Document`` row, the previous version marked replaced, the
order's sub-state, the audit event, and the ``PendingFile`` row deleted. Killed at any point,
the process leaves either a complete import, or a ``PendingFile`` row naming a file that no
``Document`` uses: ``recover_interrupted_imports`` deletes that file and the row. Content that
two processes import at once is serialised per hash (an advisory lock on PostgreSQL; SQLite's
single writer), so recovery never deletes a file another import is about to link.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app
from peewee import JOIN, PostgresqlDatabase

import workflow
from models import Document, Operator, Order, PendingFile, db, utcnow
from models.prepared import PreparedQuery
from services import audit
from services.dossiers import piece_readings
from adapters.render_slots import RenderSlots
from adapters.document_store import JPEG, MIB, PDF, PNG, DocumentStore, RefusedDocument

log = logging.getLogger(__name__)

PENDING_GRACE = dt.timedelta(minutes=15)  # far longer than any import takes
EXTENSIONS = {PDF: "pdf", JPEG: "jpg", PNG: "png"}
MAX_FILENAME = 120

ACTION_IMPORTED = "document_imported"
ACTION_VERIFIED = "document_verified"
ACTION_UNVERIFIED = "document_verification_withdrawn"
ACTION_DOWNLOADED = "document_downloaded"
ACTION_DOSSIER_DOWNLOADED = "dossier_downloaded"
ACTION_VIEWER_OPENED = "viewer_opened"
AUDIT_ACTIONS = {  # French wording of this module's audit events
    ACTION_IMPORTED: "Import d'un document",
    ACTION_VERIFIED: "Pièce justificative vérifiée",
    ACTION_UNVERIFIED: "Vérification d'une pièce retirée",
    ACTION_DOWNLOADED: "Téléchargement d'un document",
    ACTION_DOSSIER_DOWNLOADED: "Téléchargement du dossier",
    ACTION_VIEWER_OPENED: "Consultation des documents",
}
# « Importé par »: the operator who added the file, « Demandeur » for the requester's uploads,
# « RA Desk » for the documents the system made itself (the contracts generated at « Envoyer pour
# signature », their signed versions). Those callers' own labels (« RA Desk (génération) »,
# « Mme X (signature électronique) ») still name who acted in the audit trail.
REQUESTER = "Demandeur"
SYSTEM_IMPORTER = "RA Desk"
DETAIL_LABELS = {
    "document": "Document", "filename": "Fichier", "sha256": "SHA-256", "size": "Taille (octets)",
    "media_type": "Type", "pages": "Pages", "replaces": "Remplace le document n°",
    "expires_on": "Date d'expiration", "files": "Fichiers", "bytes": "Octets",
}


# --- The store of this app ---------------------------------------------------------

def document_store(app: Flask | None = None) -> DocumentStore:
    """The app's store, under <instance>/documents, with the configured limits."""
    config = (app or current_app).config
    return DocumentStore(
        Path(config["INSTANCE_PATH"]) / "documents",
        max_bytes=int(float(config.get("DOCUMENT_MAX_MB", 20)) * MIB),
        max_pages=int(config.get("DOCUMENT_MAX_PAGES", 200)),
        max_pixels=int(config.get("DOCUMENT_MAX_PIXELS", 40_000_000)),
        memory_bytes=int(config.get("PREVIEW_MEMORY_MB", 1024)) * MIB,
        slots=RenderSlots.for_app(app),
    )


def init_app(app: Flask) -> None:
    """At start: finish what a crashed process left (imports older than the grace period)."""
    try:
        with db.connection_context():
            recover_interrupted_imports(document_store(app))
    except Exception:  # never prevent the app from starting; the next import retries
        log.exception("reprise des imports interrompus impossible")


# --- Importing -------------------------------------------------------------------

def clean_filename(filename: str | None, kind: str, media_type: str) -> str:
    """The uploaded name, kept for people: no folder, no control character, bounded length,
    and the extension of what the bytes are (a PDF named « .png » is saved as « .pdf »)."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name)
                   if unicodedata.category(c)[0] != "C").strip(" .")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = stem[:MAX_FILENAME].strip(" .") or kind
    return f"{stem}.{EXTENSIONS[media_type]}"


def _lock_content(sha256: str) -> None:
    """Serialise, per content hash, imports and recovery until the transaction ends. On
    SQLite the caller's first statement is a write, which takes the database's write lock."""
    if isinstance(db.obj, PostgresqlDatabase):
        key = zlib.crc32(bytes.fromhex(sha256)) - 2**31
        db.execute_sql("SELECT pg_advisory_xact_lock(4, %s)", (key,))


def import_document(order: Order, kind: str, filename: str, data: bytes, *,
                    operator: Operator | None = None, actor_label: str = "",
                    ip: str = "", within=None) -> Document:
    """Add a file to the order's dossier as the current version of ``kind``.

    Raises ``RefusedDocument`` (French ``.message``) when the file is not acceptable or the
    dossier is frozen; nothing is stored then. The version it replaces stays in the archive
    (``is_current=False``); a still-empty row of that kind (« non importé ») is filled in instead.
    ``within(document)``, when given, runs inside the linking transaction (a signature's own
    changes and audit event); what it raises undoes the whole import.
    """
    reasons = workflow.document_import_blockers(order, kind)
    if reasons:
        raise RefusedDocument(" ".join(reasons))
    store = document_store()
    recover_interrupted_imports(store, temp_files=False)
    media_type, page_count = store.inspect(data)
    sha256 = hashlib.sha256(data).hexdigest()
    with db.atomic():
        pending = PendingFile.create(sha256=sha256)  # first statement: a write (see above)
        _lock_content(sha256)
    try:
        stored = store.save(data, media_type, page_count)
        with db.atomic():
            document = _link(order, kind, clean_filename(filename, kind, media_type), stored,
                             zlib.crc32(data), operator, actor_label, ip)
            if within is not None:
                within(document)
            PendingFile.delete().where(PendingFile.id == pending.id).execute()
    except BaseException:
        _forget(pending, store)
        raise
    if kind in piece_readings.READ_KINDS:
        piece_readings.wake(current_app._get_current_object())  # committed: read it now
    return document


# Read by every import: their SQL written once (models.prepared).
_ORDER = PreparedQuery(lambda order_id: Order.select().where(Order.id == order_id), "order_id")
_CURRENT_OF_KIND = PreparedQuery(lambda order_id, kind: (
    Document.select()
    .where((Document.order == order_id) & (Document.kind == kind)
           & (Document.is_current == True))  # noqa: E712
    .order_by(Document.id.desc()).limit(1)), "order_id", "kind")


def _link(order: Order, kind: str, filename: str, stored, crc32: int,
          operator: Operator | None, actor_label: str, ip: str) -> Document:
    now = utcnow()
    # Writing the order first locks it (row lock, or SQLite's write lock): its phase cannot
    # change under us, and two imports of the same kind take turns.
    Order.update(updated_at=now).where(Order.id == order.id).execute()
    current = _ORDER.first(order_id=order.id)
    reasons = workflow.document_import_blockers(current, kind)
    if reasons:
        raise RefusedDocument(" ".join(reasons))
    spec = workflow.DOCUMENT_KINDS[kind]
    fields = dict(
        filename=filename, sha256=stored.sha256, media_type=stored.media_type, size=stored.size,
        page_count=stored.page_count, crc32=crc32, imported_at=now,
        imported_by=operator.id if operator else None,
        imported_by_label=importer_label(operator, actor_label),
        status=(workflow.STATUS_IMPORTED if spec.category == workflow.CATEGORY_SUPPORTING
                else workflow.STATUS_UNSIGNED),
        verified_at=None, verified_by=None, expires_on=None, is_current=True,
    )
    previous = _CURRENT_OF_KIND.first(order_id=order.id, kind=kind)
    if previous is not None and not previous.sha256:
        Document.update(**fields).where(Document.id == previous.id).execute()
        document, replaced = Document.get_by_id(previous.id), None
    else:
        (Document
         .update(is_current=False)
         .where((Document.order == order.id) & (Document.kind == kind)
                & (Document.is_current == True))  # noqa: E712
         .execute())
        document = Document.create(order=order.id, kind=kind, category=spec.category, **fields)
        replaced = previous.id if previous is not None else None
    _refresh_substate(current)
    piece_readings.queue(document)  # an identity document or KBIS: read in the background
    details = {"document": spec.label, "filename": filename, "sha256": stored.sha256,
               "size": stored.size, "media_type": stored.media_type, "pages": stored.page_count}
    if replaced is not None:
        details["replaces"] = replaced
    audit.record(ACTION_IMPORTED, operator=operator, order=current, ip=ip, details=details,
                 actor=actor_label or None)
    return document


def importer_label(operator: Operator | None, actor_label: str) -> str:
    """Who the dossier shows as having imported a file (see SYSTEM_IMPORTER)."""
    if operator is not None:
        return actor_label or operator.display_name
    return REQUESTER if actor_label == REQUESTER else SYSTEM_IMPORTER


def _refresh_substate(order: Order) -> None:
    """A contractual document replaced by an unsigned version takes the order back to
    « en signature » (workflow.compute_substate)."""
    documents = Document.select().where(Document.order == order.id)
    substate = workflow.compute_substate(order, documents)
    if substate != order.substate:
        Order.update(substate=substate).where(Order.id == order.id).execute()


def _forget(pending: PendingFile, store: DocumentStore) -> None:
    """The import failed without crashing: undo at once what recovery would undo later."""
    try:
        with db.atomic():
            _release(pending, store)
    except Exception:  # the row stays: recovery will try again after the grace period
        log.exception("nettoyage de l'import interrompu %s impossible", pending.sha256)


def _release(pending: PendingFile, store: DocumentStore) -> bool:
    """Inside a transaction: drop ``pending`` and, when nothing else uses its file, the file."""
    deleted = PendingFile.delete().where(PendingFile.id == pending.id).execute()
    _lock_content(pending.sha256)
    if not deleted:
        return False  # another process recovered it already
    in_use = (Document.select().where(Document.sha256 == pending.sha256).exists()
              or PendingFile.select().where(PendingFile.sha256 == pending.sha256).exists())
    return False if in_use else store.remove(pending.sha256)


def recover_interrupted_imports(store: DocumentStore,
                                older_than: dt.timedelta = PENDING_GRACE, *,
                                temp_files: bool = True) -> int:
    """Delete the files of imports interrupted more than ``older_than`` ago and, with
    ``temp_files``, leftover temporary files (a walk through the whole store: at start and by
    the hourly job, never per import); returns how many stored files were deleted."""
    cutoff = utcnow() - older_than
    removed = 0
    # Read whole before writing: an SQLite cursor left open keeps its snapshot, and a write
    # from that snapshot after another process's commit fails at once (« database is locked »).
    for pending in list(PendingFile.select().where(PendingFile.created_at <= cutoff)
                        .order_by(PendingFile.id)):
        with db.atomic():
            removed += _release(pending, store)
    if temp_files:
        store.remove_stale_temp_files(older_than_seconds=older_than.total_seconds())
    return removed


def cleanup_job(app: Flask) -> int:
    """The scheduler's hourly pass: interrupted imports and leftover temporary files."""
    return recover_interrupted_imports(document_store(app))


# --- Reading the dossier --------------------------------------------------------------

def documents_with_operators(order_id: int, *, current_only: bool = False):
    """The order's document rows (current and replaced, or current only), oldest first, with
    the operators who imported and verified them: one query."""
    importer, verifier = Operator.alias(), Operator.alias()
    condition = Document.order == order_id
    if current_only:
        condition &= Document.is_current == True  # noqa: E712 (peewee expression)
    return (Document
            .select(Document, importer, verifier)
            .join(importer, JOIN.LEFT_OUTER, on=(Document.imported_by == importer.id),
                  attr="imported_by")
            .switch(Document)
            .join(verifier, JOIN.LEFT_OUTER, on=(Document.verified_by == verifier.id),
                  attr="verified_by")
            .where(condition)
            .order_by(Document.id))


def current_documents_with_operators(order_id: int) -> list[Document]:
    """``documents_with_operators(order_id, current_only=True)``, as the order file reads it
    on every view: built once (models.prepared)."""
    return list(_CURRENT_WITH_OPERATORS.execute(order_id=order_id))


_CURRENT_WITH_OPERATORS = PreparedQuery(
    lambda order_id: documents_with_operators(order_id, current_only=True), "order_id")


def dossier_documents(order: Order) -> list[Document]:
    """Every document row of the order, current and replaced."""
    return list(documents_with_operators(order.id))


def preview_source(scope, order_id: int, document_id: int) -> Document | None:
    """What a page preview needs of a document, in one scoped query (previews are the most
    frequent request of the viewer): None outside the operator's scope or without a file."""
    return (Document
            .visible_to(scope)
            .select(Document.id, Document.sha256, Document.media_type, Document.page_count)
            .where((Document.id == document_id) & (Document.order == order_id)
                   & Document.sha256.is_null(False))
            .first())


def importer_name(document: Document) -> str:
    if document.imported_by_label:
        return document.imported_by_label
    return document.imported_by.display_name if document.imported_by_id else ""


def download_name(order: Order, document: Document) -> str:
    """« 960072-extrait-de-kbis-kbis.pdf »: the order, the kind, the name it came with."""
    label = workflow.document_kind_label(document.kind)
    slug = _slug(label)
    original = document.filename or f"document.{EXTENSIONS.get(document.media_type, 'bin')}"
    return f"{order.number}-{slug}-{original}"


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


# --- The operator's check of a justificatif ------------------------------------------

@dataclass(frozen=True)
class VerificationResult:
    document: Document
    changed: bool


def set_verified(order: Order, document_id: int, operator: Operator, verified: bool,
                 expires_on: dt.date | None = None, ip: str = "") -> VerificationResult:
    """Mark a justificatif « vérifié » (with its expiry date, if any), or withdraw the mark.
    Raises ``workflow.Refused`` with the French reasons when refused."""
    problem = workflow.expiry_date_problem(expires_on) if verified else None
    if problem is not None:
        raise workflow.Refused([problem])
    now = utcnow()
    with db.atomic() as transaction:
        Order.update(updated_at=now).where(Order.id == order.id).execute()  # lock, see _link
        current = Order.get_by_id(order.id)
        document = Document.of_order(current, document_id)
        reasons = workflow.document_verification_blockers(current, document, operator)
        if reasons:
            raise workflow.Refused(reasons)
        if verified:
            unchanged = document.verified_at is not None and document.expires_on == expires_on
            values = dict(verified_at=now, verified_by=operator.id, expires_on=expires_on)
        else:
            unchanged = document.verified_at is None
            values = dict(verified_at=None, verified_by=None, expires_on=None)
        if unchanged:
            transaction.rollback()
            return VerificationResult(document, False)
        Document.update(**values).where(Document.id == document.id).execute()
        details = {"document": workflow.document_kind_label(document.kind),
                   "filename": document.filename}
        if verified and expires_on is not None:
            details["expires_on"] = expires_on.strftime("%d/%m/%Y")
        audit.record(ACTION_VERIFIED if verified else ACTION_UNVERIFIED, operator=operator,
                     order=current, ip=ip, details=details)
    return VerificationResult(Document.get_by_id(document.id), True)


def record_download(order: Order, document: Document, operator: Operator, ip: str = "") -> None:
    audit.record(ACTION_DOWNLOADED, operator=operator, order=order, ip=ip,
                 details={"document": workflow.document_kind_label(document.kind),
                          "filename": document.filename, "sha256": document.sha256})


def record_viewer_opened(order: Order, operator: Operator, ip: str = "") -> None:
    audit.record(ACTION_VIEWER_OPENED, operator=operator, order=order, ip=ip)


def record_dossier_download(order: Order, operator: Operator, rows: list[Document],
                            ip: str = "") -> None:
    with_files = [row for row in rows if row.sha256]
    audit.record(ACTION_DOSSIER_DOWNLOADED, operator=operator, order=order, ip=ip,
                 details={"files": len(with_files),
                          "bytes": sum(row.size or 0 for row in with_files)})
