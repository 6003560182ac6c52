"""Page previews rendered on the server: one page at a time, at the width asked for, rotated,
EXIF orientation applied, cached by content hash, page, width and rotation, bounded in time
and memory; served with ETag and long-lived cache headers; « aperçu indisponible » when a file
cannot be rendered. Originals only as attachments."""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from PIL import Image, ImageChops, ImageStat

from models import AuditEvent
from demo import documents as demo_documents
from services.dossiers import documents
from adapters import previews, sandbox
from adapters.previews import PreviewRenderer, snap_width
from tests.conftest import login_as
from tests.pdf_samples import text_pdf


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture
def setup(app, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    order = make_order(ae, number=960072)
    with app.test_request_context():
        pdf = documents.import_document(order, "kbis", "kbis.pdf", text_pdf(pages=3),
                                        actor_label="Demandeur")
        card = documents.import_document(
            order, "holder_id", "cni.jpg",
            demo_documents.id_card_image("Sandra", "Boileau", dt.date(1985, 2, 1), "X4RTBPFW4",
                                         exif_orientation=6),
            actor_label="Demandeur")
    return {"order": order, "camille": camille, "pdf": pdf, "card": card}


@pytest.fixture
def renderer(app):
    with app.app_context():
        return PreviewRenderer.for_app()


def url(setup, document, page=1, **query):
    base = f"/commandes/{setup['order'].id}/documents/{setup[document].id}/pages/{page}"
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize("asked, served", [(None, 1000), (0, 1000), (150, 160), (160, 160),
                                           (700, 800), (5000, 2400)])
def test_widths_snap_to_the_ladder(asked, served):
    assert snap_width(asked) == served


def test_a_pdf_page_is_rendered_alone_at_the_width_asked(setup, renderer):
    pdf = setup["pdf"]
    preview = renderer.render(pdf.sha256, pdf.media_type, 2, 600)
    image = Image.open(preview.path)
    assert image.format == "PNG" and image.width == 600
    assert round(image.height / image.width, 2) == round(842 / 595, 2)
    files = sorted(p.name for p in preview.path.parent.iterdir() if not p.name.endswith(".lock"))
    assert files == ["p2-w600-r0.png"]  # that page only, not the whole file


def test_each_page_shows_its_own_content(app, setup, renderer):
    from reportlab.pdfgen import canvas
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for number in (1, 2):
        pdf.setFont("Helvetica", 200)
        pdf.drawString(100 if number == 1 else 300, 400, str(number))
        pdf.showPage()
    pdf.save()
    with app.test_request_context():
        document = documents.import_document(setup["order"], "payment_proof", "preuve.pdf",
                                             buffer.getvalue())
    first, second = (Image.open(renderer.render(document.sha256, document.media_type, page,
                                                400).path).convert("L") for page in (1, 2))
    assert ImageChops.difference(first, second).getbbox() is not None


def test_a_quarter_turn_serves_the_width_asked(setup, renderer):
    pdf = setup["pdf"]
    upright = Image.open(renderer.render(pdf.sha256, pdf.media_type, 1, 800, 0).path)
    turned = Image.open(renderer.render(pdf.sha256, pdf.media_type, 1, 800, 90).path)
    assert turned.width == 800 and turned.height < turned.width
    assert upright.height > upright.width


def test_exif_orientation_is_applied_to_photos(setup, renderer):
    """The demo card is stored turned as a phone takes it, tagged orientation 6; the preview
    shows it as the same card saved upright."""
    card = setup["card"]
    preview = Image.open(renderer.render(card.sha256, card.media_type, 1, 400).path)
    upright = demo_documents.id_card_image("Sandra", "Boileau", dt.date(1985, 2, 1), "X4RTBPFW4")
    reference = image_of(upright).convert("RGB").resize(preview.size)
    assert preview.width > preview.height  # an ID card is landscape
    difference = ImageStat.Stat(ImageChops.difference(preview.convert("RGB"), reference)).mean
    assert max(difference) < 12


def test_rotating_a_photo_turns_it_clockwise(setup, renderer):
    card = setup["card"]
    upright = Image.open(renderer.render(card.sha256, card.media_type, 1, 400, 0).path)
    right = Image.open(renderer.render(card.sha256, card.media_type, 1, 400, 90).path)
    assert right.width == 400 and right.height > right.width
    expected = upright.convert("RGB").rotate(-90, expand=True).resize(right.size)
    assert max(ImageStat.Stat(ImageChops.difference(right.convert("RGB"), expected)).mean) < 12


def test_cached_previews_are_not_rendered_again(setup, renderer, monkeypatch):
    pdf = setup["pdf"]
    first = renderer.render(pdf.sha256, pdf.media_type, 1, 1000)
    monkeypatch.setattr(previews, "run_bounded",
                        lambda *a, **k: pytest.fail("rendered again despite the cache"))
    assert renderer.render(pdf.sha256, pdf.media_type, 1, 1000) == first


def test_a_render_out_of_time_is_unavailable_and_remembered(setup, renderer, monkeypatch):
    pdf = setup["pdf"]
    calls = []

    def too_slow(argv, **limits):
        calls.append(limits)
        raise sandbox.BoundedTimeout(argv[0])
    monkeypatch.setattr(previews, "run_bounded", too_slow)
    assert renderer.render(pdf.sha256, pdf.media_type, 1, 1000) is None
    assert renderer.render(pdf.sha256, pdf.media_type, 1, 1000) is None
    assert len(calls) == 1  # the failure is remembered: no new attempt at every view
    assert calls[0]["timeout"] == renderer.timeout
    assert calls[0]["memory_bytes"] == renderer.memory_bytes


def test_the_memory_limit_is_enforced(setup, app):
    """With 16 MB of address space neither pdftoppm nor Python can even load its libraries:
    the limit really applies to the render process (and the render fails cleanly)."""
    pdf, card = setup["pdf"], setup["card"]
    with app.app_context():
        starved = PreviewRenderer.for_app()
    starved = PreviewRenderer(starved.cache_root / "starved", starved.store_root,
                              memory_bytes=16 * 1024 * 1024)
    assert starved.render(pdf.sha256, pdf.media_type, 1, 1000) is None
    assert starved.render(card.sha256, card.media_type, 1, 400) is None


def test_sandbox_kills_a_tool_that_runs_too_long():
    with pytest.raises(sandbox.BoundedTimeout):
        sandbox.run_bounded(["sleep", "5"], timeout=0.5, memory_bytes=64 * 1024 * 1024)


def test_sandbox_limits_cpu_and_memory():
    result = sandbox.run_bounded(
        ["python3", "-c", "x = bytearray(300 * 1024 * 1024)"], timeout=10,
        memory_bytes=200 * 1024 * 1024)
    assert result.returncode != 0 and b"MemoryError" in result.stderr


def test_unknown_page_or_media_is_unavailable(setup, renderer):
    pdf, card = setup["pdf"], setup["card"]
    assert renderer.render(pdf.sha256, pdf.media_type, 0, 400) is None
    assert renderer.render(card.sha256, card.media_type, 2, 400) is None
    assert renderer.render(pdf.sha256, "image/gif", 1, 400) is None
    assert renderer.render("0" * 64, "application/pdf", 1, 400) is None  # no such file


# --- over HTTP -----------------------------------------------------------------------

def test_preview_route_headers_and_304(client, setup):
    login_as(client, setup["camille"])
    response = client.get(url(setup, "pdf", 2, width=700))
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert image_of(response.data).width == 800  # 700 snaps up to the ladder
    cache = response.headers["Cache-Control"]
    # Pages of identity documents never stay in a shared workstation's browser cache.
    assert "no-store" in cache and "max-age" not in cache
    etag = response.headers["ETag"]
    again = client.get(url(setup, "pdf", 2, width=800), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    other_rotation = client.get(url(setup, "pdf", 2, width=800, rotation=90),
                                headers={"If-None-Match": etag})
    assert other_rotation.status_code == 200 and other_rotation.headers["ETag"] != etag


def test_preview_of_a_page_that_does_not_exist_is_404(client, setup):
    login_as(client, setup["camille"])
    assert client.get(url(setup, "pdf", 4)).status_code == 404
    assert client.get(url(setup, "card", 2)).status_code == 404


def test_unrenderable_document_shows_apercu_indisponible(client, setup, app):
    login_as(client, setup["camille"])
    path = documents.document_store(app).path_for(setup["pdf"].sha256)
    path.write_bytes(b"%PDF-1.4 damaged on disk")  # as if the disk had failed
    response = client.get(url(setup, "pdf", 1, width=400))
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert "aperçu indisponible" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "private, no-cache"
    viewer = client.get(f"/commandes/{setup['order'].id}/visionneuse")
    assert viewer.status_code == 200


def test_preview_needs_a_session(client, setup):
    response = client.get(url(setup, "pdf"))
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_original_is_an_attachment_never_rendered_by_the_browser(client, setup):
    login_as(client, setup["camille"])
    response = client.get(f"/commandes/{setup['order'].id}/documents/{setup['pdf'].id}/original")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "960072-extrait-de-kbis-kbis.pdf" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.data.startswith(b"%PDF-")
    (event,) = AuditEvent.select().where(AuditEvent.action == "document_downloaded")
    assert event.operator_id == setup["camille"].id
    assert json.loads(event.details)["sha256"] == setup["pdf"].sha256


def test_files_are_stored_outside_static(app, setup):
    root = documents.document_store(app).root.resolve()
    static = (app.root_path + "/static")
    assert not str(root).startswith(static)
    assert str(root).startswith(str(app.config["INSTANCE_PATH"]))
