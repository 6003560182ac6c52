"""« Enrôler sur une clé » as people do it: headless Chromium on the real app (gunicorn), the
real token bridge, SoftHSM2 keys. An admin logged in on her own key enrols a new AET onto a
blank key; on another browser the AET logs in with that key and the initial PIN, chooses his
own PIN (through the bridge, never sent to the server) and reaches « Commandes »; the key then
logs in with his PIN at once. The admin then deactivates him: his open sessions are refused on
their next request (htmx or page load) and his key logs in no more."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import RequestRecorder, csp_violations, log_in_through_the_page
from tests.e2e_support import make_operator_key, operator_site, operator_with_key
from tests.factories import make_order

pytestmark = pytest.mark.browser

DELIVERY_PIN = "1234"
OPERATOR_PIN = "97531864"


def _seed(app, softhsm):
    """AE « BPOI », its admin Camille Martin with her key, a new AET without any certificate,
    a blank key, one order."""
    from models import Operator
    from tests.generation_support import SO_PIN
    from token_bridge import provision

    ae, admin, token = operator_with_key(app, softhsm, label="cle-camille", roles="AEA,admin")
    newcomer = Operator.create(ae=ae, display_name="Lucie Bernard", roles="AET",
                               email="lucie.bernard@bpoi.example")
    blank = provision.init_token("cle-vierge-lucie", DELIVERY_PIN, SO_PIN, softhsm.conf_path)
    colleague = Operator.create(ae=ae, display_name="Julien Roux", roles="AET",
                                email="julien.roux@bpoi.example")
    colleague_key = make_operator_key(app, softhsm, colleague, label="cle-julien")
    make_order(ae, number=960072, first_name="Sandra", last_name="Boileau")
    return {"admin_serial": token.serial, "newcomer_id": newcomer.id, "blank_serial": blank,
            "colleague_id": colleague.id, "colleague_serial": colleague_key.serial,
            "colleague_certificate": colleague_key.certificate}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with operator_site(tmp_path_factory.mktemp("e2e-enrolment"), _seed) as site:
        yield site


def test_admin_enrols_a_new_operator_whose_key_then_logs_in(new_page, site, tmp_path):
    base = site.instance.url
    page = new_page()
    recorder = RequestRecorder(page)
    log_in_through_the_page(page, base, site.admin_serial)

    page.goto(f"{base}/parametres/operateurs/{site.newcomer_id}/enrolement")
    expect(page.get_by_role("heading", name="Enrôler sur une clé", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Opérateurs", exact=True)).to_have_attribute("aria-current", "page")
    chooser = page.get_by_label("Clé USB vierge")
    expect(chooser.locator(f'option[value="{site.blank_serial}"]')).to_have_count(1)
    expect(chooser.locator(f'option[value="{site.admin_serial}"]')).to_have_count(0)  # not blank
    chooser.select_option(site.blank_serial)
    page.get_by_label("Code PIN de la clé vierge").fill(DELIVERY_PIN)
    page.get_by_role("button", name="Enrôler sur la clé").click()

    # The bridge says what it is about to do; nothing happens before the admin confirms.
    steps = page.locator("#enrolment-steps")
    expect(steps).to_contain_text("cle-vierge-lucie")
    expect(steps).to_contain_text("Lucie Bernard (BPOI)")
    expect(steps).to_contain_text("code PIN initial")
    page.get_by_role("button", name="Confirmer l'enrôlement").click()

    initial_pin_output = page.locator("#enrolment-initial-pin")
    expect(initial_pin_output).to_have_text(re.compile(r"^\d{8}$"), timeout=60_000)
    initial_pin = initial_pin_output.inner_text()
    page.screenshot(path=str(tmp_path / "enrolment.png"), full_page=True)
    recorder.assert_never_sent(DELIVERY_PIN, base)
    recorder.assert_never_sent(initial_pin, base)
    page.get_by_role("link", name="J'ai noté le code PIN initial").click()
    expect(page.locator(".flash-success")).to_contain_text("Lucie Bernard est enrôlé sur la clé USB")
    expect(page.locator("#certificats")).to_contain_text("Code PIN initial pas encore remplacé")
    assert initial_pin not in page.content()  # shown once
    assert csp_violations(page) == []

    # The new operator, on his own browser: the key and the initial PIN, then his own PIN.
    admin_page = page
    page = new_page()
    recorder = RequestRecorder(page)
    page.goto(f"{base}/connexion")
    key = page.get_by_label("Clé USB")
    expect(key.locator(f'option[value="{site.blank_serial}"]')).to_have_count(1)
    expect(key).to_contain_text("Lucie BERNARD")
    key.select_option(site.blank_serial)
    page.get_by_label("Code PIN").fill(initial_pin)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="Choisissez votre code PIN")).to_be_visible()
    page.get_by_label("Nouveau code PIN", exact=True).fill("123")
    page.get_by_label("Confirmer le nouveau code PIN").fill("123")
    page.get_by_role("button", name="Enregistrer mon code PIN").click()
    expect(page.locator("#first-pin-message")).to_contain_text("de 6 à 16 caractères")
    page.get_by_label("Nouveau code PIN", exact=True).fill(OPERATOR_PIN)
    page.get_by_label("Confirmer le nouveau code PIN").fill(OPERATOR_PIN)
    page.get_by_role("button", name="Enregistrer mon code PIN").click()
    page.wait_for_url(re.compile(r"/commandes"))
    expect(page.get_by_role("link", name="Commandes")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("cell", name="960072", exact=True)).to_be_visible()
    expect(page.locator(".who")).to_contain_text("Lucie Bernard")
    recorder.assert_never_sent(initial_pin, base)
    recorder.assert_never_sent(OPERATOR_PIN, base)
    assert csp_violations(page) == []

    # From now on the key logs in at once, with his own PIN.
    first_browser = page
    page = new_page()
    log_in_through_the_page(page, base, site.blank_serial, pin=OPERATOR_PIN)
    expect(page.get_by_role("link", name="Commandes")).to_have_attribute("aria-current", "page")

    # The admin deactivates the newcomer: both open sessions end at once.
    admin_page.goto(f"{base}/parametres/operateurs/{site.newcomer_id}")
    expect(admin_page.locator("#operator-status")).to_have_text("Actif")
    admin_page.get_by_role("button", name="Désactiver").click()
    expect(admin_page.get_by_text("« Lucie Bernard » désactivé : connexion refusée, 2 session(s) "
                                  "fermée(s) aussitôt.")).to_be_visible()
    expect(admin_page.locator("#operator-status")).to_have_text("Désactivé")
    # His next htmx request (a search in « Commandes ») lands on the login page…
    with first_browser.expect_response(lambda r: "/commandes?" in r.url) as answer:
        first_browser.get_by_label("N° de commande").fill("960072")
    assert answer.value.request.headers.get("hx-request") == "true"
    assert "/connexion" in answer.value.headers.get("hx-redirect", "")
    first_browser.wait_for_url(re.compile(r"/connexion"))
    expect(first_browser.get_by_role("button", name="Se connecter")).to_be_visible()
    expect(first_browser.locator(".who")).to_have_count(0)
    # …and so does his next page load, on the other browser.
    page.reload()
    page.wait_for_url(re.compile(r"/connexion"))
    expect(page.locator(".who")).to_have_count(0)
    # The key no longer logs him in.
    page.get_by_label("Clé USB").select_option(site.blank_serial)
    page.get_by_label("Code PIN").fill(OPERATOR_PIN)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#login-message")).to_contain_text("Ce compte opérateur est désactivé")
    assert "/connexion" in page.url

    with site.instance.query():
        from models import AuditEvent, OperatorEnrolment
        from models import LoginSession
        row = OperatorEnrolment.get(OperatorEnrolment.operator == site.newcomer_id)
        assert row.state == "written" and row.pin_set_at is not None
        assert {s.end_reason for s in LoginSession.select().where(
            LoginSession.operator == site.newcomer_id)} == {"operator_deactivated"}
        assert {e.action for e in AuditEvent.select()} >= {
            "operator_enrolment_started", "operator_certificate_issued", "operator_key_enrolled",
            "operator_first_pin_required", "operator_first_pin_set"}


def test_admin_renews_a_certificate_on_the_operators_key(new_page, site):
    from cryptography.hazmat.primitives import hashes
    base = site.instance.url
    old_serial = format(site.colleague_certificate.serial_number, "x")
    page = new_page()
    recorder = RequestRecorder(page)
    log_in_through_the_page(page, base, site.admin_serial)
    page.goto(f"{base}/parametres/operateurs/{site.colleague_id}/enrolement")
    page.get_by_role("button", name=f"Renouveler le certificat n° {old_serial}").click()
    chooser = page.get_by_label("Clé USB de l'opérateur")
    expect(chooser.locator(f'option[value="{site.colleague_serial}"]')).to_have_count(1)
    expect(chooser.locator(f'option[value="{site.admin_serial}"]')).to_have_count(0)

    # A wrong PIN: said in French, the try recorded as failed, nothing issued.
    page.get_by_label("Code PIN de la clé de l'opérateur").fill("0000")
    page.get_by_role("button", name="Renouveler le certificat", exact=True).click()
    page.get_by_role("button", name="Confirmer le renouvellement").click()
    expect(page.locator("#renewal-message")).to_contain_text("Code PIN incorrect. Il reste 2 essais.")

    page.get_by_label("Code PIN de la clé de l'opérateur").fill(DELIVERY_PIN)
    page.get_by_role("button", name="Renouveler le certificat", exact=True).click()
    expect(page.locator("#renewal-steps")).to_contain_text("l'ancien certificat")
    page.get_by_role("button", name="Confirmer le renouvellement").click()
    expect(page.locator(".flash-success")).to_contain_text("renouvelé", timeout=60_000)
    expect(page.locator("#historique")).to_contain_text("Renouvellement")
    expect(page.locator("#historique")).to_contain_text("échec")
    recorder.assert_never_sent(DELIVERY_PIN, base)
    assert csp_violations(page) == []

    with site.instance.query():
        from models import IssuedCertificate, OperatorCertificate
        bound = OperatorCertificate.get(OperatorCertificate.operator == site.colleague_id)
        assert bound.serial_hex != old_serial
        old = IssuedCertificate.get(IssuedCertificate.serial_hex == old_serial)
        assert old.revoked_at is not None and old.revocation_reason == "superseded"
    # Only the new certificate is left on the key, which logs in with the same PIN.
    page = new_page()
    page.goto(f"{base}/connexion")
    option = page.get_by_label("Clé USB").locator(f'option[value="{site.colleague_serial}"]')
    expect(option).to_have_count(1)
    log_in_through_the_page(page, base, site.colleague_serial)
    expect(page.locator(".who")).to_contain_text("Julien Roux")
    with site.instance.query():
        from models import LoginSession
        session = LoginSession.select().order_by(LoginSession.id.desc()).first()
        assert session.certificate_fingerprint == bound.fingerprint_sha256
        assert session.certificate_fingerprint != \
            site.colleague_certificate.fingerprint(hashes.SHA256()).hex()
