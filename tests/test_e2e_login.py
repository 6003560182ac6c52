"""Logging in as an operator does: headless Chromium on the real app (gunicorn), the real token
bridge, a SoftHSM2 key whose certificate the app's embedded CA issued."""
from __future__ import annotations

import json
import re
import time
import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import RequestRecorder, csp_violations
from tests.e2e_support import operator_site, operator_with_key, start_bridge
from tests.factories import make_order

pytestmark = pytest.mark.browser

PIN = "1234"


def _seed(app, softhsm):
    """AE « BPOI », an AEA operator with a USB key, two orders."""
    ae, operator, token = operator_with_key(app, softhsm, label="cle-camille", pin=PIN)
    make_order(ae, number=960072, first_name="Sandra", last_name="Boileau")
    make_order(ae, number=960066, first_name="Alice", last_name="Colbert")
    return {"token": token, "operator_id": operator.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The app serving them; each test starts the bridge it needs (or none)."""
    with operator_site(tmp_path_factory.mktemp("e2e-login"), _seed, bridge=False) as site:
        yield site


@pytest.fixture
def bridge(site):
    with start_bridge(site.instance, site.softhsm) as process:
        yield process


def audit_events(site, action: str) -> list[dict]:
    from models import AuditEvent
    with site.instance.query():
        rows = AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id)
        return [{**json.loads(row.details), "operator": row.operator_id} for row in rows]


def wait_for_event(site, action: str, code: str, timeout: float = 5.0) -> dict:
    """login.js reports in the background: the event lands shortly after the message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        matching = [e for e in audit_events(site, action) if e.get("code") == code]
        if matching:
            return matching[-1]
        time.sleep(0.1)
    raise AssertionError(f"aucun événement {action} ({code})")


def open_login_page(page, site):
    page.goto(f"{site.instance.url}/connexion")
    key_chooser = page.get_by_label("Clé USB")
    expect(key_chooser.locator(f'option[value="{site.token.serial}"]')).to_have_count(1)
    return key_chooser


def test_operator_logs_in_with_the_usb_key_and_logs_out(page, site, bridge):
    recorder = RequestRecorder(page)
    key_chooser = open_login_page(page, site)
    expect(key_chooser).to_contain_text("cle-camille")
    expect(key_chooser).to_contain_text("Camille")

    key_chooser.select_option(site.token.serial)
    page.get_by_label("Code PIN").fill(PIN)
    page.get_by_role("button", name="Se connecter").click()

    page.wait_for_url(re.compile(r"/commandes"))
    expect(page.get_by_role("heading", name="Commandes")).to_be_visible()
    expect(page.get_by_role("link", name="Commandes")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("cell", name="960072", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="960066", exact=True)).to_be_visible()

    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(re.compile(r"/connexion$"))
    expect(page.get_by_text("Vous êtes déconnecté.")).to_be_visible()
    expect(page.get_by_label("Code PIN")).to_be_visible()

    # The PIN went to the bridge, and to nothing of the server.
    recorder.assert_sent(PIN, site.instance.bridge_url)
    recorder.assert_never_sent(PIN, site.instance.url)
    login = audit_events(site, "login")[-1]
    assert login["method"] == "bridge" and login["operator"] == site.operator_id
    assert audit_events(site, "logout")[-1]["operator"] == site.operator_id


def test_wrong_pin_is_refused_with_the_tries_left(page, site, bridge):
    recorder = RequestRecorder(page)
    key_chooser = open_login_page(page, site)
    key_chooser.select_option(site.token.serial)
    pin = page.get_by_label("Code PIN")
    pin.fill("9999")
    page.get_by_role("button", name="Se connecter").click()

    message = page.locator("#login-message")
    expect(message).to_contain_text("Code PIN incorrect")
    expect(message).to_contain_text(re.compile(r"Il reste \d+ essais?\."))
    expect(pin).to_have_value("")  # cleared after every try
    expect(pin).to_be_focused()
    expect(page.get_by_role("button", name="Se connecter")).to_be_enabled()
    assert page.url.endswith("/connexion")
    recorder.assert_never_sent("9999", site.instance.url)

    # The right PIN still works afterwards (and resets the bridge's counter).
    pin.fill(PIN)
    pin.press("Enter")
    page.wait_for_url(re.compile(r"/commandes"))


def test_keyboard_alone_is_enough(page, site, bridge):
    open_login_page(page, site)
    page.keyboard.press("Tab")  # the skip link comes first
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "login-key":
            break
    assert page.evaluate("document.activeElement.id") == "login-key"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "login-refresh"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "login-pin"
    page.keyboard.type(PIN)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/commandes"))


def test_bridge_not_running_names_the_command_to_start_it(page, site):
    page.goto(f"{site.instance.url}/connexion")
    message = page.locator("#login-message")
    expect(message).to_contain_text(
        f"Le pont de clé USB (token bridge) ne répond pas sur {site.instance.bridge_url}.")
    expect(message).to_contain_text("python -m token_bridge")
    assert wait_for_event(site, "login_refused", "bridge_unavailable")["method"] == "bridge"

    # Trying anyway repeats why, and sends nothing.
    page.get_by_label("Code PIN").fill(PIN)
    page.get_by_role("button", name="Se connecter").click()
    expect(message).to_contain_text("python -m token_bridge")
    assert page.url.endswith("/connexion")


def test_actualiser_finds_a_bridge_started_after_the_page(page, site):
    page.goto(f"{site.instance.url}/connexion")
    expect(page.locator("#login-message")).to_contain_text("ne répond pas")
    with start_bridge(site.instance, site.softhsm):
        page.get_by_role("button", name="Actualiser").click()
        expect(page.get_by_label("Clé USB").locator(
            f'option[value="{site.token.serial}"]')).to_have_count(1)
        expect(page.locator("#login-message")).to_have_text("1 clé USB détectée.")


def test_no_script_inline_and_no_csp_violation(page, site, bridge):
    open_login_page(page, site)
    assert page.locator("script:not([src])").count() == 0
    assert csp_violations(page) == []


def test_a_key_locked_by_wrong_pins_says_so(page, site, bridge):
    key_chooser = open_login_page(page, site)
    key_chooser.select_option(site.token.serial)
    pin = page.get_by_label("Code PIN")
    message = page.locator("#login-message")
    for expected in ("Il reste 2 essais.", "Il reste 1 essai."):
        pin.fill("0000")
        pin.press("Enter")
        expect(message).to_contain_text(f"Code PIN incorrect. {expected}")
    pin.fill("0000")
    pin.press("Enter")
    expect(message).to_contain_text("bloquée")

    # Listed again, the key shows as locked and no PIN is even asked of it.
    page.get_by_role("button", name="Actualiser").click()
    expect(key_chooser).to_contain_text("(bloquée)")
    expect(message).to_contain_text("Cette clé est bloquée")
    pin.fill(PIN)
    page.get_by_role("button", name="Se connecter").click()
    expect(message).to_contain_text("Cette clé est bloquée")
    assert page.url.endswith("/connexion")
