"""The order file (« Fiche de commande »): sections, document statuses, what is missing,
the ID document number (HTMX and plain form), « En cours de traitement par … », tenancy,
and a query count that does not grow with the dossier."""
import datetime as dt
import json
import re

import pytest
from markupsafe import escape
from playhouse.test_utils import assert_query_count, count_queries

from formatting import paris_date, paris_time
from models import (AuditEvent, Document, LoginSession, Order, OrderReview, Person, Portal,
                    utcnow)
from services.orders import order_file
from tests.conftest import csrf_token_from, login_as
from tests.text import text

HTMX = {"HX-Request": "true"}


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    """BPOI with an AEA « Camille Martin » and order 960072 at « à vérifier », whose dossier
    has some documents imported, one missing, one never uploaded, contracts unsigned."""
    ae = make_ae("BPOI", ("BPOI-Occitanie", "BPOI-Rhône"))
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    order = make_order(ae, number=960072, otp_contact="06 12 34 56 78")
    imported_at = dt.datetime(2025, 3, 14, 8, 5)  # UTC: 09:05 in Paris
    for kind in ("cgu", "subscription_contract", "authorization_letter"):
        Document.create(order=order, kind=kind, category="contractuel", status="unsigned",
                        imported_at=imported_at, imported_by_label="Système")
    Document.create(order=order, kind="kbis", category="justificatif", status="imported",
                    imported_at=imported_at, imported_by_label="Demandeur",
                    verified_at=imported_at + dt.timedelta(hours=1), verified_by=camille)
    # A replaced version stays in the table: only the current one counts.
    Document.create(order=order, kind="holder_id", category="justificatif", status="imported",
                    imported_at=imported_at, imported_by_label="Demandeur", is_current=False)
    Document.create(order=order, kind="holder_id", category="justificatif", status="imported",
                    imported_at=imported_at + dt.timedelta(days=1), imported_by=camille)
    Document.create(order=order, kind="legal_rep_id", category="justificatif",
                    status="not_imported")
    # « Preuve de paiement »: no row at all, never uploaded.
    return {"ae": ae, "camille": camille, "order": order}


def open_file(client, order):
    return client.get(f"/commandes/{order.id}")


def page_token(client, order) -> str:
    return csrf_token_from(open_file(client, order).get_data(as_text=True))


def section(html: str, heading: str) -> str:
    """The HTML of the <section> whose <h2> is ``heading``."""
    match = re.search(r"<section[^>]*>\s*<h2[^>]*>" + re.escape(heading).replace("'", "(?:'|&#39;)")
                      + r"</h2>(.*?)</section>", html, re.S)
    assert match, f"no section « {heading} »"
    return match.group(1)


def document_row(html: str, label: str) -> list[str]:
    """The text of each cell of the row of « Liste des documents » for ``label``."""
    table = section(html, "Liste des documents")
    match = re.search(r'<th scope="row">' + re.escape(str(escape(label))) + r"</th>(.*?)</tr>",
                      table, re.S)
    assert match, f"no row for « {label} »"
    cells = re.findall(r"<td>(.*?)</td>", match.group(1), re.S)
    return [text(cell).strip() for cell in cells]


def record(client, order, token, doc_type, number, headers=None, with_token=True):
    data = {"id_doc_type": doc_type, "id_doc_number": number}
    if with_token:
        data["csrf_token"] = token
    return client.post(f"/commandes/{order.id}/justificatif-identite", data=data,
                       headers=headers or {})


def events(order, action):
    return list(AuditEvent.select().where((AuditEvent.order == order.id)
                                          & (AuditEvent.action == action)))


# --- Sections ------------------------------------------------------------------

