"""« Lu sur la pièce » in the browser, on the demo with specimen pieces read by the real reader:
demo-aea opens order 960072 whose holder's ID document carries another number than the order,
sees the ✗ with both values in the order file and beside the document in the Visionneuse;
validating it asks to tick « J'ai vérifié les écarts… » and is refused without; on an order
with no ID number recorded, « Reprendre le numéro lu » fills it in."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import log_in_through_the_page, screenshot
from tests.e2e_support import demo_site

pytestmark = pytest.mark.browser

ORDERED_NUMBER = "007296007263"   # what the demo recorded for 960072 (demo.pieces)
READ_NUMBER = "007296007363"      # what its new ID document says
FILL_ORDER, FILL_NUMBER = 961500, "18AB12345"


def prepare(app, keys):
    """960072's holder sends another ID card; a new order with no number recorded comes with a
    passport; both read now by the real reader (the job's own code)."""
    from demo import specimen_pieces as specimen
    from models import AE, Order
    from services.dossiers import piece_readings
    from services.dossiers.documents import import_document
    from tests.factories import make_order

    def card(fmt, surname, given, number) -> bytes:
        holder = specimen.Holder(surname, given, dt.date(1984, 2, 3), number,
                                 dt.date(2033, 6, 30))
        return specimen.degrade(specimen.identity_document(fmt, holder, seed=7), rotation=1.5)

    order = Order.get(Order.number == 960072)
    assert order.id_doc_number == ORDERED_NUMBER
    import_document(order, "holder_id", "cni.jpg",
                    card(specimen.CNI_1988, "Boileau", ("Sandra",), READ_NUMBER),
                    actor_label="Demandeur")
    empty = make_order(AE.get(AE.name == "BPOI"), number=FILL_ORDER, first_name="Claire",
                       last_name="Durand", otp_contact="0612345678",
                       requester_email="demandeur@example.org")
    import_document(empty, "holder_id", "passeport.jpg",
                    card(specimen.PASSPORT, "Durand", ("Claire",), FILL_NUMBER),
                    actor_label="Demandeur")
    piece_readings.run_pending(app, order_ids=[order.id, empty.id], budget_seconds=240)
    return {}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-piece-check"), prepare, order_count=10) as site:
        yield site


def open_order(page, site, number):
    page.goto(f"{site.instance.url}/commandes")
    page.get_by_label("N° de commande").fill(str(number))
    expect(page.locator("#orders-table tbody tr")).to_have_count(1)
    page.get_by_role("link", name=f"Traiter la commande {number}").click()
    expect(page.get_by_role("heading", name="Liste des documents")).to_be_visible()


def test_a_differing_number_is_shown_and_validating_over_it_asks_to_confirm(page, site):
    log_in_through_the_page(page, site.instance.url, site.serial)
    open_order(page, site, 960072)
    block = page.locator("#lu-sur-la-piece")
    expect(block.get_by_role("heading", name="Lu sur la pièce")).to_be_visible()
    holder = block.locator(".piece-check", has_text="Pièce d'identité du porteur")
    expect(holder).to_contain_text(
        f"N° de la pièce : ✗ diffère : commande « {ORDERED_NUMBER} », pièce « {READ_NUMBER} »")
    screenshot(page, "lu-sur-la-piece-fiche")

    with page.context.expect_page() as new_tab:
        page.get_by_role("link", name="Consulter").click()
    viewer = new_tab.value
    viewer.wait_for_load_state()
    viewer.locator(".viewer-panel").get_by_role("link", name="Pièce d'identité du porteur").click()
    beside = viewer.locator("#document-view #lu-sur-la-piece")
    expect(beside).to_contain_text("Lu sur la pièce")
    expect(beside).to_contain_text(
        f"✗ diffère : commande « {ORDERED_NUMBER} », pièce « {READ_NUMBER} »")
    screenshot(viewer, "lu-sur-la-piece-visionneuse")
    viewer.close()

    validation = page.locator("#validation")
    validation.get_by_label("Règlement (OK)").check()
    validation.get_by_label("Dossier complet (OK)").check()
    validation.get_by_role("button", name="Valider", exact=True).click()
    confirmation = page.get_by_label("J'ai vérifié les écarts signalés par la lecture des pièces")
    expect(confirmation).to_be_visible()
    expect(page.locator(".piece-differences")).to_contain_text(
        "Pièce d'identité du porteur : N° de la pièce")
    final = page.get_by_role("button", name=re.compile("Valider cette phase"))
    final.click()
    expect(page.locator(".flash-error")).to_contain_text(
        "cochez « J'ai vérifié les écarts signalés par la lecture des pièces » pour valider")
    screenshot(page, "lu-sur-la-piece-refus")

    validation.get_by_role("button", name="Valider", exact=True).click()
    page.get_by_label("J'ai vérifié les écarts signalés par la lecture des pièces").check()
    page.get_by_role("button", name=re.compile("Valider cette phase")).click()
    expect(page.locator(".flash-success")).to_contain_text("Commande N° 960072 validée")


def test_take_the_number_read_fills_an_empty_number(page, site):
    log_in_through_the_page(page, site.instance.url, site.serial)
    open_order(page, site, FILL_ORDER)
    identity_block = page.locator("#justificatif-identite")
    expect(identity_block).to_contain_text("non renseigné")
    block = page.locator("#lu-sur-la-piece")
    expect(block).to_contain_text(f"N° lu sur la pièce d'identité du porteur : {FILL_NUMBER}")
    block.get_by_role("button", name="Reprendre le numéro lu").click()
    expect(page.locator(".flash-success")).to_contain_text(
        f"N° de justificatif d'identité repris de la pièce : {FILL_NUMBER}.")
    expect(page.locator("#justificatif-identite")).to_contain_text(FILL_NUMBER)
    expect(page.locator("#lu-sur-la-piece")).to_contain_text("N° de la pièce : ✓ concorde")
    expect(page.get_by_role("button", name="Reprendre le numéro lu")).to_have_count(0)
