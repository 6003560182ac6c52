"""The requester's follow-up page: opened from the signed link, it tells the order's state and
what is missing in plain French, lets the requester correct their information and upload pieces
(with and without JavaScript); every change is audited, takes a dossier sent for signature back
to « à vérifier », and shows as « modifié par le demandeur le … » to the operators. Expired,
tampered and forged links, refused uploads and frozen orders change nothing."""
from __future__ import annotations

import base64
import io
import json
import re
import time
from urllib.parse import urlsplit

import pytest
from itsdangerous import TimestampSigner

from models import AuditEvent, Document, Notification, Order, Person, utcnow
from services.messaging import followup
from tests.conftest import csrf_token_from, login_as
from tests.pdf_samples import text_pdf
from tests.text import text

HTMX = {"HX-Request": "true"}


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    """Order 960072 sent for signature (« en signature ») whose Extrait de KBIS is missing."""
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    order = make_order(ae, number=960072, substate="in_signature", otp_contact="+33612345678",
                       requester_email="alice.colbert@exemple.fr")
    for kind in ("cgu", "subscription_contract", "authorization_letter"):
        Document.create(order=order, kind=kind, category="contractuel", status="unsigned")
    for kind in ("holder_id", "legal_rep_id", "payment_proof"):
        Document.create(order=order, kind=kind, category="justificatif", status="imported",
                        sha256="a" * 64, imported_at=utcnow(), imported_by_label="Demandeur")
    Document.create(order=order, kind="kbis", category="justificatif", status="not_imported")
    with app.app_context():
        link, _ = followup.make_link(app, order.id)
    return {"ae": ae, "camille": camille, "order": order, "path": urlsplit(link).path}


def open_page(client, desk):
    response = client.get(desk["path"])
    assert response.status_code == 200
    return response.get_data(as_text=True)


def information(token, **overrides):
    data = {"csrf_token": token, "email": "porteur@example.org", "phone": "0612345678",
            "contact_otp": "+33612345678"}
    data.update(overrides)
    return data


def events(action):
    return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id))


def test_the_page_tells_the_state_and_what_is_missing_in_plain_french(client, desk):
    response = client.get(desk["path"])
    page = text(response.get_data(as_text=True))
    assert "Suivi de votre commande N° 960072" in page
    assert "Votre dossier est en cours de vérification par l'Autorité d'Enregistrement." in page
    assert "Les documents contractuels ont été envoyés pour signature." in page
    assert "Déposer la pièce manquante : Extrait de KBIS." in page
    assert "Signer le document : CGU" in page
    assert "Extrait de KBIS à déposer" in page
    assert "Se déconnecter" not in page, "no operator session involved"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"  # never to another site
    assert "noindex" in response.headers["X-Robots-Tag"]


def test_messages_sent_to_the_requester_are_shown_without_the_raw_link_variable(client, desk):
    Notification.create(ae=desk["ae"], order=desk["order"], type="missing_document",
                        recipient="alice.colbert@exemple.fr", subject="Commande N° 960072 : pièce manquante",
                        body="Il manque le KBIS. Déposez-le ici : {lien}", state="sent", sent_at=utcnow(),
                        tries=1, message_id="<m@radesk.example>")
    page = text(open_page(client, desk))
    assert "Commande N° 960072 : pièce manquante — envoyé le" in page
    assert "Déposez-le ici : cette page" in page and "{lien}" not in page


# --- Links -------------------------------------------------------------------------------------

def altered(signature: str) -> str:
    """One character changed where every bit counts (a base64 string's last character carries
    padding bits, which decoding ignores)."""
    return ("B" if signature[0] == "A" else "A") + signature[1:]


def _segments(path):
    payload, stamp, signature = path.rsplit("/", 1)[1].split(".")
    return payload, stamp, signature


