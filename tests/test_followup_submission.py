"""« Envoyer la commande » from the follow-up page (/suivi/<token>) of a draft begun on a
portal's ordering page: offered only once nothing is missing (else what is missing is listed),
the order then reaches the AE (« Validation de la commande / à vérifier »), audited, with an
acknowledgement really delivered; sent twice it changes nothing. « Reprendre la saisie de la
commande » goes back to the ordering page's summary. Operators see a draft but cannot act on it,
and the activity digest counts an order only once it is sent."""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest

from models import (AuditEvent, Notification, Operator, Order, OrderIntake, Portal, utcnow)
from services import digest
from services.audit_words import ACTION_ORDER_RECEIVED
from services.intake import drafts, messages, pieces
from services.messaging import followup, outbox
from tests.conftest import csrf_token_from, login_as
from tests.pdf_samples import text_pdf
from tests.smtp_support import running_smtp
from tests.text import source, text
from workflow import DRAFT_PROBLEM, ordering

ANSWERS = {
    "societe": {"company_name": "Société Exemple", "siren": "434 202 180", "rcs": "oui",
                "requester_name": "Alice Colbert", "requester_email": "alice.colbert@exemple.fr"},
    "porteur": {"civility": "Mme", "first_name": "Sandra", "last_name": "Boileau",
                "email": "sandra.boileau@exemple.fr", "phone": "",
                "otp_contact": "06 12 34 56 78"},
    "representant-legal": {"civility": "M.", "first_name": "Alain", "last_name": "Colbert",
                           "email": "alain.colbert@exemple.fr", "phone": ""},
    "mandataire": {"has_mandataire": "non"},
    "produit": {"offer": "0", "validity": "3", "medium": "usb"},  # the default offer (id 0)
}
PIECES = ("kbis", "holder_id", "legal_rep_id", "payment_proof")  # RCS, no mandataire
SEND_FORM = re.compile(r'<form method="post" action="/suivi/[^"]+/envoi">')
SEND_BUTTON = '<button type="submit">Envoyer la commande</button>'


def reload(order) -> Order:
    return Order.with_people().where(Order.id == order.id).get()


def save(app, order, step: str, answers: dict) -> None:
    """One step saved as the ordering page saves it (the intake read afresh, as per request)."""
    portal = Portal.get_by_id(order.portal_id)
    with app.app_context():
        drafts.save_step(reload(order), OrderIntake.get(OrderIntake.order == order.id), step,
                         answers, drafts.offers_for(portal))


def upload(app, order, kind: str) -> None:
    with app.app_context():
        pieces.upload(reload(order), kind, f"{kind}.pdf", text_pdf(text=kind.encode()))


def make_draft(app, portal, *, steps=tuple(ordering.FORM_STEPS[1:]), kinds=PIECES) -> Order:
    """A draft typed on the ordering page: the first step, then ``steps``, then ``kinds``."""
    with app.app_context():
        order = drafts.start(app, portal, ANSWERS["societe"]).order
    for step in steps:
        save(app, order, step, ANSWERS[step])
    for kind in kinds:
        upload(app, order, kind)
    return reload(order)


def followup_path(app, order) -> str:
    with app.app_context():
        link, _ = followup.make_link(app, order.id)
    return urlsplit(link).path


@pytest.fixture
def portal(app, make_ae):
    return Portal.get(Portal.ae == make_ae("BPOI", ("BPOI-Rhône",)))


@pytest.fixture
def complete(app, portal):
    order = make_draft(app, portal)
    return order, followup_path(app, order)


@pytest.fixture
def without_kbis(app, portal):
    order = make_draft(app, portal, kinds=PIECES[1:])
    return order, followup_path(app, order)


def envoi(client, path: str, **kwargs):
    page = client.get(path)
    return client.post(f"{path}/envoi", data={"csrf_token": csrf_token_from(page.text)},
                       **kwargs)


def only_the_draft_link(order) -> bool:
    """The requester was sent nothing but the link to their draft."""
    return [n.type for n in Notification.select().where(Notification.order == order.id)] == [
        messages.TYPE_DRAFT_LINK]


def received_events(order) -> list[AuditEvent]:
    return list(AuditEvent.select().where((AuditEvent.action == ACTION_ORDER_RECEIVED)
                                          & (AuditEvent.order == order.id)))


