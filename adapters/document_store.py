"""Content-addressed storage of uploaded documents (PDF, JPEG, PNG).

A file is kept once, under ``<root>/<sha[:2]>/<sha[2:4]>/<sha>``, and written atomically: a
temporary file in the target folder, fsync, ``os.replace``, fsync of the folder. A crash
therefore leaves either the whole file or nothing under its final name, and since the name is
the hash of the content, a database row that names a file can always trust what it reads.

The type is decided from the bytes, never from the file name; every refusal carries a French
message meant for the person who uploaded the file. No Flask and no peewee here: the caller
links rows to files inside its own transaction, after ``put`` has returned
(services.dossiers.documents.import_document does, with crash recovery).

Reading an untrusted file is bounded: ``pdfinfo`` runs in a subprocess with time and memory
limits (adapters.sandbox); a JPEG is decoded in draft mode (1/64 of the pixels), a small PNG
in process (at most 16 MB), a larger one in the bounded image worker. Those subprocesses hold
one of the server's render slots (adapters.render_slots) when the store is given them.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import re
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pdf2image.exceptions import PDFPageCountError, PDFPopplerTimeoutError
from PIL import Image

from adapters.atomic_files import TEMP_PREFIX, fsync_folder, replace_file
from adapters.render_slots import RenderBusy, RenderSlots
from adapters.sandbox import BoundedTimeout, python_worker, run_bounded

# Pillow warns of large images before we check them against our own, lower, limit.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
ACCEPTED_MEDIA_TYPES = (PDF, JPEG, PNG)
MIB = 1024 * 1024

MSG_FORMAT = "Format refusé : seuls les fichiers PDF, JPEG et PNG sont acceptés."
MSG_EMPTY = "Fichier vide : aucun contenu n'a été reçu."
MSG_TOO_BIG = "Fichier trop volumineux ({size} Mo, maximum {limit} Mo)."
MSG_PDF_UNREADABLE = "PDF illisible ou protégé par un mot de passe."
MSG_TOO_MANY_PAGES = "Document trop long ({pages} pages, maximum {limit} pages)."
MSG_IMAGE_TOO_LARGE = "Image trop grande ({width} × {height} pixels, maximum {limit} pixels)."
MSG_IMAGE_BOMB = "Image trop grande (maximum {limit} pixels)."
MSG_IMAGE_UNREADABLE = "Image illisible ou endommagée."
MSG_PDF_JAVASCRIPT = ("PDF refusé : il contient du JavaScript ou une commande de lancement de "
                      "programme, qui n'ont pas leur place dans une pièce du dossier.")
MSG_POLYGLOT = ("Fichier refusé : il contient aussi une archive ZIP (fichier hybride). "
                "Envoyez le document seul.")
MSG_BUSY = ("Le serveur est très chargé : le fichier n'a pas pu être vérifié. Réessayez l'envoi "
            "dans un instant.")
MSG_PAGE_SIZE = ("Format de page hors norme (page {page} : {width} × {height} cm ; "
                 "de {minimum} cm à {maximum} cm de côté).")

# PDF 1.7 (ISO 32000-1, annex C): a page side is 3 to 14 400 units of 1/72 inch.
PAGE_SIDE_MIN_PT, PAGE_SIDE_MAX_PT = 3.0, 14_400.0
# Decoding a PNG of at most this many pixels takes at most 16 MB: done in process.
IN_PROCESS_PNG_PIXELS = 4_000_000
# How JavaScript and program launching are named in a PDF's structure (outside compressed
# streams; poppler's own « JavaScript » flag covers the document-level scripts of any PDF).
_PDF_ACTIVE_CONTENT = re.compile(
    rb"/JavaScript\b|/JS\s*[(<\[]|/JS\s+\d+\s+\d+\s+R|/S\s*/Launch\b")
_PAGE_SIZE_LINE = re.compile(r"Page\s+(\d+)\s+size:\s+([\d.]+) x ([\d.]+) pts")

_SHA256 = re.compile(r"[0-9a-f]{64}")


def pdfinfo_from_bytes(data: bytes, *, timeout: float, last_page: int = 1,
                       memory_bytes: int = 512 * MIB) -> dict:
    """What ``pdfinfo`` tells of a PDF read from stdin, with the size of pages 1..last_page
    under ``"page_sizes"`` [(width, height) in points]. Bounded in time and memory; raises
    PDFPopplerTimeoutError when out of time, PDFPageCountError when poppler cannot read it."""
    try:
        result = run_bounded(["pdfinfo", "-f", "1", "-l", str(max(1, last_page)), "-"],
                             input=data, timeout=timeout, memory_bytes=memory_bytes)
    except BoundedTimeout:
        raise PDFPopplerTimeoutError("pdfinfo: délai dépassé") from None
    text = result.stdout.decode("utf-8", "replace")
    if result.returncode != 0 or "Pages:" not in text:
        raise PDFPageCountError(result.stderr.decode("utf-8", "replace")[:500])
    info: dict = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("Page "):
            info[key.strip()] = value.strip()
    try:
        info["Pages"] = int(info.get("Pages", ""))
    except ValueError:
        raise PDFPageCountError("pdfinfo: nombre de pages illisible") from None
    info["page_sizes"] = [(float(w), float(h)) for _, w, h in _PAGE_SIZE_LINE.findall(text)]
    return info


def _centimetres(points: float) -> str:
    """« 29,7 », « 5 080 »: French decimals, no trailing « ,0 »."""
    text = f"{points * 2.54 / 72:,.1f}".removesuffix(".0")
    return text.replace(",", " ").replace(".", ",")


class RefusedDocument(Exception):
    """An upload that is not stored; `message` is French, ready to show."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    media_type: str
    page_count: int
    path: Path


