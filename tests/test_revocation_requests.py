"""Revocation requests: suspension at the CA (certificateHold, made final, lifted), the
holder's or requester's request proven by a code sent to the Contact OTP, the revocation order
« à révoquer » with its 4-hour target, and the AEA's « Révoquer » and « Rejeter la demande »."""
from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pytest

import workflow
from adapters.ca import get_ca
from models import AuditEvent, Notification, Order, RevocationRequest, utcnow
from services import digest
from services.certificates import revocation_requests
from services.messaging import followup
from tests.conftest import csrf_token_from, login_as
from tests.revocation_support import certified_order, crl_reason, revocation_code
from tests.smtp_support import eml_messages


def html_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def serial_of(certificate) -> str:
    return format(certificate.serial_number, "x")


def served_crl(client) -> bytes:
    response = client.get("/pki/issuing.crl")
    assert response.status_code == 200
    return response.data


@pytest.fixture
def certified(app, make_order, bpoi):
    return certified_order(app, make_order, bpoi)


def csrf(client, path: str) -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


def ask(app, client, order, certificate, *, choice="lost", suspend=True, comment="Clé oubliée dans le train"):
    """The whole public path from the follow-up page: link, code, form. Returns the response."""
    page = client.get(f"/suivi/{followup.make_token(app.config['SECRET_KEY'], order.id)}")
    html = page.get_data(as_text=True)
    assert "Révoquer mon certificat" in html
    path = re.search(r'href="(/revoquer/[^"]+)"', html).group(1)
    token = csrf(client, path)
    sent = client.post(f"{path}/code", data={"csrf_token": token})
    assert "Code envoyé à s•••@exemple.fr" in sent.get_data(as_text=True)
    code = revocation_code(eml_messages(Path(app.config["INSTANCE_PATH"])))
    verified = client.post(f"{path}/verification", data={"csrf_token": token, "code": code})
    html = verified.get_data(as_text=True)
    assert "Demander la révocation" in html
    proof = re.search(r'name="preuve" value="([^"]+)"', html).group(1)
    data = {"csrf_token": token, "preuve": proof, "motif": choice, "commentaire": comment}
    if suspend:
        data["suspendre"] = "1"
    return client.post(f"{path}/demande", data=data), path


# --- the CA ------------------------------------------------------------------------------------

def test_suspension_is_listed_then_made_final_or_lifted(app, client, certified, make_order, bpoi):
    _, certificate = certified
    _, other = certified_order(app, make_order, bpoi)
    ca = get_ca(app)
    ca.suspend(serial_of(certificate))
    ca.suspend(serial_of(other))
    crl = served_crl(client)
    assert crl_reason(crl, certificate) == "certificateHold"
    held = ca.revoke(serial_of(certificate), "keyCompromise")
    assert crl_reason(served_crl(client), certificate) == "keyCompromise"
    again = ca.revoke(serial_of(certificate), "superseded")  # final: nothing changes
    assert (again.revoked_at, again.revocation_reason) == (held.revoked_at, "keyCompromise")
    ca.release(serial_of(other))
    crl = served_crl(client)
    assert crl_reason(crl, other) is None and crl_reason(crl, certificate) == "keyCompromise"
    ca.release(serial_of(certificate))  # a final revocation is never lifted
    assert crl_reason(served_crl(client), certificate) == "keyCompromise"
    actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)
               if e.action.startswith("certificate_")]
    assert actions == ["certificate_suspended", "certificate_suspended", "certificate_revoked",
                       "certificate_released"]


# --- asking -----------------------------------------------------------------------------------

