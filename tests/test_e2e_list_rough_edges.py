"""The Commandes list and the order file in the browser, their rough edges: one search makes
one history entry (Back takes one press)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import log_in_through_the_page
from tests.e2e_support import operator_site, operator_with_key
from tests.factories import make_order

pytestmark = pytest.mark.browser


def _seed(app, softhsm):
    ae, _, token = operator_with_key(app, softhsm, label="demo-aea", roles="AEA")
    order = make_order(ae, number=960072, first_name="Sandra", last_name="Boileau")
    make_order(ae, number=960066, first_name="Alice", last_name="Colbert")
    return {"token": token, "order_id": order.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with operator_site(tmp_path_factory.mktemp("e2e-list-edges"), _seed) as site:
        yield site


def logged_in(new_page, site, **options):
    page = new_page(**options)
    log_in_through_the_page(page, site.instance.url, site.token.serial)
    return page


def rows(page):
    return page.locator("#orders-table tbody tr")


def test_one_search_one_history_entry(new_page, site):
    page = logged_in(new_page, site)
    page.goto(f"{site.instance.url}/commandes")
    expect(rows(page)).to_have_count(2)
    page.get_by_label("Nom du porteur").press_sequentially("Boi", delay=30)
    expect(rows(page)).to_have_count(1)
    page.get_by_label("Nom du porteur").press_sequentially("leau", delay=30)
    expect(page).to_have_url(re.compile(r"name=Boileau"))
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_timeout(600)  # the live filter's delay, and the submit's answer
    expect(rows(page)).to_have_count(1)
    page.go_back()
    expect(page).to_have_url(f"{site.instance.url}/commandes")
    expect(rows(page)).to_have_count(2)


PHONE = {"width": 390, "height": 844}
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > 391 && !e.closest('table'))
  .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


@pytest.mark.parametrize("where", ["/commandes", "/commandes/{order_id}"])
def test_nothing_wider_than_a_phone(new_page, site, where):
    page = logged_in(new_page, site, viewport=PHONE)
    page.goto(site.instance.url + where.format(order_id=site.order_id))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, page.evaluate(WIDEST)


def test_date_filters_in_french_in_an_english_browser(new_page, site):
    import datetime as dt
    page = logged_in(new_page, site, locale="en-US")
    page.goto(f"{site.instance.url}/commandes")
    since = page.get_by_label("Du", exact=True)
    expect(since).to_have_attribute("placeholder", "jj/mm/aaaa")
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).strftime("%d/%m/%Y")
    since.fill(tomorrow)
    page.get_by_role("button", name="Rechercher").click()
    expect(page.locator("#orders-results")).to_contain_text("Aucune commande")
    expect(since).to_have_value(tomorrow)
    since.fill("31/02/2026")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_role("alert")).to_contain_text("saisissez-la au format jj/mm/aaaa")
    expect(rows(page)).to_have_count(2)
    expect(since).to_have_value("31/02/2026")


def test_the_viewer_drawers_are_buttons_that_say_whether_open(new_page, site):
    page = logged_in(new_page, site)
    page.goto(f"{site.instance.url}/commandes/{site.order_id}/visionneuse")
    send = page.get_by_role("button", name="Envoyer une notification", exact=True)
    history = page.get_by_role("button", name="Historique des notifications", exact=True)
    expect(send).to_have_attribute("aria-expanded", "false")
    region = page.locator("#" + send.get_attribute("aria-controls"))
    expect(region).to_be_hidden()
    send.click()
    expect(send).to_have_attribute("aria-expanded", "true")
    expect(region.get_by_role("heading", name="Envoyer une notification")).to_be_visible()
    history.click()  # one drawer open at a time
    expect(history).to_have_attribute("aria-expanded", "true")
    expect(send).to_have_attribute("aria-expanded", "false")
    expect(region).to_be_hidden()
