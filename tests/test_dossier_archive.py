"""« Télécharger le dossier »: the ZIP holds every document (current and replaced versions)
byte for byte, a manifest whose hashes match, SHA256SUMS, and the audit trail; it is streamed
with constant memory, documents stored without re-compression, the download audited, before
and after validation."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import tracemalloc
import zipfile

import pytest

from models import AuditEvent, Document, Order, utcnow
from services.dossiers import documents, dossier_archive
from tests.conftest import login_as
from tests.image_samples import png
from tests.pdf_samples import text_pdf

MIB = 1024 * 1024


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    order = make_order(ae, number=960072)
    with app.test_request_context():
        kbis = documents.import_document(order, "kbis", "kbis.pdf", text_pdf(pages=2),
                                         actor_label="Demandeur")
        first_id = documents.import_document(order, "holder_id", "cni-floue.png", png((1, 1, 1)),
                                             actor_label="Demandeur")
        holder_id = documents.import_document(order, "holder_id", "cni.png", png((2, 2, 2)),
                                              operator=camille)
        documents.set_verified(order, kbis.id, camille, True, dt.date(2031, 6, 30))
    Document.update(imported_at=dt.datetime(2025, 3, 14, 8, 5)).execute()
    return {"ae": ae, "camille": camille, "order": order, "kbis": kbis, "old": first_id,
            "holder_id": holder_id}


def download(client, desk) -> tuple[zipfile.ZipFile, object]:
    response = client.get(f"/commandes/{desk['order'].id}/dossier.zip")
    assert response.status_code == 200, response.data[:300]
    return zipfile.ZipFile(io.BytesIO(response.data)), response


def read_csv(archive: zipfile.ZipFile, name: str) -> list[dict]:
    raw = archive.read(name)
    assert raw.startswith("\ufeff".encode())  # spreadsheets read it as UTF-8
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))


def test_archive_holds_every_version_and_a_manifest_whose_hashes_match(client, desk):
    login_as(client, desk["camille"])
    archive, response = download(client, desk)
    # Streamed, yet its length is known beforehand: the browser shows real progress.
    assert int(response.headers["Content-Length"]) == len(response.data)
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="dossier-960072.zip"'
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == [
        "documents/05-extrait-de-kbis.pdf",
        "documents/06-piece-d-identite-du-porteur.png",
        "documents/versions-remplacees/06-piece-d-identite-du-porteur-v1.png",
        "manifeste.csv", "SHA256SUMS", "historique.csv",
    ]
    manifest = read_csv(archive, "manifeste.csv")
    with_files = [row for row in manifest if row["Fichier dans l'archive"]]
    assert len(with_files) == 3
    for row in with_files:
        data = archive.read(row["Fichier dans l'archive"])
        assert hashlib.sha256(data).hexdigest() == row["SHA-256"]
        assert int(row["Taille (octets)"]) == len(data)
    kbis = next(r for r in manifest if r["Document"] == "Extrait de KBIS")
    assert kbis["Nom d'origine"] == "kbis.pdf" and kbis["Statut"] == "importé"
    assert kbis["Importé le"] == "14/03/2025 09:05" and kbis["Importé par"] == "Demandeur"
    assert kbis["Vérifié par"] == "Camille Martin" and kbis["Date d'expiration"] == "30/06/2031"
    versions = {r["Fichier dans l'archive"]: r["Version"] for r in with_files}
    assert versions["documents/versions-remplacees/06-piece-d-identite-du-porteur-v1.png"] \
        == "remplacée (v1)"
    assert next(r for r in with_files if r["Version"] == "actuelle" and "porteur" in
                r["Document"])["Importé par"] == "Camille Martin"
    # What the dossier still lacks is listed too, without a file.
    missing = {r["Document"]: r["Statut"] for r in manifest if not r["Fichier dans l'archive"]}
    assert missing["Preuve de paiement"] == "non importé" and missing["CGU"] == "non signé"


def test_checksums_file_can_be_checked_with_sha256sum(client, desk):
    login_as(client, desk["camille"])
    archive, _ = download(client, desk)
    for line in archive.read("SHA256SUMS").decode().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest


def test_documents_are_stored_and_text_deflated(client, desk):
    login_as(client, desk["camille"])
    archive, _ = download(client, desk)
    for info in archive.infolist():
        expected = zipfile.ZIP_STORED if info.filename.startswith("documents/") \
            else zipfile.ZIP_DEFLATED
        assert info.compress_type == expected, info.filename


def test_audit_trail_is_included_and_the_download_audited(client, desk):
    login_as(client, desk["camille"])
    archive, _ = download(client, desk)
    history = read_csv(archive, "historique.csv")
    actions = [row["Action"] for row in history]
    assert actions.count("Import d'un document") == 3
    assert "Pièce justificative vérifiée" in actions
    assert actions[-1] == "Téléchargement du dossier"  # this very download
    assert history[-1]["Opérateur"] == "Camille Martin"
    expected = list(AuditEvent.select().where(AuditEvent.order == desk["order"].id)
                    .order_by(AuditEvent.id))
    assert [row["Empreinte (SHA-256)"] for row in history] == [e.hash for e in expected]
    assert json.loads(expected[-1].details) == {"files": 3, "bytes": sum(
        d.size for d in Document.select())}


def test_available_after_validation(client, desk):
    Order.update(phase="generation", substate=None, validated_at=utcnow(),
                 validated_by=desk["camille"].id).execute()
    login_as(client, desk["camille"])
    archive, _ = download(client, desk)
    assert len([n for n in archive.namelist() if n.startswith("documents/")]) == 3


def test_a_file_missing_from_the_store_is_named_not_fatal(client, desk, app):
    documents.document_store(app).path_for(desk["kbis"].sha256).unlink()
    login_as(client, desk["camille"])
    archive, _ = download(client, desk)
    assert archive.testzip() is None
    assert "documents/05-extrait-de-kbis.pdf" not in archive.namelist()
    row = next(r for r in read_csv(archive, "manifeste.csv") if r["Document"] == "Extrait de KBIS")
    assert row["Fichier dans l'archive"] == ""
    assert row["Version"] == "actuelle — fichier absent du stockage"


def test_streaming_uses_constant_memory(app, desk, tmp_path):
    """Five 8 MB files go through the generator while Python never holds more than a few
    chunks of 1 MiB at once."""
    order = desk["order"]
    store = documents.document_store(app)
    rows = []
    for number in range(5):
        data = os.urandom(8 * MIB)
        sha = hashlib.sha256(data).hexdigest()
        store._write_atomically(store.path_for(sha), data)
        rows.append(Document.create(order=order, kind="payment_proof",
                                    category="justificatif", status="imported", sha256=sha,
                                    size=len(data), media_type="application/pdf",
                                    filename=f"gros-{number}.pdf", is_current=number == 4,
                                    imported_at=utcnow()))
    del data
    every = documents.dossier_documents(order)
    total = 0
    digest = hashlib.sha256()
    with app.test_request_context():
        archive = dossier_archive.build(order, every, store.root)
    tracemalloc.start()
    for piece in archive.stream():
        total += len(piece)
        digest.update(piece)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == archive.length > 40 * MIB
    assert peak < 10 * MIB, f"peak {peak / MIB:.1f} MiB"  # two 4 MiB chunks at most


def test_archive_needs_a_session(client, desk):
    response = client.get(f"/commandes/{desk['order'].id}/dossier.zip")
    assert response.status_code == 302
