"""« Stock de clés » in the browser: an admin logged in with her USB key opens Administration ›
Stock de clés, adds a blank key with the form, opens it and declares it « défectueuse » with a
reason; the list then counts it, and its history says so — without JavaScript needed, and
without any Content Security Policy violation."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import csp_violations, log_in_through_the_page
from tests.e2e_support import operator_site, operator_with_key

pytestmark = pytest.mark.browser


def _seed(app, softhsm):
    _, _, token = operator_with_key(app, softhsm, label="demo-aea", roles="AEA,admin")
    return {"token": token}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with operator_site(tmp_path_factory.mktemp("e2e-key-stock"), _seed) as site:
        yield site


def test_add_a_key_then_declare_it_defective(new_page, site):
    page = new_page()
    base = site.instance.url
    log_in_through_the_page(page, base, site.token.serial)
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Stock de clés").click()
    expect(page.get_by_role("heading", name="Stock de clés", level=1)).to_be_visible()
    expect(page.locator(".empty")).to_have_text("Aucune clé n'est dans le stock.")

    page.get_by_label("N° de série", exact=True).last.fill("ETK-5110-0042")
    page.get_by_label("Modèle").fill("SafeNet eToken 5110")
    page.get_by_label("Support").select_option(label="clé USB")
    page.get_by_label("Date de réception").fill("2026-03-02")
    page.get_by_label("Lot / référence").fill("LOT-2026-03")
    page.get_by_role("button", name="Ajouter la clé").click()
    expect(page.locator(".flash-success")).to_have_text("Clé n° ETK-5110-0042 ajoutée au stock.")
    row = page.locator("#keys tbody tr").first
    expect(row).to_contain_text("SafeNet eToken 5110")
    expect(row).to_contain_text("02/03/2026")
    expect(row).to_contain_text("en stock")

    row.get_by_role("link", name="ETK-5110-0042").click()
    expect(page.get_by_role("heading", name="Clé n° ETK-5110-0042")).to_be_visible()
    page.get_by_label("Motif").fill("Ne s'initialise plus après le premier essai")
    page.get_by_role("button", name="Déclarer la clé défectueuse").click()
    expect(page.locator(".flash-success")).to_have_text("Clé n° ETK-5110-0042 déclarée défectueuse.")
    expect(page.locator("#key-state")).to_contain_text("défectueuse")
    history = page.locator("#historique")
    expect(history).to_contain_text("Clé vierge ajoutée au stock")
    expect(history).to_contain_text("Clé déclarée défectueuse")
    expect(history).to_contain_text("Camille Martin")
    expect(page.get_by_role("button", name="Déclarer la clé défectueuse")).to_have_count(0)

    page.get_by_role("link", name="Stock de clés").last.click()
    expect(page.locator("#key-counts")).to_contain_text("défectueuse : 1")
    expect(page.locator("#key-counts")).to_contain_text("en stock : 0")
    assert csp_violations(page) == []
