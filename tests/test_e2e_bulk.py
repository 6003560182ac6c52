"""« Actions sur la sélection » in the browser: Camille ticks three orders of the Commandes list,
« Relancer le demandeur », writes one text with {numero}, checks its « Aperçu » filled for the
first order, « Envoyer »; the server's own scheduler carries the job out while the progress page
polls, then the result page shows two orders done and the draft refused with its reason. The
same without JavaScript: the plain forms post, the progress page refreshes itself."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import csp_violations, log_in_through_the_page, screenshot
from tests.e2e_support import AppInstance, operator_with_key, start_app_server, start_bridge
from tests.factories import make_order

pytestmark = pytest.mark.browser

NUMBERS = (960501, 960502, 960503)


def _seed(app, softhsm):
    ae, _, token = operator_with_key(app, softhsm, label="camille", roles="AEA")
    make_order(ae, number=960501, requester_email="paul@example.org", first_name="Paul",
               last_name="Martin")
    make_order(ae, number=960502, requester_email="lea@example.org", first_name="Léa",
               last_name="Durand")
    # Still being filled in by its requester: no notification can go to it yet.
    make_order(ae, number=960503, phase="entry", substate=None,
               requester_email="brouillon@example.org", first_name="Inès", last_name="Roy")
    make_order(ae, number=960504, requester_email="autre@example.org")  # not ticked
    return {"token": token}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The app with its scheduler in the server process (as the demo runs it)."""
    from tests.softhsm import SoftHSM
    directory = tmp_path_factory.mktemp("e2e-bulk")
    with AppInstance.create(directory, extra_env={"RADESK_SCHEDULER": "1",
                                                  "RADESK_BULK_INTERVAL_SECONDS": "1"}) as instance:
        softhsm = SoftHSM(directory / "softhsm")
        with instance.seeding() as app:
            seeded = _seed(app, softhsm)
        with start_app_server(instance) as server, start_bridge(instance, softhsm) as bridge:
            yield SimpleNamespace(instance=instance, server=server, bridge=bridge, **seeded)


def tick_three(page):
    for number in NUMBERS:
        page.get_by_label(f"Sélectionner la commande N° {number}").check()


def test_remind_three_requesters_after_the_preview(new_page, site):
    page = new_page()
    log_in_through_the_page(page, site.instance.url, site.token.serial)
    tick_three(page)
    expect(page.locator("#bulk-count")).to_have_text("3 commandes sélectionnées")
    screenshot(page, "selection-liste")
    page.get_by_role("button", name="Relancer le demandeur").click()

    expect(page.get_by_role("heading", name="Actions sur la sélection : « Relancer le demandeur »")).to_be_visible()
    expect(page.locator("#bulk-chosen")).to_contain_text("3 commandes sélectionnées")
    page.get_by_label("Type de message").select_option(label="Autre")  # refills the text
    expect(page.get_by_label("Objet")).to_have_value("Commande N° {numero}")
    page.get_by_label("Message", exact=True).fill(
        "Bonjour,\n\nMerci de compléter le dossier de la commande N° {numero} ({porteur}) "
        "depuis sa page de suivi : {lien}")
    expect(page.get_by_role("button", name="Envoyer")).to_have_count(0)  # not before the preview
    page.get_by_role("button", name="Aperçu").click()

    preview = page.locator("#bulk-apercu")
    expect(preview).to_contain_text("Aperçu pour la commande N°")
    first = re.search(r"N° (\d+)", preview.get_by_role("heading").inner_text()).group(1)
    expect(preview).to_contain_text(f"Merci de compléter le dossier de la commande N° {first}")
    expect(preview.locator("dd").nth(1)).to_have_text(f"Commande N° {first}")
    if first == "960503":  # the draft comes first in the list: the preview says it would refuse
        expect(preview).to_contain_text("La commande N° 960503 serait refusée")
    screenshot(page, "selection-apercu", full_page=True)
    page.get_by_role("button", name="Envoyer").click()

    # The progress page, polled, becomes the result page once the server's worker is done.
    expect(page).to_have_url(re.compile(r"/commandes/actions/\d+$"))
    summary = page.locator("#bulk-summary")
    expect(summary).to_contain_text("2 commandes traitées, 1 commande refusée", timeout=60_000)
    refused = page.locator("#bulk-refused tbody tr")
    expect(refused).to_have_count(1)
    expect(refused.first).to_contain_text("960503")
    expect(refused.first).to_contain_text(
        "La commande est en cours de saisie par le demandeur : elle ne peut être traitée "
        "qu'une fois envoyée.")
    done = page.locator("#bulk-done tbody tr")
    expect(done).to_have_count(2)
    expect(page.locator("#bulk-done")).to_contain_text(
        "Notification « Autre » enregistrée pour paul@example.org.")
    expect(page.locator("#bulk-done")).to_contain_text(
        "Notification « Autre » enregistrée pour lea@example.org.")
    screenshot(page, "selection-resultat", full_page=True)
    assert csp_violations(page) == []

    # The order file's history shows the notification, its number filled in.
    page.locator("#bulk-done").get_by_role("link", name="960502").click()
    expect(page.locator("body")).to_contain_text("Commande N° 960502")


def test_without_javascript_the_forms_and_the_progress_page_still_work(new_page, site):
    helper = new_page()  # the login itself talks to the key's bridge in JavaScript
    log_in_through_the_page(helper, site.instance.url, site.token.serial)
    page = new_page(java_script_enabled=False)
    page.context.add_cookies(helper.context.cookies())
    page.goto(f"{site.instance.url}/commandes")
    page.get_by_label("Sélectionner la commande N° 960501").check()
    page.get_by_label("Sélectionner la commande N° 960502").check()
    page.get_by_role("button", name="Mettre en attente").click()
    expect(page.locator("#bulk-chosen")).to_contain_text("2 commandes sélectionnées")
    page.get_by_label("Commentaire (envoyé au demandeur)").fill(
        "Kbis de plus de 3 mois : envoyez un extrait récent.")
    page.get_by_role("button", name="Mettre en attente les commandes").click()
    # The page refreshes itself (<noscript> meta refresh) until the job is done.
    expect(page.locator("#bulk-summary")).to_contain_text("2 commandes traitées, 0 commande refusée",
                                                          timeout=60_000)
