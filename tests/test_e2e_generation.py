"""Certificate generation as people do it: headless Chromium on the real app (gunicorn) with
the demo data, the real token bridge, SoftHSM2 keys. demo-aet generates the certificate of a
validated demo order onto a fresh blank key; the certificate read back from the key matches
the order and the CA (pkilint, openssl); the holder activates the key with the e-mailed code
and a new PIN, which then unlocks the key."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, ObjectClass
from playwright.sync_api import expect

from tests.browser_fixtures import RequestRecorder, csp_violations, log_in_through_the_page
from tests.e2e_support import demo_site, softhsm_environment
from tests.generation_support import activation_code, activation_link
from tests.smtp_support import eml_messages

pytestmark = pytest.mark.browser

PKI_URL = "https://pki.radesk.example.fr"
ORDER_NUMBER = 958051  # a validated demo order (Alice Colbert), in « Génération du certificat »
TRANSPORT_PIN = "1234"
HOLDER_PIN = "13572468"
LINT = Path(sys.executable).with_name("lint_etsi_cert")


def _blank_key_and_order(app, keys):
    """A blank key beside the demo's, and the order's one-time code going by e-mail (the
    demo's Contact OTP is a mobile number)."""
    from demo.seed import DEMO_SO_PIN
    from models import Order
    from token_bridge import provision
    blank_serial = provision.init_token("cle-porteur-e2e", TRANSPORT_PIN, DEMO_SO_PIN, keys.conf_path)
    order = Order.get(Order.number == ORDER_NUMBER)
    assert order.phase == "generation"
    Order.update(otp_contact="alice.colbert@exemple.fr").where(Order.id == order.id).execute()
    return {"blank_serial": blank_serial, "aet_serial": keys.serial("demo-aet"), "order_id": order.id,
            "id_doc": (order.id_doc_type, order.id_doc_number)}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-generation"), _blank_key_and_order,
                   order_count=20, pki_url=PKI_URL) as site:
        yield site


def read_key(site, pin: str | None = None):
    """What the key holds: its certificates (public objects), and whether ``pin`` opens it."""
    from token_bridge.tokens import pkcs11_library
    with softhsm_environment(site.keys), pkcs11_library(site.keys.module_path) as lib:
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


def test_aet_generates_then_holder_activates(new_page, site, tmp_path):
    page = new_page()
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

    # Hand-over, face to face: the holder shows the recorded ID document; the link and the code
    # go out by e-mail.
    id_type, id_number = site.id_doc
    page.get_by_label("Justificatif d'identité présenté").select_option(id_type)
    page.get_by_label("N° du justificatif présenté").fill(id_number)
    page.get_by_role("button", name="Clé remise au porteur : envoyer le code d'activation").click()
    expect(page.locator(".flash-success")).to_contain_text("Clé remise")
    assert csp_violations(page) == []

    # They leave through the outbox; this site runs no scheduler, so its job runs here, once.
    from services.messaging import outbox
    with site.instance.seeding() as app:
        assert outbox.flush(app).sent == 2
    messages = eml_messages(site.instance.instance_path)
    code, link = activation_code(messages), activation_link(messages)
    assert link.startswith(base + "/activation/")

    # The holder, on their own browser: the code, then their own PIN through the bridge.
    page = new_page()
    recorder = RequestRecorder(page)
    page.goto(link)
    expect(page.get_by_role("heading", name="Activation de votre clé USB ou carte à puce")).to_be_visible()
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
    assert csp_violations(page) == []

    with site.instance.query():
        from models import Order
        assert Order.get_by_id(site.order_id).phase == "done"
    _, opened_with_new = read_key(site, HOLDER_PIN)
    _, opened_with_transport = read_key(site, TRANSPORT_PIN)
    assert opened_with_new == 1 and opened_with_transport is False
