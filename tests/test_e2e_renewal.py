"""A renewal as people do it: headless Chromium on the real app with the demo data, e-mails
through a real SMTP server, the real token bridge and SoftHSM2 keys.

The holder of a « Terminée » demo order whose certificate expires in 25 days gets the
reminder e-mail and opens its renewal link,
renews: the draft is prefilled, the ID document checked at the first order is carried over,
the missing pieces are uploaded, the address confirmed, the order sent. Once reviewed (the
production services, as the demo replays them), demo-aet generates the new certificate onto a
blank key and hands it over; the holder activates it; only then is the old certificate
revoked (« superseded ») in the CRL the certificates name.
"""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509
from playwright.sync_api import expect

from tests.browser_fixtures import csp_violations, log_in_through_the_page
from tests.e2e_support import demo_site
from tests.generation_support import activation_code, activation_link
from tests.image_samples import png
from tests.signature_support import code_in
from tests.test_e2e_ordering import mail_to, upload

pytestmark = pytest.mark.browser

REQUESTER = "alice.colbert@exemple.fr"
HOLDER = "porteur.renouvellement@exemple.fr"
TRANSPORT_PIN = "1234"
HOLDER_PIN = "97531864"


def _renewable_order(app, keys):
    """A BPOI demo order « Terminée », its certificate on the holder's key, no mandataire; its
    holder's ID document was checked at review (expiry noted, 6 more years)."""
    from demo.seed import DEMO_SO_PIN
    from models import AE, Document, HolderCertificate, Order, Person, utcnow
    from services.renewal import expiry_reminders
    from token_bridge import provision

    bpoi = AE.get(AE.name == "BPOI")
    row = (HolderCertificate.select(HolderCertificate)
           .join(Order, on=(HolderCertificate.order == Order.id))
           .where((Order.ae == bpoi.id) & (Order.phase == "done")
                  & HolderCertificate.written_at.is_null(False))
           .order_by(Order.mandataire.is_null(False), Order.number).first())
    order = Order.get_by_id(row.order_id)
    Order.update(requester_email=REQUESTER, otp_contact=REQUESTER).where(
        Order.id == order.id).execute()
    Person.update(email=HOLDER).where(Person.id == order.holder_id).execute()
    Document.update(verified_at=utcnow(), expires_on=utcnow().date() + dt.timedelta(days=6 * 365)).where(
        (Document.order == order.id) & (Document.kind == "holder_id") & Document.is_current).execute()
    # Its certificate expires in 25 days: the hourly job queues the 30-day reminder, which the
    # server's outbox sends once it runs.
    HolderCertificate.update(not_after=utcnow() + dt.timedelta(days=25)).where(
        HolderCertificate.id == row.id).execute()
    expiry_reminders.job(app)
    blank = provision.init_token("cle-renouvellement", TRANSPORT_PIN, DEMO_SO_PIN, keys.conf_path)
    return {"previous_id": order.id, "previous_number": order.number, "old_serial": row.serial_hex,
            "blank_serial": blank, "aet_serial": keys.serial("demo-aet")}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-renewal"), _renewable_order, order_count=20,
                   smtp=True) as site:
        yield site


def _reviewed(site, number: int) -> int:
    with site.instance.seeding() as app:
        from demo import progress
        from models import Order
        renewal = Order.get(Order.number == number)
        assert (renewal.process, renewal.phase, renewal.substate) == (
            "renewal", "validation", "to_check")
        progress.advance(app, renewal, progress.GENERATION)
        assert Order.get_by_id(renewal.id).phase == "generation"
        return renewal.id


def _ocsp_status(site, tmp_path, serial_hex: str) -> str:
    """``openssl ocsp`` against the responder the certificate names (AIA), its answer
    verified against the root."""
    from models import HolderCertificate
    with site.instance.query():
        pem = HolderCertificate.get(HolderCertificate.serial_hex == serial_hex).pem
    certificate = x509.load_pem_x509_certificate(pem.encode())
    url = next(d.access_location.value for d in certificate.extensions.get_extension_for_class(
        x509.AuthorityInformationAccess).value
        if d.access_method == x509.AuthorityInformationAccessOID.OCSP)
    assert url == f"{site.instance.url}/pki/ocsp"
    (tmp_path / "cert.pem").write_text(pem)
    ca = site.instance.instance_path / "ca"
    answer = subprocess.run(["openssl", "ocsp", "-issuer", ca / "issuing.crt", "-CAfile",
                             ca / "root.crt", "-cert", tmp_path / "cert.pem", "-url", url],
                            capture_output=True, text=True, timeout=30)
    assert "Response verify OK" in answer.stderr, answer.stdout + answer.stderr
    return answer.stdout


def _crl_entry(site, serial_hex: str):
    with urllib.request.urlopen(f"{site.instance.url}/pki/issuing.crl") as answer:
        crl = x509.load_der_x509_crl(answer.read())
    return crl.get_revoked_certificate_by_serial_number(int(serial_hex, 16))


