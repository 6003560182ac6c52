"""The Commandes list and the order file in the browser: an AEA operator finds order 960072 by
number, by name and by SIREN, opens it with « Traiter », sees its documents and what is missing,
records a CNI number with « Modifier », and finds the change in the order's audit trail; on an
order that lacks only that number, « Modifier » makes « Envoyer pour signature » available
without a reload."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import RequestRecorder, log_in_through_the_page
from tests.e2e_support import operator_site, operator_with_key
from tests.factories import make_ae, make_order

pytestmark = pytest.mark.browser


def _seed(app, softhsm):
    from models import Document
    ae, _, token = operator_with_key(app, softhsm, label="demo-aea", roles="AEA,admin")
    order = make_order(ae, number=960072, first_name="Sandra", last_name="Boileau")
    for kind, category, status in (("cgu", "contractuel", "unsigned"),
                                   ("kbis", "justificatif", "imported"),
                                   ("holder_id", "justificatif", "imported")):
        Document.create(order=order, kind=kind, category=category, status=status)
    make_order(ae, number=960066, first_name="Alice", last_name="Colbert")
    make_order(ae, number=959313, first_name="Léa", last_name="Durand", siren="552100554")
    # Every piece imported, a valid Contact OTP: only the ID document number is missing.
    ready = make_order(ae, number=960080, first_name="Marc", last_name="Petit", siren="552032534",
                       otp_contact="0612345678")
    for kind in ("kbis", "holder_id", "legal_rep_id", "payment_proof"):
        Document.create(order=ready, kind=kind, category="justificatif", status="imported")
    other = make_ae("AE Atlantique", portals=("Atlantique-Nantes",))
    make_order(other, number=970001, first_name="Sandra", last_name="Boileau")
    return {"token": token, "ready_id": ready.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with operator_site(tmp_path_factory.mktemp("e2e-orders"), _seed) as site:
        yield site


@pytest.fixture
def page(new_page, site):
    """Logged in as Camille Martin."""
    page = new_page()
    log_in_through_the_page(page, site.instance.url, site.token.serial)
    return page


def rows(page):
    return page.locator("#orders-table tbody tr")


def test_find_open_and_record_the_id_number(page, site):
    base = site.instance.url
    expect(rows(page)).to_have_count(4)  # the other AE's order is not listed

    page.get_by_label("N° de commande").fill("960072")
    expect(rows(page)).to_have_count(1)
    assert "number=960072" in page.url  # kept in the URL
    expect(rows(page).first).to_contain_text("Sandra Boileau, 0002 434202180")

    page.get_by_label("N° de commande").fill("")
    page.get_by_label("Nom du porteur").fill("Boileau")
    expect(rows(page)).to_have_count(1)
    page.get_by_label("Nom du porteur").fill("")
    page.get_by_label("SIREN").fill("434202180")
    expect(rows(page)).to_have_count(2)
    assert "siren=434202180" in page.url

    # The same URL, reloaded, shows the same list; the back button returns to the previous one.
    page.reload()
    expect(rows(page)).to_have_count(2)
    expect(page.get_by_label("SIREN")).to_have_value("434202180")
    # Back: the previous search, its form and its list agree with its URL.
    page.go_back()
    expect(page).not_to_have_url(re.compile("siren="))
    expect(page.get_by_label("SIREN")).to_have_value("")
    page.wait_for_load_state("networkidle")
    previous = parse_qs(urlsplit(page.url).query)
    expect(page.get_by_label("N° de commande")).to_have_value(previous.get("number", [""])[0])
    expect(page.get_by_label("Nom du porteur")).to_have_value(previous.get("name", [""])[0])
    expect(rows(page)).to_have_count(1)
    page.go_forward()
    expect(page.get_by_label("SIREN")).to_have_value("434202180")
    expect(rows(page)).to_have_count(2)

    page.get_by_role("link", name="Traiter la commande 960072").click()
    page.wait_for_url(f"{base}/commandes/*")
    expect(page.get_by_role("heading", name="Liste des documents")).to_be_visible()
    expect(page.locator("body")).to_contain_text("Extrait de KBIS")
    expect(page.locator("body")).to_contain_text("non signé")
    expect(page.locator("body")).to_contain_text("Preuve de paiement")
    expect(page.locator("body")).to_contain_text("non importé")
    expect(page.locator("body")).to_contain_text("N° de justificatif d'identité")

    page.get_by_label("Type de justificatif").select_option("CNI")
    page.get_by_role("textbox", name="N° de justificatif d'identité").fill("12AB")
    page.get_by_role("button", name="Modifier").click()
    expect(page.get_by_role("alert")).to_contain_text("CNI")

    page.get_by_role("textbox", name="N° de justificatif d'identité").fill("880692310285")
    page.get_by_role("button", name="Modifier").click()
    expect(page.locator("body")).to_contain_text("N° de justificatif d'identité enregistré.")
    expect(page.locator("body")).to_contain_text("880692310285")

    page.reload()
    history = page.locator("#historique")
    expect(history).to_contain_text("880692310285")
    expect(history).to_contain_text("Camille Martin")


def test_modifier_updates_the_panels_that_waited_for_the_number(page, site):
    page.goto(f"{site.instance.url}/commandes/{site.ready_id}")
    send = page.get_by_role("button", name="Envoyer pour signature")
    expect(page.locator("#signature")).to_contain_text("sera possible une fois l'étape 1 terminée")
    expect(send).to_have_count(0)
    expect(page.locator("#checklist")).to_contain_text("1 condition non remplie.")
    version = page.locator('#validation input[name="version"]').input_value()
    requests = RequestRecorder(page)

    page.get_by_label("Type de justificatif").select_option("CNI")
    page.get_by_role("textbox", name="N° de justificatif d'identité").fill("880692310285")
    page.get_by_role("button", name="Modifier").click()

    expect(send).to_be_enabled()
    expect(page.locator("#signature")).not_to_contain_text("sera possible")
    expect(page.locator("#checklist")).to_contain_text("Toutes les conditions sont remplies.")
    expect(page.locator("#historique")).to_contain_text("880692310285")
    # « Valider » now carries the dossier's new version, so it would not be refused as stale.
    expect(page.locator('#validation input[name="version"]')).not_to_have_value(version)
    assert [r.resource_type for r in requests.requests if r.resource_type == "document"] == []
