"""/api/v1: an AE's API client creates an order with the ordering page's checks, attaches its
pieces, sends it and follows it, with bearer credentials (hashed, rotated, revoked at once),
scopes, a rate limit, Idempotency-Key, RFC 9457 problems in French, every call audited, and
another AE's or another portal's order answering 404."""
from __future__ import annotations

import copy
import datetime as dt
import io
import re

import pytest

from models import ApiSecret, AuditEvent, Notification, Order, Portal, utcnow
from services.api import clients
from tests.image_samples import png
from tests.pdf_samples import text_pdf

ORDER = {
    "portail": "bpoi-occitanie",
    "societe": {"raison_sociale": "Boileau Colbert Conseil", "siren": "434202180",
                "immatriculee_rcs": True},
    "demandeur": {"nom": "Boutique BPOI", "email": "boutique@exemple.fr"},
    "porteur": {"civilite": "Mme", "prenom": "Sandra", "nom": "Boileau",
                "email": "sandra.boileau@exemple.fr", "telephone": "05 61 00 00 00",
                "contact_otp": "06 12 34 56 78"},
    "representant_legal": {"civilite": "Mme", "prenom": "Alice", "nom": "Colbert",
                           "email": "alice.colbert@exemple.fr"},
    "mandataire": {"civilite": "M.", "prenom": "Luc", "nom": "Martin",
                   "email": "luc.martin@exemple.fr"},
    "produit": {"offre": "Certificat qualifié eIDAS (RGS**) de signature", "validite_annees": 2,
                "support": "usb"},
}
PIECES = ("kbis", "holder_id", "legal_rep_id", "mandataire_id", "payment_proof")
ALL_SCOPES = [clients.SCOPE_WRITE_ORDERS, clients.SCOPE_READ_ORDERS]


@pytest.fixture
def shop(app, bpoi):
    issued = clients.create(bpoi, "Boutique", ["bpoi-occitanie"], ALL_SCOPES, created_by="test")
    return {"client": issued.client, "headers": {"Authorization": f"Bearer {issued.credential}"},
            "credential": issued.credential}


def create(client, shop, body=None, **headers):
    return client.post("/api/v1/commandes", json=body or ORDER,
                       headers={**shop["headers"], **headers})


def attach(client, shop, number, kind, data=None, filename="piece.pdf", **headers):
    return client.post(f"/api/v1/commandes/{number}/pieces",
                       data={"type": kind, "fichier": (io.BytesIO(data or text_pdf()), filename)},
                       content_type="multipart/form-data", headers={**shop["headers"], **headers})