def test_a_tampered_link_or_another_orders_link_opens_nothing(app, client, desk, make_order):
    other = make_order(desk["ae"], number=960073)
    with app.app_context():
        other_path = urlsplit(followup.make_link(app, other.id)[0]).path
    payload, stamp, signature = _segments(desk["path"])
    other_payload, _, _ = _segments(other_path)
    forged = [
        f"/suivi/{payload}.{stamp}.{altered(signature)}",           # signature altered
        f"/suivi/{other_payload}.{stamp}.{signature}",             # another order's payload
        "/suivi/" + base64.urlsafe_b64encode(b'{"o":1}').decode().rstrip("=") + f".{stamp}.{signature}",
        "/suivi/abc",
        f"/suivi/{payload}",
    ]
    token = csrf_token_from(open_page(client, desk))
    for path in forged:
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Ce lien de suivi n'est pas valide" in text(response.get_data(as_text=True))
        assert client.post(path + "/informations",
                           data=information(token, contact_otp="0699999999")).status_code == 404
    assert Order.get_by_id(desk["order"].id).otp_contact == "+33612345678"
    assert Order.get_by_id(other.id).requester_modified_at is None
    # Signed with another secret (another installation): refused too.
    foreign = followup.make_token("une-autre-cle", desk["order"].id)
    assert client.get(f"/suivi/{foreign}").status_code == 404


def test_an_expired_link_offers_a_new_one_sent_to_the_orders_own_address(app, client, desk, monkeypatch):
    days = app.config["RADESK_FOLLOWUP_LINK_DAYS"]
    old = int(time.time()) - days * 86400 - 60
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: old)
    expired = followup.make_token(app.config["SECRET_KEY"], desk["order"].id)
    monkeypatch.undo()
    response = client.get(f"/suivi/{expired}")
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "Lien de suivi expiré" in text(page) and "Recevoir un nouveau lien" in page
    assert "960072" not in page and "Boileau" not in page, "an expired link shows nothing of the order"
    token = csrf_token_from(page)
    renewed = client.post("/suivi/renouveler", data={"csrf_token": token, "token": expired})
    assert renewed.status_code == 200
    assert re.search(r"vient d'être envoyé à a•{12}@exemple\.fr\.", text(renewed.get_data(as_text=True)))
    notification = Notification.get()
    assert (notification.type, notification.recipient, notification.sent_by_id) == \
        ("link_renewal", "alice.colbert@exemple.fr", None)
    assert "{lien}" in notification.body
    assert events("notification_queued")[0].actor == "Demandeur"
    # Asked again at once: refused, nothing more queued.
    again = client.post("/suivi/renouveler", data={"csrf_token": token, "token": expired})
    assert "il y a moins de 10 minutes" in text(again.get_data(as_text=True))
    assert Notification.select().count() == 1
    # A forged token asks for nothing.
    payload, stamp, signature = expired.split(".")
    forged = client.post("/suivi/renouveler", data={"csrf_token": token,
                                                    "token": f"{payload}.{stamp}.{altered(signature)}"})
    assert forged.status_code == 404 and Notification.select().count() == 1


# --- Correcting information ----------------------------------------------------------------------

def test_correcting_the_contact_otp_is_audited_and_takes_the_dossier_back_to_check(client, desk):
    token = csrf_token_from(open_page(client, desk))
    response = client.post(desk["path"] + "/informations", headers=HTMX,
                           data=information(token, contact_otp="07 98 76 54 32",
                                            email="Sandra.Boileau@Exemple.fr"))
    fragment = response.get_data(as_text=True)
    assert "Vos informations sont enregistrées." in text(fragment)
    assert re.search(r'<section id="ce-qui-manque"[^>]*hx-swap-oob="true"', fragment)
    order = Order.get_by_id(desk["order"].id)
    assert order.otp_contact == "+33798765432"
    assert (order.phase, order.substate) == ("validation", "to_check")
    assert order.requester_modified_at is not None
    holder = Person.get_by_id(order.holder_id)
    assert holder.email == "Sandra.Boileau@exemple.fr"
    event = events("requester_information_updated")[0]
    assert event.actor == "Demandeur" and event.operator_id is None and event.order_id == order.id
    details = json.loads(event.details)
    assert details["modifications"]["Contact OTP"] == {"avant": "+33612345678", "après": "+33798765432"}
    assert details["sous-état"] == {"avant": "en signature", "après": "à vérifier"}
    # The same values again: nothing to record.
    again = client.post(desk["path"] + "/informations", headers=HTMX,
                        data=information(token, contact_otp="+33798765432", email="Sandra.Boileau@exemple.fr"))
    assert "Aucune modification" in text(again.get_data(as_text=True))
    assert len(events("requester_information_updated")) == 1