def test_sections_and_fields(client, desk):
    login_as(client, desk["camille"])
    response = open_file(client, desk["order"])
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for heading in ("Informations", "Société", "N° de justificatif d'identité", "Porteur",
                    "Représentant légal", "Liste des documents", "Ce qui manque", "Historique"):
        assert re.search(r"<h2[^>]*>" + re.escape(heading) + "</h2>", html), heading
    assert "<h1>Commande N° 960072</h1>" in html
    informations = text(section(html, "Informations"))
    for expected in ("N° de commande 960072", "Portail BPOI-Occitanie", "Validité 3 ans",
                     "Processus Génération Certificat", "Phase Validation de la commande",
                     "Sous-état à vérifier"):
        assert expected in informations
    societe = text(section(html, "Société"))
    assert "Raison sociale Société Exemple" in societe
    assert "SIREN 0002 434202180" in societe
    porteur = text(section(html, "Porteur"))
    for expected in ("Civilité Mme", "Prénom Sandra", "Nom Boileau", "porteur@example.org",
                     "0612345678", "Contact OTP 06 12 34 56 78"):
        assert expected in porteur
    assert "Contact OTP invalide" not in html
    assert "Prénom Alain" in text(section(html, "Représentant légal"))
    assert ">Mandataire</h2>" not in html
    assert "<dt>" in html and '<th scope="col">Statut</th>' in html
    # No dead buttons: « Envoyer pour signature » waits for step 1; « Valider » is a
    # live form whose server side says what is missing.
    assert "Envoyer pour signature</button>" not in html
    assert f'action="/commandes/{desk["order"].id}/validation/confirmation"' in html
    # « Consulter » and « Télécharger le dossier » are live links.
    order_id = desk["order"].id
    assert f'href="/commandes/{order_id}/visionneuse" target="visionneuse-960072">Consulter' in html
    assert f'href="/commandes/{order_id}/dossier.zip" download>Télécharger le dossier' in html


def test_mandataire_section_and_its_documents(client, desk, make_order):
    mandataire = Person.create(ae=desk["ae"], civility="M.", first_name="Hugo", last_name="Lenoir",
                               email="mandataire@example.org")
    order = make_order(desk["ae"], mandataire=mandataire)
    login_as(client, desk["camille"])
    html = open_file(client, order).get_data(as_text=True)
    assert "Prénom Hugo" in text(section(html, "Mandataire"))
    assert document_row(html, "Procuration du représentant légal")[1] == "non signé"
    assert document_row(html, "Pièce d'identité du mandataire")[1] == "non importé"


def test_document_statuses_per_kind(client, desk):
    login_as(client, desk["camille"])
    html = open_file(client, desk["order"]).get_data(as_text=True)
    cgu = document_row(html, "CGU")
    assert cgu[:2] == ["Document contractuel", "non signé"]
    kbis = document_row(html, "Extrait de KBIS")
    assert kbis[1:4] == ["importé", "14/03/2025 09:05", "Demandeur"]
    assert kbis[4] == "vérifié par Camille Martin le 14/03/2025 10:05"
    holder_id = document_row(html, "Pièce d'identité du porteur")
    assert holder_id[1:4] == ["importé", "15/03/2025 09:05", "Camille Martin"]
    assert holder_id[4] == ""
    assert document_row(html, "Pièce d'identité du représentant légal")[1:4] == [
        "non importé", "", ""]
    assert document_row(html, "Preuve de paiement")[1] == "non importé"
    assert document_row(html, "Contrat d'abonnement")[1] == "non signé"


def test_checklist_names_what_is_missing(client, desk):
    login_as(client, desk["camille"])
    panel = text(section(open_file(client, desk["order"]).get_data(as_text=True), "Ce qui manque"))
    assert "Envoyer pour signature" in panel
    assert "3 conditions non remplies." in panel
    assert "Non remplie : Pièce justificative non importée : Pièce d'identité du représentant légal." in panel
    assert "Non remplie : Pièce justificative non importée : Preuve de paiement." in panel
    assert "Non remplie : Le N° de justificatif d'identité du porteur n'est pas renseigné." in panel
    assert "Remplie : Pièce justificative importée : Extrait de KBIS" in panel
    assert "Remplie : Contact OTP valide" in panel


