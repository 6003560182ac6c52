"""The ordering page in the browser, on the demo (portals bpoi-occitanie and bpoi-rhone), with
e-mails received by a real SMTP server.

1. A requester places an order with a mandataire on /commander/bpoi-occitanie: every step,
   the 5 pieces uploaded through the page's file inputs (PDF, JPEG, PNG; the upload progress
   shown, the KBIS replaced with « Remplacer »), the code e-mailed to « Votre e-mail » typed
   back, « Envoyer la commande ». demo-aea finds the order under « à vérifier », records the
   holder's ID number, sends it for signature; the three signers sign from their e-mailed
   links; she validates, and the order is in « Génération du certificat ».
2. A draft left with a piece missing is completed from the follow-up link of its e-mail: the
   piece uploaded, « Envoyer la commande » appears, and the order is « à vérifier » in the
   operator's list.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import csp_violations, log_in_through_the_page, screenshot
from tests.e2e_support import demo_site
from tests.signature_support import LINK as SIGNING_LINK, code_in

pytestmark = pytest.mark.browser

FOLLOWUP_LINK = re.compile(r"https?://[^\s\"<>]+/suivi/[A-Za-z0-9_.\-]+")
COMPANY, SIREN = "Boileau Colbert Conseil", "434202180"
REQUESTER = "alice.colbert@exemple.fr"
HOLDER = dict(civility="Mme", first_name="Claire", last_name="Durand",
              email="claire.durand@exemple.fr", phone="06 12 34 56 78")
LEGAL = dict(civility="Mme", first_name="Alice", last_name="Colbert",
             email="alice.colbert.rl@exemple.fr", phone="")
MANDATAIRE = dict(civility="M.", first_name="Luc", last_name="Martin",
                  email="luc.martin@exemple.fr", phone="06 98 76 54 32")
HOLDER_CNI = "X4RTBPFW4"
OFFER = "Certificat qualifié eIDAS (RGS**) de signature"
# Who signs what when a mandataire acts: the holder the three contracts, the legal
# representative the power of attorney, the mandataire all four.
SIGNERS = ((HOLDER["email"], 3), (LEGAL["email"], 1), (MANDATAIRE["email"], 4))

DRAFT_REQUESTER = "marc.petit@exemple.fr"


def _draft_with_a_missing_piece(app, keys):
    """On bpoi-rhone, a draft typed to the end (no mandataire) whose proof of payment was never
    uploaded, made as the ordering page makes it: its follow-up link is e-mailed when the
    server's outbox runs."""
    from demo import documents as docs
    from models import Order, OrderIntake, Portal
    from services.intake import drafts, pieces

    portal = Portal.get(Portal.code == "bpoi-rhone")
    started = drafts.start(app, portal, dict(
        company_name="Petit Conseil", siren="552032534", rcs="oui", requester_name="Marc Petit",
        requester_email=DRAFT_REQUESTER))
    offers = drafts.offers_for(portal)
    for step, answers in (
            ("porteur", dict(civility="M.", first_name="Marc", last_name="Petit",
                             email=DRAFT_REQUESTER, phone="", otp_contact="0611223344")),
            ("representant-legal", dict(civility="Mme", first_name="Inès", last_name="Petit",
                                        email="ines.petit@exemple.fr", phone="")),
            ("mandataire", dict(has_mandataire="non", civility="", first_name="", last_name="",
                                email="", phone="")),
            ("produit", dict(offer=str(offers[0].id), validity="1", medium="usb"))):
        order = Order.with_people().where(Order.id == started.order.id).get()
        drafts.save_step(order, OrderIntake.get_by_id(started.intake.id), step, answers, offers)
    order = Order.with_people().where(Order.id == started.order.id).get()
    for kind, filename, data in (
            ("kbis", "kbis.pdf", docs.kbis_pdf("Petit Conseil", "552032534", "3 place du Capitole, "
                                               "Toulouse", "Inès Petit", dt.date(2015, 6, 1))),
            ("holder_id", "cni-marc.jpg", docs.id_card_image("Marc", "Petit", dt.date(1980, 1, 2),
                                                             "880692310285")),
            ("legal_rep_id", "cni-ines.jpg", docs.id_card_image("Inès", "Petit",
                                                                dt.date(1982, 3, 4),
                                                                "X4RTBPFW5"))):
        pieces.upload(order, kind, filename, data)
    return {"draft_number": order.number}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-ordering"), _draft_with_a_missing_piece,
                   smtp=True) as site:
        yield site


