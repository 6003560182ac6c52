"""« Envoyer une notification » and « Historique des notifications »: the message types and their
wording filled from the order, the form (HTMX and without JavaScript), its preview, every bad
input refused in French with nothing stored, who may send, the history in the order file, and
the admins' page of wordings."""
from __future__ import annotations

import datetime as dt
import html as html_lib
import json
import re

import pytest
from playhouse.test_utils import assert_query_count, count_queries

from models import AuditEvent, Document, MessageTemplate, Notification, Order, utcnow
from services.messaging import drafts, wordings
from tests.conftest import csrf_token_from, login_as
from tests.text import text

HTMX = {"HX-Request": "true"}


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    """Order 960072 « à vérifier » whose Extrait de KBIS and Preuve de paiement are missing."""
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA,admin", name="Camille Martin")
    order = make_order(ae, number=960072, otp_contact="01 23", requester_email="alice.colbert@exemple.fr")
    for kind in ("cgu", "subscription_contract", "authorization_letter"):
        Document.create(order=order, kind=kind, category="contractuel", status="unsigned")
    for kind in ("holder_id", "legal_rep_id"):
        Document.create(order=order, kind=kind, category="justificatif", status="imported",
                        sha256="a" * 64, imported_at=utcnow())
    Document.create(order=order, kind="kbis", category="justificatif", status="not_imported")
    return {"ae": ae, "camille": camille, "order": order}


def field_value(html: str, name: str) -> str:
    match = re.search(r'<textarea[^>]*name="' + name + r'"[^>]*>(.*?)</textarea>', html, re.S)
    if match:
        return html_lib.unescape(match.group(1))
    match = re.search(r'<input[^>]*name="' + name + r'"[^>]*value="([^"]*)"', html, re.S)
    assert match, f"no field {name}"
    return html_lib.unescape(match.group(1))


def form_page(client, order, **args):
    return client.get(f"/commandes/{order.id}/notifications", query_string=args)


def message(token, **overrides):
    data = {"csrf_token": token, "type": "missing_document", "recipient": "alice.colbert@exemple.fr",
            "subject": "Commande N° 960072 : pièce manquante", "message": "Bonjour,\nIl manque le KBIS : {lien}"}
    data.update(overrides)
    return data


# --- Wordings filled from the order ------------------------------------------------------------

def test_each_type_fills_in_a_french_message_from_the_order(client, desk):
    login_as(client, desk["camille"])
    html = form_page(client, desk["order"]).get_data(as_text=True)
    options = re.findall(r'<option value="[a-z_]+"[^>]*>([^<]+)</option>', html)
    assert options == ["Pièce manquante", "Pièce non valide ou expirée",
                       "Informations non conformes aux pièces", "Contact OTP non valide",
                       "Document en attente de signature", "Autre"]
    # « Pièce manquante » first: names the missing pieces computed by workflow.py.
    body = field_value(html, "message")
    assert "commande de certificat N° 960072 de Mme Sandra Boileau (Société Exemple)" in body
    assert "  • Extrait de KBIS\n  • Preuve de paiement" in body
    assert "Pièce d'identité du porteur" not in body
    assert "{lien}" in body, "the link is made at sending"
    assert field_value(html, "subject") == "Commande N° 960072 : pièce manquante"
    assert field_value(html, "recipient") == "alice.colbert@exemple.fr"

    otp = form_page(client, desk["order"], type="invalid_otp").get_data(as_text=True)
    assert "Le Contact OTP indiqué pour la commande N° 960072 (01 23)" in field_value(otp, "message")
    signature = form_page(client, desk["order"], type="awaiting_signature").get_data(as_text=True)
    assert "  • CGU\n  • Contrat d'abonnement" in field_value(signature, "message")
    other = form_page(client, desk["order"], type="other").get_data(as_text=True)
    assert field_value(other, "message") == ""
    assert field_value(other, "subject") == "Commande N° 960072"