def test_lost_key_request_suspends_and_creates_the_revocation_order(app, client, certified):
    order, certificate = certified
    response, _ = ask(app, client, order, certificate)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Demande de révocation enregistrée" in html
    assert "Votre certificat est suspendu dès maintenant" in html
    assert crl_reason(served_crl(client), certificate) == "certificateHold"
    new = Order.get(Order.process == workflow.PROCESS_REVOCATION)
    assert (new.phase, new.substate, new.order_type) == ("validation", "to_revoke", "D")
    assert new.previous_order_id == order.id and new.target_serial == serial_of(certificate)
    assert new.number > order.number and new.revocation_reason == "keyCompromise"
    assert (new.company_id, new.holder_id, new.legal_representative_id, new.portal_id) == (
        order.company_id, order.holder_id, order.legal_representative_id, order.portal_id)
    assert new.requester_email == "demandeur@example.org"
    request = RevocationRequest.get(RevocationRequest.order == new.id)
    assert (request.choice, request.comment, request.asked_via) == (
        "lost", "Clé oubliée dans le train", "followup")
    assert request.suspended_at is not None
    sent = {n.recipient: n for n in Notification.select().where(Notification.order == new.id)}
    assert set(sent) == {"porteur@example.org", "demandeur@example.org"}
    assert all("suspendu" in n.body and n.type == "revocation_requested" for n in sent.values())
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.order == new.id)]
    assert "revocation_requested" in actions


def test_a_second_request_for_the_same_certificate_is_refused(app, client, certified):
    order, certificate = certified
    ask(app, client, order, certificate, suspend=False, choice="changed")
    token = revocation_requests.make_token(app.config["SECRET_KEY"], order,
                                           serial_of(certificate), "holder")
    html_ = html_text(client.get(f"/revoquer/{token}"))
    assert "déjà en cours de traitement" in html_ and "Recevoir un code" not in html_
    assert Order.select().where(Order.process == "revocation").count() == 1
    assert crl_reason(served_crl(client), certificate) is None  # no suspension asked


def test_suspension_only_for_a_lost_key_and_wrong_codes_are_counted(app, client, certified):
    order, certificate = certified
    token = revocation_requests.make_token(app.config["SECRET_KEY"], order,
                                           serial_of(certificate), "holder")
    path = f"/revoquer/{token}"
    csrf_token = csrf(client, path)
    client.post(f"{path}/code", data={"csrf_token": csrf_token})
    wrong = client.post(f"{path}/verification", data={"csrf_token": csrf_token, "code": "000000x"})
    assert wrong.status_code == 422 and "Il vous reste 4 essais" in wrong.get_data(as_text=True)
    code = revocation_code(eml_messages(Path(app.config["INSTANCE_PATH"])))
    html = client.post(f"{path}/verification",
                       data={"csrf_token": csrf_token, "code": code}).get_data(as_text=True)
    proof = re.search(r'name="preuve" value="([^"]+)"', html).group(1)
    refused = client.post(f"{path}/demande", data={"csrf_token": csrf_token, "preuve": proof,
                                                   "motif": "ceased", "suspendre": "1"})
    assert refused.status_code == 422
    assert "La suspension immédiate n'est possible que pour le motif « Clé perdue ou volée »" \
        in html_text(refused)
    assert not Order.select().where(Order.process == "revocation").exists()
    forged = client.post(f"{path}/demande", data={"csrf_token": csrf_token, "preuve": "x" * 43,
                                                  "motif": "ceased"})
    assert forged.status_code == 422 and "demandez un nouveau code" in forged.get_data(as_text=True)


def test_a_tampered_link_is_refused(client):
    assert client.get("/revoquer/abc.def").status_code == 404


# --- the AEA ----------------------------------------------------------------------------------

@pytest.fixture
def requested(app, client, certified):
    order, certificate = certified
    ask(app, client, order, certificate)
    return Order.get(Order.process == "revocation"), certificate


def test_revoke_replaces_the_hold_and_closes_the_request(app, client, requested, make_operator, bpoi):
    order, certificate = requested
    aea = make_operator(bpoi, roles="AEA", name="Camille Martin")
    login_as(client, aea)
    page = client.get(f"/commandes/{order.id}").get_data(as_text=True)
    assert "Demande de révocation" in page and "(délai cible 4 h)" in page
    assert "suspendu" in page and "Clé perdue ou volée" in page
    assert "Envoyer pour signature" not in page and "Valider cette phase" not in page
    assert "Signaler un dossier incomplet" not in page
    assert "Une demande de révocation n'a pas de dossier à compléter" in html.unescape(page)
    token = csrf_token_from(page)
    unconfirmed = client.post(f"/commandes/{order.id}/demande-revocation/revoquer",
                              data={"csrf_token": token}, follow_redirects=True)
    assert "Cochez la case" in html_text(unconfirmed)
    done = client.post(f"/commandes/{order.id}/demande-revocation/revoquer",
                       data={"csrf_token": token, "confirm": "1"}, follow_redirects=True)
    assert "révoqué (Compromission de la clé)" in done.get_data(as_text=True)
    assert crl_reason(served_crl(client), certificate) == "keyCompromise"
    order = Order.get_by_id(order.id)
    assert (order.phase, order.substate) == ("done", None)
    assert RevocationRequest.get(RevocationRequest.order == order.id).open_serial is None
    told = Notification.select().where((Notification.order == order.id)
                                       & (Notification.type == "revocation_done"))
    assert {n.recipient for n in told} == {"porteur@example.org", "demandeur@example.org"}
    again = client.post(f"/commandes/{order.id}/demande-revocation/rejeter",
                        data={"csrf_token": token, "comment": "Retrouvée"}, follow_redirects=True)
    assert "déjà révoqué" in html_text(again)


