"""The public ordering page, /commander/<code>: a requester types the order step by step (the
draft exists from the first step, its follow-up link e-mailed at once), uploads the pieces the
answers require, proves their address with the e-mailed code and sends the order, which then
waits for the operators « à vérifier ». Refused answers keep what was typed and change nothing;
unknown portals, forged links and bots get nothing; a closed portal says so."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from models import AuditEvent, Document, Notification, Order, OrderIntake, Portal, utcnow
from services.messaging import outbox
from services.public_links import mask_contact
from tests.conftest import csrf_token_from
from tests.image_samples import png
from tests.pdf_samples import text_pdf
from tests.smtp_support import running_smtp
from tests.text import text

PORTAL = "/commander/bpoi-occitanie"
COMPANY = {"company_name": "Boileau Colbert Conseil", "siren": "434 202 180", "rcs": "oui",
           "requester_name": "Alice Colbert", "requester_email": "alice.colbert@exemple.fr"}
HOLDER = {"civility": "Mme", "first_name": "Sandra", "last_name": "Boileau",
          "email": "sandra.boileau@exemple.fr", "phone": "05 61 00 00 00",
          "otp_contact": "06 12 34 56 78"}
LEGAL = {"civility": "Mme", "first_name": "Alice", "last_name": "Colbert",
         "email": "alice.colbert@exemple.fr", "phone": ""}
MANDATAIRE = {"has_mandataire": "oui", "civility": "M.", "first_name": "Jean-Marc",
              "last_name": "N'Diaye", "email": "jm.ndiaye@exemple.fr", "phone": ""}
MASKED = mask_contact(COMPANY["requester_email"])
PIECES_WITH_MANDATAIRE = ["Extrait de KBIS", "Pièce d'identité du porteur",
                          "Pièce d'identité du représentant légal",
                          "Pièce d'identité du mandataire", "Preuve de paiement"]


@pytest.fixture
def portal(app, bpoi):
    return Portal.get(Portal.code == "bpoi-occitanie")


def page(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def post(client, path, data=None, **kwargs):
    token = csrf_token_from(page(client, PORTAL))
    return client.post(path, data={"csrf_token": token, **(data or {})}, **kwargs)


def start(client) -> str:
    """The first step sent; the path of the draft's steps (without the step)."""
    response = post(client, PORTAL, COMPANY)
    assert response.status_code == 303
    return response.headers["Location"].rsplit("/", 1)[0]


def fill_in(client, base, mandataire=MANDATAIRE):
    for step, answers in (("porteur", HOLDER), ("representant-legal", LEGAL),
                          ("mandataire", mandataire)):
        response = post(client, f"{base}/{step}", answers)
        assert response.status_code == 303, text(response)
    offer = re.search(r'name="offer" value="(\d+)"', page(client, f"{base}/produit")).group(1)
    response = post(client, f"{base}/produit", {"offer": offer, "validity": "2", "medium": "card"})
    assert response.status_code == 303


def upload(client, base, kind, data=None, filename="piece.pdf", **kwargs):
    return post(client, f"{base}/pieces/depot",
                {"kind": kind, "file": (__import__("io").BytesIO(data or text_pdf()), filename)},
                content_type="multipart/form-data", **kwargs)


def the_order() -> Order:
    return Order.with_people().order_by(Order.id.desc()).get()


# --- The first step ---------------------------------------------------------------------------

def test_the_page_is_branded_with_the_ae_and_lists_the_steps(client, portal):
    shown = text(client.get(PORTAL))
    assert "Commander un certificat" in shown
    assert "BPOI — portail BPOI-Occitanie" in shown
    for step in ("Société", "Porteur", "Représentant légal", "Mandataire", "Produit",
                 "Pièces justificatives", "Récapitulatif"):
        assert step in shown
    for label in ("Raison sociale", "SIREN", "Immatriculée au RCS", "Votre e-mail"):
        assert label in shown


def test_unknown_portals_answer_404_and_a_closed_one_says_so(client, portal):
    assert client.get("/commander/inconnu").status_code == 404
    assert client.get("/commander/<script>").status_code == 404
    Portal.update(closed_at=utcnow()).where(Portal.id == portal.id).execute()
    closed = client.get(PORTAL)
    assert closed.status_code == 410 and "portail fermé" in text(closed)
    other = client.application.test_client()
    token = csrf_token_from(page(other, "/commander/bpoi-rhone"))
    assert other.post("/commander/bpoi-rhone", data={"csrf_token": token, **COMPANY}).status_code == 303