def test_an_expired_piece_is_named_in_the_invalid_document_message(desk):
    holder_id = Document.get((Document.order == desk["order"].id) & (Document.kind == "holder_id"))
    order = drafts.order_for_message(desk["order"].id)
    documents = list(drafts.current_documents(order))
    unspecified = drafts.draft(order, documents, "invalid_document")
    assert "[à compléter : indiquez la pièce concernée]" in unspecified.body
    Document.update(expires_on=dt.date(2020, 1, 31)).where(Document.id == holder_id.id).execute()
    documents = list(drafts.current_documents(order))
    draft = drafts.draft(order, documents, "invalid_document")
    assert "  • Pièce d'identité du porteur" in draft.body
    assert "[à compléter" not in draft.body


def test_choosing_a_type_refills_the_message_fields_only_with_htmx(client, desk):
    login_as(client, desk["camille"])
    response = client.get(f"/commandes/{desk['order'].id}/notifications?type=invalid_otp",
                          headers={**HTMX, "HX-Target": "notification-message-fields"})
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="notification-message-fields">')
    assert "<html" not in fragment and 'name="recipient"' not in fragment
    assert field_value(fragment, "type") == "invalid_otp"
    assert field_value(fragment, "subject") == "Commande N° 960072 : Contact OTP non valide"
    # Opened from the order file or the viewer: the whole form, in place.
    form = client.get(f"/commandes/{desk['order'].id}/notifications", headers=HTMX)
    assert form.get_data(as_text=True).lstrip().startswith('<section id="notification-form"')
    assert "Vary" in form.headers and "HX-Request" in form.headers["Vary"]


def test_preview_shows_the_email_as_the_requester_will_read_it(client, desk):
    login_as(client, desk["camille"])
    token = csrf_token_from(form_page(client, desk["order"]).get_data(as_text=True))
    response = client.post(f"/commandes/{desk['order'].id}/notifications/apercu",
                           data=message(token), headers=HTMX)
    preview = text(response.get_data(as_text=True))
    assert "Aperçu de l'e-mail" in preview
    assert "BPOI — Commande N° 960072" in preview
    assert "Il manque le KBIS : [lien personnel vers la page de suivi, créé à l'envoi]" in preview
    assert Notification.select().count() == 0, "a preview sends nothing"
    # Without JavaScript: the whole page, with the preview.
    plain = client.post(f"/commandes/{desk['order'].id}/notifications/apercu", data=message(token))
    assert "<html" in plain.get_data(as_text=True) and "Aperçu de l'e-mail" in text(plain.get_data(as_text=True))


# --- Sending -----------------------------------------------------------------------------------

def test_sending_with_htmx_queues_it_and_updates_the_history_in_place(client, desk):
    login_as(client, desk["camille"])
    token = csrf_token_from(form_page(client, desk["order"]).get_data(as_text=True))
    response = client.post(f"/commandes/{desk['order'].id}/notifications",
                           data=message(token, message="Bonjour,\r\nIl manque le KBIS : {lien}"),
                           headers=HTMX)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "Notification « Pièce manquante » enregistrée pour alice.colbert@exemple.fr" in text(fragment)
    assert re.search(r'<section id="historique-notifications"[^>]*hx-swap-oob="true"', fragment)
    notification = Notification.get()
    assert (notification.type, notification.recipient, notification.state) == \
        ("missing_document", "alice.colbert@exemple.fr", "queued")
    assert notification.body == "Bonjour,\nIl manque le KBIS : {lien}", "CRLF normalised"
    assert notification.sent_by_id == desk["camille"].id
    assert re.fullmatch(r"<radesk\.[0-9a-f]{32}@radesk\.example>", notification.message_id)
    history = text(fragment[fragment.index('id="historique-notifications"'):])
    assert "Pièce manquante" in history and "Camille Martin" in history
    assert "en attente" in history and "pas encore envoyée" in history
    assert 'hx-trigger="every 5s"' in fragment, "the history polls while one waits"
    event = AuditEvent.get(AuditEvent.action == "notification_queued")
    assert event.operator_id == desk["camille"].id and event.order_id == desk["order"].id
    assert json.loads(event.details) == {"notification": notification.id, "type": "Pièce manquante",
                                         "recipient": "alice.colbert@exemple.fr",
                                         "subject": "Commande N° 960072 : pièce manquante"}


