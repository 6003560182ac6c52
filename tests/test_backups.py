"""``flask backup create|verify|restore``: the database (sqlite3 online backup API, or
pg_dump/pg_restore) and every file of the instance folder but caches, with a SHA-256 manifest.
A restored instance passes ``flask audit verify`` and shows its documents; a tampered or
incomplete backup is named file by file; a restore onto an instance holding data is refused
without changing anything. On SQLite, and on PostgreSQL with TEST_DATABASE_URL (the restore
going to a database created and dropped here)."""
from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from adapters.pades import ae_seal
from adapters.previews import PreviewRenderer
from database import close_pooled_connections
from models import AuditEvent, Document, Order, db
from services import audit
from services.dossiers import documents
from tests.conftest import login_as, make_test_app
from tests.e2e_support import PG_BASE_URL, throwaway_postgres
from tests.image_samples import png
from tests.pdf_samples import text_pdf


@contextlib.contextmanager
def restore_database(folder: Path):
    """An empty database for the restored instance: a new SQLite file, or a PostgreSQL
    database created for this test and dropped after it."""
    if not PG_BASE_URL.startswith("postgres"):
        yield f"sqlite:///{folder / 'radesk.db'}"
        return
    with throwaway_postgres(PG_BASE_URL, "radesk_restore") as url:
        try:
            yield url
        finally:
            if not db.is_closed():
                db.close()
            close_pooled_connections(db.obj)


@pytest.fixture
def source(app, make_ae, make_operator, make_order):
    """An instance with data: an order with two documents, its audit trail, the embedded CA
    and the AE's seal, a preview in the cache, a mail written to the mail folder, and a key
    file of a kind this code does not know about."""
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    order = make_order(ae, number=960072)
    with app.test_request_context():
        pdf = documents.import_document(order, "kbis", "kbis.pdf", text_pdf(pages=2),
                                        actor_label="Demandeur")
        photo = documents.import_document(order, "holder_id", "cni.png", png(),
                                          actor_label="Demandeur")
        ae_seal(app, ae)
        PreviewRenderer.for_app().render(pdf.sha256, pdf.media_type, 1, 400)
    instance = Path(app.config["INSTANCE_PATH"])
    (instance / "mail").mkdir(exist_ok=True)
    (instance / "mail" / "message.eml").write_text("Subject: test\n")
    assert invoke(app, "audit", "checkpoint").exit_code == 0
    return {"ae": ae, "camille": camille, "order": order, "pdf": pdf, "photo": photo,
            "instance": instance}


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=[str(arg) for arg in args])


def files_under(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@contextlib.contextmanager
def audit_events_written_meanwhile(app):
    """Another thread keeps adding audit events, as a running server would."""
    stop = threading.Event()

    def write():
        with app.app_context():
            while not stop.is_set():
                with db.connection_context():
                    audit.record("test_activity", actor="test")
                time.sleep(0.005)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.1)
        yield
    finally:
        stop.set()
        writer.join(30)


def test_a_backup_restored_onto_a_new_instance_passes_audit_verify_and_shows_its_documents(
        app, source, tmp_path):
    backup = tmp_path / "sauvegarde"
    with audit_events_written_meanwhile(app):
        created = invoke(app, "backup", "create", backup)
    assert created.exit_code == 0, created.output
    assert "Sauvegarde écrite" in created.output
    saved = files_under(backup)
    pdf_path = f"instance/documents/{source['pdf'].sha256[:2]}/{source['pdf'].sha256[2:4]}/" \
               f"{source['pdf'].sha256}"
    assert pdf_path in saved
    assert {"instance/ca/root.key", "instance/ca/issuing.key",
            f"instance/seals/ae-{source['ae'].id}.key", "instance/audit/checkpoints.jsonl",
            "SHA256SUMS", "sauvegarde.json"} <= set(saved)
    assert ("database.sqlite3" if app.config["DATABASE_URL"].startswith("sqlite")
            else "database.pgdump") in saved
    assert not any(name.startswith(("instance/previews/", "instance/mail/", "instance/radesk.db"))
                   for name in saved)
    assert os.stat(backup).st_mode & 0o077 == 0  # keys inside: the owner only
    assert (backup / "instance/ca/root.key").stat().st_mode & 0o077 == 0
    verified = invoke(app, "backup", "verify", backup)
    assert verified.exit_code == 0 and "Sauvegarde intègre" in verified.output
    with db.connection_context():
        total_events = AuditEvent.select().count()

    with restore_database(tmp_path / "restored") as url:
        restored_app = make_test_app(tmp_path / "restored", url)
        restored = invoke(restored_app, "backup", "restore", backup)
        assert restored.exit_code == 0, restored.output
        checked = invoke(restored_app, "audit", "verify")
        assert checked.exit_code == 0, checked.output
        assert "Piste d'audit intègre" in checked.output
        assert "1 point(s) de contrôle concordant(s)" in checked.output
        restored_instance = tmp_path / "restored" / "instance"
        assert files_under(restored_instance / "ca") == files_under(source["instance"] / "ca")
        assert files_under(restored_instance / "audit") == files_under(source["instance"] / "audit")
        with db.connection_context():
            events_backed_up = AuditEvent.select().count()
            assert Order.get(Order.number == 960072).id == source["order"].id
            assert Document.select().count() == 2
        assert 0 < events_backed_up <= total_events  # the writer ran on after the backup

        client = restored_app.test_client()
        login_as(client, source["camille"])
        order_id, pdf = source["order"].id, source["pdf"]
        original = client.get(f"/commandes/{order_id}/documents/{pdf.id}/original")
        assert original.status_code == 200 and original.data == text_pdf(pages=2)
        page = client.get(f"/commandes/{order_id}/documents/{source['photo'].id}/pages/1"
                          "?width=400")
        assert page.status_code == 200 and page.mimetype == "image/png"


