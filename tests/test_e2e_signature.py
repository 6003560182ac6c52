"""Signature in the browser, the seed's whole path for one order: demo-aea checks the pieces in
the Visionneuse, records the holder's ID number, sends for signature; each signer opens the
link e-mailed to them (received by a real SMTP server), gets a one-time code by e-mail and
signs; the operator sees « signé » everywhere, validates, and finds the order in phase
« Génération du certificat ». Every signed PDF is then checked with poppler's pdfsig."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import log_in_through_the_page, screenshot
from tests.e2e_support import demo_site, order_with_pieces
from tests.signature_support import LINK, code_in, nss_trusting, pdfsig

pytestmark = pytest.mark.browser

NUMBER = 960201
JUSTIFICATIFS = ("Extrait de KBIS", "Pièce d'identité du porteur",
                 "Pièce d'identité du représentant légal", "Preuve de paiement")
CONTRACTS = ("CGU", "Contrat d'abonnement", "Lettre d'autorisation de demande de certificat")


def _order_to_check(app, keys):
    """Every justificatif, no ID number yet."""
    order = order_with_pieces(NUMBER, ("kbis", "holder_id", "legal_rep_id", "payment_proof"),
                              requester_email="demandeur@exemple.fr")
    return {"order_id": order.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-signature"), _order_to_check, smtp=True) as site:
        yield site


def mails_to(smtp, address: str, subject: str, count: int = 1):
    def matching():
        return [m for m in smtp.inbox.messages
                if address in m.recipients and subject in m.message["Subject"]]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(matching()) < count:
        time.sleep(0.1)
    found = matching()
    assert len(found) >= count, f"no « {subject} » for {address}"
    return found


def test_check_record_send_sign_validate(new_page, site, tmp_path):
    url, order_url = site.instance.url, f"{site.instance.url}/commandes/{site.order_id}"
    operator = new_page()
    log_in_through_the_page(operator, url, site.serial)

    # 1. Check each piece in the Visionneuse.
    operator.goto(f"{order_url}/visionneuse")
    for label in JUSTIFICATIFS:
        operator.locator(".viewer-panel").get_by_role("link", name=label, exact=True).click()
        expect(operator.locator("#document-titre")).to_contain_text(label)
        operator.get_by_role("button", name="Marquer « vérifiée »").click()
        expect(operator.locator(".viewer-panel li.document-item", has_text=label)
               .locator(".verified-mark")).to_be_visible()

    # Record the holder's ID document number.
    operator.goto(order_url)
    expect(operator.get_by_role("button", name="Envoyer pour signature")).to_have_count(0)
    operator.get_by_label("Type de justificatif").select_option(label="CNI")
    operator.get_by_role("textbox", name="N° de justificatif d'identité").fill("X4RTBPFW4")
    operator.get_by_role("button", name="Modifier").click()
    expect(operator.locator("#justificatif-identite")).to_contain_text("N° de justificatif d'identité enregistré.")

    # 2. Envoyer pour signature.
    operator.reload()
    operator.get_by_role("button", name="Envoyer pour signature").click()
    expect(operator.get_by_role("status").first).to_contain_text("Documents envoyés pour signature à 2 signataires")
    panel = operator.locator("#signature")
    expect(panel.locator("table.signature-signers")).to_contain_text("envoyé")
    screenshot(operator, "signature-envoyee", full_page=True)

    # 3. Each signer signs from the link of their e-mail, with the code sent to them.
    for address in ("porteur@example.org", "rl@example.org"):
        invitation = mails_to(site.smtp, address, "documents à signer")[0]
        link = LINK.search(invitation.text).group(0)
        signer = new_page()
        signer.goto(link)
        expect(signer.get_by_role("heading", name=f"Signature des documents — Commande N° {NUMBER}")).to_be_visible()
        for label in CONTRACTS:
            expect(signer.get_by_role("heading", name=re.compile(re.escape(label)))).to_be_visible()
        first_page = signer.locator("img.page").first
        expect(first_page).to_have_js_property("complete", True)
        assert first_page.evaluate("img => img.naturalWidth") > 0
        signer.get_by_role("button", name="Recevoir un code").click()
        expect(signer.get_by_role("status")).to_contain_text("Un code à usage unique vient de vous être envoyé")
        code = code_in(mails_to(site.smtp, address, "votre code de signature")[0].text)
        signer.get_by_label("Code reçu (6 chiffres)").fill(code)
        signer.get_by_label("J'ai lu les documents ci-dessus et j'accepte de les signer électroniquement.").check()
        screenshot(signer, f"signataire-{address.split('@')[0]}")
        signer.get_by_role("button", name="Signer les documents").click()
        expect(signer.get_by_role("status")).to_contain_text("vos documents sont signés")
        expect(signer.locator(".sign-document .status-complete")).to_have_count(3)
        signer.context.close()

    # « signé » everywhere in the order file.
    operator.reload()
    for label in CONTRACTS:
        expect(operator.locator("table.documents tr", has_text=label)).to_contain_text("signé")
        expect(operator.locator("table.signature-documents tr", has_text=label)
               .locator(".status")).to_have_text("signé")
    expect(operator.locator("table.signature-signers .signature-state")).to_have_text(["signé", "signé"])
    expect(operator.locator("#informations").locator("..")).to_contain_text("à valider")

    # 4. Valider: the boxes, the confirmation, the final button.
    validation = operator.locator("#validation")
    validation.get_by_label("Règlement (OK)").check()
    validation.get_by_label("Dossier complet (OK)").check()
    validation.get_by_role("button", name="Valider", exact=True).click()
    expect(operator.get_by_role("alert")).to_contain_text("Cette action est irréversible")
    screenshot(operator, "confirmation-validation")
    operator.get_by_role("button", name="Valider cette phase et passer à la suivante (Génération du certificat)").click()
    expect(operator.get_by_role("status").first).to_contain_text("validée")
    expect(operator.locator("section", has=operator.locator("#informations"))).to_contain_text(
        "Phase Génération du certificat")
    expect(operator.locator("#validation")).to_contain_text("Le dossier est en lecture seule.")
    screenshot(operator, "commande-validee", full_page=True)

    # The list shows it in its new phase.
    operator.goto(f"{url}/commandes?number={NUMBER}")
    expect(operator.locator("table").first).to_contain_text("Génération du certificat")

    # pdfsig: every signature of every signed document is valid; pyHanko: each chains to the
    # embedded CA's root. (While the server runs, NSS also fetches the CRL named in the CA
    # certificates and then reports the second signature's certificate as an « unknown issue »;
    # with the server unreachable, as in tests/test_signatures.py, it reports both trusted.)
    from cryptography import x509
    from models import Document
    from adapters import pades
    root = (site.instance.instance_path / "ca" / "root.crt").read_bytes()
    nss = nss_trusting(root, tmp_path / "nss")
    with site.instance.query():
        signed = list(Document.select().where((Document.order == site.order_id)
                                              & (Document.category == "contractuel")
                                              & (Document.is_current == True)))  # noqa: E712
    assert len(signed) == 3 and all(d.status == "signed" for d in signed)
    for document in signed:
        path = site.instance.instance_path / "documents" / document.sha256[:2] / document.sha256[2:4] / document.sha256
        report = pdfsig(path, nss)
        assert report.count("Signature Validation: Signature is Valid.") == 2, report
        # pyHanko runs its own event loop: not in Playwright's thread, which has one.
        with ThreadPoolExecutor(1) as pool:
            checks = pool.submit(pades.verify, path.read_bytes(),
                                 [x509.load_pem_x509_certificate(root)]).result()
        assert len(checks) == 2 and all(c.bottom_line and c.trusted for c in checks)