def mail_to(smtp, address: str, subject: str):
    """The first e-mail to ``address`` whose subject has ``subject``, once it came (the
    server's outbox runs every second)."""
    def matching():
        return [m for m in smtp.inbox.messages
                if address in m.recipients and subject in m.message["Subject"]]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not matching():
        time.sleep(0.1)
    found = matching()
    assert found, f"pas de « {subject} » pour {address}"
    return found[0]


def save_step(page, next_title: str) -> None:
    page.get_by_role("button", name="Enregistrer et continuer").click()
    expect(page.get_by_role("heading", level=2, name=next_title, exact=True)).to_be_visible()


def fill_person(page, person: dict, optional: bool = False) -> None:
    """A person's fields; the mandataire's are marked « (facultatif) » (only asked if « Oui »)."""
    suffix = " (facultatif)" if optional else ""
    page.get_by_role("group", name="Civilité").get_by_label(person["civility"], exact=True).check()
    page.get_by_label(f"Prénom{suffix}", exact=True).fill(person["first_name"])
    page.get_by_label(f"Nom{suffix}", exact=True).fill(person["last_name"])
    page.get_by_label(f"E-mail{suffix}", exact=True).fill(person["email"])
    page.get_by_label("Téléphone (facultatif)", exact=True).fill(person["phone"])


def to_check(operator) -> None:
    """The Commandes list under its « à vérifier » counter."""
    counter = operator.get_by_role("link", name=re.compile(r"^à vérifier : \d+$"))
    counter.click()
    expect(counter).to_have_attribute("aria-current", "true")
    expect(operator).to_have_url(re.compile(r"substate=to_check"))


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


# The upload progress as upload.js shows it, read at each progress event htmx reports (this
# listener runs after upload.js's own, so it sees what the requester sees then).
RECORD_PROGRESS = """() => {
  window.uploadProgress = [];
  document.addEventListener("htmx:xhr:progress", (event) => {
    const form = event.target.closest("form[data-upload-progress]");
    if (!form) return;
    const box = form.querySelector(".upload-progress");
    window.uploadProgress.push({
      kind: form.querySelector('input[name="kind"]').value, shown: !box.hidden,
      value: box.querySelector("progress").value, loaded: event.detail.loaded,
      total: event.detail.total, disabled: form.querySelector('button[type="submit"]').disabled,
      status: form.querySelector("[data-upload-status]").textContent});
  });
}"""


def upload(page, label: str, path: Path, filename: str, *, replace: bool = False) -> None:
    field = "Remplacer par un autre fichier" if replace else "Fichier"
    page.get_by_label(f"{field} — {label}", exact=True).set_input_files(path)
    item = page.locator("li", has=page.get_by_role("heading", name=label, exact=True))
    item.get_by_role("button", name="Remplacer" if replace else "Déposer", exact=True).click()
    expect(page.locator("#pieces-justificatives p.message[role=status]")).to_have_text(
        f"Pièce reçue : {label} (« {filename} »).")
    expect(page.locator("li", has=page.get_by_role("heading", name=label, exact=True))
           .locator(".piece-state")).to_contain_text(f"Reçue : « {filename} »")


