"""The Visionneuse's list of documents in the browser: a document's name opens that document
wherever it is clicked, at desktop and phone widths; only the arrow beside it opens its
« Détails »."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import log_in_through_the_page
from tests.e2e_support import demo_site, order_with_pieces

pytestmark = pytest.mark.browser

NUMBER = 960103
KINDS = ("holder_id", "legal_rep_id", "payment_proof", "kbis")
SLOW = 15_000  # ms: a server round trip on a loaded machine


def _order(app, keys):
    order = order_with_pieces(NUMBER, KINDS, requester_email="alice.colbert@exemple.fr")
    return {"order_id": order.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-viewer-names"), _order, order_count=2) as site:
        yield site


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
