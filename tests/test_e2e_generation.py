"""Certificate generation as people do it: headless Chromium on the real app (gunicorn) with
the demo data, the real token bridge, SoftHSM2 keys. demo-aet generates the certificate of a
validated demo order onto a fresh blank key; the certificate read back from the key matches
the order and the CA (pkilint, openssl); the holder activates the key with the e-mailed code
and a new PIN, which then unlocks the key."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, ObjectClass

from tests.e2e_support import (AppInstance, RequestRecorder, launch_chromium,
                               log_in_through_the_page, start_app_server, start_bridge)
from tests.generation_support import activation_code, activation_link, mails

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

PKI_URL = "https://pki.radesk.example.fr"
ORDER_NUMBER = 958051  # a validated demo order (Alice Colbert), in « Génération du certificat »
TRANSPORT_PIN = "1234"
HOLDER_PIN = "13572468"
LINT = Path(sys.executable).with_name("lint_etsi_cert")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    directory = tmp_path_factory.mktemp("e2e-generation")
    saved_conf = os.environ.get("SOFTHSM2_CONF")
    with AppInstance.create(directory, extra_env={"RADESK_PKI_URL": PKI_URL}) as instance:
        from models import Order, Person
        from demo.seed import DEMO_SO_PIN, seed_demo, softhsm_conf_path
        from token_bridge import provision
        with instance.seeding() as app:
            app.config["RADESK_PKI_URL"] = PKI_URL
            seed_demo(app, order_count=20)
            conf = softhsm_conf_path(instance.instance_path)
            blank_serial = provision.init_token("cle-porteur-e2e", TRANSPORT_PIN, DEMO_SO_PIN, conf)
            aet_serial = next(s for s, label in provision.softhsm_tokens(conf) if label == "demo-aet")
            order = Order.get(Order.number == ORDER_NUMBER)
            assert order.phase == "generation"
            # The code goes by e-mail here (the demo's Contact OTP is a mobile number).
            Order.update(otp_contact="alice.colbert@exemple.fr").where(Order.id == order.id).execute()
            holder = Person.get_by_id(order.holder_id)
        keys = SimpleNamespace(conf_path=conf, environment={**os.environ, "SOFTHSM2_CONF": str(conf),
                                                            "PKCS11_MODULE": app.config["PKCS11_MODULE"]},
                               module_path=app.config["PKCS11_MODULE"])
        with start_app_server(instance) as server, start_bridge(instance, keys) as bridge:
            yield SimpleNamespace(instance=instance, server=server, bridge=bridge, keys=keys,
                                  blank_serial=blank_serial, aet_serial=aet_serial,
                                  order_id=order.id, holder=holder)
    if saved_conf is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = saved_conf


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


def new_page(browser):
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(30_000)
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    return context, page, violations


def read_key(site, pin: str | None = None):
    """What the key holds: its certificates (public objects), and whether ``pin`` opens it."""
    from token_bridge.tokens import pkcs11_library
    os.environ["SOFTHSM2_CONF"] = str(site.keys.conf_path)
    with pkcs11_library(site.keys.module_path) as lib:
        token = next(t for t in lib.get_tokens() if t.label == "cle-porteur-e2e")
        with token.open() as session:
            certificates = [x509.load_der_x509_certificate(o[Attribute.VALUE])
                            for o in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})]
        opened = None
        if pin is not None:
            try:
                with token.open(user_pin=pin) as session:
                    opened = len(list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})))
            except Exception:  # noqa: BLE001 — a refused PIN, whichever PKCS#11 error says it
                opened = False
    return certificates, opened


def test_aet_generates_then_holder_activates(browser, site, tmp_path):
    context, page, violations = new_page(browser)
    recorder = RequestRecorder(page)
    base = site.instance.url
    log_in_through_the_page(page, base, site.aet_serial)

    # The AET's list, then the order file.
    page.goto(f"{base}/generation")
    expect(page.get_by_role("heading", name="Certificats à générer")).to_be_visible()
    page.get_by_role("link", name=re.compile(f"Générer le certificat de la commande N° {ORDER_NUMBER}")).click()
    expect(page.get_by_role("heading", name="Certificat du porteur")).to_be_visible()

    chooser = page.get_by_label("Clé USB vierge")
    expect(chooser.locator(f'option[value="{site.blank_serial}"]')).to_have_count(1)
    expect(chooser.locator(f'option[value="{site.aet_serial}"]')).to_have_count(0)  # not blank
    chooser.select_option(site.blank_serial)
    expect(page.get_by_label("Type de clé")).to_have_value("RSA-3072")
    page.get_by_label("Code PIN de la clé vierge").fill(TRANSPORT_PIN)
    page.get_by_role("button", name="Générer le certificat").click()

    # The bridge says what it is about to do; nothing happens before the AET confirms.
    steps = page.locator("#generation-steps")
    expect(steps).to_contain_text("cle-porteur-e2e")
    expect(steps).to_contain_text("RSA 3072 bits")
    expect(steps).to_contain_text("Alice COLBERT")
    expect(steps).to_contain_text(f"N° {ORDER_NUMBER}")
    page.get_by_role("button", name="Confirmer la génération").click()

    expect(page.locator(".flash-success")).to_contain_text("généré et inscrit sur la clé USB", timeout=60_000)
    expect(page.locator("dd", has_text="Remise").first).to_be_visible()
    serial_hex = page.locator("#certificat dd code").first.inner_text()
    expect(page.locator("#historique")).to_contain_text("Certificat inscrit sur la clé USB")
    recorder.assert_never_sent(TRANSPORT_PIN, base)
    page.screenshot(path=str(tmp_path / "generation.png"), full_page=True)

    # Read back from the key: the certificate of this order, from the embedded CA.
    certificates, _ = read_key(site)
    leaf = next(c for c in certificates if format(c.serial_number, "x") == serial_hex)
    subject = leaf.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Alice COLBERT"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Boileau Colbert Conseil"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "NTRFR-434202180"
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value.startswith("IDCFR-")
    assert leaf.public_key().key_size == 3072
    with site.instance.seeding() as app:
        from adapters.ca import get_ca
        ca = get_ca(app)
        root, issuing = ca.root_certificate, ca.issuing_certificate
        crls = ca.current_crl().public_bytes(serialization.Encoding.PEM) + \
            ca.current_root_crl().public_bytes(serialization.Encoding.PEM)
    assert issuing in certificates  # the chain is on the key too
    for name, data in {"leaf.pem": leaf, "root.pem": root, "issuing.pem": issuing}.items():
        (tmp_path / name).write_bytes(data.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "crls.pem").write_bytes(crls)
    verify = subprocess.run(["openssl", "verify", "-x509_strict", "-crl_check_all", "-CRLfile",
                             tmp_path / "crls.pem", "-CAfile", tmp_path / "root.pem", "-untrusted",
                             tmp_path / "issuing.pem", tmp_path / "leaf.pem"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    lint = subprocess.run([str(LINT), "lint", "-d", "-s", "WARNING", str(tmp_path / "leaf.pem")],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    # Hand-over: the link and the code go out by e-mail.
    page.get_by_role("button", name="Clé remise au porteur : envoyer le code d'activation").click()
    expect(page.locator(".flash-success")).to_contain_text("Clé remise")
    assert violations == []
    context.close()

    messages = mails(site.instance.instance_path)
    code, link = activation_code(messages), activation_link(messages)
    assert link.startswith(base + "/activation/")

    # The holder, on their own browser: the code, then their own PIN through the bridge.
    context, page, violations = new_page(browser)
    recorder = RequestRecorder(page)
    page.goto(link)
    expect(page.get_by_role("heading", name="Activation de votre clé USB")).to_be_visible()
    page.get_by_label("Code d'activation").fill("000000")
    page.get_by_role("button", name="Valider le code").click()
    expect(page.get_by_role("alert")).to_contain_text("Code incorrect. Il reste 4 essais.")
    page.get_by_label("Code d'activation").fill(code)
    page.get_by_role("button", name="Valider le code").click()
    expect(page.get_by_text("Code accepté")).to_be_visible()
    key = page.get_by_label("Clé USB", exact=True)
    expect(key.locator(f'option[value="{site.blank_serial}"]')).to_have_count(1)
    key.select_option(site.blank_serial)
    page.get_by_label("Nouveau code PIN", exact=True).fill(HOLDER_PIN)
    page.get_by_label("Confirmer le nouveau code PIN").fill(HOLDER_PIN)
    page.get_by_role("button", name="Activer la clé").click()
    expect(page.locator("#activation-message")).to_contain_text("Votre clé est activée")
    page.screenshot(path=str(tmp_path / "activation.png"), full_page=True)
    recorder.assert_never_sent(HOLDER_PIN, base)
    assert violations == []
    context.close()

    with site.instance.query():
        from models import Order
        assert Order.get_by_id(site.order_id).phase == "done"
    _, opened_with_new = read_key(site, HOLDER_PIN)
    _, opened_with_transport = read_key(site, TRANSPORT_PIN)
    assert opened_with_new == 1 and opened_with_transport is False
