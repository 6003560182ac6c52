"""The Visionneuse in the browser, on the demo data: demo-aea opens order 960072, clicks « Consulter »;
a new tab shows the side panel; unfolding a document shows its title, import date and time
and a thumbnail; paging through a multi-page PDF (buttons and keyboard, next page prefetched)
and rotating an ID image work; a justificatif is marked « vérifiée »; « Télécharger le
dossier » gives a ZIP whose manifest hashes match the files."""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import zipfile
from types import SimpleNamespace

import pytest

from tests.e2e_support import (AppInstance, RequestRecorder, launch_chromium,
                               log_in_through_the_page, start_app_server, start_bridge)

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

SCREENSHOTS = os.environ.get("RADESK_SCREENSHOTS")  # a folder, to look at the pages


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from demo.seed import seed_demo, softhsm_conf_path
    from token_bridge import provision

    directory = tmp_path_factory.mktemp("e2e-viewer")
    saved_conf = os.environ.get("SOFTHSM2_CONF")  # seeding points it at the demo keys
    try:
        with AppInstance.create(directory) as instance:
            with instance.seeding() as app:
                seed_demo(app, order_count=10)  # the seed's orders, 960072 among them
                module = app.config["PKCS11_MODULE"]
            conf = softhsm_conf_path(instance.instance_path)
            serial = next(s for s, label in provision.softhsm_tokens(conf) if label == "demo-aea")
            keys = SimpleNamespace(environment={**os.environ, "SOFTHSM2_CONF": str(conf),
                                                "PKCS11_MODULE": module})
            with start_app_server(instance) as server, start_bridge(instance, keys):
                yield SimpleNamespace(instance=instance, server=server, serial=serial)
    finally:
        if saved_conf is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = saved_conf


@pytest.fixture
def browser_context(site):
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(locale="fr-FR", accept_downloads=True,
                                      viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(20_000)
        yield context
        browser.close()


def shot(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=False)


def natural_size(image) -> tuple[int, int]:
    expect(image).to_have_js_property("complete", True)
    return tuple(image.evaluate("i => [i.naturalWidth, i.naturalHeight]"))


def open_viewer(context, site):
    page = context.new_page()
    log_in_through_the_page(page, site.instance.url, site.serial)
    page.get_by_label("N° de commande").fill("960072")
    expect(page.locator("#orders-table tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Traiter la commande 960072").click()
    expect(page.get_by_role("heading", name="Liste des documents")).to_be_visible()
    with context.expect_page() as new_tab:
        page.get_by_role("link", name="Consulter").click()
    viewer = new_tab.value
    viewer.wait_for_load_state()
    return page, viewer


def test_consulter_page_rotate_verify_and_download(browser_context, site, tmp_path):
    order_page, viewer = open_viewer(browser_context, site)
    recorder = RequestRecorder(viewer)
    assert order_page.url != viewer.url  # a tab of its own, beside the order file
    expect(viewer).to_have_title(re.compile("Visionneuse — Commande N° 960072"))
    panel = viewer.locator(".viewer-panel")
    expect(panel.get_by_role("heading", name="Documents du dossier")).to_be_visible()
    expect(panel).to_contain_text("Extrait de KBIS")
    expect(panel).to_contain_text("importé")

    # Unfold the KBIS: title, date and time of import, thumbnail.
    kbis_item = panel.locator("li.document-item", has_text="Extrait de KBIS")
    kbis_item.locator("summary").click()
    details = kbis_item.locator("details")
    expect(details).to_have_attribute("open", "")
    expect(details).to_contain_text("Intitulé")
    expect(details).to_contain_text(re.compile(r"Importé le\s*\d\d/\d\d/\d{4} à \d\d:\d\d"))
    thumbnail = details.locator("img.thumbnail")
    expect(thumbnail).to_be_visible()
    width, height = natural_size(thumbnail)
    assert width == 160 and height > width  # an A4 page, portrait
    shot(viewer, "visionneuse-details")

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
    shot(viewer, "visionneuse-page-2")
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
    shot(viewer, "visionneuse-rotation")
    viewer.keyboard.press("r")
    expect(page_image).to_have_attribute("alt", re.compile("pivotée de 180°"))

    # Mark it « vérifiée », with an expiry date: HTMX in place, the side panel follows.
    view.get_by_label("Date d'expiration").fill("2031-06-30")
    view.get_by_role("button", name="Marquer « vérifiée »").click()
    expect(view.get_by_role("status")).to_contain_text("Pièce marquée « vérifiée ».")
    expect(view).to_contain_text("Valable jusqu'au 30/06/2031.")
    expect(holder.locator(".badges")).to_contain_text("vérifiée")
    shot(viewer, "visionneuse-verifiee")

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
