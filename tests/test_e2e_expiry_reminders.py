"""« Relances avant expiration (jours) » in the browser: Camille Martin, admin of « BPOI »,
opens Administration › Paramètres de l'AE, types a value that is not a number of days — the
form says why in French and keeps what she typed —, then « 60, 30 », which the page shows back."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import csp_violations, log_in_through_the_page, screenshot
from tests.e2e_support import operator_site, operator_with_key

pytestmark = pytest.mark.browser


def _seed(app, softhsm):
    _, _, token = operator_with_key(app, softhsm, label="demo-aea", roles="AEA,admin")
    return {"token": token}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with operator_site(tmp_path_factory.mktemp("e2e-expiry"), _seed) as site:
        yield site


def test_an_admin_sets_the_expiry_reminders(new_page, site):
    page = new_page()
    log_in_through_the_page(page, site.instance.url, site.token.serial)
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Paramètres de l'AE").click()
    section = page.locator("#relances-expiration")
    field = section.get_by_label("Relances avant expiration (jours)")
    expect(field).to_have_value("90, 30, 7")

    field.fill("90, trente")
    section.get_by_role("button", name="Enregistrer").click()
    section = page.locator("#relances-expiration")
    expect(section.get_by_role("alert")).to_contain_text("« trente » n'en est pas un")
    expect(section.get_by_label("Relances avant expiration (jours)")).to_have_value("90, trente")
    section.scroll_into_view_if_needed()
    screenshot(page, "relances-expiration-refus")

    section.get_by_label("Relances avant expiration (jours)").fill("30, 60")
    section.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("Relances avant expiration (jours) : 60, 30.")).to_be_visible()
    expect(page.locator("#relances-expiration").get_by_label(
        "Relances avant expiration (jours)")).to_have_value("60, 30")
    assert csp_violations(page) == []