def test_the_first_step_creates_the_draft_and_emails_its_follow_up_link(app, client, portal):
    base = start(client)
    order = the_order()
    assert (order.phase, order.substate, order.portal_id) == ("entry", None, portal.id)
    assert order.company.siren == "434202180" and order.company.rcs_registered
    assert order.requester_email == "alice.colbert@exemple.fr"
    assert order.submitted_at is None
    assert AuditEvent.get(AuditEvent.order == order.id).action == "order_draft_started"
    with running_smtp(app) as smtp:
        outbox.run(app, force=True)
        mail = smtp.inbox.wait_for(1)[0]
    assert mail.recipients == ["alice.colbert@exemple.fr"]
    assert f"Commande N° {order.number} : votre commande en cours de saisie" == mail.message["Subject"]
    link = re.search(r"http://localhost(/suivi/\S+)", mail.text).group(1)
    assert f"Suivi de votre commande N° {order.number}" in text(client.get(link))
    assert "Saisie des informations" in text(client.get(link)) or "en cours de saisie" in text(client.get(link))
    assert "Porteur" in text(client.get(f"{base}/porteur"))


@pytest.mark.parametrize("field, value, message", [
    ("siren", "434202181", "Le SIREN « 434202181 » n'est pas valide : sa clé de contrôle est incorrecte."),
    ("company_name", "", "La raison sociale est obligatoire."),
    ("requester_email", "alice@", "Votre e-mail « alice@ » n'est pas une adresse e-mail valide."),
    ("rcs", "peut-être", "Indiquez si la société est immatriculée au RCS."),
])
def test_a_refused_first_step_keeps_what_was_typed_and_creates_nothing(client, portal, field,
                                                                       value, message):
    response = post(client, PORTAL, {**COMPANY, field: value})
    assert response.status_code == 422
    assert message in text(response)
    assert "Cette étape n'est pas enregistrée" in text(response)
    assert 'value="Boileau Colbert Conseil"' in response.get_data(as_text=True) or field == "company_name"
    assert Order.select().count() == 0 and Notification.select().count() == 0


def test_a_bot_filling_the_hidden_field_is_answered_but_nothing_is_created(client, portal):
    response = post(client, PORTAL, {**COMPANY, "site_web": "http://spam.example"})
    assert response.status_code == 200
    assert "Commande enregistrée" in text(response)
    assert Order.select().count() == 0 and Notification.select().count() == 0


def test_the_page_does_not_say_whether_a_company_already_ordered(client, portal):
    first = post(client, PORTAL, COMPANY)
    second = post(client, PORTAL, COMPANY)
    assert first.status_code == second.status_code == 303
    assert Order.select().count() == 2
    assert "déjà" not in text(client.get(second.headers["Location"]))


def test_too_many_new_orders_from_one_address_are_refused(client, portal):
    for _ in range(20):
        assert post(client, PORTAL, COMPANY).status_code == 303
    refused = post(client, PORTAL, COMPANY)
    assert refused.status_code == 429
    assert "Trop de demandes" in text(refused)
    assert Order.select().count() == 20


def test_too_many_new_orders_on_one_portal_are_refused_whatever_the_address(app, portal):
    app.config["RADESK_ORDERING_LIMIT_PER_PORTAL"] = "3 per hour"
    for n in range(4):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{n + 1}"
        token = csrf_token_from(page(client, PORTAL))
        answer = client.post(PORTAL, data={"csrf_token": token, **COMPANY})
        assert answer.status_code == (303 if n < 3 else 429)
    assert Order.select().count() == 3
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.9"
    token = csrf_token_from(page(other, "/commander/bpoi-rhone"))
    assert other.post("/commander/bpoi-rhone",
                      data={"csrf_token": token, **COMPANY}).status_code == 303


# --- The next steps ------------------------------------------------------------------------------