def test_invalid_otp_contact_is_said_plainly(client, desk, make_order):
    order = make_order(desk["ae"], otp_contact="01 23")
    login_as(client, desk["camille"])
    html = open_file(client, order).get_data(as_text=True)
    porteur = text(section(html, "Porteur"))
    assert "Contact OTP invalide" in porteur
    assert "« 01 23 » n'est ni un numéro de mobile valide ni une adresse e-mail valide." in porteur
    assert "Non remplie : Le Contact OTP « 01 23 »" in text(section(html, "Ce qui manque"))


# --- N° de justificatif d'identité -------------------------------------------------

def test_modifier_saves_a_cni_and_audits_old_and_new(client, desk):
    order, camille = desk["order"], desk["camille"]
    login_as(client, camille)
    token = page_token(client, order)
    before = Order.get_by_id(order.id).updated_at
    response = record(client, order, token, "CNI", "x4rt bpfw4", headers=HTMX)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and "<h1" not in fragment
    assert fragment.lstrip().startswith('<section id="justificatif-identite"')
    assert 'hx-target="this" hx-swap="outerHTML"' in fragment
    assert 'role="status" data-focus-after-swap>N° de justificatif d&#39;identité enregistré.' in fragment
    assert "CNI X4RTBPFW4" in fragment
    # The checklist, « Lu sur la pièce », the signature and validation blocks and the audit
    # trail follow, out of band.
    assert fragment.count('hx-swap-oob="true"') == 5
    assert "Remplie : N° de justificatif d'identité du porteur renseigné" in text(fragment)

    saved = Order.get_by_id(order.id)
    assert (saved.id_doc_type, saved.id_doc_number) == ("CNI", "X4RTBPFW4")
    assert saved.id_doc_recorded_by_id == camille.id
    assert saved.updated_at > before
    [event] = events(order, "id_document_recorded")
    assert event.operator_id == camille.id
    assert json.loads(event.details) == {"old": {"type": None, "number": None},
                                         "new": {"type": "CNI", "number": "X4RTBPFW4"}}

    history = text(section(open_file(client, order).get_data(as_text=True), "Historique"))
    assert ("Camille Martin Saisie du N° de justificatif d'identité "
            "Avant : non renseigné ; après : CNI X4RTBPFW4") in history
    assert f"{paris_time(event.at)}" in history


def test_modifier_replacing_a_number_keeps_the_old_value_in_the_audit(client, desk):
    order = desk["order"]
    Order.update(id_doc_type="CNI", id_doc_number="880692310285").where(Order.id == order.id).execute()
    login_as(client, desk["camille"])
    token = page_token(client, order)
    record(client, order, token, "PASSEPORT", "18AB12345", headers=HTMX)
    [event] = events(order, "id_document_recorded")
    assert json.loads(event.details) == {"old": {"type": "CNI", "number": "880692310285"},
                                         "new": {"type": "PASSEPORT", "number": "18AB12345"}}


def test_plain_post_redirects_to_the_page_with_a_message(client, desk):
    order = desk["order"]
    login_as(client, desk["camille"])
    token = page_token(client, order)
    response = record(client, order, token, "TITRE_SEJOUR", "1234567890")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/commandes/{order.id}#justificatif-identite"
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "N° de justificatif d&#39;identité enregistré." in html
    assert "Titre de séjour 1234567890" in text(section(html, "N° de justificatif d'identité"))


