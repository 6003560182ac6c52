"""The Visionneuse in the browser, on the demo data: demo-aea opens order 960072, clicks
« Consulter »; a new tab shows the side panel; unfolding a document shows its title, import
date and time and a thumbnail; paging through a multi-page PDF (buttons and keyboard, next page
prefetched) and rotating an ID image work; a justificatif is marked « vérifiée »; « Télécharger
le dossier » gives a ZIP whose manifest hashes match the files."""
from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import RequestRecorder, log_in_through_the_page, screenshot
from tests.e2e_support import demo_site

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-viewer"), order_count=10) as site:
        yield site  # the seed's orders, 960072 among them


def natural_size(image) -> tuple[int, int]:
    expect(image).to_have_js_property("complete", True)
    return tuple(image.evaluate("i => [i.naturalWidth, i.naturalHeight]"))


def open_viewer(page, site):
    log_in_through_the_page(page, site.instance.url, site.serial)
    page.get_by_label("N° de commande").fill("960072")
    expect(page.locator("#orders-table tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Traiter la commande 960072").click()
    expect(page.get_by_role("heading", name="Liste des documents")).to_be_visible()
    with page.context.expect_page() as new_tab:
        page.get_by_role("link", name="Consulter").click()
    viewer = new_tab.value
    viewer.wait_for_load_state()
    return page, viewer


def test_consulter_page_rotate_verify_and_download(page, site, tmp_path):
    order_page, viewer = open_viewer(page, site)
    recorder = RequestRecorder(viewer)
    assert order_page.url != viewer.url  # a tab of its own, beside the order file
    expect(viewer).to_have_title(re.compile("Visionneuse — Commande N° 960072"))
    panel = viewer.locator(".viewer-panel")
    expect(panel.get_by_role("heading", name="Documents du dossier")).to_be_visible()
    expect(panel).to_contain_text("Extrait de KBIS")
    expect(panel).to_contain_text("importé")

    # Unfold the KBIS: title, date and time of import, thumbnail.
    kbis_item = panel.locator("li.document-item", has_text="Extrait de KBIS")
    opener = kbis_item.get_by_role("button", name="Détails : Extrait de KBIS")
    opener.click()
    expect(opener).to_have_attribute("aria-expanded", "true")
    details = kbis_item.locator(".document-details")
    expect(details).to_contain_text("Intitulé")
    expect(details).to_contain_text(re.compile(r"Importé le\s*\d\d/\d\d/\d{4} à \d\d:\d\d"))
    thumbnail = details.locator("img.thumbnail")
    expect(thumbnail).to_be_visible()
    width, height = natural_size(thumbnail)
    assert width == 160 and height > width  # an A4 page, portrait
    screenshot(viewer, "visionneuse-details")

    # Page through the multi-page KBIS.
    kbis_item.get_by_role("link", name="Extrait de KBIS").click()
    view = viewer.locator("#document-view")
    expect(view.get_by_role("heading", name="Extrait de KBIS")).to_be_visible()
    counter = view.locator(".page-counter")
    expect(counter).to_have_text(re.compile(r"Page 1 sur [2-9]"))
    page_image = view.locator("#page-image")
    assert natural_size(page_image)[0] >= 400
    # viewer.js fetched page 2 once page 1 was shown.
    viewer.wait_for_function("() => performance.getEntriesByType('resource')"
                             ".some(e => /\\/pages\\/2\\?/.test(e.name))")
    view.get_by_role("link", name="Page suivante").click()
    expect(counter).to_have_text(re.compile(r"Page 2 sur"))
    expect(page_image).to_have_attribute("src", re.compile(r"/pages/2\?"))
    assert natural_size(page_image)[0] >= 400
    assert "page=2" in viewer.url  # pushed: reload and back work
    screenshot(viewer, "visionneuse-page-2")
    viewer.locator("#page-area").focus()
    viewer.keyboard.press("ArrowLeft")
    expect(counter).to_have_text(re.compile(r"Page 1 sur"))
    viewer.keyboard.press("End")
    expect(counter).to_have_text(re.compile(r"Page (\d+) sur \1$"))
    expect(viewer.locator("#viewer-status")).to_contain_text("Extrait de KBIS")

    # Rotate the holder's ID image (a landscape card).
    holder = panel.locator("li.document-item", has_text="Pièce d'identité du porteur")
    holder.get_by_role("link", name="Pièce d'identité du porteur").click()
    expect(view.get_by_role("heading", name="Pièce d'identité du porteur")).to_be_visible()
    expect(holder.get_by_role("link", name="Pièce d'identité du porteur")).to_have_attribute(
        "aria-current", "true")
    card_width, card_height = natural_size(page_image)
    assert card_width > card_height
    view.get_by_role("link", name="Pivoter à droite").click()
    expect(page_image).to_have_attribute("alt", re.compile("pivotée de 90°"))
    turned_width, turned_height = natural_size(page_image)
    assert turned_height > turned_width
    screenshot(viewer, "visionneuse-rotation")
    viewer.keyboard.press("r")
    expect(page_image).to_have_attribute("alt", re.compile("pivotée de 180°"))

    # Mark it « vérifiée », with an expiry date: HTMX in place, the side panel follows.
    view.get_by_label("Date d'expiration").fill("2031-06-30")
    view.get_by_role("button", name="Marquer « vérifiée »").click()
    expect(view.get_by_role("status")).to_contain_text("Pièce marquée « vérifiée ».")
    expect(view).to_contain_text("Valable jusqu'au 30/06/2031.")
    expect(holder.locator(".badges")).to_contain_text("vérifiée")
    screenshot(viewer, "visionneuse-verifiee")

    # No preview request ever fetched a PDF: the browser only got images.
    for request in recorder.to(site.instance.url):
        if "/pages/" in request.url:
            response = request.response()
            if response is not None and response.status == 200:
                assert response.headers["content-type"].startswith("image/")

    # « Télécharger le dossier »: the manifest's hashes match the files.
    with viewer.expect_download() as download_info:
        viewer.get_by_role("link", name="Télécharger le dossier").click()
    download = download_info.value
    assert download.suggested_filename == "dossier-960072.zip"
    path = tmp_path / "dossier.zip"
    download.save_as(path)
    archive = zipfile.ZipFile(path)
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifeste.csv").decode("utf-8-sig")),
                                   delimiter=";"))
    files = [row for row in manifest if row["Fichier dans l'archive"]]
    assert len(files) >= 5
    for row in files:
        assert hashlib.sha256(archive.read(row["Fichier dans l'archive"])).hexdigest() \
            == row["SHA-256"]
    assert "Téléchargement du dossier" in archive.read("historique.csv").decode("utf-8-sig")

    # The order file shows the check, with who and when.
    order_page.reload()
    expect(order_page.locator("table.documents")).to_contain_text(
        re.compile(r"vérifié par Camille Martin le \d\d/\d\d/\d{4} \d\d:\d\d"))
