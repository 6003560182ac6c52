"""« Envoyer pour signature », the signers' pages, PAdES signatures checked by poppler's
pdfsig and by pyHanko, and every bad input of the signing link (expired, reused, replaced,
tampered, another signer's document, wrong code, no consent)."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization

import workflow
from models import (AuditEvent, Document, Notification, Order, SignatureItem, SignatureRequest,
                    utcnow)
from services.messaging import outbox
from adapters import pades
from services.signing import reminders, signatures
from adapters.ca import get_ca
from services.dossiers.documents import document_store
from tests.conftest import csrf_token_from, login_as
from tests.signature_support import (code_in, link_in, nss_trusting, pdfsig, queued, ready_order,
                                     received)
from tests.smtp_support import eml_messages, running_smtp
from tests.text import mail_text, text


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    ae = make_ae()
    operator = make_operator(ae, roles="AEA", name="Camille Martin", email="camille@example.org")
    order = ready_order(app, make_order, ae, mandataire=True, number=960500)
    return ae, operator, order


def send(client, operator, order):
    login_as(client, operator)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    response = client.post(f"/commandes/{order.id}/signature/envoi", data={"csrf_token": token})
    assert response.status_code == 303
    return token


def events(action):
    return list(AuditEvent.select().where(AuditEvent.action == action))


def path_of(link: str) -> str:
    return urlsplit(link).path


class Signer:
    """A signer in their own browser: the link, the page's CSRF token."""

    def __init__(self, app, link):
        self.client = app.test_client()
        self.path = path_of(link)
        self.page = self.client.get(self.path)
        self.token = csrf_token_from(self.page.get_data(as_text=True)) if \
            self.page.status_code == 200 else None

    def post(self, action, **data):
        return self.client.post(f"{self.path}/{action}", data={"csrf_token": self.token, **data})


def signer_links(app):
    outbox.run(app, force=True)
    return {m["To"]: link_in(mail_text(m))
            for m in eml_messages(app.config["INSTANCE_PATH"])
            if "documents à signer" in m["Subject"] or "nouveau lien" in m["Subject"]}


def last_code(app):
    outbox.run(app, force=True)
    mails = [m for m in eml_messages(app.config["INSTANCE_PATH"]) if "code de signature" in m["Subject"]]
    return code_in(mail_text(mails[-1]))