@pytest.mark.parametrize("doc_type, number, message", [
    ("CNI", "12345", "Le N° de CNI « 12345 » n'est pas valide : format attendu 12 caractères"),
    ("PASSEPORT", "AB1234567", "Le N° de passeport « AB1234567 » n'est pas valide : format attendu 2 chiffres, 2 lettres puis 5 chiffres"),
    ("TITRE_SEJOUR", "12345A", "Le N° de titre de séjour « 12345A » n'est pas valide : format attendu 10 chiffres"),
    ("", "X4RTBPFW4", "Le type de justificatif d'identité du porteur (CNI, Passeport ou Titre de séjour) n'est pas renseigné."),
    ("PERMIS", "X4RTBPFW4", "Type de justificatif d'identité inconnu : « PERMIS »"),
    ("CNI", "   ", "Le N° de justificatif d'identité du porteur n'est pas renseigné."),
])
def test_malformed_number_is_refused_in_french(client, desk, doc_type, number, message):
    order = desk["order"]
    login_as(client, desk["camille"])
    token = page_token(client, order)
    before = Order.get_by_id(order.id)
    response = record(client, order, token, doc_type, number, headers=HTMX)
    fragment = response.get_data(as_text=True).replace("&#39;", "'")
    assert response.status_code == 200  # htmx 2 swaps only 2xx responses
    assert 'role="alert"' in fragment and message in fragment
    assert 'aria-invalid="true"' in fragment
    assert "hx-swap-oob" not in fragment
    after = Order.get_by_id(order.id)
    assert (after.id_doc_type, after.id_doc_number, after.id_doc_recorded_by_id, after.updated_at) == (
        before.id_doc_type, before.id_doc_number, before.id_doc_recorded_by_id, before.updated_at)
    assert events(order, "id_document_recorded") == []


def test_malformed_number_without_javascript_flashes_the_reason(client, desk):
    order = desk["order"]
    login_as(client, desk["camille"])
    response = record(client, order, page_token(client, order), "CNI", "12345")
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="flash flash-error" role="alert">Le N° de CNI « 12345 »' in html
    assert Order.get_by_id(order.id).id_doc_number is None


def test_same_value_again_changes_nothing(client, desk):
    order = desk["order"]
    login_as(client, desk["camille"])
    token = page_token(client, order)
    record(client, order, token, "CNI", "X4RTBPFW4", headers=HTMX)
    updated_at = Order.get_by_id(order.id).updated_at
    fragment = record(client, order, token, "CNI", "x4rtbpfw4", headers=HTMX).get_data(as_text=True)
    assert "inchangé" in fragment
    assert "hx-swap-oob" not in fragment  # nothing changed elsewhere either
    assert len(events(order, "id_document_recorded")) == 1
    assert Order.get_by_id(order.id).updated_at == updated_at


def test_a_saved_number_updates_every_panel_that_waited_for_it(client, desk, make_order):
    """An order lacking only its ID document number: once « Modifier » saves it, the response
    brings « Envoyer pour signature », the checklist and the validation block up to date."""
    order = make_order(desk["ae"], otp_contact="06 12 34 56 78")
    for kind in ("kbis", "holder_id", "legal_rep_id", "payment_proof"):
        Document.create(order=order, kind=kind, category="justificatif", status="imported",
                        imported_at=utcnow(), imported_by_label="Demandeur")
    login_as(client, desk["camille"])
    page = open_file(client, order).get_data(as_text=True)
    before = section(page, "Signature des documents contractuels")
    assert "Envoyer pour signature</button>" not in before
    assert "Le N° de justificatif d'identité du porteur n'est pas renseigné." in text(before)

    fragment = record(client, order, csrf_token_from(page), "CNI", "X4RTBPFW4",
                      headers=HTMX).get_data(as_text=True)
    for panel in ("checklist", "signature", "validation", "historique"):
        assert len(re.findall(rf'<section id="{panel}"[^>]*hx-swap-oob="true"', fragment)) == 1
    after = section(fragment, "Signature des documents contractuels")
    assert "Envoyer pour signature</button>" in after and "sera possible" not in after
    assert "Toutes les conditions sont remplies." in text(section(fragment, "Ce qui manque"))
    # « Valider » carries the dossier's version: the old one would now be refused as stale.
    fresh = open_file(client, order).get_data(as_text=True)
    assert dossier_version(fragment) == dossier_version(fresh) != dossier_version(page)


def dossier_version(html: str) -> str:
    return re.search(r'name="version" value="([^"]+)"', html).group(1)


