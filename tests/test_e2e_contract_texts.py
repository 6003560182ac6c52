"""« Textes contractuels » in the browser: the AE's admin opens the section from
Administration, starts a « Nouvelle version » of the CGU, writes a clause, saves the draft,
looks at its « Aperçu PDF » (read back with pdftotext), publishes it for today after the
confirmation page, and finds it « en vigueur » in the list — without a CSP violation. The next
« Envoyer pour signature » then uses it: the CGU downloaded from the Visionneuse says
« Version 2 du … » with the new clause, and the order's history names the version."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import csp_violations, log_in_through_the_page, screenshot
from tests.e2e_support import operator_site, operator_with_key

pytestmark = pytest.mark.browser

CLAUSE = "## Article 17 — Signature sur tablette\n\n{provider} accepte la signature *sur tablette*."


def _seed(app, softhsm):
    from tests.factories import make_order
    from tests.signature_support import ready_order

    ae, admin, token = operator_with_key(app, softhsm, label="cle-admin", roles="AEA,admin")
    order = ready_order(app, make_order, ae, recorder=admin, number=960310)
    return {"token": token, "order_id": order.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with operator_site(tmp_path_factory.mktemp("e2e-textes"), _seed) as site:
        yield site


def pdf_words(pdf: bytes, folder) -> str:
    path = folder / "apercu.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                         check=True).stdout.decode("utf-8")
    return " ".join(out.split())


def test_admin_writes_previews_and_publishes_a_new_version(new_page, site, tmp_path):
    base = site.instance.url
    page = new_page()
    log_in_through_the_page(page, base, site.token.serial)
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Textes contractuels").click()
    expect(page.get_by_role("heading", name="Textes contractuels", level=1)).to_be_visible()
    cgu = page.locator("#texte-cgu")
    expect(cgu).to_contain_text("En vigueur : version 1 du")

    # « Nouvelle version »: a draft of the text in force, written in.
    cgu.get_by_role("button", name="Nouvelle version").click()
    expect(page.get_by_role("heading", name="CGU — version 2")).to_be_visible()
    editor = page.get_by_label("Clauses (Markdown)")
    standard = editor.input_value()
    assert standard.startswith("## Article 1 — Objet")
    editor.fill(standard + "\n" + CLAUSE)
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(page.get_by_role("status").first).to_contain_text("Brouillon enregistré.")
    screenshot(page, "textes-brouillon", full_page=True)

    # « Aperçu PDF »: the document as it would be generated, from the sample order.
    with page.expect_response(lambda response: "apercu.pdf" in response.url) as answer:
        page.get_by_role("button", name="Aperçu PDF").click()
    response = answer.value
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    # Chromium hands the PDF to its viewer: the same address fetched with the page's session.
    pdf = page.context.request.get(response.url).body()
    assert pdf.startswith(b"%PDF-")
    words = pdf_words(pdf, tmp_path)
    assert "Article 17 — Signature sur tablette" in words
    assert "accepte la signature sur tablette." in words
    assert "(aperçu, non publiée)" in words
    page.goto(f"{base}/parametres/textes-contractuels")
    page.locator("#texte-cgu").get_by_role("link", name="Modifier la version 2").click()

    # « Publier » for today, confirmed.
    page.get_by_role("button", name="Publier", expanded=False).click()  # the disclosure
    page.locator(".disclosure-region").get_by_role("button", name="Publier", exact=True).click()
    expect(page.locator("#confirmation-publication")).to_contain_text("Elle entrera en vigueur le")
    screenshot(page, "textes-confirmation")
    page.get_by_role("button", name="Confirmer la publication").click()
    expect(page.get_by_role("status").first).to_contain_text("Version 2 de « CGU » publiée")
    row = page.locator("#texte-cgu tbody tr").first
    expect(row).to_contain_text("Version 2")
    expect(row).to_contain_text("en vigueur")
    expect(page.locator("#texte-cgu")).to_contain_text("remplacée")
    screenshot(page, "textes-publies", full_page=True)
    assert csp_violations(page) == []

    # The next « Envoyer pour signature » generates the CGU from version 2.
    from services.signing import text_versions
    today = f"{text_versions.today():%d/%m/%Y}"
    order_url = f"{base}/commandes/{site.order_id}"
    page.goto(order_url)
    page.get_by_role("button", name="Envoyer pour signature").click()
    expect(page.get_by_role("status").first).to_contain_text("Documents envoyés pour signature")
    history = page.locator("#historique")
    expect(history).to_contain_text(f"CGU : Version 2 du {today}")
    expect(history).to_contain_text("Contrat d'abonnement : Version 1 du")

    # The contract as generated, downloaded from the Visionneuse: its footer names version 2.
    page.goto(f"{order_url}/visionneuse")
    page.locator(".viewer-panel").get_by_role("link", name="CGU", exact=True).click()
    expect(page.locator("#document-titre")).to_contain_text("CGU")
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger l'original").click()
    words = pdf_words(Path(download.value.path()).read_bytes(), tmp_path)
    assert f"Version 2 du {today}" in words and "Version 1 du" not in words
    assert "Article 17 — Signature sur tablette" in words
    assert "(aperçu, non publiée)" not in words
    assert csp_violations(page) == []

    with site.instance.query():
        import json
        from models import AuditEvent, ContractTextVersion, Document
        event = AuditEvent.get((AuditEvent.action == "signature_sent")
                               & (AuditEvent.order == site.order_id))
        assert f"CGU : Version 2 du {today}" in json.loads(event.details)["textes"]
        cgu = Document.get((Document.order == site.order_id) & (Document.kind == "cgu")
                           & (Document.is_current == True))  # noqa: E712
        assert ContractTextVersion.get_by_id(cgu.text_version_id).number == 2
