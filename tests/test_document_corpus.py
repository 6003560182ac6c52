"""The bad-input corpus (tests/bad_inputs.py) through the whole path: import, viewer, previews,
download, archive. Each file is refused with its French message and leaves nothing behind, or
is stored with its row and shown as a preview or « aperçu indisponible ». Never a 500."""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from models import Document, PendingFile
from services.dossiers import documents
from adapters.document_store import RefusedDocument
from tests.bad_inputs import REFUSED, STORED, corpus
from tests.conftest import login_as

CORPUS = corpus()


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 25
    assert len({bad.name for bad in CORPUS}) == len(CORPUS)
    assert sum(bad.outcome == STORED for bad in CORPUS) >= 5


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    return {"camille": camille, "order": make_order(ae, number=960072)}


def stored_files(app) -> set[str]:
    root = Path(app.config["INSTANCE_PATH"]) / "documents"
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.mark.parametrize("bad", [b for b in CORPUS if b.outcome == REFUSED],
                         ids=lambda bad: bad.name)
def test_refused_with_a_clear_message_and_nothing_left(app, desk, bad):
    with app.test_request_context():
        with pytest.raises(RefusedDocument) as refused:
            documents.import_document(desk["order"], "kbis", bad.name, bad.data,
                                      actor_label="Demandeur")
    assert refused.value.message == bad.message
    assert Document.select().count() == 0 and PendingFile.select().count() == 0
    assert stored_files(app) == set()


@pytest.mark.parametrize("bad", [b for b in CORPUS if b.outcome == STORED],
                         ids=lambda bad: bad.name)
def test_stored_then_shown_or_apercu_indisponible(app, client, desk, bad):
    with app.test_request_context():
        document = documents.import_document(desk["order"], "kbis", bad.name, bad.data,
                                             actor_label="Demandeur")
    assert stored_files(app) == {hashlib.sha256(bad.data).hexdigest()} == {document.sha256}
    login_as(client, desk["camille"])
    order_id = desk["order"].id
    viewer = client.get(f"/commandes/{order_id}/visionneuse?document={document.id}")
    assert viewer.status_code == 200
    for width in (160, 1000):
        preview = client.get(f"/commandes/{order_id}/documents/{document.id}/pages/1"
                             f"?width={width}&rotation=90")
        assert preview.status_code == 200, preview.data[:200]
        assert preview.mimetype in ("image/png", "image/jpeg", "image/svg+xml")
        if preview.mimetype == "image/svg+xml":
            assert "aperçu indisponible" in preview.get_data(as_text=True)
    original = client.get(f"/commandes/{order_id}/documents/{document.id}/original")
    assert original.status_code == 200 and original.data == bad.data
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/commandes/{order_id}/dossier.zip").data))
    (name,) = [n for n in archive.namelist() if n.startswith("documents/")]
    assert archive.read(name) == bad.data
