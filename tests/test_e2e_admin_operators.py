"""Administration › Opérateurs in the browser: Camille (admin, logged in with her USB key) adds
an operator limited to one portal, then deactivates Julien, through the pages alone; Julien's
open session ends at once."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import csp_violations, log_in_through_the_page
from tests.e2e_support import operator_site, operator_with_key
from tests.factories import make_operator

pytestmark = pytest.mark.browser


def _seed(app, softhsm):
    ae, camille, token = operator_with_key(app, softhsm, label="cle-camille", roles="AEA,admin")
    julien = make_operator(ae, "Julien Roux", roles="AET", email="julien.roux@bpoi.example")
    return {"token": token, "julien_id": julien.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with operator_site(tmp_path_factory.mktemp("e2e-admin-operators"), _seed) as site:
        yield site


def test_an_admin_adds_an_operator_and_deactivates_another(new_page, site):
    from models import LoginSession, Operator
    from services.operator_auth.sessions import open_session

    base = site.instance.url
    with site.instance.query():  # Julien is at work, logged in
        julien = Operator.get_by_id(site.julien_id)
        open_session(julien, julien.certificates.get().fingerprint_sha256, method="bridge")

    page = new_page()
    log_in_through_the_page(page, base, site.token.serial)
    page.get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", name="Opérateurs")).to_be_visible()

    page.get_by_role("link", name="Ajouter un opérateur").click()
    page.get_by_label("Nom affiché").fill("Léa Durand")
    page.get_by_label("E-mail").fill("lea.durand@bpoi.example")
    page.get_by_label("AEA (vérification, validation)").uncheck()
    page.get_by_label("AET (génération)").check()
    page.get_by_label("Seulement les portails cochés ci-dessous").check()
    page.get_by_label("BPOI-Rhône", exact=True).check()
    page.get_by_role("button", name="Ajouter l'opérateur").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Léa Durand")
    expect(page.get_by_text("Opérateur « Léa Durand » ajouté.")).to_be_visible()
    expect(page.get_by_text("Aucun certificat : cet opérateur ne peut pas se connecter.")
           ).to_be_visible()

    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Opérateurs").click()
    lea_row = page.locator("tr", has_text="Léa Durand")
    expect(lea_row).to_contain_text("AET (génération)")
    expect(lea_row).to_contain_text("BPOI-Rhône")

    page.get_by_role("link", name="Julien Roux").click()
    expect(page.locator("#operator-status")).to_have_text("Actif")
    page.get_by_role("button", name="Désactiver").click()
    expect(page.get_by_text("« Julien Roux » désactivé : connexion refusée, 1 session(s) "
                            "fermée(s) aussitôt.")).to_be_visible()
    expect(page.locator("#operator-status")).to_have_text("Désactivé")
    expect(page.get_by_role("button", name="Réactiver")).to_be_visible()

    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Opérateurs").click()
    expect(page.locator("tr", has_text="Julien Roux")).to_contain_text("Inactif")
    assert csp_violations(page) == []
    with site.instance.query():
        assert not Operator.get_by_id(site.julien_id).active
        lea = Operator.get(Operator.display_name == "Léa Durand")
        assert (lea.roles, lea.all_portals) == ("AET", False)
        assert [p.name for p in lea.visible_portals()] == ["BPOI-Rhône"]
        assert {row.end_reason for row in LoginSession.select().where(
            LoginSession.operator == site.julien_id)} == {"operator_deactivated"}