def test_order_with_a_mandataire_placed_checked_signed_and_validated(new_page, site, tmp_path):
    requester = new_page()
    number = type_the_steps(requester, site)
    upload_the_pieces(requester, tmp_path, number)
    prove_the_address_and_send(requester, site, number)
    operator = new_page()
    order_url = find_record_and_send_for_signature(operator, site, number)
    for address, documents in SIGNERS:
        sign(new_page(), site, number, address, documents)
    validate(operator, site, order_url, number)

    # What was kept: the five pieces as the requester uploaded them, the first KBIS archived.
    from models import Document, Order
    with site.instance.query():
        order = Order.get(Order.number == number)
        current = {d.kind: d.filename for d in Document.select().where(
            (Document.order == order.id) & (Document.category == "justificatif")
            & (Document.is_current == True))}  # noqa: E712
        replaced = [d.filename for d in Document.select().where(
            (Document.order == order.id) & (Document.kind == "kbis")
            & (Document.is_current == False))]  # noqa: E712
    assert order.phase == "generation" and order.mandataire_id is not None
    assert current == {"kbis": "kbis.pdf", "holder_id": "cni-claire-durand.jpg",
                       "legal_rep_id": "cni-alice-colbert.jpg",
                       "mandataire_id": "passeport-luc-martin.png",
                       "payment_proof": "facture-acquittee.pdf"}
    assert replaced == ["kbis-2019.pdf"]


def type_the_steps(requester, site) -> int:
    """From « Société » to « Pièces justificatives »; returns the order's number."""
    # « Société »: the draft exists, its link is e-mailed to « Votre e-mail ».
    requester.goto(f"{site.instance.url}/commander/bpoi-occitanie")
    expect(requester.get_by_role("heading", level=1)).to_have_text("Commander un certificat")
    requester.get_by_label("Raison sociale").fill(COMPANY)
    requester.get_by_label("SIREN").fill("434 202 180")
    rcs = requester.get_by_role("group", name="Immatriculée au RCS")
    rcs.get_by_label("Oui", exact=True).check()
    requester.get_by_label("Vos prénom et nom").fill("Alice Colbert")
    requester.get_by_label("Votre e-mail").fill(REQUESTER)
    save_step(requester, "Porteur")
    heading = requester.get_by_role("heading", level=1).text_content()
    number = int(re.fullmatch(r"Commander un certificat — commande N° (\d+)", heading).group(1))
    expect(requester.get_by_role("status").first).to_contain_text(
        f"Votre commande N° {number} est commencée.")
    draft_mail = mail_to(site.smtp, REQUESTER, f"Commande N° {number} : votre commande en cours")
    assert FOLLOWUP_LINK.search(draft_mail.text)

    fill_person(requester, HOLDER)
    requester.get_by_label("Contact OTP").fill("06 12 34 56 78")
    save_step(requester, "Représentant légal")
    fill_person(requester, LEGAL)
    save_step(requester, "Mandataire")
    requester.get_by_label("Oui : le représentant légal a donné procuration à un "
                           "mandataire").check()
    fill_person(requester, MANDATAIRE, optional=True)
    save_step(requester, "Produit")
    requester.get_by_role("group", name="Offre").get_by_label(OFFER).check()
    requester.get_by_role("group", name="Validité").get_by_label("3 ans").check()
    requester.get_by_role("group", name="Support").get_by_label("Clé USB").check()
    save_step(requester, "Pièces justificatives")
    return number