@pytest.mark.parametrize("overrides, expected", [
    ({"contact_otp": "01 23"}, "Le Contact OTP « 01 23 » n'est ni un numéro de mobile valide"),
    ({"contact_otp": "0123456789"}, "n'est pas un numéro de mobile"),
    ({"email": "porteur@example.org\r\nBcc: x@exemple.fr"}, "valeur trop longue ou illisible"),
    ({"email": "pas une adresse"}, "n'est pas une adresse e-mail valide"),
    ({"phone": "abc"}, "n'est pas un numéro de téléphone valide"),
    ({"email": ""}, "L'e-mail du porteur est obligatoire."),
], ids=["otp", "otp-fixe", "injection", "email", "phone", "vide"])
@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "sans-js"])
def test_bad_information_is_refused_and_nothing_changes(client, desk, overrides, expected, headers):
    token = csrf_token_from(open_page(client, desk))
    response = client.post(desk["path"] + "/informations", headers=headers,
                           data=information(token, **overrides))
    assert response.status_code == (200 if headers else 422)
    page = text(response.get_data(as_text=True))
    assert "Vos informations ne sont pas enregistrées" in page and expected in page
    order = Order.get_by_id(desk["order"].id)
    assert (order.otp_contact, order.substate, order.requester_modified_at) == \
        ("+33612345678", "in_signature", None)
    assert not events("requester_information_updated")


def test_without_javascript_a_correction_redirects_to_the_page(client, desk):
    token = csrf_token_from(open_page(client, desk))
    response = client.post(desk["path"] + "/informations", data=information(token, phone="06 11 22 33 44"))
    assert response.status_code == 303 and response.headers["Location"].endswith("#vos-informations")
    assert "Vos informations sont enregistrées." in text(client.get(response.headers["Location"]).get_data(as_text=True))


# --- Uploading pieces ---------------------------------------------------------------------------

def upload(client, desk, token, data, filename="kbis.pdf", kind="kbis", headers=HTMX):
    return client.post(desk["path"] + "/pieces", headers=headers, content_type="multipart/form-data",
                       data={"csrf_token": token, "kind": kind, "file": (io.BytesIO(data), filename)})


def test_uploading_the_missing_piece_goes_through_the_document_store(client, desk):
    token = csrf_token_from(open_page(client, desk))
    response = upload(client, desk, token, text_pdf(pages=2, text=b"Extrait Kbis"), filename="Kbis 2026.pdf")
    fragment = response.get_data(as_text=True)
    assert "Pièce reçue : Extrait de KBIS (« Kbis 2026.pdf »). Merci !" in text(fragment)
    assert re.search(r'<section id="ce-qui-manque"[^>]*hx-swap-oob="true"', fragment)
    assert "Déposer la pièce manquante" not in text(fragment)
    kbis = Document.get((Document.order == desk["order"].id) & (Document.kind == "kbis")
                        & (Document.is_current == True))  # noqa: E712
    assert (kbis.status, kbis.media_type, kbis.page_count, kbis.imported_by_label) == \
        ("imported", "application/pdf", 2, "Demandeur")
    order = Order.get_by_id(desk["order"].id)
    assert order.substate == "to_check" and order.requester_modified_at is not None
    imported = events("document_imported")[0]
    assert imported.actor == "Demandeur" and imported.operator_id is None
    back = json.loads(events("order_back_to_check")[0].details)
    assert back["motif"] == "Pièce déposée par le demandeur : Extrait de KBIS"
    # The page now says it was received.
    assert re.search(r"Extrait de KBIS reçue le \d\d/\d\d/\d{4} à \d\d:\d\d", text(open_page(client, desk)))


def test_a_replacement_keeps_the_previous_version(client, desk):
    token = csrf_token_from(open_page(client, desk))
    upload(client, desk, token, text_pdf(text=b"CNI"), filename="cni.pdf", kind="holder_id")
    versions = list(Document.select().where((Document.order == desk["order"].id)
                                            & (Document.kind == "holder_id")).order_by(Document.id))
    assert [v.is_current for v in versions] == [False, True]


@pytest.mark.parametrize("data, filename, kind, expected", [
    (b"MZ\x90\x00 not a pdf", "kbis.pdf", "kbis", "Format refusé : seuls les fichiers PDF, JPEG et PNG sont acceptés."),
    (b"", "kbis.pdf", "kbis", "Fichier vide"),
    (b"%PDF-1.7\n garbage", "kbis.pdf", "kbis", "PDF illisible"),
    (text_pdf(), "cgu.pdf", "cgu", "Choisissez une des pièces justificatives demandées."),
    (text_pdf(), "x.pdf", "inconnu", "Choisissez une des pièces justificatives demandées."),
], ids=["exe", "vide", "pdf-casse", "contractuel", "type-inconnu"])
@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "sans-js"])
def test_a_refused_upload_says_why_and_changes_nothing(client, desk, data, filename, kind, expected, headers):
    token = csrf_token_from(open_page(client, desk))
    before = Document.select().count()
    response = upload(client, desk, token, data, filename=filename, kind=kind, headers=headers)
    assert response.status_code == (200 if headers else 422)
    assert expected in text(response.get_data(as_text=True))
    assert Document.select().count() == before
    order = Order.get_by_id(desk["order"].id)
    assert (order.substate, order.requester_modified_at) == ("in_signature", None)
    assert not events("document_imported") and not events("order_back_to_check")


