"""« Contrôle assisté des pièces »: the reading queued with each import, the reading job, what the
order file and the Visionneuse show, « Relire la pièce », « Reprendre le numéro lu », the
confirmation « Valider » asks over differences; tenancy, CSRF and the audit trail."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest

import adapters.piece_reader as piece_reader
from adapters.render_slots import RenderBusy, RenderSlots
import scheduler
import workflow
from adapters.piece_reader import IdentityReading, KbisReading, PieceReading
from models import AuditEvent, Document, DocumentReading, Order, Person
from models import readings as states
from services.audit_words import action_label
from services.orders import order_file
from services.dossiers import documents, piece_readings
from tests.conftest import csrf_token_from, login_as
from tests.pdf_samples import text_pdf
from tests.test_validation import signed_order
from tests.text import text

NUMBER = "880692310285"


def identity(**changes) -> PieceReading:
    values = dict(document_type="CNI", document_number=NUMBER, surname="BOILEAU",
                  given_names=("SANDRA", "MARIE"), expiry_date=dt.date(2034, 1, 1))
    values.update(changes)
    return PieceReading(kind="identity", status="read", identity=IdentityReading(**values),
                        seconds=0.2)


def kbis(**changes) -> PieceReading:
    values = dict(siren="434202180", company_name="SOCIETE EXEMPLE",
                  extract_date=dt.date.today() - dt.timedelta(days=10))
    values.update(changes)
    return PieceReading(kind="kbis", status="read", kbis=KbisReading(**values), seconds=0.1)


class FakeReader:
    """Stands in for adapters.piece_reader.read_piece: a reading per document kind."""

    def __init__(self):
        self.by_kind = {"identity": identity(), "kbis": kbis()}
        self.calls = []
        self.error = None

    def __call__(self, path, media_type, kind, *, timeout, memory_bytes, slots, niceness=0):
        self.calls.append((path, media_type, kind, timeout, memory_bytes, slots))
        self.niceness = niceness
        assert path.is_file()
        if self.error is not None:
            raise self.error
        return self.by_kind[kind]


@pytest.fixture
def reader(monkeypatch):
    fake = FakeReader()
    monkeypatch.setattr(piece_reader, "read_piece", fake, raising=False)
    return fake


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    ae = make_ae()
    aea = make_operator(ae, roles="AEA", name="Camille Martin")
    order = signed_order(app, make_order, ae, aea, number=960700)
    # Every piece is the same file here (tests.signature_support): the fake reader reads the
    # same MRZ on both identity documents, so both people bear the holder's names.
    Person.update(first_name="Sandra", last_name="Boileau").where(
        Person.id == order.legal_representative_id).execute()
    other_ae = make_ae("Autre AE", portals=("Autre portail",))
    stranger = make_operator(other_ae, roles="AEA", name="Intrus")
    return {"ae": ae, "aea": aea, "order": order, "stranger": stranger}


def read_all(app) -> int:
    with app.app_context():
        return piece_readings.run_pending(app)


def reading_of(order, kind) -> DocumentReading:
    document = Document.current_of(order.id).where(Document.kind == kind).get()
    return DocumentReading.get(DocumentReading.document == document.id)


def file_html(client, order) -> str:
    return client.get(f"/commandes/{order.id}").get_data(as_text=True)


def piece_block(html: str) -> str:
    start = html.index(">", html.index('id="lu-sur-la-piece"')) + 1
    return text(html[start:html.index("</section>", start)])


# --- Storage and the job -------------------------------------------------------------------

def test_each_identity_or_kbis_import_queues_a_reading_of_that_version(app, desk):
    order = desk["order"]
    queued = {row.kind: row.state for row in DocumentReading.select()}
    assert queued == {"holder_id": "pending", "legal_rep_id": "pending", "kbis": "pending"}
    first = reading_of(order, "holder_id")
    with app.app_context():
        new = documents.import_document(order, "holder_id", "cni-2.pdf", text_pdf(pages=2))
    assert DocumentReading.get(DocumentReading.document == new.id).state == "pending"
    assert DocumentReading.get_by_id(first.id).document_id != new.id  # the old version's own
    assert not DocumentReading.select().where(DocumentReading.kind == "payment_proof").exists()


def test_the_job_reads_the_pending_pieces_with_the_preview_limits(app, desk, reader):
    assert read_all(app) == 3
    assert {row.state for row in DocumentReading.select()} == {"done"}
    path, media_type, kind, timeout, memory, slots = reader.calls[0]
    assert media_type == "application/pdf" and kind in ("identity", "kbis")
    assert timeout == app.config["PREVIEW_TIMEOUT_SECONDS"]
    assert memory == app.config["PREVIEW_MEMORY_MB"] * 2**20 and slots is not None
    assert reader.niceness == app.config["RADESK_PIECE_READING_NICENESS"] == 10  # pages first
    assert slots.count == max(1, RenderSlots.for_app(app).count - 1)  # one left for previews
    row = reading_of(desk["order"], "holder_id")
    assert row.read_at is not None and row.seconds == 0.2
    assert PieceReading.from_json(json.loads(row.reading)) == identity()
    events = AuditEvent.select().where(AuditEvent.action == "piece_read")
    assert events.count() == 3 and action_label("piece_read") == "Lecture automatique d'une pièce"
    assert read_all(app) == 0  # nothing left


def test_the_reads_leave_the_last_render_slot_to_the_previews(app):
    app.config["RENDER_SLOTS"], app.config["RENDER_WAIT_SECONDS"] = 2, 0.05
    background = RenderSlots.for_background(app)
    with background.held():
        with pytest.raises(RenderBusy):  # a second read waits…
            with background.held():
                pass
        with RenderSlots.for_app(app).held():  # …a preview does not
            pass
    app.config["RENDER_SLOTS"] = 1  # one slot only: shared, never none
    assert RenderSlots.for_background(app).count == 1


def test_the_job_is_registered_and_woken_after_an_import(app, desk):
    assert scheduler.PIECE_READING_JOB in {job.id for job in scheduler.jobs(app)}
    woken = []
    piece_readings.register_wake(app, lambda app: woken.append(app))
    with app.app_context():
        documents.import_document(desk["order"], "kbis", "kbis.pdf", text_pdf(pages=3))
        documents.import_document(desk["order"], "payment_proof", "p.pdf", text_pdf(pages=4))
    assert len(woken) == 1


def test_a_piece_yielding_nothing_is_unreadable_and_the_review_goes_on(app, client, desk, reader):
    reader.by_kind["identity"] = PieceReading(kind="identity", status="unreadable",
                                              detail="no MRZ")
    read_all(app)
    assert reading_of(desk["order"], "holder_id").state == "unreadable"
    login_as(client, desk["aea"])
    block = piece_block(file_html(client, desk["order"]))
    assert "Lecture automatique impossible" in block


def test_a_failing_reader_is_tried_again_then_given_up(app, desk, reader):
    reader.error = RuntimeError("délai dépassé")
    read_all(app)
    row = reading_of(desk["order"], "kbis")
    assert row.state == "pending" and row.attempts == 1 and row.claimed_until is not None
    for _ in range(piece_readings.MAX_ATTEMPTS - 1):
        DocumentReading.update(claimed_until=None).execute()
        read_all(app)
    assert reading_of(desk["order"], "kbis").state == "failed"


def test_a_reading_asked_again_meanwhile_is_not_overwritten_by_the_older_run(app, desk, reader):
    with app.app_context():
        claimed = piece_readings.claim(dt.timedelta(minutes=5))
        document = Document.get_by_id(claimed.document_id)
        piece_readings._ask(document)  # « Relire la pièce » while the run reads
        assert piece_readings.read_one(app, claimed) == "pending"
    assert DocumentReading.get_by_id(claimed.id).state == "pending"


def test_a_piece_carried_onto_another_order_keeps_its_reading(app, desk, reader, make_order):
    read_all(app)
    source = Document.current_of(desk["order"].id).where(Document.kind == "holder_id").get()
    renewal = make_order(desk["ae"], number=960701)
    copy = Document.create(order=renewal, kind="holder_id", category=source.category,
                           status=source.status, sha256=source.sha256,
                           media_type=source.media_type, size=source.size)
    carried = piece_readings.carry(source, copy)
    assert carried.state == "done" and carried.reading == reading_of(desk["order"],
                                                                     "holder_id").reading
    pending = Document.create(order=renewal, kind="kbis", category="justificatif",
                              status="imported", sha256=source.sha256, media_type="image/png")
    DocumentReading.update(state="pending").execute()
    assert piece_readings.carry(source, pending).state == "pending"


# --- The order file and the Visionneuse -----------------------------------------------------

def test_a_differing_id_number_shows_both_values_in_the_file_and_the_viewer(app, client, desk,
                                                                            reader):
    reader.by_kind["identity"] = identity(document_number="X4RTBPFW4")
    order = desk["order"]
    login_as(client, desk["aea"])
    assert "Lecture en cours…" in piece_block(file_html(client, order))
    read_all(app)
    block = piece_block(file_html(client, order))
    assert "N° de la pièce : ✗ diffère : commande « 880692310285 », pièce « X4RTBPFW4 »" in block
    assert "Nom : ✓ concorde" in block and "SIREN : ✓ concorde" in block
    holder = Document.current_of(order.id).where(Document.kind == "holder_id").get()
    viewer = text(client.get(f"/commandes/{order.id}/visionneuse?document={holder.id}")
                  .get_data(as_text=True))
    assert "Lu sur la pièce" in viewer
    assert "✗ diffère : commande « 880692310285 », pièce « X4RTBPFW4 »" in viewer


def test_the_blocks_answer_htmx_polls_and_send_plain_requests_to_the_page(app, client, desk):
    order = desk["order"]
    login_as(client, desk["aea"])
    fragment = client.get(f"/commandes/{order.id}/lu-sur-la-piece", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert 'hx-trigger="every 3s"' in html and "<html" not in html
    assert "HX-Request" in fragment.headers["Vary"]
    plain = client.get(f"/commandes/{order.id}/lu-sur-la-piece")
    assert plain.status_code == 302 and plain.headers["Location"].endswith(
        f"/commandes/{order.id}#lu-sur-la-piece")


def test_reread_asks_again_audited_with_csrf(app, client, desk, reader):
    read_all(app)
    order = desk["order"]
    login_as(client, desk["aea"])
    token = csrf_token_from(file_html(client, order))
    holder = reading_of(order, "holder_id")
    url = f"/commandes/{order.id}/documents/{holder.document_id}/relire"
    assert client.post(url).status_code == 400  # no CSRF token
    assert reading_of(order, "holder_id").state == "done"
    answer = client.post(url, data={"csrf_token": token}, follow_redirects=True)
    assert "Nouvelle lecture de la pièce demandée" in text(answer.get_data(as_text=True))
    assert reading_of(order, "holder_id").state == "pending"
    event = AuditEvent.select().where(AuditEvent.action == "piece_reread_asked").get()
    assert event.operator_id == desk["aea"].id and event.order_id == order.id
    read_all(app)
    fragment = client.post(url, data={"csrf_token": token}, headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and 'hx-trigger="every 3s"' in html
    assert "Lecture en cours…" in piece_block(html)
    payment = Document.current_of(order.id).where(Document.kind == "payment_proof").get()
    assert client.post(f"/commandes/{order.id}/documents/{payment.id}/relire",
                       data={"csrf_token": token}).status_code == 404


def test_take_the_number_read_fills_an_empty_number_audited(app, client, desk, reader):
    order = desk["order"]
    Order.update(id_doc_number=None, id_doc_type=None).where(Order.id == order.id).execute()
    read_all(app)
    login_as(client, desk["aea"])
    html = file_html(client, order)
    assert "Reprendre le numéro lu" in html
    assert f"N° de la pièce : non renseigné dans la commande ; lu sur la pièce : « {NUMBER} »" \
        in piece_block(html)
    token = csrf_token_from(html)
    url = f"/commandes/{order.id}/justificatif-identite/reprendre"
    assert client.post(url).status_code == 400
    done = client.post(url, data={"csrf_token": token}, follow_redirects=True)
    assert f"N° de justificatif d'identité repris de la pièce : {NUMBER}." in text(
        done.get_data(as_text=True))
    saved = Order.get_by_id(order.id)
    assert (saved.id_doc_type, saved.id_doc_number) == ("CNI", NUMBER)
    event = AuditEvent.select().where(AuditEvent.action == "id_document_recorded").get()
    assert "lu sur la pièce" in event.details and event.operator_id == desk["aea"].id
    assert "Reprendre le numéro lu" not in file_html(client, order)
    again = client.post(url, data={"csrf_token": token}, follow_redirects=True)
    assert "Aucun numéro lu sur la pièce d'identité du porteur à reprendre" in text(
        again.get_data(as_text=True))


def test_a_number_saved_with_modifier_sends_the_block_again(app, client, desk, reader):
    order = desk["order"]
    Order.update(id_doc_number=None).where(Order.id == order.id).execute()
    read_all(app)
    login_as(client, desk["aea"])
    token = csrf_token_from(file_html(client, order))
    answer = client.post(f"/commandes/{order.id}/justificatif-identite",
                         data={"csrf_token": token, "id_doc_type": "CNI",
                               "id_doc_number": "880692310286"},
                         headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="lu-sur-la-piece"' in answer and 'hx-swap-oob="true"' in answer
    assert ("N° de la pièce : ✗ diffère : commande « 880692310286 », pièce « 880692310285 »"
            in piece_block(answer))


def test_a_validated_order_is_not_read_again(app, client, desk, reader):
    order = desk["order"]
    read_all(app)
    login_as(client, desk["aea"])
    token = csrf_token_from(file_html(client, order))
    Order.update(phase="generation", substate=None, validated_at=dt.datetime(2026, 11, 1)).where(
        Order.id == order.id).execute()
    holder = reading_of(order, "holder_id")
    answer = client.post(f"/commandes/{order.id}/documents/{holder.document_id}/relire",
                         data={"csrf_token": token}, follow_redirects=True)
    assert "Le dossier est en lecture seule : ses pièces ne sont plus relues." in text(
        answer.get_data(as_text=True))
    assert reading_of(order, "holder_id").state == "done"
    assert "Relire la pièce" not in file_html(client, order)


def test_take_the_number_never_replaces_one_typed_meanwhile(app, desk, reader):
    order = desk["order"]
    Order.update(id_doc_number=None).where(Order.id == order.id).execute()
    read_all(app)
    Order.update(id_doc_number="AB1234567").where(Order.id == order.id).execute()
    with pytest.raises(workflow.Refused):
        order_file.record_id_document(Order.get_by_id(order.id), desk["aea"], "PASSEPORT",
                                      NUMBER, only_if_empty=True)
    assert Order.get_by_id(order.id).id_doc_number == "AB1234567"


def test_another_aes_reading_reread_and_fill_answer_404(app, client, desk, reader):
    read_all(app)
    order = desk["order"]
    holder = reading_of(order, "holder_id")
    login_as(client, desk["stranger"])
    token = csrf_token_from(client.get("/commandes").get_data(as_text=True))
    hx = {"HX-Request": "true"}
    assert client.get(f"/commandes/{order.id}/lu-sur-la-piece", headers=hx).status_code == 404
    assert client.get(f"/commandes/{order.id}/documents/{holder.document_id}/lu-sur-la-piece",
                      headers=hx).status_code == 404
    assert client.post(f"/commandes/{order.id}/documents/{holder.document_id}/relire",
                       data={"csrf_token": token}).status_code == 404
    assert client.post(f"/commandes/{order.id}/justificatif-identite/reprendre",
                       data={"csrf_token": token}).status_code == 404
    assert reading_of(order, "holder_id").state == "done"


# --- « Valider » over a ✗ ------------------------------------------------------------------

def _confirmation(client, order):
    html = file_html(client, order)
    token = csrf_token_from(html)
    version = re.search(r'name="version" value="([0-9a-f]+)"', html).group(1)
    page = client.post(f"/commandes/{order.id}/validation/confirmation",
                       data={"csrf_token": token, "version": version, "payment_ok": "1",
                             "dossier_complete_ok": "1"}, follow_redirects=True)
    html = page.get_data(as_text=True)
    return html, token, re.search(r'name="version" value="([0-9a-f]+)"', html).group(1)


def test_validating_over_a_difference_asks_for_the_confirmation(app, client, desk, reader):
    reader.by_kind["identity"] = identity(surname="BOILLEAU")
    read_all(app)
    order = desk["order"]
    login_as(client, desk["aea"])
    html, token, version = _confirmation(client, order)
    assert "J'ai vérifié les écarts signalés par la lecture des pièces" in text(html)
    assert "Pièce d'identité du porteur : Nom" in text(html)
    assert "Pièce d'identité du représentant légal : Nom" in text(html)
    refused = client.post(f"/commandes/{order.id}/validation",
                          data={"csrf_token": token, "version": version}, follow_redirects=True)
    assert ("La lecture des pièces signale 2 écarts avec la commande : cochez « J'ai vérifié les "
            "écarts signalés par la lecture des pièces » pour valider.") in text(
        refused.get_data(as_text=True))
    assert Order.get_by_id(order.id).validated_at is None
    done = client.post(f"/commandes/{order.id}/validation",
                       data={"csrf_token": token, "version": version,
                             "piece_differences_checked": "1"}, follow_redirects=True)
    assert "validée" in text(done.get_data(as_text=True))
    assert Order.get_by_id(order.id).validated_at is not None
    event = AuditEvent.select().where(AuditEvent.action == "piece_differences_confirmed").get()
    assert "Nom" in event.details and event.operator_id == desk["aea"].id
    assert action_label(event.action).startswith("Écarts signalés")


def test_validating_without_differences_asks_nothing_more(app, client, desk, reader):
    read_all(app)
    order = desk["order"]
    login_as(client, desk["aea"])
    html, token, version = _confirmation(client, order)
    assert "J'ai vérifié les écarts" not in text(html)
    done = client.post(f"/commandes/{order.id}/validation",
                       data={"csrf_token": token, "version": version}, follow_redirects=True)
    assert "validée" in text(done.get_data(as_text=True)), text(done.get_data(as_text=True))
    assert Order.get_by_id(order.id).validated_at is not None
    assert not AuditEvent.select().where(
        AuditEvent.action == "piece_differences_confirmed").exists()


# --- Schema --------------------------------------------------------------------------------

def test_the_upgrade_makes_the_readings_table(database_url):
    from tests.test_migrations import upgraded_from_v1

    database = upgraded_from_v1(database_url)
    assert ({column.name for column in database.get_columns("document_reading")}
            == {field.column_name for field in DocumentReading._meta.sorted_fields})
    assert ({index.name[:63] for index in database.get_indexes("document_reading")
             if not index.name.endswith("_pkey")}
            == {index._name[:63] for index in DocumentReading._meta.fields_to_index()})
    assert DocumentReading.select().count() == 0 and states.PENDING == "pending"
    database.close()