def test_sending_without_javascript_redirects_to_the_history(client, desk):
    login_as(client, desk["camille"])
    token = csrf_token_from(form_page(client, desk["order"]).get_data(as_text=True))
    response = client.post(f"/commandes/{desk['order'].id}/notifications", data=message(token))
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Notification « Pièce manquante » enregistrée" in text(page)
    assert "Camille Martin" in text(page[page.index('id="historique-notifications"'):])


LONG = "x" * (wordings.BODY_MAX + 1)


@pytest.mark.parametrize("overrides, expected", [
    ({"message": "   "}, "Le message est vide : écrivez le texte à envoyer."),
    ({"message": LONG}, "Le message est trop long (5 001 caractères, maximum 5 000)."),
    ({"subject": ""}, "L'objet du message est vide."),
    ({"subject": "Bonjour\r\nBcc: tous@exemple.fr"}, "L'objet doit tenir sur une seule ligne"),
    ({"subject": "o" * 151}, "L'objet est trop long (151 caractères, maximum 150)."),
    ({"recipient": ""}, "Indiquez l'adresse e-mail du destinataire."),
    ({"recipient": "alice@exemple.fr\r\nBcc: tous@exemple.fr"}, "n'est pas valide : une seule adresse"),
    ({"recipient": "alice@exemple.fr, bob@exemple.fr"}, "n'est pas valide : une seule adresse"),
    ({"recipient": "Alice <alice@exemple.fr>"}, "n'est pas valide : une seule adresse"),
    ({"recipient": "pas-une-adresse"}, "n'est pas valide : une seule adresse"),
    ({"type": "inconnu"}, "Type de message inconnu"),
    ({"message": "Écart : [à compléter : précisez l'écart constaté]."},
     "Le message contient encore un passage à compléter : « [à compléter : précisez l'écart constaté] »."),
])
@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "sans-js"])
def test_bad_input_is_refused_in_french_and_nothing_is_sent(client, desk, overrides, expected, headers):
    login_as(client, desk["camille"])
    token = csrf_token_from(form_page(client, desk["order"]).get_data(as_text=True))
    response = client.post(f"/commandes/{desk['order'].id}/notifications",
                           data=message(token, **overrides), headers=headers)
    assert response.status_code == (200 if headers else 422)
    page = response.get_data(as_text=True)
    assert "La notification n'est pas envoyée" in text(page)
    assert expected in text(page)
    assert Notification.select().count() == 0
    assert AuditEvent.select().where(AuditEvent.action == "notification_queued").count() == 0
    if "message" in overrides and overrides["message"].strip():
        assert field_value(page, "message") == overrides["message"], "what was typed is kept"


def test_without_csrf_token_nothing_is_sent(client, desk):
    login_as(client, desk["camille"])
    response = client.post(f"/commandes/{desk['order'].id}/notifications", data=message(""))
    assert response.status_code == 400
    assert Notification.select().count() == 0


def test_an_aet_sees_the_history_but_cannot_send(client, desk, make_operator):
    julien = make_operator(desk["ae"], roles="AET", name="Julien Roux")
    login_as(client, julien)
    page = form_page(client, desk["order"]).get_data(as_text=True)
    assert "Rôle AEA requis pour envoyer une notification." in text(page)
    assert 'name="message"' not in page
    token = csrf_token_from(page)
    response = client.post(f"/commandes/{desk['order'].id}/notifications", data=message(token))
    assert "Rôle AEA requis pour envoyer une notification." in text(response.get_data(as_text=True))
    assert Notification.select().count() == 0