def test_read_only_once_validated(client, desk, make_order):
    validated = make_order(desk["ae"], phase="generation", substate=None, id_doc_type="CNI",
                           id_doc_number="880692310285", validated_at=utcnow(),
                           validated_by=desk["camille"], payment_ok=True, dossier_complete_ok=True)
    login_as(client, desk["camille"])
    html = open_file(client, validated).get_data(as_text=True)
    block = section(html, "N° de justificatif d'identité")
    assert "CNI 880692310285" in block
    assert "<form" not in block and "Modifier" not in block and "<select" not in block
    token = csrf_token_from(html)
    for headers in (HTMX, {}):
        response = record(client, validated, token, "PASSEPORT", "18AB12345", headers=headers)
        body = response.get_data(as_text=True)
        if headers:
            assert "La commande a été validée : le dossier est en lecture seule" in body
            assert "<form" not in body
        else:
            assert response.status_code == 303
    again = Order.get_by_id(validated.id)
    assert (again.id_doc_type, again.id_doc_number) == ("CNI", "880692310285")
    assert events(validated, "id_document_recorded") == []


def test_cancelled_order_is_read_only_too(client, desk, make_order):
    cancelled = make_order(desk["ae"], phase="cancelled", substate=None)
    login_as(client, desk["camille"])
    token = page_token(client, cancelled)
    body = record(client, cancelled, token, "CNI", "X4RTBPFW4", headers=HTMX).get_data(as_text=True)
    assert "La commande est en phase « Annulée »" in body
    assert Order.get_by_id(cancelled.id).id_doc_number is None


def test_aet_only_operator_cannot_record(client, desk, make_operator):
    technician = make_operator(desk["ae"], roles="AET")
    order = desk["order"]
    login_as(client, technician)
    html = open_file(client, order).get_data(as_text=True)
    assert "Modifier" not in section(html, "N° de justificatif d'identité")
    response = record(client, order, csrf_token_from(html), "CNI", "X4RTBPFW4", headers=HTMX)
    assert response.status_code == 403
    assert Order.get_by_id(order.id).id_doc_number is None


def test_csrf_token_is_required(client, desk):
    order = desk["order"]
    login_as(client, desk["camille"])
    open_file(client, order)
    response = record(client, order, None, "CNI", "X4RTBPFW4", headers=HTMX, with_token=False)
    assert response.status_code == 400
    presence = client.post(f"/commandes/{order.id}/presence", headers=HTMX)
    assert presence.status_code == 400
    assert Order.get_by_id(order.id).id_doc_number is None


