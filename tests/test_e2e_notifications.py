"""Notifications to the requester in the browser, on the demo keys: demo-aea opens the viewer of
an incomplete order, sends « Pièce manquante » whose pre-filled text names the missing document;
the requester's e-mail arrives at a real SMTP server; its link lets the requester upload the
piece (with progress); the operator then sees the notification (with its time) and the new
document."""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import log_in_through_the_page, screenshot
from tests.e2e_support import demo_site, order_with_pieces

pytestmark = pytest.mark.browser

NUMBER = 960101
SLOW = 15_000  # ms: a server round trip on a loaded machine (the whole suite runs in parallel)
LINK = re.compile(r"https?://[^\s\"<>]+/suivi/[A-Za-z0-9_.\-]+")


def _incomplete_order(app, keys):
    """Every piece but the Extrait de KBIS, which was never uploaded."""
    order = order_with_pieces(NUMBER, ("holder_id", "legal_rep_id", "payment_proof"),
                              requester_email="alice.colbert@exemple.fr")
    return {"order_id": order.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-notifications"), _incomplete_order,
                   smtp=True) as site:
        yield site


def test_missing_piece_notified_received_and_uploaded_by_the_requester(new_page, site, tmp_path):
    url = site.instance.url
    operator = new_page()
    log_in_through_the_page(operator, url, site.serial)
    operator.goto(f"{url}/commandes/{site.order_id}/visionneuse")
    expect(operator).to_have_title(re.compile(f"Visionneuse — Commande N° {NUMBER}"))

    # Lower right corner: « Envoyer une notification » unfolds the form in place.
    corner = operator.locator(".viewer-corner")
    corner.get_by_role("button", name="Envoyer une notification", exact=True).click()
    form = corner.locator("#notification-form")
    expect(form.get_by_role("heading", name="Envoyer une notification")).to_be_visible(timeout=SLOW)
    kind = form.get_by_label("Type de message")
    kind.select_option(label="Contact OTP non valide")
    expect(form.get_by_label("Objet")).to_have_value(
        f"Commande N° {NUMBER} : Contact OTP non valide", timeout=SLOW)
    kind.select_option(label="Pièce manquante")
    expect(form.get_by_label("Objet")).to_have_value(f"Commande N° {NUMBER} : pièce manquante", timeout=SLOW)
    message = form.get_by_label("Message", exact=True)
    expect(message).to_have_value(
        re.compile(r"il nous manque la ou les pièces suivantes :\n  • Extrait de KBIS\n"), timeout=SLOW)
    assert "Pièce d'identité" not in message.input_value()
    expect(form.get_by_label("Destinataire")).to_have_value("alice.colbert@exemple.fr")
    form.get_by_role("button", name="Aperçu").click()
    expect(form.locator(".mail-preview")).to_contain_text("Commande N° 960101", timeout=SLOW)
    screenshot(operator, "notification-formulaire")
    form.get_by_role("button", name="Envoyer", exact=True).click()
    expect(form.get_by_role("status")).to_contain_text(
        "Notification « Pièce manquante » enregistrée", timeout=SLOW)

    # The requester's e-mail arrives (sent by the server's scheduler), in French, with the link.
    mail = site.smtp.inbox.wait_for(1, timeout=30)[0]
    assert mail.recipients == ["alice.colbert@exemple.fr"]
    assert mail.message["Subject"] == f"Commande N° {NUMBER} : pièce manquante"
    assert "Extrait de KBIS" in mail.text and f"Commande N° {NUMBER}" in mail.html
    link = LINK.search(mail.text).group(0)
    assert urlsplit(link).netloc == urlsplit(url).netloc

    # The history shows it sent, with its time.
    corner.get_by_role("button", name="Historique des notifications", exact=True).click()
    history = corner.locator("#historique-notifications")
    expect(history).to_contain_text(re.compile(r"\d\d/\d\d/\d{4} à \d\d:\d\d"), timeout=20_000)
    expect(history.locator(".delivery")).to_have_text("envoyée", timeout=20_000)
    expect(history).to_contain_text("Pièce manquante")
    expect(history).to_contain_text("Camille Martin")
    screenshot(operator, "notification-historique")

    # The requester opens the link, in their own browser, and uploads the piece.
    requester = new_page()
    requester.goto(link)
    expect(requester.get_by_role("heading", name=f"Suivi de votre commande N° {NUMBER}")).to_be_visible()
    expect(requester.locator("#ce-qui-manque")).to_contain_text("Déposer la pièce manquante : Extrait de KBIS.")
    expect(requester.get_by_text("Camille Martin")).to_have_count(0)
    from demo import documents as docs
    kbis = tmp_path / "kbis.pdf"
    kbis.write_bytes(docs.kbis_pdf("Boileau Colbert Conseil", "434202180", "12 rue de la République, Toulouse",
                                   "Alice Colbert", dt.date(2012, 3, 14)))
    requester.evaluate("""() => { window.uploadProgress = [];
        document.addEventListener('htmx:xhr:progress', e => window.uploadProgress.push([e.detail.loaded, e.detail.total])); }""")
    expect(requester.get_by_label("Pièce à déposer ou à remplacer")).to_have_value("kbis")
    requester.get_by_label(re.compile("^Fichier")).set_input_files(str(kbis))
    requester.get_by_role("button", name="Déposer la pièce").click()
    expect(requester.locator("#vos-pieces [role=status].message")).to_contain_text(
        "Pièce reçue : Extrait de KBIS (« kbis.pdf »). Merci !", timeout=SLOW)
    expect(requester.locator("#ce-qui-manque")).not_to_contain_text("Extrait de KBIS")
    progress = requester.evaluate("() => window.uploadProgress")
    assert progress and any(loaded == total and total >= kbis.stat().st_size for loaded, total in progress)
    expect(requester.locator("#vos-pieces table")).to_contain_text(
        re.compile(r"Extrait de KBIS\s+reçue le \d\d/\d\d/\d{4} à \d\d:\d\d"))
    screenshot(requester, "suivi-demandeur")

    # The operator sees the new document in the viewer, and the notification with its time.
    operator.reload()
    panel = operator.locator(".viewer-panel")
    kbis_item = panel.locator("li.document-item", has_text="Extrait de KBIS")
    expect(kbis_item.get_by_role("link", name="Extrait de KBIS")).to_be_visible(timeout=SLOW)
    kbis_item.get_by_role("button", name=re.compile("^Détails")).click()
    expect(kbis_item).to_contain_text("Demandeur")
    corner.get_by_role("button", name="Historique des notifications", exact=True).click()
    expect(history.locator(".delivery")).to_have_text("envoyée", timeout=SLOW)
    expect(history).to_contain_text(re.compile(r"\d\d/\d\d/\d{4} à \d\d:\d\d"))
    screenshot(operator, "visionneuse-apres-depot")

    # And in the order file: « modifié par le demandeur », the piece, the notification.
    operator.goto(f"{url}/commandes/{site.order_id}")
    expect(operator.get_by_text(re.compile(r"Modifié par le demandeur le \d\d/\d\d/\d{4} à \d\d:\d\d"))).to_be_visible()
    row = operator.locator("table.documents tr", has_text="Extrait de KBIS")
    expect(row).to_contain_text("importé")
    expect(row).to_contain_text("Demandeur")
    expect(operator.locator("#historique-notifications")).to_contain_text("envoyée")
    sent = operator.locator("#historique tr", has_text="Notification envoyée")
    expect(sent).to_contain_text("Type : Pièce manquante")
    screenshot(operator, "fiche-apres-depot")
    assert len(site.smtp.inbox.messages) == 1, "sent once"


