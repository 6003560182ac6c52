"""« Portails » in the browser: Camille Martin, admin of « BPOI », logs in with her USB key,
opens Administration › Portails › BPOI-Occitanie, gives it a contact e-mail, closes it through
« Fermer le portail » and its confirmation; its ordering page then says « portail fermé » with
that contact, and « Rouvrir » gives requesters the page back."""
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
    with operator_site(tmp_path_factory.mktemp("e2e-portals"), _seed) as site:
        yield site


def test_an_admin_closes_a_portal_and_its_ordering_page_says_so(new_page, site):
    base = site.instance.url
    page = new_page()
    log_in_through_the_page(page, base, site.token.serial)

    page.get_by_role("link", name="Administration").click()
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Portails").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Portails")
    page.get_by_role("link", name="BPOI-Occitanie", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Portail BPOI-Occitanie")

    page.get_by_label("E-mail de contact").fill("commandes@bpoi.example")
    page.get_by_role("button", name="Enregistrer les coordonnées").click()
    expect(page.get_by_text("Coordonnées de contact enregistrées")).to_be_visible()

    page.get_by_role("button", name="Fermer le portail", expanded=False).click()  # the disclosure
    expect(page.get_by_text("Confirmez-vous la fermeture du portail « BPOI-Occitanie » ?")).to_be_visible()
    page.locator("form", has_text="Confirmez-vous la fermeture").get_by_role(
        "button", name="Fermer le portail").click()
    expect(page.get_by_text("Portail « BPOI-Occitanie » fermé")).to_be_visible()
    expect(page.get_by_role("button", name="Rouvrir")).to_be_visible()
    screenshot(page, "portail-ferme-admin")

    requester = new_page()
    requester.goto(f"{base}/commander/bpoi-occitanie")
    expect(requester.get_by_role("heading", level=1)).to_have_text(
        "Commande impossible : portail fermé")
    expect(requester.get_by_role("link", name="commandes@bpoi.example")).to_be_visible()
    screenshot(requester, "portail-ferme-demandeur")

    page.get_by_role("button", name="Rouvrir").click()
    expect(page.get_by_text("Portail « BPOI-Occitanie » rouvert")).to_be_visible()
    requester.reload()
    expect(requester.get_by_role("heading", level=1)).to_have_text("Commander un certificat")
    assert csp_violations(page) == [] and csp_violations(requester) == []