def test_sending_generates_the_documents_and_writes_to_each_signer(app, client, desk):
    ae, operator, order = desk
    send(client, operator, order)
    order = Order.get_by_id(order.id)
    assert order.substate == "in_signature"
    contractual = {d.kind: d for d in Document.select().where(
        (Document.order == order.id) & (Document.category == "contractuel"))}
    assert set(contractual) == {"cgu", "subscription_contract", "authorization_letter",
                                "power_of_attorney"}
    assert all(d.status == "unsigned" and d.media_type == "application/pdf"
               and d.imported_by_label == "RA Desk" for d in contractual.values())
    requests = {r.role: r for r in SignatureRequest.select()}
    assert set(requests) == {"holder", "legal_representative", "mandataire"}
    assert {i.kind for i in requests["legal_representative"].items} == {"power_of_attorney"}
    assert len(requests["mandataire"].items) == 4
    assert len(queued(order, signatures.TYPE_SIGNER_LINK)) == 3
    assert [n.recipient for n in queued(order, signatures.TYPE_REQUESTER_SENT)] == \
        ["demandeur@example.org"]
    [event] = events("signature_sent")
    assert "Procuration du représentant légal" in event.details
    html = text(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    assert "Statut des documents contractuels" in html and "envoyé" in html
    assert "Envoyer pour signature" not in html.split("Signature des documents contractuels")[1][:200]
    # Once sent, the audit trail says to whom each e-mail went (a signer is not the requester).
    outbox.run(app, force=True)
    history = text(client.get(f"/commandes/{order.id}").get_data(as_text=True)).split("Historique")[-1]
    assert re.search(r"Messagerie Notification envoyée Notification n° : \d+ ; Destinataire : "
                     r"porteur@example.org ; Tentatives : 1 ; Type : Lien de signature", history)
    assert "au demandeur" not in history


def test_sending_is_refused_until_step_one_holds(app, client, make_ae, make_operator, make_order):
    ae = make_ae()
    operator = make_operator(ae)
    order = ready_order(app, make_order, ae, id_doc_number=None)
    login_as(client, operator)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    response = client.post(f"/commandes/{order.id}/signature/envoi", data={"csrf_token": token},
                           follow_redirects=True)
    assert "Le N° de justificatif d&#39;identité du porteur n&#39;est pas renseigné." in \
        response.get_data(as_text=True)
    assert Order.get_by_id(order.id).substate == "to_check"
    assert SignatureRequest.select().count() == 0 and Notification.select().count() == 0
    assert Document.select().where(Document.category == "contractuel").count() == 0


def test_every_signer_signs_from_the_emailed_link_and_the_pdfs_verify(app, client, desk, tmp_path):
    ae, operator, order = desk
    with running_smtp(app) as smtp:
        send(client, operator, order)
        outbox.run(app, force=True)
        inbox = smtp.inbox.wait_for(4)
        links = {m.recipients[0]: link_in(m.text) for m in inbox if "signer" in m.message["Subject"]}
        assert set(links) == {"porteur@example.org", "rl@example.org", "mandataire@example.org"}
        requester = received(inbox, "demandeur@example.org")[0]
        assert "/suivi/" in requester.text and "Mme Sandra BOILEAU" in requester.text
        for index, (address, link) in enumerate(sorted(links.items())):
            signer = Signer(app, link)
            page = text(signer.page.get_data(as_text=True))
            assert signer.page.status_code == 200 and "Signer les documents" in page
            assert signer.post("code").status_code == 200
            outbox.run(app, force=True)
            code = code_in(smtp.inbox.wait_for(5 + index)[-1].text)
            wrong = "000000" if code != "000000" else "111111"
            refused = signer.post("signer", code=wrong, consent="yes")
            assert refused.status_code == 422
            assert "Code incorrect. Il vous reste 4 essais." in text(refused.get_data(as_text=True))
            no_consent = signer.post("signer", code=code)
            assert "Cochez la case" in text(no_consent.get_data(as_text=True))
            signed = signer.post("signer", code=code, consent="yes")
            assert "vos documents sont signés" in text(signed.get_data(as_text=True))
            outbox.run(app, force=True)
    order = Order.get_by_id(order.id)
    assert order.substate == "to_validate"
    root = get_ca(app).root_certificate
    nss = nss_trusting(root.public_bytes(serialization.Encoding.PEM), tmp_path / "nss")
    store = document_store(app)
    expected = {"cgu": 2, "subscription_contract": 2, "authorization_letter": 2,
                "power_of_attorney": 2}
    for document in Document.select().where((Document.order == order.id)
                                            & (Document.category == "contractuel")
                                            & (Document.is_current == True)):  # noqa: E712
        assert document.status == "signed"
        path = store.path_for(document.sha256)
        report = pdfsig(path, nss)
        assert report.count("Signature Validation: Signature is Valid.") == expected[document.kind]
        assert report.count("Certificate Validation: Certificate is Trusted.") == expected[document.kind]
        checks = pades.verify(path.read_bytes(), [root])
        assert len(checks) == expected[document.kind]
        assert all(c.intact and c.valid and c.trusted and c.bottom_line for c in checks)
    # Evidence: who, when, from where, with which code, the hashes before and after.
    for item in SignatureItem.select():
        signed = Document.get_by_id(item.signed_document_id)
        assert item.sha256_after == signed.sha256 == hashlib.sha256(
            store.path_for(signed.sha256).read_bytes()).hexdigest()
        assert item.sha256_before and item.sha256_before != item.sha256_after
        # The signed copy names the text version the contract was generated with.
        assert signed.text_version_id == Document.get_by_id(item.document_id).text_version_id
        assert signed.text_version_id is not None
    for request in SignatureRequest.select():
        assert request.state == "signed" and request.signed_at and request.code_verified_at
        assert request.ip == "127.0.0.1" and request.user_agent
    assert len(events("document_signed")) == 8
    html = text(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    assert html.count("signé le") >= 3


@pytest.fixture
def sent(app, client, desk):
    ae, operator, order = desk
    send(client, operator, order)
    links = signer_links(app)
    return ae, operator, order, links


def test_a_reused_link_says_the_documents_are_signed_and_changes_nothing(app, sent):
    ae, operator, order, links = sent
    signer = Signer(app, links["rl@example.org"])
    signer.post("code")
    signer.post("signer", code=last_code(app), consent="yes")
    again = Signer(app, links["rl@example.org"])
    assert "Vous avez signé ces documents le" in text(again.page.get_data(as_text=True))
    response = signer.post("signer", code="123456", consent="yes")
    assert response.status_code == 422
    assert "Vous avez déjà signé ces documents." in text(response.get_data(as_text=True))
    assert signer.post("code").status_code == 422
    assert Document.select().where(Document.kind == "power_of_attorney").count() == 2


def test_an_expired_link_shows_nothing_and_signs_nothing(app, sent):
    ae, operator, order, links = sent
    SignatureRequest.update(expires_at=utcnow() - dt.timedelta(minutes=1)).execute()
    signer = Signer(app, links["porteur@example.org"])
    assert signer.page.status_code == 410
    assert "Ce lien de signature a expiré" in text(signer.page.get_data(as_text=True))
    client = signer.client
    response = client.post(f"{signer.path}/code")  # no page, no token: refused anyway
    assert response.status_code in (400, 410)
    assert SignatureRequest.select().where(SignatureRequest.codes_sent > 0).count() == 0


def test_tampered_replaced_and_foreign_links(app, client, sent, make_order):
    ae, operator, order, links = sent
    link = links["porteur@example.org"]
    tampered = app.test_client().get(path_of(link)[:-3] + "abc")
    assert tampered.status_code == 404
    assert "Lien de signature invalide" in tampered.get_data(as_text=True)
    holder = SignatureRequest.get(SignatureRequest.role == "holder")
    other_item = SignatureItem.select().where(SignatureItem.request != holder.id).first()
    signer = Signer(app, link)
    assert signer.client.get(f"{signer.path}/documents/{other_item.id}/pages/1").status_code == 404
    own_item = holder.items[0]
    preview = signer.client.get(f"{signer.path}/documents/{own_item.id}/pages/1?width=400")
    assert preview.status_code == 200 and preview.mimetype == "image/png"
    # A new link voids the old one.
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    client.post(f"/commandes/{order.id}/signature/{holder.id}/nouveau-lien",
                data={"csrf_token": token})
    stale = app.test_client().get(path_of(link))
    assert stale.status_code == 410 and "remplacé" in stale.get_data(as_text=True)
    fresh = signer_links(app)["porteur@example.org"]
    assert fresh != link and Signer(app, fresh).page.status_code == 200
    [event] = events("signature_link_resent")


def test_a_wrong_code_has_limited_tries(app, sent):
    ae, operator, order, links = sent
    signer = Signer(app, links["porteur@example.org"])
    signer.post("code")
    code = last_code(app)
    wrong = "000000" if code != "000000" else "111111"
    messages = [text(signer.post("signer", code=wrong, consent="yes").get_data(as_text=True))
                for _ in range(6)]
    assert "Il vous reste 1 essai." in messages[3]
    assert "Trop d'essais avec ce code" in messages[4]
    late = signer.post("signer", code=code, consent="yes")
    assert "Trop d" in text(late.get_data(as_text=True))
    assert SignatureItem.select().where(SignatureItem.signed_at.is_null(False)).count() == 0
    assert Order.get_by_id(order.id).substate == "in_signature"


def test_a_code_is_sent_at_most_once_a_minute(app, sent):
    ae, operator, order, links = sent
    signer = Signer(app, links["porteur@example.org"])
    assert signer.post("code").status_code == 200
    again = signer.post("code")
    assert again.status_code == 422 and "patientez" in text(again.get_data(as_text=True))


def test_a_signer_may_decline_and_the_operator_is_told(app, client, sent):
    ae, operator, order, links = sent
    signer = Signer(app, links["rl@example.org"])
    empty = signer.post("refus", reason="  ")
    assert empty.status_code == 422 and "Le motif du refus est obligatoire." in \
        text(empty.get_data(as_text=True))
    response = signer.post("refus", reason="Je ne suis plus représentant légal.")
    assert "Votre refus est enregistré" in text(response.get_data(as_text=True))
    [told] = queued(order, signatures.TYPE_OPERATOR_DECLINED)
    assert told.recipient == "camille@example.org"
    outbox.run(app, force=True)
    mail = [m for m in eml_messages(app.config["INSTANCE_PATH"]) if "refuse de signer" in m["Subject"]]
    assert "Je ne suis plus représentant légal." in mail_text(mail[0])
    html = text(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    assert "refusé le" in html and "Motif : Je ne suis plus représentant légal." in html


def test_reminders_go_after_the_configured_delay_once_per_delay(app, client, sent):
    ae, operator, order, links = sent
    now = utcnow()
    with app.app_context():
        assert reminders.send_due_reminders(app, now + dt.timedelta(hours=1)) == 0
        assert reminders.send_due_reminders(app, now + dt.timedelta(hours=73)) == 3
        assert reminders.send_due_reminders(app, now + dt.timedelta(hours=74)) == 0
    assert len(queued(order, signatures.TYPE_SIGNER_REMINDER)) == 3
    outbox.run(app, force=True)
    reminder = [m for m in eml_messages(app.config["INSTANCE_PATH"]) if m["Subject"].startswith("Rappel")]
    assert link_in(mail_text(reminder[0])) in links.values()
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    holder = SignatureRequest.get(SignatureRequest.role == "holder")
    client.post(f"/commandes/{order.id}/signature/{holder.id}/relance", data={"csrf_token": token})
    assert SignatureRequest.get_by_id(holder.id).reminders == 2


def test_cancelling_voids_every_link_and_goes_back_to_check(app, client, sent):
    ae, operator, order, links = sent
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    client.post(f"/commandes/{order.id}/signature/annulation", data={"csrf_token": token})
    assert Order.get_by_id(order.id).substate == "to_check"
    assert {r.state for r in SignatureRequest.select()} == {"cancelled"}
    stale = app.test_client().get(path_of(links["porteur@example.org"]))
    assert stale.status_code == 410 and "annulée" in stale.get_data(as_text=True)
    # Sent again: new documents, new requests.
    client.post(f"/commandes/{order.id}/signature/envoi", data={"csrf_token": token})
    assert SignatureRequest.select().where(SignatureRequest.state == "sent").count() == 3


def test_a_requester_change_suspends_signing(app, sent):
    ae, operator, order, links = sent
    Order.update(substate="to_check").where(Order.id == order.id).execute()
    signer = Signer(app, links["porteur@example.org"])
    assert "n'est plus en signature" in text(signer.page.get_data(as_text=True))
    assert "Signer les documents" not in signer.page.get_data(as_text=True)


def test_signature_wording_in_the_workflow():
    assert workflow.document_signers(_order(True), "power_of_attorney") == \
        ["legal_representative", "mandataire"]
    assert workflow.document_signers(_order(False), "power_of_attorney") == []
    assert workflow.document_signers(_order(False), "cgu") == ["holder", "legal_representative"]
    assert workflow.document_signers(_order(True), "cgu") == ["holder", "mandataire"]
    assert workflow.signers_documents(_order(False)) == {
        "holder": ["cgu", "subscription_contract", "authorization_letter"],
        "legal_representative": ["cgu", "subscription_contract", "authorization_letter"]}
    assert workflow.document_fully_signed(_order(True), "cgu", {"holder", "mandataire"})
    assert not workflow.document_fully_signed(_order(True), "cgu", {"holder"})
    assert workflow.signer_contact_problems([("holder", "Mme A", "")]) == [
        "Le signataire Porteur (Mme A) n'a pas d'adresse e-mail : le lien de signature ne peut "
        "pas lui être envoyé."]


def _order(mandataire):
    from types import SimpleNamespace
    return SimpleNamespace(order_type="D", mandataire_id=1 if mandataire else None,
                           company=SimpleNamespace(rcs_registered=True))


def test_the_signing_page_gives_the_portals_contact(app, sent):
    from models import Portal
    ae, operator, order, links = sent
    Portal.update(contact_email="portail@bpoi.example", contact_phone="01 23 45 67 89")\
        .where(Portal.id == order.portal_id).execute()
    shown = text(Signer(app, links["rl@example.org"]).page.get_data(as_text=True))
    assert "Contact — portail" in shown and "portail@bpoi.example" in shown