def test_a_validated_order_takes_no_more_notifications(client, desk):
    login_as(client, desk["camille"])
    token = csrf_token_from(form_page(client, desk["order"]).get_data(as_text=True))
    # Validated by someone else meanwhile: the server checks the state at the moment of sending.
    Order.update(phase="generation", substate=None, validated_at=utcnow()).where(
        Order.id == desk["order"].id).execute()
    response = client.post(f"/commandes/{desk['order'].id}/notifications", data=message(token),
                           headers=HTMX)
    assert "La commande a été validée : le dossier est en lecture seule" in text(response.get_data(as_text=True))
    assert Notification.select().count() == 0


def test_another_portal_or_ae_answers_404(client, desk, make_ae, make_operator, make_order):
    from models import Portal
    rhone = Portal.get((Portal.ae == desk["ae"].id) & (Portal.name == "BPOI-Rhône"))
    hidden = make_order(desk["ae"], portal=rhone)
    occitanie_only = make_operator(desk["ae"], roles="AEA",
                                   portals=[Portal.get(Portal.name == "BPOI-Occitanie")])
    login_as(client, occitanie_only)
    assert form_page(client, hidden).status_code == 404
    token = csrf_token_from(form_page(client, desk["order"]).get_data(as_text=True))
    assert client.post(f"/commandes/{hidden.id}/notifications", data=message(token)).status_code == 404
    assert Notification.select().count() == 0
    # A notification id of another order, under this order's URL.
    other = Notification.create(ae=desk["ae"], order=hidden, type="other", recipient="x@exemple.fr",
                                subject="s", body="b", message_id="<x@radesk.example>",
                                state="failed")
    response = client.post(f"/commandes/{desk['order'].id}/notifications/{other.id}/renvoyer",
                           data={"csrf_token": token})
    assert response.status_code == 404
    assert Notification.get_by_id(other.id).state == "failed"


# --- The history in the order file ----------------------------------------------------------------

def test_the_order_file_shows_the_history_and_the_entry_to_report_an_incomplete_dossier(client, desk, make_operator):
    queued_at = dt.datetime(2026, 3, 14, 8, 5)  # UTC: 09:05 in Paris
    Notification.create(ae=desk["ae"], order=desk["order"], type="missing_document",
                        recipient="alice.colbert@exemple.fr", subject="Commande N° 960072 : pièce manquante",
                        body="b", sent_by=desk["camille"], created_at=queued_at, state="sent", tries=1,
                        sent_at=queued_at + dt.timedelta(minutes=1), message_id="<a@radesk.example>")
    Notification.create(ae=desk["ae"], order=desk["order"], type="invalid_otp",
                        recipient="alice.colbert@exemple.fr", subject="OTP", body="b",
                        sent_by=desk["camille"], created_at=queued_at + dt.timedelta(hours=1),
                        state="failed", tries=8, last_error="Serveur de messagerie injoignable.",
                        message_id="<b@radesk.example>")
    colleague = make_operator(desk["ae"], roles="AEA", name="Hugo Lenoir")
    login_as(client, colleague)  # the whole AE team sees it
    page = client.get(f"/commandes/{desk['order'].id}").get_data(as_text=True)
    assert "Signaler un dossier incomplet" in page
    assert re.search(r'<a class="button" href="/commandes/\d+/notifications" hx-get="/commandes/\d+/notifications"', page)
    history = text(page[page.index('id="historique-notifications"'):page.index('id="historique"')])
    assert "14/03/2026 à 09:06" in history and "Pièce manquante" in history
    assert "Camille Martin" in history and "alice.colbert@exemple.fr" in history
    assert "envoyée (1 tentative)" in history
    assert "Contact OTP non valide" in history and "échec (8 tentatives)" in history
    assert "Serveur de messagerie injoignable." in history and "Renvoyer" in history