def test_report_an_incomplete_dossier_from_the_order_file_without_javascript(new_page, site):
    """« Signaler un dossier incomplet » works without JavaScript: its own page, a plain form."""
    page = new_page(java_script_enabled=False)
    # Without JavaScript the bridge login cannot run: reuse a logged-in session's cookie.
    with_js = new_page()
    log_in_through_the_page(with_js, site.instance.url, site.serial)
    page.context.add_cookies(with_js.context.cookies())
    page.goto(f"{site.instance.url}/commandes/{site.order_id}")
    page.get_by_role("link", name="Signaler un dossier incomplet").click()
    expect(page.get_by_role("heading", name=re.compile("Notifications au demandeur"))).to_be_visible()
    page.get_by_label("Type de message").select_option(label="Autre")
    page.get_by_role("button", name="Remplir le message").click()
    expect(page.get_by_label("Message", exact=True)).to_have_value("")
    page.get_by_label("Message", exact=True).fill("Bonjour,\nMerci de nous rappeler au 05 61 00 00 00.\n{lien}")
    already = len(site.smtp.inbox.messages)
    page.get_by_role("button", name="Envoyer", exact=True).click()
    expect(page.get_by_text("Notification « Autre » enregistrée")).to_be_visible()
    expect(page.locator("#historique-notifications")).to_contain_text("Autre")
    mails = site.smtp.inbox.wait_for(already + 1, timeout=30)
    assert "Merci de nous rappeler" in mails[-1].text