def upload_the_pieces(requester, folder: Path, number: int) -> None:
    """Five pieces, each through its own file input, with the progress shown; a wrong KBIS
    replaced with « Remplacer »."""
    from demo import documents as docs
    files = {
        "old_kbis": write(folder, "kbis-2019.pdf", docs.kbis_pdf(
            COMPANY, SIREN, "12 rue de la République, Toulouse", "Alice Colbert",
            dt.date(2012, 3, 14), issued_on=dt.date(2019, 5, 2))),
        "kbis": write(folder, "kbis.pdf", docs.kbis_pdf(
            COMPANY, SIREN, "12 rue de la République, Toulouse", "Alice Colbert",
            dt.date(2012, 3, 14))),
        "holder_id": write(folder, "cni-claire-durand.jpg", docs.id_card_image(
            "Claire", "Durand", dt.date(1984, 2, 3), HOLDER_CNI)),
        "legal_rep_id": write(folder, "cni-alice-colbert.jpg", docs.id_card_image(
            "Alice", "Colbert", dt.date(1979, 9, 12), "880692310285")),
        "mandataire_id": write(folder, "passeport-luc-martin.png", docs.id_card_image(
            "Luc", "Martin", dt.date(1975, 11, 30), "19AB12345", fmt="PNG", kind="Passeport")),
        "payment_proof": write(folder, "facture-acquittee.pdf", docs.payment_proof_pdf(
            number, COMPANY, 249.0, dt.date(2026, 1, 5))),
    }
    expect(requester.locator("#pieces-justificatives h3")).to_have_text([
        "Extrait de KBIS", "Pièce d'identité du porteur", "Pièce d'identité du représentant légal",
        "Pièce d'identité du mandataire", "Preuve de paiement"])
    requester.evaluate(RECORD_PROGRESS)
    upload(requester, "Extrait de KBIS", files["old_kbis"], "kbis-2019.pdf")
    upload(requester, "Pièce d'identité du porteur", files["holder_id"], "cni-claire-durand.jpg")
    upload(requester, "Pièce d'identité du représentant légal", files["legal_rep_id"],
           "cni-alice-colbert.jpg")
    upload(requester, "Pièce d'identité du mandataire", files["mandataire_id"],
           "passeport-luc-martin.png")
    upload(requester, "Preuve de paiement", files["payment_proof"], "facture-acquittee.pdf")
    upload(requester, "Extrait de KBIS", files["kbis"], "kbis.pdf", replace=True)
    expect(requester.locator("#pieces-justificatives .piece-state strong")).to_have_count(0)
    progress = requester.evaluate("() => window.uploadProgress")
    for kind in ("kbis", "holder_id", "legal_rep_id", "mandataire_id", "payment_proof"):
        size = files[kind].stat().st_size
        assert any(p["kind"] == kind and p["shown"] and p["disabled"] and p["value"] == 100
                   and p["loaded"] == p["total"] >= size
                   and p["status"] == "Fichier envoyé, vérification en cours…"
                   for p in progress), (kind, progress)
    screenshot(requester, "commande-pieces", full_page=True)


def prove_the_address_and_send(requester, site, number: int) -> None:
    """« Récapitulatif »: the answers, the address proven by the e-mailed code, « Envoyer la
    commande », and the follow-up page it leads to."""
    requester.get_by_role("link", name="Continuer vers le récapitulatif").click()
    expect(requester.get_by_role("heading", level=2, name="Récapitulatif")).to_be_visible()
    summary = requester.locator(".summary")
    expect(summary).to_contain_text("Mme Claire Durand")
    expect(summary).to_contain_text("M. Luc Martin")
    expect(summary).to_contain_text("Extrait de KBIS : reçue (« kbis.pdf »)")
    expect(summary).to_contain_text(
        "Pièce d'identité du mandataire : reçue (« passeport-luc-martin.png »)")
    envoi = requester.locator("#envoi")
    expect(envoi).to_contain_text("Confirmez votre adresse e-mail avec le code reçu avant "
                                  "d'envoyer la commande.")
    requester.get_by_role("button", name="Recevoir un code", exact=True).click()
    expect(requester.get_by_role("status").first).to_contain_text(
        "Un code de confirmation vient d'être envoyé à")
    mail = mail_to(site.smtp, REQUESTER, f"Commande N° {number} : votre code de confirmation")
    requester.get_by_label("Code reçu par e-mail").fill(code_in(mail.text))
    requester.get_by_role("button", name="Confirmer mon adresse").click()
    expect(requester.get_by_role("status").first).to_have_text(
        "Votre adresse e-mail est confirmée.")
    expect(envoi).to_contain_text("Tout est prêt.")
    screenshot(requester, "commande-recapitulatif", full_page=True)
    requester.get_by_role("button", name="Envoyer la commande").click()

    requester.wait_for_url(re.compile(r"/suivi/"))
    expect(requester.get_by_role("heading", name=f"Suivi de votre commande N° {number}")
           ).to_be_visible()
    expect(requester.get_by_role("status").first).to_have_text(
        f"Votre commande N° {number} est envoyée à l'Autorité d'Enregistrement BPOI. Un accusé "
        f"de réception vient de vous être envoyé par e-mail.")
    expect(requester.locator("body")).to_contain_text(
        "Vos pièces justificatives sont en cours de vérification.")
    expect(requester.locator("#envoi")).to_have_count(0)
    mail_to(site.smtp, REQUESTER, f"Commande N° {number} : commande reçue")
    assert csp_violations(requester) == []
    requester.context.close()


