"""The Visionneuse in the browser, at desktop and phone widths. Its lower right corner: after
« Envoyer » the confirmation is in sight and focused and the form empty; the open drawer stays
below the header; scrolled to the bottom, the corner's buttons leave the document's last page
in sight. Its list of documents: a document's name opens that document wherever it is clicked;
only the arrow beside it opens its « Détails »."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import log_in_through_the_page
from tests.e2e_support import demo_site, order_with_pieces

pytestmark = pytest.mark.browser

NUMBER = 960102
SLOW = 15_000  # ms: a server round trip on a loaded machine


KINDS = ("holder_id", "legal_rep_id", "payment_proof", "kbis")


def _order(app, keys):
    order = order_with_pieces(NUMBER, KINDS, requester_email="alice.colbert@exemple.fr")
    return {"order_id": order.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-viewer-corner"), _order, order_count=2) as site:
        yield site


def _box(locator) -> dict:
    return locator.evaluate("e => { const r = e.getBoundingClientRect();"
                            " return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; }")


def _visible_part(image) -> dict:
    """The image's box cut by its scrolling area and the window: what the operator sees."""
    return image.evaluate("""i => {
        const a = i.getBoundingClientRect(), c = i.closest('.page-area').getBoundingClientRect();
        return {top: Math.max(a.top, c.top, 0), left: Math.max(a.left, c.left, 0),
                bottom: Math.min(a.bottom, c.bottom, window.innerHeight),
                right: Math.min(a.right, c.right, window.innerWidth)}; }""")


def _overlap(a: dict, b: dict) -> bool:
    return (min(a["right"], b["right"]) > max(a["left"], b["left"])
            and min(a["bottom"], b["bottom"]) > max(a["top"], b["top"]))


@pytest.mark.parametrize("size", [{"width": 1280, "height": 720}, {"width": 390, "height": 844}])
def test_the_corner_sends_once_stays_below_the_header_and_leaves_the_page_in_sight(
        new_page, site, size):
    viewer = new_page(viewport=size)
    log_in_through_the_page(viewer, site.instance.url, site.serial)
    viewer.goto(f"{site.instance.url}/commandes/{site.order_id}/visionneuse")
    expect(viewer).to_have_title(re.compile(f"Visionneuse — Commande N° {NUMBER}"))

    # Scrolled to the bottom (window and document area), the buttons hide nothing of the page.
    panel = viewer.locator(".viewer-panel")
    panel.locator("li.document-item", has_text="Extrait de KBIS").get_by_role(
        "link", name="Extrait de KBIS").click()
    image = viewer.locator("#page-image")
    expect(image).to_have_js_property("complete", True, timeout=SLOW)
    viewer.evaluate("() => { const a = document.querySelector('.page-area');"
                    " a.scrollTop = a.scrollHeight; window.scrollTo(0, document.body.scrollHeight); }")
    corner = viewer.locator(".viewer-corner")
    assert not _overlap(_box(corner), _visible_part(image)), (_box(corner), _visible_part(image))
    # ... and with the document area's bottom edge at the window's bottom.
    viewer.evaluate("() => document.querySelector('.page-area').scrollIntoView({block: 'end'})")
    assert not _overlap(_box(corner), _visible_part(image)), (_box(corner), _visible_part(image))

    # The open drawer sits below the header.
    viewer.evaluate("() => window.scrollTo(0, 0)")
    corner.get_by_role("button", name="Envoyer une notification", exact=True).click()
    form = corner.locator("#notification-form")
    expect(form.get_by_role("heading", name="Envoyer une notification")).to_be_visible(timeout=SLOW)
    viewer.wait_for_timeout(300)  # htmx has bound the drop-down of the form it just swapped in
    form.get_by_label("Type de message").select_option(label="Contact OTP non valide")
    expect(form.get_by_label("Objet")).to_have_value(
        f"Commande N° {NUMBER} : Contact OTP non valide", timeout=SLOW)
    header = _box(viewer.locator(".site-header"))
    drawer = _box(corner.locator(".viewer-send"))
    assert drawer["top"] >= header["bottom"], (drawer, header)

    # « Envoyer »: the confirmation in sight and focused, the form empty.
    form.get_by_role("button", name="Envoyer", exact=True).click()
    answer = form.locator("#notification-envoyee, #notification-problemes")
    expect(answer).to_be_visible(timeout=SLOW)
    assert "« Contact OTP non valide » enregistrée" in answer.inner_text(), form.inner_text()
    status = form.get_by_role("status")
    expect(status).to_be_focused()
    expect(status).to_be_in_viewport()
    expect(form.get_by_label("Message", exact=True)).to_have_value("")
    expect(form.get_by_label("Objet")).to_have_value("")
    assert _box(corner.locator(".viewer-send"))["top"] >= header["bottom"]


def _covered_points(link) -> list[str]:
    """Points across the name (start, middle, end of its first line) where something else is
    on top of it: what a click there would reach instead."""
    return link.evaluate("""a => {
        const r = a.getClientRects()[0], y = r.top + r.height / 2, covered = [];
        for (const x of [r.left + 2, r.left + r.width / 2, r.right - 2]) {
            const hit = document.elementFromPoint(x, y);
            if (!hit || !(hit === a || a.contains(hit)))
                covered.push(`${Math.round(x)}: ${hit ? hit.outerHTML.slice(0, 80) : 'rien'}`);
        }
        return covered; }""")


@pytest.mark.parametrize("size", [{"width": 1280, "height": 720}, {"width": 390, "height": 844}])
def test_a_documents_name_opens_it_and_only_the_arrow_opens_its_details(new_page, site, size):
    viewer = new_page(viewport=size)
    log_in_through_the_page(viewer, site.instance.url, site.serial)
    viewer.goto(f"{site.instance.url}/commandes/{site.order_id}/visionneuse")
    expect(viewer).to_have_title(re.compile(f"Visionneuse — Commande N° {NUMBER}"))

    items = viewer.locator(".document-item").filter(has=viewer.locator(".document-link"))
    expect(items).to_have_count(len(KINDS), timeout=SLOW)
    for index in range(len(KINDS)):
        item = viewer.locator(".document-item").filter(
            has=viewer.locator(".document-link")).nth(index)
        link = item.locator(".document-link")
        link.scroll_into_view_if_needed()
        assert _covered_points(link) == [], f"name {index} covered at {size}"
        name, href = link.inner_text(), link.get_attribute("href")
        link.click(position={"x": 3, "y": 5})  # its very first letter
        expect(viewer).to_have_url(re.compile(re.escape(href) + "$"), timeout=SLOW)
        item = viewer.locator(".document-item.selected")
        expect(item.locator(".document-link")).to_have_attribute("aria-current", "true")
        assert item.locator(".document-link").inner_text() == name
        button = item.locator(".document-details > .disclosure-button")
        expect(button).to_have_attribute("aria-expanded", "false")
        button.click()
        expect(button).to_have_attribute("aria-expanded", "true")
        expect(item.locator(".document-facts")).to_be_visible()
        button.click()
        expect(button).to_have_attribute("aria-expanded", "false")