def sniff_media_type(data: bytes) -> str | None:
    """The media type told by the first bytes, or None for anything we do not accept."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    return None


def _megabytes(size: int, *, round_up: bool) -> str:
    """French decimal Mo, rounded so that an oversize file never reads as the limit itself."""
    tenths = size * 10 / MIB
    tenths = math.ceil(tenths) if round_up else math.floor(tenths)
    whole, tenth = divmod(tenths, 10)
    return f"{whole},{tenth}" if tenth else str(whole)


def _thousands(number: int) -> str:
    return f"{number:,}".replace(",", " ")


class DocumentStore:
    """Files under `root`. Limits: `max_bytes` per file, `max_pages` per PDF, `max_pixels` per
    image, and `pdfinfo_timeout` seconds for poppler to read a PDF."""

    def __init__(self, root: Path | str, *, max_bytes: int = 20 * MIB, max_pages: int = 200,
                 max_pixels: int = 40_000_000, pdfinfo_timeout: float = 10.0,
                 memory_bytes: int = 1024 * MIB, slots: RenderSlots | None = None):
        self.root = Path(root)
        self.slots = slots  # None: no cap on concurrent checks (the demo's seeding)
        self.max_bytes = max_bytes
        self.max_pages = max_pages
        self.max_pixels = max_pixels
        self.pdfinfo_timeout = pdfinfo_timeout
        self.memory_bytes = memory_bytes  # address space of a checking subprocess

    # --- reading ------------------------------------------------------------

    def path_for(self, sha256: str) -> Path:
        # The hash may come from a URL or a row: refuse anything that could leave the root.
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """The stored bytes, for reading; FileNotFoundError when absent."""
        return self.path_for(sha256).open("rb")

    # --- checking -----------------------------------------------------------

    def inspect(self, data: bytes) -> tuple[str, int]:
        """(media type, page count) of an acceptable upload; RefusedDocument otherwise."""
        if not data:
            raise RefusedDocument(MSG_EMPTY)
        if len(data) > self.max_bytes:
            raise RefusedDocument(MSG_TOO_BIG.format(
                size=_megabytes(len(data), round_up=True),
                limit=_megabytes(self.max_bytes, round_up=False)))
        media_type = sniff_media_type(data)
        if media_type is None:
            raise RefusedDocument(MSG_FORMAT)
        if zipfile.is_zipfile(io.BytesIO(data)):
            # Valid as a PDF or image and as a ZIP: whoever opens the download decides what it
            # is. Such a file has no innocent use in a dossier.
            raise RefusedDocument(MSG_POLYGLOT)
        pages = self._pdf_pages(data) if media_type == PDF else self._check_image(data, media_type)
        return media_type, pages

    def _pdf_pages(self, data: bytes) -> int:
        try:
            with self._slot():
                info = pdfinfo_from_bytes(data, timeout=self.pdfinfo_timeout,
                                          last_page=self.max_pages, memory_bytes=self.memory_bytes)
        except (PDFPageCountError, PDFPopplerTimeoutError):
            # pdfinfo fails without the user password, on a broken file, or takes too long.
            raise RefusedDocument(MSG_PDF_UNREADABLE) from None
        pages = info.get("Pages")
        # Even without a user password an encrypted file is refused: restrictions and
        # encryption would stand in the way of archiving and later processing.
        if not isinstance(pages, int) or pages < 1 or str(info.get("Encrypted", "no")) != "no":
            raise RefusedDocument(MSG_PDF_UNREADABLE)
        if pages > self.max_pages:
            raise RefusedDocument(MSG_TOO_MANY_PAGES.format(pages=pages, limit=self.max_pages))
        # Operators open downloaded originals in desktop readers, which may run scripts.
        if str(info.get("JavaScript", "no")) != "no" or _PDF_ACTIVE_CONTENT.search(data):
            raise RefusedDocument(MSG_PDF_JAVASCRIPT)
        for number, (width, height) in enumerate(info.get("page_sizes", []), start=1):
            if not all(PAGE_SIDE_MIN_PT <= side <= PAGE_SIDE_MAX_PT for side in (width, height)):
                raise RefusedDocument(MSG_PAGE_SIZE.format(
                    page=number, width=_centimetres(width), height=_centimetres(height),
                    minimum=_centimetres(PAGE_SIDE_MIN_PT), maximum=_centimetres(PAGE_SIDE_MAX_PT)))
        return pages

    def _check_image(self, data: bytes, media_type: str) -> int:
        pillow_format = "JPEG" if media_type == JPEG else "PNG"
        try:
            with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
                width, height = image.size
                if width * height > self.max_pixels:
                    raise RefusedDocument(MSG_IMAGE_TOO_LARGE.format(
                        width=_thousands(width), height=_thousands(height),
                        limit=_thousands(self.max_pixels)))
                if pillow_format == "JPEG":
                    # Decoding at 1/8 scale still reads every block, with 1/64 of the memory.
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                elif width * height > IN_PROCESS_PNG_PIXELS:
                    self._decode_in_worker(data, pillow_format)
                    return 1
                image.load()
        except RefusedDocument:
            raise
        except Image.DecompressionBombError:
            # Pillow refuses before we see the size: far beyond any limit we would set.
            raise RefusedDocument(MSG_IMAGE_BOMB.format(limit=_thousands(self.max_pixels))) \
                from None
        except Exception:  # decoders fed hostile bytes fail in many ways: all mean unreadable
            raise RefusedDocument(MSG_IMAGE_UNREADABLE) from None
        return 1

    def _decode_in_worker(self, data: bytes, pillow_format: str) -> None:
        try:
            with self._slot():
                result = run_bounded(python_worker("verify", pillow_format, str(self.max_pixels)),
                                     input=data, timeout=self.pdfinfo_timeout,
                                     memory_bytes=self.memory_bytes)
        except BoundedTimeout:
            raise RefusedDocument(MSG_IMAGE_UNREADABLE) from None
        if result.returncode != 0:
            try:
                reason = json.loads(result.stdout or b"{}").get("error")
            except ValueError:
                reason = None
            if reason == "too_large":
                raise RefusedDocument(MSG_IMAGE_BOMB.format(limit=_thousands(self.max_pixels)))
            raise RefusedDocument(MSG_IMAGE_UNREADABLE)

    @contextlib.contextmanager
    def _slot(self):
        """One render slot for a checking subprocess; none free in time, the upload is refused
        (it can be sent again) rather than a process started."""
        if self.slots is None:
            yield
            return
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(self.slots.held())
            except RenderBusy:
                raise RefusedDocument(MSG_BUSY) from None
            yield

    # --- writing ------------------------------------------------------------

    def put(self, data: bytes) -> StoredFile:
        """Check and store `data` (idempotent: the same bytes are written only once)."""
        media_type, page_count = self.inspect(data)
        return self.save(data, media_type, page_count)

    def save(self, data: bytes, media_type: str, page_count: int) -> StoredFile:
        """Store `data` that ``inspect`` accepted (as ``put`` does, without checking again)."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha256)
        if not (path.is_file() and path.stat().st_size == len(data)):
            self._write_atomically(path, data)
        return StoredFile(sha256=sha256, size=len(data), media_type=media_type,
                          page_count=page_count, path=path)

    def remove(self, sha256: str) -> bool:
        """Delete a stored file (crash recovery only: a file is otherwise kept for ever).
        True when there was one."""
        path = self.path_for(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_folder(path.parent)
        return True

    def _write_atomically(self, path: Path, data: bytes) -> None:
        self._make_dirs(path.parent)
        replace_file(path, data, 0o600)

    def _make_dirs(self, folder: Path) -> None:
        """Create the fan-out folders, syncing each parent so the new entries are durable."""
        self.root.mkdir(parents=True, exist_ok=True)
        missing = []
        while folder != self.root and not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for folder in reversed(missing):
            folder.mkdir(exist_ok=True)
            fsync_folder(folder.parent)

    def probe(self) -> str | None:
        """Write, read back and delete a small file at the root: None when that works, else
        the French reason (for ``/sante``); the OS error, never the path."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=f"{TEMP_PREFIX}sante-") as probe:
                probe.write(b"ok")
                probe.flush()
                probe.seek(0)
                if probe.read() != b"ok":
                    return "le fichier d'essai relu diffère de celui écrit."
        except OSError as problem:
            return f"écriture impossible ({problem.strerror or type(problem).__name__})."
        return None

    def remove_stale_temp_files(self, older_than_seconds: float = 3600.0) -> int:
        """Delete temporary files left by a crash in the middle of a write; returns how many.
        Recent ones are kept: another process may still be writing them."""
        if not self.root.is_dir():
            return 0
        limit = time.time() - older_than_seconds
        removed = 0
        for temp in self.root.glob(f"*/*/{TEMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if temp.stat().st_mtime < limit:
                    temp.unlink()
                    removed += 1
        return removed