def find_record_and_send_for_signature(operator, site, number: int) -> str:
    """demo-aea finds the order under « à vérifier », records the holder's ID number and
    sends it for signature; returns the order file's URL."""
    log_in_through_the_page(operator, site.instance.url, site.serial)
    to_check(operator)
    row = operator.locator(f"#commande-{number}")
    expect(row).to_contain_text(f"Claire Durand, 0002 {SIREN}")
    expect(row.locator(".badge")).to_have_text("à vérifier")
    row.get_by_role("link", name=f"Traiter la commande {number}").click()
    operator.wait_for_url(re.compile(r"/commandes/\d+$"))
    order_url = operator.url
    for label in ("Extrait de KBIS", "Pièce d'identité du mandataire", "Preuve de paiement"):
        expect(operator.locator("table.documents tr", has_text=label)).to_contain_text("Demandeur")
    operator.get_by_label("Type de justificatif").select_option(label="CNI")
    operator.get_by_role("textbox", name="N° de justificatif d'identité").fill(HOLDER_CNI)
    operator.get_by_role("button", name="Modifier").click()
    expect(operator.locator("#justificatif-identite")).to_contain_text(
        "N° de justificatif d'identité enregistré.")
    operator.reload()
    operator.get_by_role("button", name="Envoyer pour signature").click()
    expect(operator.get_by_role("status").first).to_contain_text(
        "Documents envoyés pour signature à 3 signataires")
    return order_url


def sign(signer, site, number: int, address: str, documents: int) -> None:
    """A signer signs from the link of their e-mail, with the code sent to them."""
    invitation = mail_to(site.smtp, address, "documents à signer")
    signer.goto(SIGNING_LINK.search(invitation.text).group(0))
    expect(signer.get_by_role("heading", name=f"Signature des documents — Commande N° {number}")
           ).to_be_visible()
    expect(signer.locator(".sign-document")).to_have_count(documents)
    signer.get_by_role("button", name="Recevoir un code").click()
    expect(signer.get_by_role("status")).to_contain_text(
        "Un code à usage unique vient de vous être envoyé")
    code = code_in(mail_to(site.smtp, address, "votre code de signature").text)
    signer.get_by_label("Code reçu (6 chiffres)").fill(code)
    signer.get_by_label("J'ai lu les documents ci-dessus et j'accepte de les signer "
                        "électroniquement.").check()
    signer.get_by_role("button", name="Signer les documents").click()
    expect(signer.get_by_role("status")).to_contain_text("vos documents sont signés")
    expect(signer.locator(".sign-document .status-complete")).to_have_count(documents)
    signer.context.close()