def test_csrf_header_alone_is_enough_for_htmx(client, desk):
    order = desk["order"]
    login_as(client, desk["camille"])
    token = page_token(client, order)
    response = client.post(f"/commandes/{order.id}/justificatif-identite",
                           data={"id_doc_type": "CNI", "id_doc_number": "X4RTBPFW4"},
                           headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code == 200
    assert Order.get_by_id(order.id).id_doc_number == "X4RTBPFW4"


def test_another_ae_order_answers_404(client, desk, make_ae, make_order):
    theirs = make_order(make_ae("AE Atlantique", ("Atlantique-Nantes",)), number=970001)
    login_as(client, desk["camille"])
    token = page_token(client, desk["order"])
    assert open_file(client, theirs).status_code == 404
    assert record(client, theirs, token, "CNI", "X4RTBPFW4", headers=HTMX).status_code == 404
    assert client.post(f"/commandes/{theirs.id}/presence", data={"csrf_token": token},
                       headers=HTMX).status_code == 404
    assert Order.get_by_id(theirs.id).id_doc_number is None
    assert events(theirs, "order_viewed") == []
    assert OrderReview.select().where(OrderReview.order == theirs.id).count() == 0


def test_another_portal_order_answers_404(client, desk, make_operator, make_order):
    occitanie, rhone = desk["ae"].portals.order_by(Portal.name)
    restricted = make_operator(desk["ae"], portals=[occitanie])
    hidden = make_order(desk["ae"], portal=rhone)
    login_as(client, restricted)
    assert open_file(client, hidden).status_code == 404


def test_anonymous_is_sent_to_login(client, desk):
    response = open_file(client, desk["order"])
    assert response.status_code == 302
    assert f"next=/commandes/{desk['order'].id}" in response.headers["Location"]
    assert events(desk["order"], "order_viewed") == []


# --- Views and « En cours de traitement par … » -----------------------------------

def test_opening_the_file_is_audited(client, desk):
    order = desk["order"]
    login_as(client, desk["camille"])
    html = open_file(client, order).get_data(as_text=True)
    [event] = events(order, "order_viewed")
    assert event.operator_id == desk["camille"].id
    assert "Camille Martin Consultation du dossier" in text(section(html, "Historique"))


def test_second_operator_sees_who_is_on_it(app, desk, make_operator):
    order = desk["order"]
    first, second = app.test_client(), app.test_client()
    login_as(first, desk["camille"])
    open_file(first, order)
    opened_at = events(order, "order_viewed")[0].at
    login_as(second, make_operator(desk["ae"], name="Lucas Bernard"))
    html = open_file(second, order).get_data(as_text=True)
    assert f"En cours de traitement par Camille Martin depuis {paris_time(opened_at)}" in html
    # The latest opener took it over: Camille's heartbeat now shows Lucas.
    token = page_token(first, order)
    open_file(second, order)
    beat = first.post(f"/commandes/{order.id}/presence", data={"shown": "", "csrf_token": token},
                      headers=HTMX)
    assert beat.status_code == 200
    assert "En cours de traitement par Lucas Bernard depuis" in beat.get_data(as_text=True)
    fragment = beat.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="presence"') and "<html" not in fragment
    assert OrderReview.get(OrderReview.order == order.id).operator_id != desk["camille"].id
    shown = re.search(r'hx-vals=\'\{"shown": "([^"]*)"', fragment).group(1)
    again = first.post(f"/commandes/{order.id}/presence",
                       data={"shown": shown, "csrf_token": token}, headers=HTMX)
    assert again.status_code == 204  # still Lucas: nothing to swap


def test_heartbeat_takes_back_a_review_left_idle(app, desk, make_operator):
    order, camille = desk["order"], desk["camille"]
    first, second = app.test_client(), app.test_client()
    login_as(first, camille)
    token = page_token(first, order)
    login_as(second, make_operator(desk["ae"], name="Lucas Bernard"))
    open_file(second, order)  # Lucas takes it over, then closes his tab
    OrderReview.update(last_seen=utcnow() - dt.timedelta(minutes=6)).execute()
    beat = first.post(f"/commandes/{order.id}/presence",
                      data={"shown": "Lucas Bernard|x", "csrf_token": token}, headers=HTMX)
    assert beat.status_code == 200
    assert "En cours de traitement par" not in beat.get_data(as_text=True)
    assert OrderReview.get(OrderReview.order == order.id).operator_id == camille.id
    assert order_file.active_reviews([order.id])[order.id].name == "Camille Martin"


def test_own_review_is_not_announced_and_heartbeat_is_quiet(client, desk):
    order = desk["order"]
    login_as(client, desk["camille"])
    html = open_file(client, order).get_data(as_text=True)
    assert "En cours de traitement par" not in html
    assert 'hx-trigger="every 30s"' in html
    review = OrderReview.get(OrderReview.order == order.id)
    OrderReview.update(last_seen=review.last_seen - dt.timedelta(minutes=1)).execute()
    beat = client.post(f"/commandes/{order.id}/presence",
                       data={"shown": "", "csrf_token": csrf_token_from(html)}, headers=HTMX)
    assert beat.status_code == 204  # nothing new to show
    assert OrderReview.get(OrderReview.order == order.id).last_seen > review.last_seen - dt.timedelta(seconds=1)


def test_heartbeat_does_not_keep_the_session_alive(client, desk):
    order = desk["order"]
    login_as(client, desk["camille"])
    token = page_token(client, order)
    idle_since = utcnow() - dt.timedelta(minutes=10)
    LoginSession.update(last_seen_at=idle_since).execute()
    client.post(f"/commandes/{order.id}/presence", data={"csrf_token": token}, headers=HTMX)
    assert LoginSession.get().last_seen_at == idle_since


def test_review_expires_after_five_minutes(app, desk, make_operator):
    order = desk["order"]
    first, second = app.test_client(), app.test_client()
    login_as(first, desk["camille"])
    open_file(first, order)
    OrderReview.update(last_seen=utcnow() - dt.timedelta(minutes=5, seconds=1)).execute()
    assert order_file.active_reviews([order.id]) == {}
    login_as(second, make_operator(desk["ae"], name="Lucas Bernard"))
    assert "En cours de traitement par" not in open_file(second, order).get_data(as_text=True)


def test_active_reviews_for_the_list_in_one_query(app, desk, make_order, make_operator):
    order, camille = desk["order"], desk["camille"]
    idle = make_order(desk["ae"])
    never = make_order(desk["ae"])
    lucas = make_operator(desk["ae"], name="Lucas Bernard")
    order_file.open_file(order, camille)
    order_file.open_file(idle, lucas)
    OrderReview.update(last_seen=utcnow() - dt.timedelta(minutes=6)).where(
        OrderReview.order == idle.id).execute()
    with assert_query_count(1):
        reviews = order_file.active_reviews([order.id, idle.id, never.id])
    name, since = reviews[order.id]
    assert set(reviews) == {order.id}
    assert name == "Camille Martin"
    opened = events(order, "order_viewed")[0].at
    assert abs((since - opened).total_seconds()) < 1  # taken over when the file was opened
    assert order_file.active_reviews([order.id], excluding=camille) == {}
    assert order_file.active_reviews([]) == {}


# --- Constant query count -----------------------------------------------------------

def test_query_count_does_not_grow_with_the_dossier(client, desk, make_order, make_operator):
    small = make_order(desk["ae"])
    big, camille = desk["order"], desk["camille"]
    mandataire = Person.create(ae=desk["ae"], first_name="Hugo", last_name="Lenoir")
    Order.update(mandataire=mandataire).where(Order.id == big.id).execute()
    others = [make_operator(desk["ae"]) for _ in range(3)]
    for index in range(30):
        Document.create(order=big, kind="kbis", category="justificatif", status="imported",
                        imported_at=utcnow(), imported_by=others[index % 3], is_current=False,
                        verified_at=utcnow(), verified_by=others[(index + 1) % 3])
    for operator in others:
        login_as(client, operator)
        open_file(client, big)  # audit events by several operators
    login_as(client, camille)
    open_file(client, small)  # warm-up: first request of the client
    with count_queries() as counter:
        assert open_file(client, small).status_code == 200
    with assert_query_count(counter.count):
        assert open_file(client, big).status_code == 200
    token = page_token(client, small)
    with count_queries() as counter:
        record(client, small, token, "CNI", "X4RTBPFW4", headers=HTMX)
    with assert_query_count(counter.count):
        record(client, big, token, "CNI", "X4RTBPFW4", headers=HTMX)


def test_views_in_a_row_by_one_operator_make_one_history_line(app, client, desk, make_operator):
    order = desk["order"]
    login_as(client, desk["camille"])
    for _ in range(3):
        open_file(client, order)
    other = app.test_client()
    login_as(other, make_operator(desk["ae"], name="Lucas Bernard"))
    open_file(other, order)
    html = open_file(client, order).get_data(as_text=True)
    first_view = events(order, "order_viewed")[0].at
    history = text(section(html, "Historique"))
    # Every view stays in the audit trail; the page folds Camille's first three into one line.
    assert len(events(order, "order_viewed")) == 5
    assert history.count("Consultation du dossier") == 3
    assert (f"Camille Martin Consultation du dossier 3 fois depuis le "
            f"{paris_date(first_view)} à {paris_time(first_view)}") in history
    assert "Lucas Bernard Consultation du dossier" in history
