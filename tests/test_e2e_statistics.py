"""« Statistiques » in the browser: an AEA operator opens the tab, chooses a period and a
portal in the form (kept in the URL), reads the figures in the tables beside the charts, and
downloads the CSV; the same form works without JavaScript."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import statistics_dataset as dataset
from tests.browser_fixtures import csp_violations, log_in_through_the_page, screenshot
from tests.e2e_support import operator_site, operator_with_key

pytestmark = pytest.mark.browser


def _seed(app, softhsm):
    ae, _, token = operator_with_key(app, softhsm, label="demo-aea", roles="AEA,admin")
    dataset.build(ae)
    return {"token": token}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with operator_site(tmp_path_factory.mktemp("e2e-statistics"), _seed) as site:
        yield site


def week_row(page, label: str):
    return page.locator("#table-semaines tbody tr").filter(has_text=label)


def test_choose_a_period_and_a_portal_and_read_the_figures(new_page, site):
    base = site.instance.url
    page = new_page()
    log_in_through_the_page(page, base, site.token.serial)
    page.get_by_role("link", name="Statistiques").click()
    expect(page.get_by_role("heading", name="Statistiques", level=1)).to_be_visible()
    expect(page.locator("#table-semaines tbody tr")).to_have_count(12)  # the last 12 weeks

    page.get_by_label("Du", exact=True).fill("16/03/2026")
    page.get_by_label("Au", exact=True).fill("05/04/2026")
    page.get_by_role("button", name="Afficher").click()
    expect(page).to_have_url(re.compile(r"du=16%2F03%2F2026&au=05%2F04%2F2026"))
    expect(page.get_by_role("status")).to_contain_text(
        "Du 16/03/2026 au 05/04/2026, tous vos portails : 15 commande(s) reçue(s), 10 validée(s)")
    expect(page.get_by_role("img", name="Commandes par semaine")).to_be_visible()
    expect(page.locator("#table-semaines tbody tr")).to_have_count(3)
    expect(week_row(page, "Semaine 13 (2026)").locator("td")).to_have_text(["10", "9", "1", "2"])
    expect(page.locator("#table-delais")).to_contain_text("5 h")
    expect(page.locator("#table-refus")).to_contain_text("Pièce d'identité illisible")
    screenshot(page, "statistiques", full_page=True)

    page.get_by_label("Portail", exact=True).select_option(label="BPOI-Rhône")
    page.get_by_role("button", name="Afficher").click()
    expect(page.get_by_role("status")).to_contain_text("portail BPOI-Rhône : 3 commande(s) reçue(s)")
    portals = page.locator("#table-portails tbody tr")
    expect(portals).to_have_count(1)
    expect(portals.first).to_contain_text("BPOI-Rhône")
    expect(week_row(page, "Semaine 14 (2026)").locator("td")).to_have_text(["2", "0", "1", "1"])
    expect(page.get_by_label("Du", exact=True)).to_have_value("16/03/2026")  # the form kept them

    with page.expect_download() as download:
        page.get_by_role("link", name="Exporter (CSV)").click()
    exported = download.value.path().read_bytes().decode("utf-8")
    assert exported.startswith("\ufeffStatistiques;BPOI") and "Portail;BPOI-Rhône" in exported
    assert csp_violations(page) == []


def test_the_form_works_without_javascript(new_page, site):
    # Logging in needs the token bridge's JavaScript: the session comes from a page with it.
    scripted = new_page()
    log_in_through_the_page(scripted, site.instance.url, site.token.serial)
    page = new_page(java_script_enabled=False)
    page.context.add_cookies(scripted.context.cookies())
    page.goto(f"{site.instance.url}/statistiques")
    page.get_by_label("Du", exact=True).fill("bientôt")
    page.get_by_role("button", name="Afficher").click()
    expect(page.get_by_role("alert")).to_contain_text("Date « Du » ignorée : « bientôt »")
    expect(page.locator("#table-semaines tbody tr")).to_have_count(12)


def test_a_received_figure_opens_the_list_of_those_orders(new_page, site):
    """« Reçues » of a week leads to the Commandes list dated by receipt, those days: as many
    orders as the figure, the form saying how the list dates them."""
    base = site.instance.url
    page = new_page()
    log_in_through_the_page(page, base, site.token.serial)
    page.goto(f"{base}/statistiques?du=16/03/2026&au=05/04/2026")
    page.get_by_role("link", name="10 commande(s) reçue(s) Semaine 13 (2026) : voir la liste "
                                  "des Commandes").click()
    expect(page).to_have_url(re.compile(r"/commandes\?.*dates=received"))
    expect(page.locator("#orders-results")).to_contain_text("10 commandes correspondant aux filtres")
    expect(page.locator("#orders-table tbody tr")).to_have_count(10)
    expect(page.get_by_label("Dates", exact=True)).to_have_value("received")
    expect(page.get_by_label("Du", exact=True)).to_have_value("23/03/2026")
    expect(page.get_by_label("Au", exact=True)).to_have_value("29/03/2026")
    # Dated by creation, the same days hold another set of orders.
    page.get_by_label("Dates", exact=True).select_option(label="de création")
    expect(page.locator("#orders-results")).to_contain_text("11 commandes correspondant aux filtres")
    assert csp_violations(page) == []