def test_reject_lifts_the_suspension(app, client, requested, make_operator, bpoi):
    order, certificate = requested
    login_as(client, make_operator(bpoi, roles="AEA"))
    token = csrf(client, f"/commandes/{order.id}")
    empty = client.post(f"/commandes/{order.id}/demande-revocation/rejeter",
                        data={"csrf_token": token, "comment": " "}, follow_redirects=True)
    assert Order.get_by_id(order.id).phase == "validation"
    assert "commentaire" in empty.get_data(as_text=True).lower()
    client.post(f"/commandes/{order.id}/demande-revocation/rejeter",
                data={"csrf_token": token, "comment": "Clé retrouvée par le porteur"})
    assert Order.get_by_id(order.id).phase == "cancelled"
    assert crl_reason(served_crl(client), certificate) is None
    told = Notification.get((Notification.order == order.id)
                            & (Notification.type == "revocation_rejected")
                            & (Notification.recipient == "demandeur@example.org"))
    assert "Clé retrouvée par le porteur" in told.body and "suspension" in told.body


def test_revoked_from_its_own_order_the_request_is_closed(app, client, requested, make_operator,
                                                          bpoi):
    order, certificate = requested
    aea = make_operator(bpoi, roles="AEA")
    login_as(client, aea)
    previous = Order.get_by_id(order.previous_order_id)
    token = csrf(client, f"/commandes/{previous.id}")
    client.post(f"/commandes/{previous.id}/revocation",
                data={"csrf_token": token, "reason": "keyCompromise", "confirm": "1"})
    assert crl_reason(served_crl(client), certificate) == "keyCompromise"
    assert Order.get_by_id(order.id).phase == "done"


def test_another_ae_gets_404(client, requested, make_ae, make_operator):
    order, _ = requested
    other = make_ae("Atlantique", portals=("Nantes",))
    login_as(client, make_operator(other, roles="AEA"))
    assert client.get(f"/commandes/{order.id}").status_code == 404
    token = csrf(client, "/commandes")
    assert client.post(f"/commandes/{order.id}/demande-revocation/revoquer",
                       data={"csrf_token": token, "confirm": "1"}).status_code == 404
    assert client.post(f"/commandes/{order.id}/demande-revocation/rejeter",
                       data={"csrf_token": token, "comment": "x"}).status_code == 404


def test_list_and_digest_show_the_target(app, client, requested, make_operator, bpoi):
    order, _ = requested
    aea = make_operator(bpoi, roles="AEA")
    login_as(client, aea)
    html = client.get("/commandes?substate=to_revoke").get_data(as_text=True)
    assert f"commande-{order.number}" in html and "À traiter avant" in html
    assert "en retard" not in html.split(f'id="commande-{order.number}"')[1].split("</tr>")[0]
    Order.update(created_at=utcnow() - dt.timedelta(hours=5)).where(Order.id == order.id).execute()
    row = client.get("/commandes?substate=to_revoke").get_data(as_text=True).split(
        f'id="commande-{order.number}"')[1].split("</tr>")[0]
    assert "en retard" in row
    with app.test_request_context():
        content = digest.preview(app, aea, utcnow())
    text = digest.text(content)
    assert "Commandes à révoquer : 1 commande (dont 1 en retard sur le délai de 4 h)" in text
