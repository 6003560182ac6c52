"""« Révoquer le lien de suivi » in a browser: the requester's page opens; Camille (AEA) revokes
the link from the order file (htmx, a fresh link queued for the requester, shown in the
notification history); the requester's page, reloaded, says the link was revoked, nothing else."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import csp_violations, log_in_through_the_page
from tests.e2e_support import operator_with_key
from tests.factories import make_order

pytestmark = pytest.mark.browser


def _seed(app, softhsm):
    from services.messaging import followup
    ae, _, key = operator_with_key(app, softhsm, label="camille", roles="AEA")
    order = make_order(ae, number=960072, phase="validation", substate="to_check",
                       first_name="Sandra", last_name="Boileau",
                       requester_email="alice.colbert@exemple.fr")
    link, _ = followup.make_link(app, order.id)
    return {"key": key, "order_id": order.id, "followup_path": link.split("/suivi/", 1)[1]}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from tests.e2e_support import operator_site
    with operator_site(tmp_path_factory.mktemp("e2e-followup-link"), _seed) as site:
        yield site


def test_an_aea_revokes_the_follow_up_link_and_the_old_one_opens_nothing(new_page, site):
    requester = new_page()
    followup_url = f"{site.instance.url}/suivi/{site.followup_path}"
    requester.goto(followup_url)
    expect(requester.locator("h1")).to_contain_text("960072")

    camille = new_page()
    log_in_through_the_page(camille, site.instance.url, site.key.serial)
    camille.goto(f"{site.instance.url}/commandes/{site.order_id}")
    panel = camille.locator("#lien-de-suivi")
    expect(panel.get_by_label("Envoyer un nouveau lien au demandeur (a")).to_be_checked()
    panel.get_by_role("button", name="Révoquer le lien de suivi").click()
    expect(camille.locator("#lien-de-suivi")).to_contain_text(
        "Lien de suivi révoqué : les liens de suivi, de renouvellement et de révocation envoyés jusqu'ici")
    expect(camille.locator("#lien-de-suivi")).to_contain_text("alice.colbert@exemple.fr")
    # The history (swapped out of band) lists the new link waiting in the outbox.
    expect(camille.locator("#historique-notifications")).to_contain_text("Nouveau lien de suivi")
    assert camille.url.endswith(f"/commandes/{site.order_id}")  # htmx: no page change

    response = requester.goto(followup_url)
    assert response.status == 410
    expect(requester.locator("h1")).to_have_text("Lien de suivi révoqué")
    expect(requester.locator("main")).not_to_contain_text("960072")
    expect(requester.locator("main")).not_to_contain_text("Boileau")
    assert csp_violations(camille) == [] and csp_violations(requester) == []