def test_a_holder_renews_from_the_link_and_the_old_certificate_is_revoked_once_activated(
        new_page, site, tmp_path):
    base = site.instance.url
    reminder = mail_to(site.smtp, HOLDER, "Votre certificat expire le")
    link = re.search(r"https?://\S+/renouveler/[A-Za-z0-9_.\-]+", reminder.text).group(0)
    assert link.startswith(base)
    holder = new_page()
    holder.goto(link)
    expect(holder.get_by_role("heading", name="Renouveler votre certificat")).to_be_visible()
    expect(holder.locator("dl")).to_contain_text(site.old_serial)
    holder.get_by_role("button", name="Renouveler mon certificat").click()

    holder.wait_for_url(re.compile(r"/recapitulatif$"))
    expect(holder.get_by_role("heading", level=1)).to_contain_text("Renouveler un certificat")
    expect(holder.get_by_text(f"Renouvellement du certificat N° {site.old_serial}")).to_be_visible()
    number = int(re.search(r"commande N° (\d+)", holder.get_by_role("heading", level=1)
                           .inner_text()).group(1))
    assert number != site.previous_number

    holder.get_by_role("navigation", name="Étapes de la commande").get_by_role(
        "link", name="Pièces justificatives").click()
    carried = holder.locator("li", has=holder.get_by_role(
        "heading", name="Pièce d'identité du porteur", exact=True))
    expect(carried.locator(".piece-state")).to_contain_text("Reçue")
    # The pieces not carried over: whatever else the dossier needs (not the holder's ID).
    asked = [item.get_by_role("heading").inner_text()
             for item in holder.locator("#pieces-justificatives li").all()
             if "Reçue" not in item.locator(".piece-state").inner_text()]
    assert "Preuve de paiement" in asked and "Pièce d'identité du porteur" not in asked
    for number_, label in enumerate(asked):
        path = tmp_path / f"piece-{number_}.png"
        path.write_bytes(png((30, 60, 90 + number_)))
        upload(holder, label, path, path.name)

    holder.get_by_role("link", name="Continuer vers le récapitulatif").click()
    holder.get_by_role("button", name="Recevoir un code", exact=True).click()
    mail = mail_to(site.smtp, REQUESTER, f"Commande N° {number} : votre code de confirmation")
    holder.get_by_label("Code reçu par e-mail").fill(code_in(mail.text))
    holder.get_by_role("button", name="Confirmer mon adresse").click()
    holder.get_by_role("button", name="Envoyer la commande").click()
    holder.wait_for_url(re.compile(r"/suivi/"))
    assert csp_violations(holder) == []

    # The AE's review, signatures and validation, through the production services (pyHanko
    # runs its own event loop: not in Playwright's thread, which has one).
    with ThreadPoolExecutor(1) as pool:
        renewal_id = pool.submit(_reviewed, site, number).result()

    operator = new_page()
    log_in_through_the_page(operator, base, site.aet_serial)
    operator.goto(f"{base}/commandes/{renewal_id}")
    expect(operator.locator("#renouvellement")).to_contain_text(
        f"Cette commande renouvelle le certificat N° {site.old_serial}")
    chooser = operator.get_by_label("Clé USB vierge")
    chooser.select_option(site.blank_serial)
    operator.get_by_label("Code PIN de la clé vierge").fill(TRANSPORT_PIN)
    operator.get_by_role("button", name="Générer le certificat").click()
    operator.get_by_role("button", name="Confirmer la génération").click()
    expect(operator.locator(".flash-success")).to_contain_text(
        "généré et inscrit sur la clé USB", timeout=60_000)
    new_serial = operator.locator("#certificat dd code").first.inner_text()

    with site.instance.query():
        from models import Order
        id_type, id_number = Order.select(Order.id_doc_type, Order.id_doc_number).where(
            Order.id == renewal_id).tuples().get()
    operator.get_by_label("Justificatif d'identité présenté").select_option(id_type)
    operator.get_by_label("N° du justificatif présenté").fill(id_number)
    operator.get_by_role("button", name="Clé remise au porteur : envoyer le code d'activation").click()
    expect(operator.locator(".flash-success")).to_contain_text("Clé remise")
    assert _crl_entry(site, site.old_serial) is None  # not before the activation
    assert ": good" in _ocsp_status(site, tmp_path, site.old_serial)

    link = mail_to(site.smtp, HOLDER, "Activation de votre clé")
    code = mail_to(site.smtp, REQUESTER, "Code d'activation")
    holder.goto(activation_link([link.message]))
    holder.get_by_label("Code d'activation").fill(activation_code([code.message]))
    holder.get_by_role("button", name="Valider le code").click()
    holder.get_by_label("Clé USB", exact=True).select_option(site.blank_serial)
    holder.get_by_label("Nouveau code PIN", exact=True).fill(HOLDER_PIN)
    holder.get_by_label("Confirmer le nouveau code PIN").fill(HOLDER_PIN)
    holder.get_by_role("button", name="Activer la clé").click()
    expect(holder.locator("#activation-message")).to_contain_text("Votre clé est activée")

    entry = _crl_entry(site, site.old_serial)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.superseded
    assert _crl_entry(site, new_serial) is None
    old_status = _ocsp_status(site, tmp_path, site.old_serial)
    assert ": revoked" in old_status and "Reason: superseded" in old_status
    assert ": good" in _ocsp_status(site, tmp_path, new_serial)