def test_each_step_is_saved_and_a_refused_one_keeps_what_was_typed(client, portal):
    base = start(client)
    refused = post(client, f"{base}/porteur", {**HOLDER, "otp_contact": "05 61 00 00 00",
                                                "first_name": "S4ndra"})
    assert refused.status_code == 422
    shown = text(refused)
    assert "Le prénom du porteur « S4ndra » ne peut contenir que des lettres" in shown
    assert "n'est pas un numéro de mobile" in shown
    assert 'value="S4ndra"' in refused.get_data(as_text=True)
    assert the_order().holder.first_name == ""
    fill_in(client, base)
    order = the_order()
    assert (order.holder.first_name, order.holder.last_name) == ("Sandra", "Boileau")
    assert order.otp_contact == "+33612345678"
    assert order.holder_search == "sandra boileau"
    assert order.legal_representative.last_name == "Colbert"
    assert order.mandataire.last_name == "N'Diaye"
    assert (order.validity_years, order.medium) == (2, "card")
    assert 'value="Sandra"' in page(client, f"{base}/porteur")


def test_the_pieces_asked_follow_the_answers(client, portal):
    base = start(client)
    fill_in(client, base)
    shown = text(client.get(f"{base}/pieces"))
    for label in PIECES_WITH_MANDATAIRE:
        assert label in shown
    post(client, f"{base}/mandataire", {"has_mandataire": "non"})
    post(client, f"{base}/societe", {**COMPANY, "rcs": "non"})
    shown = text(client.get(f"{base}/pieces"))
    assert "Pièce d'identité du mandataire" not in shown and "Extrait de KBIS" not in shown
    assert the_order().mandataire_id is None
    assert "Pièce d'identité du porteur" in shown and "Preuve de paiement" in shown


def test_a_piece_is_uploaded_then_replaced_before_sending(client, portal):
    base = start(client)
    fill_in(client, base)
    assert upload(client, base, "kbis", text_pdf(), "kbis.pdf").status_code == 303
    replaced = upload(client, base, "kbis", png(), "kbis-scan.png", headers={"HX-Request": "true"})
    assert replaced.status_code == 200
    assert "Pièce reçue : Extrait de KBIS (« kbis-scan.png »)." in text(replaced)
    assert "Remplacer" in text(replaced)
    kbis = Document.select().where(Document.kind == "kbis").order_by(Document.id)
    assert [(d.filename, d.is_current) for d in kbis] == [("kbis.pdf", False),
                                                          ("kbis-scan.png", True)]
    assert [d.imported_by_label for d in kbis] == ["Demandeur", "Demandeur"]


def test_an_upload_is_refused_with_the_stores_reason_and_nothing_is_kept(client, portal):
    base = start(client)
    fill_in(client, base)
    refused = upload(client, base, "kbis", b"MZ\x90\x00 not a document", "kbis.exe")
    assert refused.status_code == 422
    assert "PDF, JPEG ou PNG" in text(refused) or "n'est pas" in text(refused)
    assert not Document.select().where(Document.kind == "kbis").exists()
    other = upload(client, base, "cgu", text_pdf(), "cgu.pdf")
    assert other.status_code == 422
    assert "Choisissez une des pièces justificatives demandées." in text(other)


def test_a_link_of_another_portal_or_a_forged_one_opens_nothing(client, portal):
    base = start(client)
    token = base.rsplit("/", 1)[1]
    assert client.get(f"/commander/bpoi-rhone/{token}/porteur").status_code == 404
    forged = client.get(f"{PORTAL}/{token[:-2]}xx/porteur")
    assert forged.status_code == 404
    assert "Lien de commande invalide" in text(forged)
    assert client.get(f"{base}/inconnue").status_code == 404


# --- Proof of address, and « Envoyer la commande » --------------------------------------------------

def complete(client, base, kinds=("kbis", "holder_id", "legal_rep_id", "mandataire_id",
                                  "payment_proof")):
    fill_in(client, base)
    for kind in kinds:
        assert upload(client, base, kind, text_pdf(), f"{kind}.pdf").status_code == 303


def code_from(smtp, count) -> str:
    mail = smtp.inbox.wait_for(count)[-1]
    assert mail.message["Subject"].endswith("votre code de confirmation")
    return re.search(r"^\s*(\d{6})\s*$", mail.text, re.M).group(1)  # alone on its line