def acknowledgements(order) -> list[Notification]:
    return list(Notification.select().where((Notification.type == messages.TYPE_ACKNOWLEDGEMENT)
                                            & (Notification.order == order.id)))


# --- What the page offers ------------------------------------------------------------------------

def test_a_complete_draft_offers_envoyer_la_commande(client, complete):
    order, path = complete
    page = client.get(path)
    assert page.status_code == 200
    shown = text(page)
    assert f"Suivi de votre commande N° {order.number}" in shown
    assert ("Votre commande n'est pas encore transmise à l'Autorité d'Enregistrement BPOI : "
            "envoyez-la une fois complète.") in shown
    assert "Avant d'envoyer la commande" not in shown
    assert SEND_FORM.search(page.text) and SEND_BUTTON in page.text
    assert "Reprendre la saisie de la commande" in shown


def test_an_incomplete_draft_lists_what_is_missing_and_offers_no_button(app, client, portal):
    order = make_draft(app, portal, steps=("porteur", "representant-legal", "mandataire"),
                       kinds=("holder_id", "payment_proof"))
    page = client.get(followup_path(app, order))
    assert page.status_code == 200
    shown = text(page)
    expected = ("Avant d'envoyer la commande : "
                "Étape « Produit » : Choisissez une des offres proposées. "
                "Pièce justificative à déposer : Extrait de KBIS. "
                "Pièce justificative à déposer : Pièce d'identité du représentant légal.")
    assert expected in shown
    assert not SEND_FORM.search(page.text) and SEND_BUTTON not in page.text
    assert "Reprendre la saisie de la commande" in shown
    # The requester's address is proven by the link itself: no code is asked for here.
    assert "Confirmez votre adresse e-mail" not in shown


def test_the_list_follows_the_answers_given_since(app, client, without_kbis):
    order, path = without_kbis
    assert "Pièce justificative à déposer : Extrait de KBIS." in text(client.get(path))
    save(app, order, "societe", {**ANSWERS["societe"], "rcs": "non"})  # no Kbis asked then
    page = client.get(path)
    assert "Pièce justificative à déposer" not in text(page)
    assert SEND_BUTTON in page.text
    save(app, order, "mandataire", {"has_mandataire": "oui", "civility": "Mme",
                                    "first_name": "Chloé", "last_name": "Bernard",
                                    "email": "chloe.bernard@exemple.fr", "phone": ""})
    page = client.get(path)
    assert "Pièce justificative à déposer : Pièce d'identité du mandataire." in text(page)
    assert SEND_BUTTON not in page.text


# --- Sending ---------------------------------------------------------------------------------------

def test_sending_moves_the_draft_to_the_ae_audited_and_acknowledged(app, client, complete,
                                                                    make_operator):
    order, path = complete
    before = utcnow()
    response = envoi(client, path)
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == path

    sent = Order.get_by_id(order.id)
    assert (sent.phase, sent.substate) == ("validation", "to_check")
    assert before - dt.timedelta(seconds=1) <= sent.submitted_at <= utcnow()
    assert sent.requester_modified_at is None  # nothing « modifié par le demandeur » to flag

    page = text(client.get(path))
    assert (f"Votre commande N° {order.number} est envoyée à l'Autorité d'Enregistrement BPOI. "
            f"Un accusé de réception vient de vous être envoyé par e-mail.") in page
    assert ("Votre dossier est en cours de vérification par l'Autorité d'Enregistrement. Vos "
            "pièces justificatives sont en cours de vérification.") in page
    assert "Reprendre la saisie de la commande" not in page

    [event] = received_events(order)
    assert event.actor == "Demandeur"
    login_as(client, make_operator(order.ae))
    history = text(client.get(f"/commandes/{order.id}")).split("Historique")[-1]
    assert "Demandeur Commande reçue du portail" in history
    assert "Depuis : la page de suivi" in history

    [acknowledgement] = acknowledgements(order)
    assert acknowledgement.recipient == "alice.colbert@exemple.fr"
    with running_smtp(app) as server:
        assert outbox.flush(app).failed == 0
        received = server.inbox.wait_for(2)  # the draft's link when it began, then this one
    [mail] = [r for r in received
              if r.message["Subject"] == f"Commande N° {order.number} : commande reçue"]
    assert mail.recipients == ["alice.colbert@exemple.fr"]
    body = " ".join(mail.text.split())
    assert (f"Nous avons bien reçu la commande de certificat N° {order.number} pour Sandra "
            f"Boileau (Société Exemple).") in body
    link = re.search(r"http://localhost/suivi/\S+", mail.text).group(0)
    assert f"Suivi de votre commande N° {order.number}" in text(client.get(urlsplit(link).path))
    assert Notification.get_by_id(acknowledgement.id).state == "sent"


