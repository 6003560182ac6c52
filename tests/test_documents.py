"""Importing a document into a dossier (services.dossiers.documents.import_document): the rows, the
file, the audit event, replaced versions, refusals, and consistency after a crash at any point
(the importing process killed with SIGKILL)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from models import AuditEvent, Document, Order, PendingFile, utcnow
from services import audit
from services.dossiers import documents
import scheduler
from adapters.document_store import TEMP_PREFIX, DocumentStore, RefusedDocument
from tests.image_samples import png
from tests.pdf_samples import text_pdf

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def dossier(app, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    order = make_order(ae, number=960072)
    return {"ae": ae, "camille": camille, "order": order}


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield app


def store_files(app) -> set[str]:
    root = Path(app.config["INSTANCE_PATH"]) / "documents"
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id))


def test_import_stores_the_file_and_its_row_and_audits(ctx, dossier):
    data = text_pdf(pages=2)
    document = documents.import_document(dossier["order"], "kbis", "Extrait KBIS.pdf", data,
                                         actor_label="Demandeur", ip="192.0.2.7")

    sha = hashlib.sha256(data).hexdigest()
    row = Document.get_by_id(document.id)
    assert (row.kind, row.category, row.status) == ("kbis", "justificatif", "imported")
    assert (row.sha256, row.size, row.media_type, row.page_count) == (sha, len(data),
                                                                      "application/pdf", 2)
    assert row.filename == "Extrait KBIS.pdf" and row.is_current
    assert row.crc32 == zlib.crc32(data)  # for the dossier's ZIP, computed once
    assert row.imported_by_label == "Demandeur" and row.imported_by_id is None
    assert abs(row.imported_at - utcnow()) < dt.timedelta(seconds=5)
    assert documents.document_store().path_for(sha).read_bytes() == data
    assert store_files(ctx) == {sha}
    assert PendingFile.select().count() == 0
    (event,) = events(documents.ACTION_IMPORTED)
    assert event.order_id == dossier["order"].id and event.actor == "Demandeur"
    assert event.ip == "192.0.2.7"
    assert json.loads(event.details) == {"document": "Extrait de KBIS",
                                         "filename": "Extrait KBIS.pdf", "sha256": sha,
                                         "size": len(data), "media_type": "application/pdf",
                                         "pages": 2}
    assert audit.verify() == []


def test_import_by_an_operator_records_who(ctx, dossier):
    document = documents.import_document(dossier["order"], "payment_proof", "preuve.png", png(),
                                         operator=dossier["camille"])
    row = Document.get_by_id(document.id)
    assert row.imported_by_id == dossier["camille"].id
    assert row.imported_by_label == "Camille Martin"
    assert events(documents.ACTION_IMPORTED)[0].operator_id == dossier["camille"].id


@pytest.mark.parametrize("uploaded, stored", [
    ("C:\\Users\\sandra\\Mes documents\\cni.pdf", "cni.pdf"),
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("photo.png", "photo.pdf"),              # the bytes are a PDF: so is the name
    ("sans extension", "sans extension.pdf"),
    ("\x00\x1b[31mrouge.pdf", "[31mrouge.pdf"),
    ("", "holder_id.pdf"),
    ("x" * 300 + ".pdf", "x" * 120 + ".pdf"),
])
def test_file_names_are_cleaned(ctx, dossier, uploaded, stored):
    document = documents.import_document(dossier["order"], "holder_id", uploaded, text_pdf())
    assert document.filename == stored


def test_a_replaced_document_keeps_its_previous_version(ctx, dossier):
    order = dossier["order"]
    first = documents.import_document(order, "holder_id", "cni.png", png((1, 2, 3)))
    documents.set_verified(order, first.id, dossier["camille"], True, dt.date(2031, 1, 1))
    second = documents.import_document(order, "holder_id", "cni-recto-verso.png", png((4, 5, 6)))

    old, new = Document.get_by_id(first.id), Document.get_by_id(second.id)
    assert not old.is_current and new.is_current
    assert old.verified_at is not None  # the old version keeps what was said of it
    assert new.verified_at is None and new.expires_on is None  # the new one is to be checked
    assert store_files(ctx) == {old.sha256, new.sha256}
    assert json.loads(events(documents.ACTION_IMPORTED)[-1].details)["replaces"] == first.id


def test_an_empty_placeholder_row_is_filled_in(ctx, dossier):
    placeholder = Document.create(order=dossier["order"], kind="legal_rep_id",
                                  category="justificatif", status="not_imported")
    document = documents.import_document(dossier["order"], "legal_rep_id", "cni.png", png())
    assert document.id == placeholder.id
    assert Document.select().where(Document.kind == "legal_rep_id").count() == 1
    assert Document.get_by_id(placeholder.id).status == "imported"


def test_a_contractual_document_is_unsigned_and_reopens_the_signature(ctx, dossier,
                                                                       make_order):
    order = make_order(dossier["ae"], number=960073, substate="to_validate")
    for kind in ("cgu", "subscription_contract", "authorization_letter"):
        Document.create(order=order, kind=kind, category="contractuel", status="signed",
                        sha256="a" * 64)
    document = documents.import_document(order, "cgu", "cgu.pdf", text_pdf(),
                                         operator=dossier["camille"])
    assert document.status == "unsigned"
    assert Order.get_by_id(order.id).substate == "in_signature"


def test_same_content_in_two_dossiers_is_stored_once(ctx, dossier, make_order):
    other = make_order(dossier["ae"], number=960074)
    data = png()
    a = documents.import_document(dossier["order"], "kbis", "a.png", data)
    b = documents.import_document(other, "kbis", "b.png", data)
    assert a.sha256 == b.sha256 and a.id != b.id
    assert store_files(ctx) == {a.sha256}


REFUSALS = [
    (b"", "Fichier vide : aucun contenu n'a été reçu."),
    (b"MZ\x90\x00 an executable", "Format refusé : seuls les fichiers PDF, JPEG et PNG sont "
                                 "acceptés."),
    (text_pdf()[:200], "PDF illisible ou protégé par un mot de passe."),
]


@pytest.mark.parametrize("data, message", REFUSALS)
def test_a_refused_file_leaves_nothing(ctx, dossier, data, message):
    with pytest.raises(RefusedDocument) as refused:
        documents.import_document(dossier["order"], "kbis", "kbis.pdf", data)
    assert refused.value.message == message
    assert Document.select().count() == 0 and store_files(ctx) == set()
    assert PendingFile.select().count() == 0 and events(documents.ACTION_IMPORTED) == []


@pytest.mark.parametrize("fields, message", [
    ({"phase": "generation", "substate": None,
      "validated_at": dt.datetime(2026, 1, 5, 9, 0)},
     "La commande a été validée : le dossier est en lecture seule. Aucun document ne peut plus "
     "y être ajouté."),
    ({"phase": "cancelled", "substate": None},
     "La commande est en phase « Annulée » : le dossier est en lecture seule. Aucun document ne "
     "peut plus y être ajouté."),
])
def test_a_frozen_dossier_takes_no_document(ctx, dossier, make_order, fields, message):
    order = make_order(dossier["ae"], number=960075, **fields)
    with pytest.raises(RefusedDocument) as refused:
        documents.import_document(order, "kbis", "kbis.png", png())
    assert refused.value.message == message
    assert store_files(ctx) == set() and Document.select().count() == 0


def test_validation_racing_the_import_wins_cleanly(ctx, dossier, monkeypatch):
    """The order is validated after the file is checked but before it is linked: the import is
    refused inside its transaction, and the file it wrote is removed."""
    order = dossier["order"]
    real_save = documents.DocumentStore.save

    def save_then_validate(self, *args):
        stored = real_save(self, *args)
        Order.update(phase="generation", substate=None, validated_at=utcnow()).where(
            Order.id == order.id).execute()
        return stored
    monkeypatch.setattr(documents.DocumentStore, "save", save_then_validate)
    with pytest.raises(RefusedDocument):
        documents.import_document(order, "kbis", "kbis.png", png())
    assert store_files(ctx) == set() and PendingFile.select().count() == 0
    assert Document.select().count() == 0


def test_unknown_kind_is_refused(ctx, dossier):
    with pytest.raises(RefusedDocument) as refused:
        documents.import_document(dossier["order"], "selfie", "moi.png", png())
    assert refused.value.message == "Type de document inconnu : « selfie »."


def test_a_failure_while_linking_removes_the_file(ctx, dossier, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")
    monkeypatch.setattr(documents.audit, "record", broken)
    with pytest.raises(RuntimeError):
        documents.import_document(dossier["order"], "kbis", "kbis.png", png())
    assert Document.select().count() == 0 and store_files(ctx) == set()
    assert PendingFile.select().count() == 0


def test_a_failure_keeps_a_file_another_document_uses(ctx, dossier, make_order, monkeypatch):
    data = png()
    kept = documents.import_document(dossier["order"], "kbis", "kbis.png", data)
    other = make_order(dossier["ae"], number=960076)
    monkeypatch.setattr(documents.audit, "record",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        documents.import_document(other, "kbis", "kbis.png", data)
    assert store_files(ctx) == {kept.sha256}


# --- recovery after a crash ------------------------------------------------------

def test_recovery_waits_for_the_grace_period(ctx, dossier):
    store = documents.document_store()
    stored = store.put(png())
    PendingFile.create(sha256=stored.sha256)  # as a crash after the write leaves it
    assert documents.recover_interrupted_imports(store) == 0  # may still be in progress
    assert store.exists(stored.sha256)

    PendingFile.update(created_at=utcnow() - dt.timedelta(hours=1)).execute()
    assert documents.recover_interrupted_imports(store) == 1
    assert not store.exists(stored.sha256) and PendingFile.select().count() == 0


def test_recovery_keeps_files_that_rows_use(ctx, dossier):
    data = png()
    document = documents.import_document(dossier["order"], "kbis", "kbis.png", data)
    PendingFile.create(sha256=document.sha256, created_at=utcnow() - dt.timedelta(hours=1))
    store = documents.document_store()
    assert documents.recover_interrupted_imports(store) == 0
    assert store.exists(document.sha256) and PendingFile.select().count() == 0


def test_an_import_never_walks_the_store_the_hourly_job_does(app, ctx, dossier, monkeypatch):
    """Leftover temporary files are looked for through every folder of the store: by the
    hourly job, never by each import (it grew with the archive)."""
    walks = []
    original = DocumentStore.remove_stale_temp_files
    monkeypatch.setattr(DocumentStore, "remove_stale_temp_files",
                        lambda self, **kwargs: walks.append(1) or original(self, **kwargs))
    documents.import_document(dossier["order"], "kbis", "kbis.png", png())
    assert walks == []
    store = documents.document_store()
    stale = store.root / "ab" / "cd" / f"{TEMP_PREFIX}leftover"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"x")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    documents.cleanup_job(app)
    assert walks == [1] and not stale.exists()
    assert "document_cleanup" in {job.id for job in scheduler.jobs(app)}


def test_recovery_runs_when_the_app_starts(app, tmp_path, database_url, dossier):
    from tests.conftest import make_test_app
    with app.test_request_context():
        store = documents.document_store()
        stored = store.put(png())
    PendingFile.create(sha256=stored.sha256, created_at=utcnow() - dt.timedelta(hours=1))
    make_test_app(tmp_path, database_url)  # same instance folder, same database
    assert not stored.path.exists() and PendingFile.select().count() == 0


def _consistent(app) -> None:
    """Every row names a file holding exactly its bytes; every file has a row."""
    root = Path(app.config["INSTANCE_PATH"]) / "documents"
    rows = {d.sha256 for d in Document.select() if d.sha256}
    for sha in rows:
        path = root / sha[:2] / sha[2:4] / sha
        assert path.is_file(), f"row without its file: {sha}"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, f"damaged file {sha}"
    files = {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()
    assert files <= rows, f"files without a row: {files - rows}"


def _child(app, database_url, order, point, count=1) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "crash_import.py"),
         str(app.config["INSTANCE_PATH"]), database_url, str(order.id), point, str(count)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("point, linked", [
    ("after_pending", False), ("mid_write", False), ("after_rename", False),
    ("before_commit", False), ("after_commit", True),
])
def test_killed_at_any_point_the_import_is_all_or_nothing(app, database_url, dossier, point,
                                                          linked):
    child = _child(app, database_url, dossier["order"], point)
    out, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, err

    # The restarted app (after the grace period) finishes what the dead process left.
    with app.test_request_context():
        documents.recover_interrupted_imports(documents.document_store(),
                                              older_than=dt.timedelta(0))
    _consistent(app)
    assert Document.select().count() == (1 if linked else 0)
    assert PendingFile.select().count() == 0
    assert len(store_files(app)) == (1 if linked else 0)
    root = Path(app.config["INSTANCE_PATH"]) / "documents"
    assert not list(root.rglob(".tmp-*"))
    assert audit.verify() == []


def test_killed_at_random_moments_while_importing(app, database_url, dossier):
    rng = random.Random(4)
    for _ in range(6):
        child = _child(app, database_url, dossier["order"], "none", count=50)
        # Let it start and import a few, then kill it wherever it is.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if line.startswith("imported"):
                break
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
        with app.test_request_context():
            documents.recover_interrupted_imports(documents.document_store(),
                                                  older_than=dt.timedelta(0))
        _consistent(app)
    current = Document.select().where(Document.is_current == True).count()  # noqa: E712
    assert current == 1 and Document.select().count() >= 6
    assert PendingFile.select().count() == 0
