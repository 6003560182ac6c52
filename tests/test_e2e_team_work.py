"""Team work in two browsers: Camille takes order 960072; Lucas, on his own key, sees who has
it, takes it over after confirming — and Camille's open file says so at its next heartbeat —
then gives it back with « Attribuer à »; Camille releases it with « Libérer »: it is among the
« Non attribuées » again, no longer in her « Mes dossiers », and Lucas's open file hears it.
Camille puts it « en attente »: the list counts and shows it apart, with its reason, until
« Reprendre le traitement ».

The heartbeat comes every 30 s: each browser's clock is Playwright's, moved on past it
(``clock.fast_forward``) rather than waited for."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import log_in_through_the_page
from tests.e2e_support import make_operator_key, operator_with_key
from tests.factories import make_operator, make_order

pytestmark = pytest.mark.browser
HEARTBEAT = "00:31"  # just past order_file.HEARTBEAT_SECONDS


def _seed(app, softhsm):
    ae, _, camille_key = operator_with_key(app, softhsm, label="camille", roles="AEA")
    lucas = make_operator(ae, "Lucas Bernard", roles="AEA")
    lucas_key = make_operator_key(app, softhsm, lucas, label="lucas")
    order = make_order(ae, number=960072, phase="validation", substate="to_check",
                       first_name="Sandra", last_name="Boileau")
    make_order(ae, number=960066, phase="validation", substate="to_check")
    return {"camille_key": camille_key, "lucas_key": lucas_key, "order_id": order.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from tests.e2e_support import operator_site
    with operator_site(tmp_path_factory.mktemp("e2e-team"), _seed) as site:
        yield site


def logged_in(new_page, site, key):
    """A browser of its own, logged in with ``key``, its clock Playwright's (time flows as
    usual until the test moves it on)."""
    page = new_page()
    page.clock.install()
    log_in_through_the_page(page, site.instance.url, key.serial)
    return page


def test_take_take_over_and_assign_in_two_browsers(new_page, site):
    file_url = f"{site.instance.url}/commandes/{site.order_id}"
    camille = logged_in(new_page, site, site.camille_key)
    camille.goto(file_url)
    panel = camille.locator("#prise-en-charge")
    expect(panel).to_contain_text("Non attribuée : personne ne prend en charge cette commande.")
    panel.get_by_role("button", name="Prendre en charge").click()
    expect(camille.locator("#prise-en-charge")).to_contain_text(
        "Vous prenez en charge cette commande depuis le")

    lucas = logged_in(new_page, site, site.lucas_key)
    lucas.goto(f"{site.instance.url}/commandes?handler=none")
    expect(lucas.locator("#orders-table tbody tr")).to_have_count(1)  # 960066 only
    lucas.goto(file_url)
    expect(lucas.locator("#prise-en-charge")).to_contain_text(
        "Prise en charge par Camille Martin depuis le")
    lucas.locator("#prise-en-charge").get_by_role("button", name="Prendre en charge").click()
    expect(lucas.get_by_text("Cette commande est prise en charge par Camille Martin depuis le"))\
        .to_be_visible()
    lucas.get_by_role("button", name="Confirmer la prise en charge").click()
    expect(lucas.locator("#prise-en-charge")).to_contain_text(
        "Vous prenez en charge cette commande depuis le")

    # Camille's file, still open, hears it at its next heartbeat.
    camille.clock.fast_forward(HEARTBEAT)
    expect(camille.locator("#presence")).to_contain_text("Prise en charge par Lucas Bernard")

    lucas.get_by_label("Attribuer à").select_option(label="Camille Martin")
    lucas.get_by_role("button", name="Attribuer", exact=True).click()
    expect(lucas.get_by_text("Commande attribuée à Camille Martin.")).to_be_visible()
    camille.goto(f"{site.instance.url}/commandes?handler=me")
    expect(camille.locator("#orders-table tbody tr")).to_have_count(1)
    expect(camille.locator("#orders-table")).to_contain_text("960072")

    # Camille gives it up; Lucas's file, still open on it, hears it at its next heartbeat.
    camille.goto(file_url)
    camille.locator("#prise-en-charge").get_by_role("button", name="Libérer").click()
    expect(camille.get_by_text("Commande libérée : personne ne la prend plus en charge."))\
        .to_be_visible()
    expect(camille.locator("#prise-en-charge")).to_contain_text(
        "Non attribuée : personne ne prend en charge cette commande.")
    lucas.clock.fast_forward(HEARTBEAT)
    expect(lucas.locator("#presence")).to_contain_text(
        "Plus personne ne prend en charge cette commande.")
    camille.goto(f"{site.instance.url}/commandes?handler=none")
    expect(camille.locator("#orders-table tbody tr")).to_have_count(2)  # 960066 and 960072
    expect(camille.locator("#commande-960072")).to_be_visible()
    camille.goto(f"{site.instance.url}/commandes?handler=me")
    expect(camille.locator("#commande-960072")).to_have_count(0)
    expect(camille.get_by_text("Aucune commande ne correspond à ces filtres.")).to_be_visible()


def test_hold_shows_apart_until_resumed(new_page, site):
    camille = logged_in(new_page, site, site.camille_key)
    camille.goto(f"{site.instance.url}/commandes/{site.order_id}")
    camille.get_by_role("button", name="Mettre en attente", expanded=False).click()
    camille.get_by_label("Commentaire (envoyé au demandeur)").first.fill(
        "Kbis de plus de 3 mois : envoyez un extrait récent.")
    camille.locator("form[action$='/attente'] button[type=submit]").click()
    expect(camille.get_by_text("Commande mise en attente ; le demandeur est prévenu.")).to_be_visible()

    camille.goto(f"{site.instance.url}/commandes")
    counters = camille.get_by_role("list", name="Commandes par sous-état")
    expect(counters).to_contain_text("à vérifier : 1")
    expect(counters).to_contain_text("en attente : 1")
    row = camille.locator("#commande-960072")
    expect(row).to_contain_text("en attente")
    expect(row).to_contain_text("Kbis de plus de 3 mois : envoyez un extrait récent.")

    camille.goto(f"{site.instance.url}/commandes/{site.order_id}")
    camille.get_by_role("button", name="Reprendre le traitement").click()
    camille.goto(f"{site.instance.url}/commandes")
    expect(counters).to_contain_text("à vérifier : 2")
    expect(counters).to_contain_text("en attente : 0")