def test_a_second_post_changes_nothing(app, client, complete):
    order, path = complete
    assert envoi(client, path).status_code == 303
    first = Order.get_by_id(order.id)

    again = envoi(client, path)

    assert again.status_code in (303, 409, 422)
    now = Order.get_by_id(order.id)
    assert (now.phase, now.substate, now.submitted_at, now.updated_at) == (
        first.phase, first.substate, first.submitted_at, first.updated_at)
    assert len(received_events(order)) == 1 and len(acknowledgements(order)) == 1


def test_a_second_post_says_the_order_was_already_sent(client, complete):
    order, path = complete
    envoi(client, path)
    again = envoi(client, path, follow_redirects=True)
    assert "déjà été envoyée" in text(again) or "n'est pas en phase" in text(again)


def test_an_incomplete_draft_is_refused_with_its_reasons_and_stays_a_draft(client, without_kbis):
    order, path = without_kbis
    response = envoi(client, path)
    assert response.status_code == 422
    shown = text(response)
    assert ("La commande n'est pas envoyée : Pièce justificative à déposer : Extrait de KBIS."
            in shown)
    assert SEND_BUTTON not in response.text
    assert (Order.get_by_id(order.id).phase, Order.get_by_id(order.id).submitted_at) == (
        "entry", None)
    assert received_events(order) == [] and acknowledgements(order) == []


def test_a_forged_link_sends_nothing(client, complete):
    order, path = complete
    csrf = csrf_token_from(client.get(path).text)
    response = client.post(path[:-3] + "AAA/envoi", data={"csrf_token": csrf})
    assert response.status_code == 404
    assert Order.get_by_id(order.id).phase == "entry"


# --- Back to the ordering page ------------------------------------------------------------------

def test_reprendre_la_saisie_opens_the_ordering_pages_summary(client, without_kbis):
    order, path = without_kbis
    response = client.get(f"{path}/reprendre")
    assert response.status_code == 303
    target = urlsplit(response.headers["Location"]).path
    assert re.fullmatch(r"/commander/bpoi-rhone/[^/]+/recapitulatif", target), target
    summary = client.get(target)
    assert summary.status_code == 200
    shown = text(summary)
    assert f"Commander un certificat — commande N° {order.number}" in shown
    assert "Récapitulatif" in shown and "Extrait de KBIS" in shown


def test_reprendre_la_saisie_of_a_draft_made_elsewhere_gives_it_an_intake(app, client, portal,
                                                                         make_order):
    """A draft that did not come through the ordering page (the demo's) can be resumed."""
    order = make_order(portal.ae, portal=portal, phase="entry", substate=None,
                       requester_email="alice.colbert@exemple.fr")
    response = client.get(f"{followup_path(app, order)}/reprendre")
    assert response.status_code == 303
    assert client.get(response.headers["Location"]).status_code == 200
    assert OrderIntake.select().where(OrderIntake.order == order.id).count() == 1


def test_no_way_back_once_sent_or_when_the_portal_is_closed(app, client, complete, portal):
    order, path = complete
    Portal.update(closed_at=utcnow()).where(Portal.id == portal.id).execute()
    page = text(client.get(path))
    assert "Reprendre la saisie de la commande" not in page
    response = client.get(f"{path}/reprendre")
    assert urlsplit(response.headers["Location"]).path == path
    Portal.update(closed_at=None).where(Portal.id == portal.id).execute()
    envoi(client, path)
    response = client.get(f"{path}/reprendre")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == path


# --- Operators and drafts --------------------------------------------------------------------------

@pytest.fixture
def operator_on_draft(app, client, without_kbis, make_operator):
    order, _ = without_kbis
    camille = make_operator(order.ae, roles="AEA,admin", name="Camille Martin")
    login_as(client, camille)
    csrf = csrf_token_from(client.get(f"/commandes/{order.id}").text)
    return order, camille, csrf