def problem(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == code and body["status"] == status
    return body


# --- Credentials ---------------------------------------------------------------------------------

def test_a_call_without_a_valid_credential_is_refused(client, shop):
    for headers in ({}, {"Authorization": "Bearer rad_000000000000_" + "x" * 43},
                    {"Authorization": shop["credential"]}):
        response = client.get("/api/v1/commandes", headers=headers)
        body = problem(response, 401, "authentification_requise")
        assert "Jeton d'accès absent, invalide, expiré ou révoqué" in body["detail"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_secret_is_kept_as_a_hash_only(shop):
    secret = ApiSecret.get(ApiSecret.client == shop["client"].id)
    assert shop["credential"].split("_", 2)[2] not in (secret.secret_hash, secret.key_id)
    assert len(secret.secret_hash) == 64


def test_revocation_is_effective_at_once(client, shop):
    assert client.get("/api/v1/commandes", headers=shop["headers"]).status_code == 200
    clients.revoke(shop["client"], by="test")
    problem(client.get("/api/v1/commandes", headers=shop["headers"]), 401,
            "authentification_requise")


def test_a_rotation_keeps_the_old_secret_for_its_overlap(client, shop):
    new = {"Authorization": "Bearer " + clients.rotate(shop["client"], dt.timedelta(hours=1),
                                                       by="test")}
    assert client.get("/api/v1/commandes", headers=new).status_code == 200
    assert client.get("/api/v1/commandes", headers=shop["headers"]).status_code == 200
    ApiSecret.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(
        ApiSecret.expires_at.is_null(False)).execute()
    problem(client.get("/api/v1/commandes", headers=shop["headers"]), 401,
            "authentification_requise")
    assert client.get("/api/v1/commandes", headers=new).status_code == 200


def test_scopes_are_checked_per_route(client, bpoi):
    reader = clients.create(bpoi, "Lecteur", ["bpoi-occitanie"], [clients.SCOPE_READ_ORDERS],
                            created_by="test")
    headers = {"Authorization": f"Bearer {reader.credential}"}
    assert client.get("/api/v1/commandes", headers=headers).status_code == 200
    body = problem(client.post("/api/v1/commandes", json=ORDER, headers=headers), 403,
                   "portee_insuffisante")
    assert "commandes:ecrire" in body["detail"]


def test_clients_are_refused_with_reasons(app, bpoi):
    from workflow import Refused
    with pytest.raises(Refused) as refused:
        clients.create(bpoi, "", ["inconnu"], ["tout"], created_by="test")
    assert refused.value.reasons == [
        "Le nom du client est obligatoire (100 caractères au plus).",
        "Portail inconnu de l'AE BPOI : « inconnu ».",
        "Portée inconnue : « tout » (attendu : commandes:ecrire, commandes:lire, "
        "webhooks:gerer)."]


# --- Orders --------------------------------------------------------------------------------------

def test_an_order_is_created_attached_sent_and_read(app, client, shop):
    created = create(client, shop)
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    number = body["numero"]
    assert created.headers["Location"] == f"/api/v1/commandes/{number}"
    assert (body["phase"], body["phase_libelle"]) == ("entry", "Saisie des informations")
    assert [piece["type"] for piece in body["pieces_manquantes"]] == list(PIECES)
    order = Order.with_people().where(Order.number == number).get()
    assert (order.mandataire.last_name, order.validity_years, order.otp_contact) == (
        "Martin", 2, "+33612345678")

    refused = problem(client.post(f"/api/v1/commandes/{number}/envoi", headers=shop["headers"]),
                      422, "envoi_refuse")
    assert {error["code"] for error in refused["erreurs"]} == {f"document:{kind}"
                                                               for kind in PIECES}
    assert "Pièce justificative à déposer : Extrait de KBIS." in refused["detail"]

    for kind in PIECES:
        data, name = (png(), "id.png") if kind.endswith("_id") else (text_pdf(), f"{kind}.pdf")
        answer = attach(client, shop, number, kind, data, name)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        assert answer.get_json()["fichier"] == name
    sent = client.post(f"/api/v1/commandes/{number}/envoi", headers=shop["headers"])
    assert sent.status_code == 200, sent.get_data(as_text=True)
    assert (sent.get_json()["phase"], sent.get_json()["sous_etat_libelle"]) == (
        "validation", "à vérifier")
    assert sent.get_json()["pieces_manquantes"] == []
    received = AuditEvent.get((AuditEvent.action == "order_received")
                              & (AuditEvent.order == order.id))
    assert received.actor == "API « Boutique »"
    assert Notification.get(Notification.order == order.id).type == "order_acknowledgement"
    read = client.get(f"/api/v1/commandes/{number}", headers=shop["headers"]).get_json()
    assert [(d["type"], d["statut"]) for d in read["documents"] if d["categorie"] == "justificatif"] \
        == [(kind, "imported") for kind in PIECES]
    assert read["notifications"][0]["libelle"] == "Accusé de réception de la commande"


@pytest.mark.parametrize("path, value, code, message", [
    (("societe", "siren"), "434202181", "societe.siren.invalide",
     "Le SIREN « 434202181 » n'est pas valide : sa clé de contrôle est incorrecte."),
    (("porteur", "prenom"), "", "porteur.prenom.obligatoire", "Le prénom du porteur est obligatoire."),
    (("porteur", "contact_otp"), "05 61 00 00 00", "porteur.contact_otp.invalide",
     "n'est pas un numéro de mobile"),
    (("produit", "offre"), "Offre inconnue", "produit.offre.invalide",
     "Choisissez une des offres proposées."),
])
def test_an_order_is_refused_with_the_pages_french_reasons(client, shop, path, value, code,
                                                           message):
    body = copy.deepcopy(ORDER)
    body[path[0]][path[1]] = value
    refused = problem(create(client, shop, body), 422, "commande_invalide")
    assert [error["code"] for error in refused["erreurs"]] == [code]
    assert message in refused["erreurs"][0]["detail"] and message in refused["detail"]
    assert Order.select().count() == 0


def test_a_request_off_the_schema_is_a_problem(client, shop):
    body = copy.deepcopy(ORDER)
    del body["porteur"]
    body["inconnu"] = 1
    refused = problem(create(client, shop, body), 422, "requete_invalide")
    assert {error["champ"] for error in refused["erreurs"]} >= {"porteur", "inconnu"}
    assert Order.select().count() == 0


def test_a_retried_creation_returns_the_first_answer_never_a_second_order(client, shop):
    first = create(client, shop, **{"Idempotency-Key": "commande-42"})
    again = create(client, shop, **{"Idempotency-Key": "commande-42"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert Order.select().count() == 1
    other = copy.deepcopy(ORDER)
    other["porteur"]["prenom"] = "Claire"
    problem(create(client, shop, other, **{"Idempotency-Key": "commande-42"}), 422,
            "cle_idempotence_reutilisee")
    assert Order.select().count() == 1


def test_a_refused_piece_says_why_and_keeps_nothing(client, shop):
    number = create(client, shop).get_json()["numero"]
    refused = problem(attach(client, shop, number, "kbis", b"MZ not a document", "kbis.exe"),
                      422, "piece_refusee")
    assert refused["erreurs"][0]["code"] == "fichier.invalide"
    problem(attach(client, shop, number, "cgu"), 422, "requete_invalide")


def test_another_aes_or_another_portals_order_is_not_found(client, shop, make_ae, make_order,
                                                           bpoi):
    theirs = make_order(make_ae("AE Atlantique", ("Atlantique-Nantes",)), number=970001)
    rhone = make_order(bpoi, portal=Portal.get(Portal.code == "bpoi-rhone"), number=970002)
    for number in (theirs.number, rhone.number, 999999):
        problem(client.get(f"/api/v1/commandes/{number}", headers=shop["headers"]), 404,
                "introuvable")
        problem(attach(client, shop, number, "kbis"), 404, "introuvable")
        problem(client.post(f"/api/v1/commandes/{number}/envoi", headers=shop["headers"]), 404,
                "introuvable")
    foreign = copy.deepcopy(ORDER)
    foreign["portail"] = "atlantique-nantes"
    refused = problem(create(client, shop, foreign), 422, "commande_invalide")
    assert refused["erreurs"][0]["code"] == "portail.invalide"


def test_orders_changed_since_a_cursor_page_by_page(client, shop):
    numbers = [create(client, shop).get_json()["numero"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        query = f"?limite=2&depuis={cursor}" if cursor else "?limite=2"
        page = client.get(f"/api/v1/commandes{query}", headers=shop["headers"]).get_json()
        if not page["commandes"]:
            break
        seen += [order["numero"] for order in page["commandes"]]
        cursor = page["suivant"]
    assert seen == numbers
    attach(client, shop, numbers[1], "kbis")  # changed again: comes back after the cursor
    page = client.get(f"/api/v1/commandes?depuis={cursor}", headers=shop["headers"]).get_json()
    assert [order["numero"] for order in page["commandes"]] == [numbers[1]]
    problem(client.get("/api/v1/commandes?depuis=zzz", headers=shop["headers"]), 400,
            "requete_invalide")


def test_every_call_is_audited_with_the_client_as_actor(client, shop):
    number = create(client, shop).get_json()["numero"]
    client.get(f"/api/v1/commandes/{number}", headers=shop["headers"])
    calls = list(AuditEvent.select().where(AuditEvent.action == "api_request")
                 .order_by(AuditEvent.id))
    assert [call.actor for call in calls] == ["API « Boutique »"] * 2
    assert '"statut":201' in calls[0].details and calls[1].order_id is not None


def test_calls_are_rate_limited_per_client(app, client, shop, bpoi):
    app.config["RADESK_API_RATE_LIMIT"] = "3 per minute"
    for _ in range(3):
        assert client.get("/api/v1/commandes", headers=shop["headers"]).status_code == 200
    problem(client.get("/api/v1/commandes", headers=shop["headers"]), 429, "trop_de_requetes")
    other = clients.create(bpoi, "CRM", ["bpoi-occitanie"], ALL_SCOPES, created_by="test")
    assert client.get("/api/v1/commandes",
                      headers={"Authorization": f"Bearer {other.credential}"}).status_code == 200


# --- The published contract, and the command line ---------------------------------------------------

def test_the_openapi_document_and_its_readable_page(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    assert {"/api/v1/commandes", "/api/v1/commandes/{number}", "/api/v1/commandes/{number}/pieces",
            "/api/v1/commandes/{number}/envoi"} <= set(document["paths"])
    refusal = document["paths"]["/api/v1/commandes"]["post"]["responses"]["422"]
    assert "application/problem+json" in refusal["content"]
    page = client.get("/api/v1/docs").get_data(as_text=True)
    for text_ in ("/api/v1/commandes/{number}/pieces", "Idempotency-Key", "cle_idempotence_reutilisee",
                  "commandes:ecrire", "contact_otp"):
        assert text_ in page
    # Nothing loaded from elsewhere (the CSP nonce is random text: only the URLs are looked at).
    scripts = re.findall(r'<script[^>]* src="([^"]+)"', page)
    assert scripts and all(url.startswith("/static/") for url in scripts), scripts
    assert not any("cdn" in url.lower() for url in re.findall(r'(?:src|href)="([^"]+)"', page))
    problem(client.get("/api/v1/inconnu"), 404, "introuvable")


def test_the_command_line_creates_lists_rotates_and_revokes(app, runner, bpoi):
    created = runner.invoke(args=["api-client", "create", "--ae", "BPOI", "--name", "CRM",
                                  "--portal", "bpoi-occitanie", "--scope", "commandes:lire"])
    assert created.exit_code == 0, created.output
    credential = created.stdout.strip().splitlines()[-1]
    assert clients.authenticate(credential).name == "CRM"
    listed = runner.invoke(args=["api-client", "list"])
    assert "CRM\tbpoi-occitanie\tcommandes:lire\tactif" in listed.output
    client_id = clients.authenticate(credential).id
    rotated = runner.invoke(args=["api-client", "rotate", "--id", str(client_id),
                                  "--overlap-hours", "0"])
    new = rotated.stdout.strip().splitlines()[-1]
    assert clients.authenticate(new) is not None and clients.authenticate(credential) is None
    assert runner.invoke(args=["api-client", "revoke", "--id", str(client_id)]).exit_code == 0
    assert clients.authenticate(new) is None
    refused = runner.invoke(args=["api-client", "create", "--ae", "BPOI", "--name", "X",
                                  "--portal", "nulle-part", "--scope", "commandes:lire"])
    assert refused.exit_code != 0 and "Portail inconnu de l'AE BPOI" in refused.output