def test_an_oversized_upload_is_refused_before_reading_it(app, client, desk):
    app.config["DOCUMENT_MAX_MB"] = 1
    token = csrf_token_from(open_page(client, desk))
    response = upload(client, desk, token, b"%PDF-" + b"0" * (2 * 1024 * 1024))
    assert "Fichier trop volumineux (maximum 1 Mo)." in text(response.get_data(as_text=True))
    assert not events("document_imported")


def test_a_missing_file_is_asked_for(client, desk):
    token = csrf_token_from(open_page(client, desk))
    response = client.post(desk["path"] + "/pieces", headers=HTMX,
                           data={"csrf_token": token, "kind": "kbis"})
    assert "Choisissez un fichier à déposer." in text(response.get_data(as_text=True))


def test_the_upload_form_reports_progress_with_htmx_and_works_without(client, desk):
    page = open_page(client, desk)
    form = re.search(r'<form method="post" action="([^"]+)" hx-post="\1" enctype="multipart/form-data"'
                     r'[^>]*data-upload-progress data-max-bytes="(\d+)"', page)
    assert form and form.group(1) == desk["path"] + "/pieces"
    assert '<progress max="100" value="0"' in page
    assert 'src="/static/js/upload.js"' in page
    assert '<option value="kbis" selected>Extrait de KBIS</option>' in page, "the missing one first"


# --- Frozen orders, and what the operators see ------------------------------------------------

def test_a_validated_order_can_no_longer_be_changed(client, desk):
    Order.update(phase="generation", substate=None, validated_at=utcnow()).where(
        Order.id == desk["order"].id).execute()
    page = open_page(client, desk)
    assert "Votre commande a été validée : elle ne peut plus être modifiée." in text(page)
    assert "Rien n'est attendu de vous pour l'instant." in text(page)
    assert 'name="contact_otp"' not in page and 'type="file"' not in page
    token = csrf_token_from(page)
    response = client.post(desk["path"] + "/informations", headers=HTMX,
                           data=information(token, contact_otp="0798765432"))
    assert "Votre commande a été validée" in text(response.get_data(as_text=True))
    response = upload(client, desk, token, text_pdf())
    assert "Votre commande a été validée" in text(response.get_data(as_text=True))
    order = Order.get_by_id(desk["order"].id)
    assert order.otp_contact == "+33612345678" and order.requester_modified_at is None
    assert Document.select().where(Document.sha256.is_null(False) & (Document.kind == "kbis")).count() == 0


def test_operators_see_modified_by_the_requester_in_the_list_and_the_order_file(client, desk):
    token = csrf_token_from(open_page(client, desk))
    upload(client, desk, token, text_pdf())
    login_as(client, desk["camille"])
    listing = text(client.get("/commandes").get_data(as_text=True))
    assert re.search(r"modifié par le demandeur le \d\d/\d\d/\d{4} à \d\d:\d\d", listing)
    order_file = text(client.get(f"/commandes/{desk['order'].id}").get_data(as_text=True))
    assert re.search(r"Modifié par le demandeur le \d\d/\d\d/\d{4} à \d\d:\d\d", order_file)


def test_after_validation_the_page_stays_readable_and_a_new_link_can_be_asked(app, client, desk, monkeypatch):
    Order.update(phase="generation", substate=None, validated_at=utcnow()).where(
        Order.id == desk["order"].id).execute()
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 40 * 86400)
    expired = followup.make_token(app.config["SECRET_KEY"], desk["order"].id)
    monkeypatch.undo()
    token = csrf_token_from(client.get(f"/suivi/{expired}").get_data(as_text=True))
    response = client.post("/suivi/renouveler", data={"csrf_token": token, "token": expired})
    assert "vient d'être envoyé" in text(response.get_data(as_text=True))
    assert Notification.get().type == "link_renewal"