def test_an_operator_sees_the_draft_but_is_offered_no_action(client, operator_on_draft):
    order, _, _ = operator_on_draft
    page = client.get(f"/commandes/{order.id}")
    assert page.status_code == 200
    html = source(page)
    for action in ("attente", "refus", "justificatif-identite"):
        assert f'action="/commandes/{order.id}/{action}"' not in html, action
    assert DRAFT_PROBLEM in text(client.get(f"/commandes/{order.id}/notifications"))


@pytest.mark.parametrize("url, data", [
    ("/commandes/{id}/attente", {"comment": "Kbis de plus de 3 mois."}),
    ("/commandes/{id}/refus", {"comment": "Société radiée."}),
    ("/commandes/{id}/justificatif-identite", {"id_doc_type": "CNI",
                                              "id_doc_number": "880692310285"}),
])
def test_an_operator_cannot_act_on_a_draft(client, operator_on_draft, url, data):
    order, _, csrf = operator_on_draft
    response = client.post(url.format(id=order.id), data={"csrf_token": csrf, **data},
                           follow_redirects=True)
    assert DRAFT_PROBLEM in text(response)
    after = Order.get_by_id(order.id)
    assert (after.phase, after.on_hold_at, after.hold_comment, after.id_doc_number) == (
        "entry", None, None, None)
    assert only_the_draft_link(order)


def test_an_operator_cannot_notify_the_requester_of_a_draft(client, operator_on_draft):
    order, _, csrf = operator_on_draft
    response = client.post(f"/commandes/{order.id}/notifications", data={
        "csrf_token": csrf, "type": "other", "recipient": "alice.colbert@exemple.fr",
        "subject": f"Commande N° {order.number}", "message": "Bonjour,\n{lien}"})
    assert response.status_code == 422
    assert DRAFT_PROBLEM in text(response)
    assert only_the_draft_link(order)


def test_once_sent_the_operator_may_act(app, client, complete, make_operator):
    order, path = complete
    envoi(client, path)
    camille = make_operator(order.ae, roles="AEA", name="Camille Martin")
    login_as(client, camille)
    page = client.get(f"/commandes/{order.id}")
    html = source(page)
    for action in ("attente", "refus", "justificatif-identite"):
        assert f'action="/commandes/{order.id}/{action}"' in html, action
    csrf = csrf_token_from(page.text)
    response = client.post(f"/commandes/{order.id}/attente", follow_redirects=True,
                           data={"csrf_token": csrf, "comment": "Kbis de plus de 3 mois."})
    assert "Commande mise en attente ; le demandeur est prévenu." in text(response)
    assert Order.get_by_id(order.id).hold_comment == "Kbis de plus de 3 mois."


# --- The activity digest -------------------------------------------------------------------------

def rhone_line(app, operator) -> str:
    content = digest.preview(app, Operator.get_by_id(operator.id), utcnow())
    return next(line for line in digest.text(content).splitlines()
                if line.startswith("BPOI-Rhône —"))


def test_the_digest_counts_an_order_once_it_is_sent(app, client, complete, make_operator):
    order, path = complete
    camille = make_operator(order.ae, roles="AEA", name="Camille Martin")
    assert rhone_line(app, camille) == ("BPOI-Rhône — Commandes à vérifier : 0 commande · "
                                        "Commandes à valider : 0 commande · "
                                        "Commandes à révoquer : 0 commande")
    envoi(client, path)
    assert rhone_line(app, camille) == ("BPOI-Rhône — Commandes à vérifier : 1 commande · "
                                        "Commandes à valider : 0 commande · "
                                        "Commandes à révoquer : 0 commande")


# --- Two steps saved at once -------------------------------------------------------------------

def test_two_steps_saved_at_once_both_count(app, client, portal):
    order = make_draft(app, portal, steps=("porteur", "mandataire"))
    path = followup_path(app, order)
    # Two tabs: both requests read the intake, then each saves its step.
    intake_a = OrderIntake.get(OrderIntake.order == order.id)
    intake_b = OrderIntake.get(OrderIntake.order == order.id)
    offers = drafts.offers_for(portal)
    with app.app_context():
        drafts.save_step(reload(order), intake_a, "representant-legal",
                         ANSWERS["representant-legal"], offers)
        drafts.save_step(reload(order), intake_b, "produit", ANSWERS["produit"], offers)
    assert SEND_BUTTON in client.get(path).text
