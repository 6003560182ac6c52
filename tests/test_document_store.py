"""The document store: accepted types, refusals with their French messages, atomic
content-addressed writes, deduplication."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import time

import pytest
from PIL import Image
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from demo import documents as demo_documents
from adapters import document_store
from adapters.document_store import DocumentStore, RefusedDocument, sniff_media_type
from tests.image_samples import png_header_only

MIB = 1024 * 1024


def make_pdf(pages: int = 1, encrypt=None) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, invariant=1, encrypt=encrypt)
    for number in range(1, pages + 1):
        pdf.drawString(72, 720, f"Page {number}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def make_image(fmt: str, size=(120, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def store(tmp_path):
    return DocumentStore(tmp_path / "documents")


def stored_files(store: DocumentStore) -> list[str]:
    if not store.root.exists():
        return []
    return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())


# --- sniffing -------------------------------------------------------------------------

@pytest.mark.parametrize("data, expected", [
    (make_pdf(), "application/pdf"),
    (make_image("JPEG"), "image/jpeg"),
    (make_image("PNG"), "image/png"),
    (make_image("GIF"), None),
    (b"<!DOCTYPE html><html><body>Kbis</body></html>", None),
    (b"PK\x03\x04 a zip or docx", None),
    (b" %PDF-1.7 with a leading space", None),
    (b"", None),
])
def test_sniff_media_type_reads_the_bytes(data, expected):
    assert sniff_media_type(data) == expected


# --- accepted ---------------------------------------------------------------------------

@pytest.mark.parametrize("data, media_type, pages", [
    (make_pdf(3), "application/pdf", 3),
    (make_image("JPEG"), "image/jpeg", 1),
    (make_image("PNG"), "image/png", 1),
])
def test_put_stores_by_content_hash(store, data, media_type, pages):
    stored = store.put(data)

    sha = hashlib.sha256(data).hexdigest()
    assert stored.sha256 == sha
    assert (stored.size, stored.media_type, stored.page_count) == (len(data), media_type, pages)
    assert stored.path == store.root / sha[:2] / sha[2:4] / sha == store.path_for(sha)
    assert stored.path.read_bytes() == data
    assert store.exists(sha)
    with store.open(sha) as stored_file:
        assert stored_file.read() == data
    assert stored_files(store) == [f"{sha[:2]}/{sha[2:4]}/{sha}"]  # no temporary file left


def test_generated_demo_documents_are_accepted(store):
    kbis = demo_documents.kbis_pdf("Boileau Colbert Conseil", "434202180",
                                   "12 rue de la République, 31000 Toulouse", "Sandra Boileau",
                                   dt.date(2012, 3, 14))
    assert store.put(kbis).page_count in (2, 3)
    card = demo_documents.id_card_image("Alice", "Colbert", dt.date(1985, 2, 1), "X4RTBPFW4",
                                        exif_orientation=6)
    assert store.put(card).media_type == "image/jpeg"


# --- refused ------------------------------------------------------------------------------

FORMAT = "Format refusé : seuls les fichiers PDF, JPEG et PNG sont acceptés."
UNREADABLE_PDF = "PDF illisible ou protégé par un mot de passe."
UNREADABLE_IMAGE = "Image illisible ou endommagée."


@pytest.mark.parametrize("data, message", [
    (b"<!DOCTYPE html><html><body>extrait-kbis.pdf</body></html>", FORMAT),  # HTML named .pdf
    (make_image("GIF"), FORMAT),
    (b"PK\x03\x04" + b"\x00" * 100, FORMAT),
    (b"", "Fichier vide : aucun contenu n'a été reçu."),
    (make_pdf(encrypt="secret"), UNREADABLE_PDF),  # needs a user password
    (make_pdf(encrypt=StandardEncryption("", ownerPassword="owner", canModify=0)),
     UNREADABLE_PDF),  # opens without password, but encrypted
    (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", UNREADABLE_PDF),
    (make_pdf(2)[:300], UNREADABLE_PDF),
    (b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50, UNREADABLE_IMAGE),
    (make_image("PNG", (400, 400))[:200], UNREADABLE_IMAGE),
    (png_header_only(20_000, 20_000), "Image trop grande (maximum 40 000 000 pixels)."),
])
def test_refused_documents_give_a_french_reason_and_store_nothing(store, data, message):
    with pytest.raises(RefusedDocument) as refused:
        store.put(data)
    assert refused.value.message == str(refused.value) == message
    assert stored_files(store) == []


def test_oversize_file_is_refused_before_reading_it(store):
    with pytest.raises(RefusedDocument) as refused:
        store.put(b"%PDF-1.7\n" + b"0" * (21 * MIB - 9))
    assert refused.value.message == "Fichier trop volumineux (21 Mo, maximum 20 Mo)."


def test_size_just_over_a_configured_limit_reads_as_more_than_the_limit(tmp_path):
    store = DocumentStore(tmp_path, max_bytes=5 * MIB)
    with pytest.raises(RefusedDocument) as refused:
        store.put(make_image("PNG") + b"\x00" * (5 * MIB))
    assert refused.value.message == "Fichier trop volumineux (5,1 Mo, maximum 5 Mo)."


def test_too_many_pages(tmp_path):
    store = DocumentStore(tmp_path, max_pages=2)
    with pytest.raises(RefusedDocument) as refused:
        store.put(make_pdf(3))
    assert refused.value.message == "Document trop long (3 pages, maximum 2 pages)."
    assert store.put(make_pdf(2)).page_count == 2


def test_image_over_the_pixel_limit(tmp_path):
    store = DocumentStore(tmp_path, max_pixels=10_000)
    with pytest.raises(RefusedDocument) as refused:
        store.put(make_image("PNG", (200, 100)))
    assert refused.value.message == ("Image trop grande (200 × 100 pixels, "
                                     "maximum 10 000 pixels).")
    assert store.put(make_image("JPEG", (100, 100))).page_count == 1


def test_pdfinfo_timeout_is_a_refusal(store, monkeypatch):
    def slow(*args, **kwargs):
        assert kwargs["timeout"] == store.pdfinfo_timeout
        raise document_store.PDFPopplerTimeoutError("Run poppler poppler timeout.")
    monkeypatch.setattr(document_store, "pdfinfo_from_bytes", slow)
    with pytest.raises(RefusedDocument) as refused:
        store.put(make_pdf())
    assert refused.value.message == UNREADABLE_PDF


# --- writing --------------------------------------------------------------------------

def test_same_content_twice_is_written_once(store, monkeypatch):
    data = make_pdf(2)
    first = store.put(data)
    inode, mtime = first.path.stat().st_ino, first.path.stat().st_mtime_ns

    def no_write(*args):
        raise AssertionError("the file exists: nothing to write")
    monkeypatch.setattr(store, "_write_atomically", no_write)
    second = store.put(data)

    assert second == first
    assert (first.path.stat().st_ino, first.path.stat().st_mtime_ns) == (inode, mtime)
    assert len(stored_files(store)) == 1


def test_write_syncs_file_and_folders(store, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync",
                        lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")),
                                    real_fsync(fd)))
    stored = store.put(make_image("PNG"))

    folder = str(stored.path.parent)
    data_syncs = [path for path in synced if os.path.basename(path).startswith(".tmp-")]
    assert [os.path.dirname(path) for path in data_syncs] == [folder]  # data, before rename
    assert synced[-1] == folder  # then the folder holding the new name
    assert str(store.root) in synced and str(stored.path.parent.parent) in synced  # new folders


def test_failed_write_leaves_no_temporary_file(store, monkeypatch):
    def crash(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", crash)
    data = make_image("JPEG")

    with pytest.raises(OSError):
        store.put(data)
    assert stored_files(store) == []
    assert not store.exists(hashlib.sha256(data).hexdigest())


def test_a_truncated_leftover_under_the_final_name_is_rewritten(store):
    data = make_pdf()
    path = store.put(data).path
    path.write_bytes(data[:10])
    assert store.put(data).path.read_bytes() == data


def test_stale_temporary_files_are_swept(store):
    stored = store.put(make_pdf())
    old = stored.path.parent / ".tmp-crashed"
    old.write_bytes(b"partial")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    recent = stored.path.parent / ".tmp-writing"
    recent.write_bytes(b"in progress")

    assert store.remove_stale_temp_files(older_than_seconds=3600) == 1
    assert not old.exists() and recent.exists() and stored.path.exists()


# --- reading -------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "ab" * 31, "g" * 64, ""])
def test_path_for_accepts_only_a_lowercase_sha256(store, bad):
    with pytest.raises(ValueError):
        store.path_for(bad)


def test_missing_file(store):
    sha = "0" * 64
    assert not store.exists(sha)
    with pytest.raises(FileNotFoundError):
        store.open(sha)