def test_history_takes_a_constant_number_of_queries(client, desk):
    login_as(client, desk["camille"])
    url = f"/commandes/{desk['order'].id}/notifications/historique"
    client.get(url, headers=HTMX)
    with count_queries() as counter:
        client.get(url, headers=HTMX)
    for n in range(30):
        Notification.create(ae=desk["ae"], order=desk["order"], type="other", recipient="x@exemple.fr",
                            subject=f"s{n}", body="b", sent_by=desk["camille"],
                            message_id=f"<{n}@radesk.example>")
    with assert_query_count(counter.count):
        html = client.get(url, headers=HTMX).get_data(as_text=True)
    assert html.count('<tr id="notification-') == 30


# --- The AE's wordings -------------------------------------------------------------------------

def test_an_admin_edits_a_wording_and_operators_get_it(client, desk, make_ae, make_operator, make_order):
    login_as(client, desk["camille"])
    page = client.get("/parametres/notifications").get_data(as_text=True)
    assert "Textes des notifications au demandeur" in page and "{pieces_manquantes}" in page
    token = csrf_token_from(page)
    response = client.post("/parametres/notifications", headers=HTMX, data={
        "csrf_token": token, "type": "missing_document", "subject": "N° {numero} : il manque une pièce",
        "message": "Madame, Monsieur,\r\nIl manque :\r\n{pieces_manquantes}\r\nLien : {lien}"})
    assert "Modèle enregistré." in text(response.get_data(as_text=True))
    row = MessageTemplate.get()
    assert (row.ae_id, row.code, row.updated_by_id) == (desk["ae"].id, "missing_document", desk["camille"].id)
    draft = form_page(client, desk["order"]).get_data(as_text=True)
    assert field_value(draft, "subject") == "N° 960072 : il manque une pièce"
    assert field_value(draft, "message").startswith("Madame, Monsieur,\nIl manque :\n  • Extrait de KBIS")
    assert AuditEvent.select().where(AuditEvent.action == "message_template_updated").count() == 1
    # Another AE keeps the built-in wording.
    other_ae = make_ae("AE Atlantique", ("Atlantique-Nantes",))
    nadia = make_operator(other_ae, roles="AEA")
    other_order = make_order(other_ae)
    login_as(client, nadia)
    assert field_value(form_page(client, other_order).get_data(as_text=True), "subject").endswith(": pièce manquante")
    # Back to the built-in text.
    login_as(client, desk["camille"])
    response = client.post("/parametres/notifications", data={"csrf_token": token, "type": "missing_document",
                                                              "action": "reset"})
    assert response.status_code == 303
    assert MessageTemplate.select().count() == 0


@pytest.mark.parametrize("subject, body, expected", [
    ("Objet {inconnue}", "Texte", "Variable inconnue : {inconnue}."),
    ("Objet\nBcc: x@exemple.fr", "Texte", "L'objet doit tenir sur une seule ligne"),
    ("Objet {lien}", "Texte", "Le lien de suivi ({lien}) ne peut figurer que dans le texte"),
    ("Objet", "y" * 5001, "Le texte est trop long (5 001 caractères, maximum 5 000)."),
], ids=["variable", "injection", "lien", "longueur"])
def test_a_bad_wording_is_refused(client, desk, subject, body, expected):
    login_as(client, desk["camille"])
    token = csrf_token_from(client.get("/parametres/notifications").get_data(as_text=True))
    response = client.post("/parametres/notifications", headers=HTMX, data={
        "csrf_token": token, "type": "missing_document", "subject": subject, "message": body})
    assert expected in text(response.get_data(as_text=True))
    assert MessageTemplate.select().count() == 0


def test_only_admins_edit_wordings(client, desk, make_operator):
    login_as(client, make_operator(desk["ae"], roles="AEA"))
    assert client.get("/parametres/notifications").status_code == 403
    assert "Textes des notifications" not in client.get("/commandes").get_data(as_text=True)
