"""« Télécharger le dossier »: a ZIP of every document of an order (current and replaced
versions), its manifest, SHA256SUMS, the order's audit trail and, once the key was handed
over, the « Remise en face à face » record, produced while it is sent.

The documents go from the store to the socket 4 MiB at a time, untouched: PDF, JPEG and PNG are
compressed already, so they are stored, and their CRC-32 was computed at import
(adapters.zipstream). Memory therefore stays constant whatever the dossier weighs; only the
text files (a few kilobytes, deflated) are prepared before the first byte is sent, which also
gives the response its length.
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import workflow
from formatting import paris_datetime, to_paris
from models import AuditEvent, Document, Order, utcnow
from services.audit_words import action_label, describe_details, who
from services.certificates import face_to_face
from services.dossiers.documents import EXTENSIONS, _slug, importer_name
from adapters.spreadsheet_csv import BOM, SafeWriter
from adapters.zipstream import Archive, Deflater, Entry

HISTORY_BATCH = 500
MANIFEST = "manifeste.csv"
CHECKSUMS = "SHA256SUMS"
HISTORY = "historique.csv"
REPLACED_FOLDER = "documents/versions-remplacees"
MISSING_FILE = "fichier absent du stockage"

MANIFEST_COLUMNS = (
    "Fichier dans l'archive", "Document", "Catégorie", "Version", "Statut", "Nom d'origine",
    "Type", "Taille (octets)", "Pages", "SHA-256", "Importé le", "Importé par", "Vérifié le",
    "Vérifié par", "Date d'expiration",
)
HISTORY_COLUMNS = ("N°", "Date et heure", "Opérateur", "Action", "Détails", "Adresse IP",
                   "Empreinte (SHA-256)", "Empreinte précédente")


@dataclass(frozen=True)
class Member:
    """One document of the archive: where it goes and the row it comes from."""
    name: str
    document: Document
    version: str


def archive_name(order: Order) -> str:
    return f"dossier-{order.number}.zip"


def plan_members(documents: Iterable[Document]) -> list[Member]:
    """Current versions first, in the order of « Liste des documents », then replaced ones,
    numbered from the oldest (v1)."""
    rank = {kind: index for index, kind in enumerate(workflow.DOCUMENT_KINDS, start=1)}
    with_files = sorted((d for d in documents if d.sha256),
                        key=lambda d: (rank.get(d.kind, 99), d.id))
    members, versions = [], {}
    for document in with_files:
        versions[document.kind] = versions.get(document.kind, 0) + 1
        number = rank.get(document.kind, 99)
        extension = EXTENSIONS.get(document.media_type, "bin")
        slug = _slug(workflow.document_kind_label(document.kind))
        if document.is_current:
            name, version = f"documents/{number:02d}-{slug}.{extension}", "actuelle"
        else:
            name = f"{REPLACED_FOLDER}/{number:02d}-{slug}-v{versions[document.kind]}.{extension}"
            version = f"remplacée (v{versions[document.kind]})"
        members.append(Member(name, document, version))
    return sorted(members, key=lambda m: (not m.document.is_current, m.name))


def build(order: Order, documents: list[Document], store_root: Path) -> Archive:
    """The archive's plan: documents found in the store, then the three text files. Reads the
    audit trail now (the database is not needed while sending)."""
    present, missing = [], []
    for member in plan_members(documents):
        path = _path(store_root, member.document.sha256)
        (present if path.is_file() else missing).append((member, path))
    now = utcnow()
    entries = [Entry(name=m.name, modified=to_paris(m.document.imported_at or now),
                     path=path, size=path.stat().st_size, crc32=m.document.crc32)
               for m, path in present]
    members = [m for m, _ in present]
    manifest = _csv(manifest_rows(order, members, documents, [m for m, _ in missing]),
                    MANIFEST_COLUMNS)
    checksums = "".join(f"{m.document.sha256}  {m.name}\n" for m in members).encode()
    local_now = to_paris(now)
    entries += [Entry.text(MANIFEST, manifest, local_now),
                Entry.text(CHECKSUMS, checksums, local_now),
                _history_entry(order, local_now)]
    handover = face_to_face.archive_text(order)
    if handover is not None:  # the key was handed over: what the operator saw, and when
        entries.append(Entry.text(face_to_face.ARCHIVE_NAME, handover, local_now))
    return Archive(entries)


def _path(store_root: Path, sha: str) -> Path:
    return store_root / sha[:2] / sha[2:4] / sha


def manifest_rows(order: Order, members: list[Member], documents: Iterable[Document],
                  missing: Iterable[Member] = ()) -> list[list[str]]:
    rows = [[m.name, *_document_columns(m.document, m.version)] for m in members]
    # A row whose file is not in the store (never deleted, so: a damaged disk) is named.
    rows += [["", *_document_columns(m.document, f"{m.version} — {MISSING_FILE}")]
             for m in missing]
    # Required documents never imported are listed too, so the manifest shows what lacks.
    for row in workflow.document_rows(order, documents):
        if row.document is None or not row.document.sha256:
            rows.append(["", row.label, workflow.DOCUMENT_CATEGORIES[row.category], "",
                         row.status_label] + [""] * 10)
    return rows


def _document_columns(document: Document, version: str) -> list[str]:
    verifier = document.verified_by.display_name if document.verified_by_id else ""
    return [
        workflow.document_kind_label(document.kind),
        workflow.DOCUMENT_CATEGORIES.get(document.category, document.category),
        version,
        workflow.label(workflow.DOCUMENT_STATUSES, document.status),
        document.filename or "",
        document.media_type or "",
        str(document.size or ""),
        str(document.page_count or ""),
        document.sha256,
        paris_datetime(document.imported_at),
        importer_name(document),
        paris_datetime(document.verified_at),
        verifier,
        document.expires_on.strftime("%d/%m/%Y") if document.expires_on else "",
    ]


def _csv_text(rows: Iterable[Iterable[str]], header: Iterable[str] | None = None) -> str:
    buffer = io.StringIO()
    writer = SafeWriter(buffer)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _csv(rows: Iterable[Iterable[str]], header: Iterable[str]) -> bytes:
    return (BOM + _csv_text(rows, header)).encode("utf-8")


def _history_entry(order: Order, modified: dt.datetime) -> Entry:
    """The order's audit trail, read in batches and deflated as it comes."""
    deflater = Deflater()
    deflater.write((BOM + _csv_text([], HISTORY_COLUMNS)).encode("utf-8"))
    last_id = 0
    while True:
        batch = list(AuditEvent.for_order(order).where(AuditEvent.id > last_id)
                     .limit(HISTORY_BATCH))
        if not batch:
            return deflater.entry(HISTORY, modified)
        deflater.write(_csv_text(_history_row(event) for event in batch).encode("utf-8"))
        last_id = batch[-1].id


def _history_row(event: AuditEvent) -> list[str]:
    return [str(event.id), paris_datetime(event.at), who(event), action_label(event.action),
            describe_details(event.action, event.details), event.ip, event.hash,
            event.prev_hash]
