"""« Actions sur la sélection » across the pages of one search, in the browser: orders ticked on
page 1 stay ticked after « Page suivante » and back, the count says how many are on other
pages, and the action asked for carries them all; another search starts its own selection."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import log_in_through_the_page
from tests.e2e_support import AppInstance, operator_with_key, start_app_server, start_bridge
from tests.factories import make_order

pytestmark = pytest.mark.browser

ORDERS = 55  # one page of 50 and a second one
FIRST = 960600


def _seed(app, softhsm):
    from models import Order
    ae, _, token = operator_with_key(app, softhsm, label="camille", roles="AEA")
    now = dt.datetime(2026, 11, 1, 12)
    for n in range(ORDERS):  # the newest first: 960654 … 960605 on page 1, 960604 … on page 2
        order = make_order(ae, number=FIRST + n, requester_email=f"r{n}@example.org",
                           last_name="Martin" if n % 2 else "Durand")
        Order.update(created_at=now + dt.timedelta(minutes=n)).where(
            Order.id == order.id).execute()
    return {"token": token}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from tests.softhsm import SoftHSM
    directory = tmp_path_factory.mktemp("e2e-bulk-pages")
    with AppInstance.create(directory) as instance:
        softhsm = SoftHSM(directory / "softhsm")
        with instance.seeding() as app:
            seeded = _seed(app, softhsm)
        with start_app_server(instance) as server, start_bridge(instance, softhsm) as bridge:
            yield SimpleNamespace(instance=instance, server=server, bridge=bridge, **seeded)


def box(page, number: int):
    return page.get_by_label(f"Sélectionner la commande N° {number}")


def test_ticks_survive_the_pages_of_a_search_and_go_with_the_action(new_page, site):
    page = new_page()
    log_in_through_the_page(page, site.instance.url, site.token.serial)
    count = page.locator("#bulk-count")
    box(page, 960654).check()
    box(page, 960610).check()
    expect(count).to_have_text("2 commandes sélectionnées")

    page.get_by_role("link", name="Page suivante").first.click()
    expect(box(page, 960600)).to_be_visible()
    expect(count).to_have_text("2 commandes sélectionnées (dont 2 sur d'autres pages)")
    box(page, 960600).check()
    expect(count).to_have_text("3 commandes sélectionnées (dont 2 sur d'autres pages)")

    page.get_by_role("link", name="Page précédente").first.click()
    expect(box(page, 960654)).to_be_checked()
    expect(box(page, 960610)).to_be_checked()
    expect(box(page, 960611)).not_to_be_checked()
    expect(count).to_have_text("3 commandes sélectionnées (dont 1 sur d'autres pages)")
    box(page, 960610).uncheck()
    expect(count).to_have_text("2 commandes sélectionnées (dont 1 sur d'autres pages)")

    # Another search: a selection of its own, empty; back to the first, its ticks again.
    page.goto(f"{site.instance.url}/commandes?name=Durand")
    expect(count).to_have_text("Aucune commande sélectionnée")
    expect(box(page, 960654)).not_to_be_checked()  # 54: even, a Durand
    page.goto(f"{site.instance.url}/commandes?sort=number_asc")
    # The same search, sorted otherwise: 960600 now on page 1, 960654 on page 2.
    expect(count).to_have_text("2 commandes sélectionnées (dont 1 sur d'autres pages)")
    expect(box(page, 960600)).to_be_checked()

    page.get_by_role("button", name="Mettre en attente").click()
    expect(page.locator("#bulk-chosen")).to_contain_text("2 commandes sélectionnées")
    # Asked for: the list starts a new selection.
    page.goto(f"{site.instance.url}/commandes")
    expect(count).to_have_text("Aucune commande sélectionnée")