def test_the_order_is_sent_once_the_address_is_proven(app, client, portal):
    base = start(client)
    complete(client, base)
    summary = text(client.get(f"{base}/recapitulatif"))
    assert "Confirmez votre adresse e-mail avec le code reçu avant d'envoyer la commande." in summary
    assert "Jean-Marc N'Diaye" in summary and "Carte à puce" in summary and "2 ans" in summary
    refused = post(client, f"{base}/envoi")
    assert refused.status_code == 422
    assert "La commande n'est pas envoyée" in text(refused)
    assert the_order().phase == "entry"

    with running_smtp(app) as smtp:
        outbox.run(app, force=True)  # the draft's link
        sent = post(client, f"{base}/code")
        assert sent.status_code == 303
        assert MASKED in text(client.get(sent.headers["Location"]))
        outbox.run(app, force=True)
        code = code_from(smtp, 2)
        wrong = "000000" if code != "000000" else "111111"
        refused = post(client, f"{base}/confirmation", {"code": wrong})
        assert "Code incorrect. Il vous reste 4 essais." in text(refused)
        assert post(client, f"{base}/confirmation", {"code": code[:3] + " " + code[3:]}).status_code == 303
        assert f"Votre adresse e-mail {MASKED} est confirmée." in text(
            client.get(f"{base}/recapitulatif"))

        response = post(client, f"{base}/envoi")
        assert response.status_code == 303 and "/suivi/" in response.headers["Location"]
        order = the_order()
        assert (order.phase, order.substate) == ("validation", "to_check")
        assert order.submitted_at is not None
        received = AuditEvent.get((AuditEvent.order == order.id)
                                  & (AuditEvent.action == "order_received"))
        assert "page de commande" in received.details
        outbox.run(app, force=True)
        acknowledgement = smtp.inbox.wait_for(3)[-1]
    assert acknowledgement.message["Subject"] == f"Commande N° {order.number} : commande reçue"
    assert "/suivi/" in acknowledgement.text
    followup_page = text(client.get(response.headers["Location"]))
    assert f"Votre commande N° {order.number} est envoyée" in followup_page
    # The draft's link no longer opens the steps; sending again changes nothing.
    assert client.get(f"{base}/recapitulatif").status_code == 404
    assert post(client, f"{base}/envoi").status_code == 404
    assert AuditEvent.select().where(AuditEvent.action == "order_received").count() == 1


def test_codes_are_limited_like_the_signers(app, client, portal):
    base = start(client)
    assert post(client, f"{base}/code").status_code == 303
    again = post(client, f"{base}/code")
    assert again.status_code == 422
    assert "Un code vient de vous être envoyé : patientez" in text(again)
    intake = OrderIntake.get()
    OrderIntake.update(code_sent_at=utcnow().replace(year=2000),
                       code_expires_at=utcnow().replace(year=2000)).execute()
    expired = post(client, f"{base}/confirmation", {"code": "123456"})
    assert "Ce code a expiré : demandez-en un nouveau." in text(expired)
    assert OrderIntake.get_by_id(intake.id).verified_email is None


def test_five_wrong_codes_spend_the_code(app, client, portal):
    base = start(client)
    post(client, f"{base}/code")
    intake = OrderIntake.get()
    from services.intake.address import code_for
    right = code_for(app, intake.id, intake.code_nonce)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        post(client, f"{base}/confirmation", {"code": wrong})
    refused = post(client, f"{base}/confirmation", {"code": right})
    assert "Trop d'essais avec ce code : demandez-en un nouveau." in text(refused)
    assert OrderIntake.get_by_id(intake.id).verified_email is None


def test_changing_the_requesters_address_asks_for_a_new_proof(app, client, portal):
    base = start(client)
    post(client, f"{base}/code")
    intake = OrderIntake.get()
    from services.intake.address import code_for
    post(client, f"{base}/confirmation",
         {"code": code_for(app, intake.id, intake.code_nonce)})
    assert "est confirmée" in text(client.get(f"{base}/recapitulatif"))
    post(client, f"{base}/societe", {**COMPANY, "requester_email": "autre@exemple.fr"})
    assert "Confirmez votre adresse e-mail" in text(client.get(f"{base}/recapitulatif"))


def test_the_step_pages_are_private(client, portal):
    base = start(client)
    response = client.get(f"{base}/porteur")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"  # never to another site
    assert "noindex" in response.headers["X-Robots-Tag"]
    assert urlsplit(base).path.startswith("/commander/bpoi-occitanie/")
