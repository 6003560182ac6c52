"""Every CSV the operators download — the Commandes list's export, the selection's export,
« Statistiques », and the dossier's manifest and audit trail — goes through one writer: no
cell that a spreadsheet would run as a formula (one starting with = + - @, a tab or a carriage
return) is written as typed; it gets a leading apostrophe (OWASP's CSV injection advice)."""
from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest

from adapters import spreadsheet_csv
from models import Company, Document, Person, Portal
from services import audit
from services.bulk import jobs
from services.dossiers import documents
from tests.conftest import csrf_token_from, login_as
from tests.pdf_samples import text_pdf

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+33 Conseil", "-2+3", "@SUM(A1)",
           "\t=1+1", "\r=1+1"]


def cells_of(raw: bytes) -> list[str]:
    assert raw.startswith("\ufeff".encode())  # spreadsheets read it as UTF-8
    rows = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";")
    return [cell for row in rows for cell in row]


def assert_neutralised(cells: list[str], values) -> None:
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    for value in values:
        assert "'" + value in cells, (value, cells)


@pytest.mark.parametrize("value", HOSTILE)
def test_the_helper_prefixes_formula_starts_and_keeps_numbers(value):
    assert spreadsheet_csv.safe_cell(value) == "'" + value
    assert spreadsheet_csv.safe_cell("Société = Exemple") == "Société = Exemple"
    assert spreadsheet_csv.safe_cell(-3) == -3 and spreadsheet_csv.safe_cell(None) == ""


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA,admin", name="Camille Martin")
    orders = [make_order(ae, number=960300 + n) for n, _ in enumerate(HOSTILE)]
    for order, value in zip(orders, HOSTILE):
        Company.update(name=value).where(Company.id == order.company_id).execute()
        Person.update(first_name=value).where(Person.id == order.holder_id).execute()
    return {"app": app, "ae": ae, "camille": camille, "orders": orders}


def test_the_commandes_export(client, desk):
    login_as(client, desk["camille"])
    assert_neutralised(cells_of(client.get("/commandes/export.csv").get_data()), HOSTILE)


def test_the_selection_export(client, desk):
    login_as(client, desk["camille"])
    token = csrf_token_from(client.get("/commandes").get_data(as_text=True))
    started = client.post("/commandes/actions", data={
        "csrf_token": token, "action": "export",
        "ids": ",".join(str(order.id) for order in desk["orders"]), "search": ""})
    number = re.search(r"/commandes/actions/(\d+)$", started.headers["Location"]).group(1)
    jobs.run_pending(desk["app"])
    raw = client.get(f"/commandes/actions/{number}/commandes.csv").get_data()
    assert_neutralised(cells_of(raw), HOSTILE)


def test_the_statistics_export(client, desk):
    first = Portal.select().where(Portal.ae == desk["ae"]).order_by(Portal.id).first()
    Portal.update(name="@Portail").where(Portal.id == first.id).execute()
    login_as(client, desk["camille"])
    raw = client.get("/statistiques/export.csv").get_data()
    assert_neutralised(cells_of(raw), ["@Portail"])


def test_the_dossier_manifest_and_audit_trail(app, client, desk):
    order = desk["orders"][0]
    with app.test_request_context():
        documents.import_document(order, "kbis", "=SUM(1+1) facture.pdf", text_pdf(),
                                  actor_label="Demandeur")
    audit.record("order_refused", order=order, actor="@Demandeur", ip="",
                 details={"commentaire": "=HYPERLINK(\"http://x\")"})
    login_as(client, desk["camille"])
    response = client.get(f"/commandes/{order.id}/dossier.zip")
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    manifest = cells_of(archive.read("manifeste.csv"))
    assert_neutralised(manifest, ["=SUM(1+1) facture.pdf"])
    assert Document.get(Document.order == order).filename == "=SUM(1+1) facture.pdf"
    assert_neutralised(cells_of(archive.read("historique.csv")), ["@Demandeur"])
    # The length announced beforehand is the length sent.
    assert int(response.headers["Content-Length"]) == len(response.data)