def test_verify_names_a_tampered_a_missing_and_an_added_file(app, source, tmp_path):
    backup = tmp_path / "sauvegarde"
    assert invoke(app, "backup", "create", backup).exit_code == 0
    sha = source["pdf"].sha256
    tampered = backup / "instance" / "documents" / sha[:2] / sha[2:4] / sha
    content = bytearray(tampered.read_bytes())
    content[100] ^= 0x01
    tampered.write_bytes(bytes(content))
    (backup / "instance" / "ca" / "issuing.key").unlink()
    (backup / "instance" / "extra.txt").write_text("ajouté")

    result = invoke(app, "backup", "verify", backup)

    assert result.exit_code == 1
    assert (f"Fichier modifié : instance/documents/{sha[:2]}/{sha[2:4]}/{sha}"
            in result.output)
    assert "Fichier manquant : instance/ca/issuing.key." in result.output
    assert "Fichier absent du manifeste : instance/extra.txt." in result.output
    assert "Sauvegarde invalide (3 problème(s))" in result.output


def test_a_tampered_backup_is_not_restored(app, source, tmp_path):
    backup = tmp_path / "sauvegarde"
    assert invoke(app, "backup", "create", backup).exit_code == 0
    (backup / "sauvegarde.json").write_text("{}")
    with restore_database(tmp_path / "restored") as url:
        restored_app = make_test_app(tmp_path / "restored", url)
        result = invoke(restored_app, "backup", "restore", backup)
        assert result.exit_code == 1
        assert "Sauvegarde invalide : Fichier modifié : sauvegarde.json" in result.output
        assert "Rien n'a été modifié." in result.output
        with db.connection_context():
            assert Order.select().count() == 0
        assert not (tmp_path / "restored" / "instance" / "documents").exists() or \
            not any((tmp_path / "restored" / "instance" / "documents").rglob("*"))


def test_a_backup_without_its_manifest_does_not_verify(app, source, tmp_path):
    backup = tmp_path / "sauvegarde"
    assert invoke(app, "backup", "create", backup).exit_code == 0
    (backup / "SHA256SUMS").unlink()
    result = invoke(app, "backup", "verify", backup)
    assert result.exit_code == 1 and "Manifeste SHA256SUMS absent" in result.output


def test_restore_onto_an_instance_with_data_is_refused_and_changes_nothing(app, source,
                                                                          tmp_path):
    backup = tmp_path / "sauvegarde"
    assert invoke(app, "backup", "create", backup).exit_code == 0
    with app.test_request_context():
        documents.import_document(source["order"], "kbis", "kbis-2.pdf", text_pdf(pages=3),
                                  actor_label="Demandeur")
    before = files_under(source["instance"])
    with db.connection_context():
        events, documents_count = AuditEvent.select().count(), Document.select().count()

    result = invoke(app, "backup", "restore", backup)

    assert result.exit_code == 1
    assert "La base de données cible contient déjà des données" in result.output
    assert "Rien n'a été modifié." in result.output
    assert files_under(source["instance"]) == before
    with db.connection_context():
        assert AuditEvent.select().count() == events
        assert Document.select().count() == documents_count == 3


def test_restore_onto_an_empty_database_beside_an_instance_holding_files_is_refused(
        app, source, tmp_path):
    backup = tmp_path / "sauvegarde"
    assert invoke(app, "backup", "create", backup).exit_code == 0
    with restore_database(tmp_path / "restored") as url:
        restored_app = make_test_app(tmp_path / "restored", url)
        stray = tmp_path / "restored" / "instance" / "ca" / "root.key"
        stray.parent.mkdir(parents=True)
        stray.write_bytes(b"another CA's key")

        result = invoke(restored_app, "backup", "restore", backup)

        assert result.exit_code == 1
        assert "contient déjà des fichiers (ca/root.key)" in result.output
        assert stray.read_bytes() == b"another CA's key"
        with db.connection_context():
            assert Order.select().count() == 0


def test_a_backup_goes_to_a_new_folder(app, source, tmp_path):
    folder = tmp_path / "occupé"
    folder.mkdir()
    (folder / "autre.txt").write_text("x")
    result = invoke(app, "backup", "create", folder)
    assert result.exit_code == 1 and "existe déjà et n'est pas vide" in result.output
    inside = invoke(app, "backup", "create", source["instance"] / "sauvegardes")
    assert inside.exit_code == 1 and "ne peut pas être dans le dossier d'instance" in inside.output
    assert not (source["instance"] / "sauvegardes").exists()


def test_a_restore_that_fails_in_the_database_takes_its_files_away(app, source, tmp_path,
                                                                  monkeypatch):
    from adapters import database_dump

    backup = tmp_path / "sauvegarde"
    assert invoke(app, "backup", "create", backup).exit_code == 0
    with restore_database(tmp_path / "restored") as url:
        restored_app = make_test_app(tmp_path / "restored", url)
        instance = tmp_path / "restored" / "instance"
        before = files_under(instance)

        def broken(url, source):
            raise database_dump.DumpFailed("pg_restore a échoué (code 1) : disque plein")
        monkeypatch.setattr(database_dump, "restore", broken)
        result = invoke(restored_app, "backup", "restore", backup)

        assert result.exit_code == 1
        assert "Restauration impossible : pg_restore a échoué (code 1) : disque plein" \
            in result.output
        assert {name: data for name, data in files_under(instance).items()
                if not name.startswith("radesk.db")} == \
            {name: data for name, data in before.items() if not name.startswith("radesk.db")}
        with db.connection_context():
            assert Order.select().count() == 0  # the empty schema is there again