def validate(operator, site, order_url: str, number: int) -> None:
    """« Règlement (OK) », « Dossier complet (OK) », « Valider », confirmed."""
    operator.goto(order_url)
    expect(operator.locator("table.signature-signers .signature-state")).to_have_text(["signé"] * 3)
    validation = operator.locator("#validation")
    validation.get_by_label("Règlement (OK)").check()
    validation.get_by_label("Dossier complet (OK)").check()
    validation.get_by_role("button", name="Valider", exact=True).click()
    expect(operator.get_by_role("alert")).to_contain_text("Cette action est irréversible")
    operator.get_by_role("button", name="Valider cette phase et passer à la suivante "
                                         "(Génération du certificat)").click()
    expect(operator.locator("section", has=operator.locator("#informations"))).to_contain_text(
        "Phase Génération du certificat")
    operator.goto(f"{site.instance.url}/commandes?number={number}")
    expect(operator.locator(f"#commande-{number}")).to_contain_text("Génération du certificat")


def test_draft_completed_and_sent_from_its_followup_link(new_page, site, tmp_path):
    from demo import documents as docs
    url, number = site.instance.url, site.draft_number
    operator = new_page()
    log_in_through_the_page(operator, url, site.serial)
    expect(operator.locator(f"#commande-{number}")).to_contain_text("Saisie des informations")
    to_check(operator)
    expect(operator.locator(f"#commande-{number}")).to_have_count(0)  # a draft is not to check

    # The requester opens the follow-up link of the e-mail sent when the draft was started.
    mail = mail_to(site.smtp, DRAFT_REQUESTER, "votre commande en cours de saisie")
    requester = new_page()
    requester.goto(FOLLOWUP_LINK.search(mail.text).group(0))
    expect(requester.get_by_role("heading", name=f"Suivi de votre commande N° {number}")
           ).to_be_visible()
    expect(requester.locator("body")).to_contain_text("Votre commande est en cours de saisie")
    envoi = requester.locator("#envoi")
    expect(envoi).to_contain_text("Pièce justificative à déposer : Preuve de paiement.")
    expect(envoi.get_by_role("button", name="Envoyer la commande")).to_have_count(0)
    expect(requester.locator("#ce-qui-manque")).to_contain_text(
        "Déposer la pièce manquante : Preuve de paiement.")

    proof = write(tmp_path, "preuve-paiement.pdf", docs.payment_proof_pdf(
        number, "Petit Conseil", 189.0, dt.date(2026, 2, 10)))
    expect(requester.get_by_label("Pièce à déposer ou à remplacer")).to_have_value("payment_proof")
    requester.get_by_label(re.compile("^Fichier")).set_input_files(proof)
    requester.get_by_role("button", name="Déposer la pièce").click()
    expect(requester.locator("#vos-pieces [role=status].message")).to_have_text(
        "Pièce reçue : Preuve de paiement (« preuve-paiement.pdf »). Merci !")
    # Nothing missing any more: the button is there, without reloading the page.
    expect(envoi).not_to_contain_text("Avant d'envoyer la commande")
    screenshot(requester, "suivi-brouillon-complet", full_page=True)
    envoi.get_by_role("button", name="Envoyer la commande").click()
    expect(requester.get_by_role("status").first).to_have_text(
        f"Votre commande N° {number} est envoyée à l'Autorité d'Enregistrement BPOI. Un accusé "
        f"de réception vient de vous être envoyé par e-mail.")
    expect(requester.locator("body")).to_contain_text(
        "Votre dossier est en cours de vérification par l'Autorité d'Enregistrement. "
        "Vos pièces justificatives sont en cours de vérification.")
    expect(requester.locator("#envoi")).to_have_count(0)
    mail_to(site.smtp, DRAFT_REQUESTER, f"Commande N° {number} : commande reçue")

    # The operator's list: now under « à vérifier ».
    operator.reload()
    row = operator.locator(f"#commande-{number}")
    expect(row).to_contain_text("Marc Petit")
    expect(row).to_contain_text("Validation de la commande")
    expect(row.locator(".badge")).to_have_text("à vérifier")
