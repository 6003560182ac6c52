"""« Portails » under Administration: the list, « Ajouter un portail » (code made from the name,
or typed, unique), renaming, « Fermer le portail » and « Rouvrir » (the ordering page, its drafts,
the follow-up page and the API then say « portail fermé »), the portal's contact details shown
to its requesters, and the products it sells on the Produit step. Refusals change nothing;
admins of the AE only, CSRF-protected, audited with « avant » and « après », another AE's ids
answering 404."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from models import AuditEvent, Offer, Order, Portal
from services.api import clients
from tests.conftest import csrf_token_from, login_as
from tests.test_api import ORDER
from tests.test_followup_submission import followup_path
from tests.test_ordering import COMPANY
from tests.text import text

LIST = "/parametres/portails"


@pytest.fixture
def desk(app, client, make_ae, make_operator):
    ae = make_ae("BPOI")
    admin = make_operator(ae, roles="AEA,admin", name="Camille Martin")
    login_as(client, admin)
    token = csrf_token_from(client.get(LIST).get_data(as_text=True))
    portal = Portal.get(Portal.code == "bpoi-occitanie")
    return {"ae": ae, "admin": admin, "token": token, "portal": portal,
            "path": f"{LIST}/{portal.id}"}


def post(client, desk, path, **data):
    return client.post(path, data={"csrf_token": desk["token"], **data})


def events(action: str) -> list[dict]:
    return [json.loads(event.details) for event in
            AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id)]


def snapshot():
    """Every portal and offer as stored, and the audit trail's length: what a refusal keeps."""
    return (list(Portal.select().order_by(Portal.id).dicts()),
            list(Offer.select().order_by(Offer.id).dicts()), AuditEvent.select().count())


def start_draft(client, code="bpoi-occitanie") -> str:
    """A requester's draft begun on the ordering page; the path of its steps."""
    public = client.application.test_client()
    token = csrf_token_from(public.get(f"/commander/{code}").get_data(as_text=True))
    response = public.post(f"/commander/{code}", data={"csrf_token": token, **COMPANY})
    assert response.status_code == 303, text(response)
    return urlsplit(response.headers["Location"]).path.rsplit("/", 1)[0]


def product_step(client, base) -> str:
    return text(client.application.test_client().get(f"{base}/produit"))


# --- The list and « Ajouter un portail » --------------------------------------------------------

def test_the_sections_and_the_list(client, desk):
    page = client.get(LIST).get_data(as_text=True)
    assert 'href="/parametres/portails" aria-current="page">Portails<' in page
    assert 'href="/parametres/ae"' in page and "Paramètres de l'AE" in text(page)
    shown = text(page)
    assert "BPOI-Occitanie bpoi-occitanie http://localhost/commander/bpoi-occitanie Ouvert" in shown
    assert "Ajouter un portail" in shown


def test_a_portal_added_takes_its_code_from_its_name(client, desk):
    response = post(client, desk, LIST, name="BPOI-Île-de-France", code="")
    assert response.status_code == 303
    portal = Portal.get(Portal.name == "BPOI-Île-de-France")
    assert (portal.ae_id, portal.code, portal.closed_at) == (desk["ae"].id, "bpoi-ile-de-france",
                                                             None)
    shown = text(client.get(response.headers["Location"]))
    assert ("Portail « BPOI-Île-de-France » ajouté : sa page de commande est "
            "http://localhost/commander/bpoi-ile-de-france.") in shown
    assert events("portal_created") == [{"portail": "BPOI-Île-de-France", "avant": None,
                                         "après": {"nom": "BPOI-Île-de-France",
                                                   "code": "bpoi-ile-de-france", "état": "ouvert"}}]
    assert "Commander un certificat" in text(client.get("/commander/bpoi-ile-de-france"))


def test_a_typed_code_is_kept(client, desk):
    assert post(client, desk, LIST, name="Boutique Toulouse", code="tls").status_code == 303
    assert Portal.get(Portal.name == "Boutique Toulouse").code == "tls"


@pytest.mark.parametrize("name, code, message", [
    ("", "", "Le nom du portail est obligatoire."),
    ("BPOI-Occitanie", "", "L'AE a déjà un portail nommé « BPOI-Occitanie »."),
    ("Nouveau", "bpoi-rhone", "Le code « bpoi-rhone » est déjà celui d'un autre portail"),
    ("Nouveau", "atlantique-nantes", "Le code « atlantique-nantes » est déjà celui d'un autre portail"),
    ("Nouveau", "Pas Bon!", "Le code du portail « Pas Bon! » n'est pas valide"),
    ("N" * 101, "", "Le nom du portail est trop long ou illisible (maximum 100 caractères)."),
])
def test_a_refused_new_portal_changes_nothing(client, desk, make_ae, name, code, message):
    make_ae("AE Atlantique", portals=("Atlantique-Nantes",))
    before = snapshot()
    response = post(client, desk, LIST, name=name, code=code)
    assert response.status_code == 422
    assert "Le portail n'est pas ajouté" in text(response) and message in text(response)
    assert f'value="{code}"' in response.get_data(as_text=True)
    assert snapshot() == before


# --- Renaming ---------------------------------------------------------------------------------

def test_renaming_a_portal(client, desk):
    response = post(client, desk, f"{desk['path']}/nom", name="BPOI-Toulouse", code="bpoi-toulouse")
    assert response.status_code == 303
    assert "Portail renommé : « BPOI-Toulouse », code « bpoi-toulouse »." in text(
        client.get(response.headers["Location"]))
    portal = Portal.get_by_id(desk["portal"].id)
    assert (portal.name, portal.code) == ("BPOI-Toulouse", "bpoi-toulouse")
    assert events("portal_renamed")[0]["avant"] == {"nom": "BPOI-Occitanie", "code": "bpoi-occitanie"}
    assert events("portal_renamed")[0]["après"] == {"nom": "BPOI-Toulouse", "code": "bpoi-toulouse"}
    assert client.get("/commander/bpoi-toulouse").status_code == 200
    assert client.get("/commander/bpoi-occitanie").status_code == 404


@pytest.mark.parametrize("name, code, message", [
    ("", "bpoi-occitanie", "Le nom du portail est obligatoire."),
    ("BPOI-Rhône", "bpoi-occitanie", "L'AE a déjà un portail nommé « BPOI-Rhône »."),
    ("BPOI-Occitanie", "bpoi-rhone", "Le code « bpoi-rhone » est déjà celui d'un autre portail"),
    ("BPOI-Occitanie", "-x-", "Le code du portail « -x- » n'est pas valide"),
])
def test_a_refused_renaming_changes_nothing(client, desk, name, code, message):
    before = snapshot()
    response = post(client, desk, f"{desk['path']}/nom", name=name, code=code)
    assert response.status_code == 422
    assert "Le portail n'est pas renommé" in text(response) and message in text(response)
    assert f'value="{code}"' in response.get_data(as_text=True)
    assert snapshot() == before


# --- Closing and reopening ----------------------------------------------------------------------

def test_a_closed_portal_says_so_to_its_requesters_until_it_reopens(client, desk):
    draft = start_draft(client)
    page = client.get(desk["path"]).get_data(as_text=True)
    assert "<summary>Fermer le portail</summary>" in page and "Confirmez-vous la fermeture" in page
    response = post(client, desk, f"{desk['path']}/fermeture")
    assert response.status_code == 303
    assert Portal.get_by_id(desk["portal"].id).closed_at is not None
    shown = text(client.get(response.headers["Location"]))
    assert "Portail « BPOI-Occitanie » fermé" in shown and "Rouvrir" in shown
    assert "Fermé" in text(client.get(LIST))
    assert events("portal_closed") == [{"portail": "BPOI-Occitanie", "avant": {"état": "ouvert"},
                                        "après": {"état": "fermé"}}]
    public = client.application.test_client()
    for path in ("/commander/bpoi-occitanie", f"{draft}/produit", f"{draft}/recapitulatif"):
        closed = public.get(path)
        assert closed.status_code == 410, path
        assert "Commande impossible : portail fermé" in text(closed)
        assert "Le portail « BPOI-Occitanie » ne prend plus de commandes" in text(closed)
    token = csrf_token_from(public.get("/commander/bpoi-rhone").get_data(as_text=True))
    assert public.post("/commander/bpoi-occitanie",
                       data={"csrf_token": token, **COMPANY}).status_code == 410
    assert Order.select().count() == 1  # the draft begun before

    assert post(client, desk, f"{desk['path']}/reouverture").status_code == 303
    assert events("portal_reopened")[0]["après"] == {"état": "ouvert"}
    assert "Commander un certificat" in text(public.get("/commander/bpoi-occitanie"))
    assert public.get(f"{draft}/produit").status_code == 200


def test_closing_twice_is_refused(client, desk):
    post(client, desk, f"{desk['path']}/fermeture")
    before = snapshot()
    response = post(client, desk, f"{desk['path']}/fermeture")
    assert response.status_code == 422 and "Ce portail est déjà fermé." in text(response)
    assert snapshot() == before


def test_a_draft_of_a_closed_portal_cannot_be_sent_from_its_follow_up_page(app, client, desk,
                                                                          make_order):
    order = make_order(desk["ae"], portal=desk["portal"], phase="entry", substate=None,
                       requester_email="alice.colbert@exemple.fr")
    path = followup_path(app, order)
    post(client, desk, f"{desk['path']}/fermeture")
    public = client.application.test_client()
    shown = text(public.get(path))
    assert "Commande impossible : portail fermé." in shown
    assert "Reprendre la saisie de la commande" not in shown
    token = csrf_token_from(public.get(path).get_data(as_text=True))
    refused = public.post(f"{path}/envoi", data={"csrf_token": token})
    assert refused.status_code == 422 and "portail fermé" in text(refused)
    assert Order.get_by_id(order.id).phase == "entry"


def test_the_api_refuses_orders_on_a_closed_portal(client, desk):
    issued = clients.create(desk["ae"], "Boutique", ["bpoi-occitanie"],
                            [clients.SCOPE_WRITE_ORDERS, clients.SCOPE_READ_ORDERS],
                            created_by="test")
    headers = {"Authorization": f"Bearer {issued.credential}"}
    post(client, desk, f"{desk['path']}/fermeture")
    api = client.application.test_client()
    response = api.post("/api/v1/commandes", json=ORDER, headers=headers)
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "portail_ferme" and body["title"] == "Portail fermé"
    assert body["detail"] == ("Commande impossible : portail fermé. Le portail « BPOI-Occitanie » "
                              "ne prend plus de commandes pour l'instant.")
    assert body["erreurs"] == [{"code": "portail.ferme", "champ": "portail",
                                "detail": body["detail"]}]
    assert Order.select().count() == 0
    post(client, desk, f"{desk['path']}/reouverture")
    assert api.post("/api/v1/commandes", json=ORDER, headers=headers).status_code == 201


# --- Contact details ----------------------------------------------------------------------------

CONTACT = {"contact_email": "commandes@bpoi.example", "contact_phone": "05 61 00 00 00",
           "contact_address": "BPOI Occitanie\n12 allée Jean Jaurès\n31000 Toulouse",
           "contact_hours": "Du lundi au vendredi, de 9 h à 17 h"}


def test_contact_details_are_shown_on_the_ordering_and_follow_up_pages(app, client, desk,
                                                                       make_order):
    response = post(client, desk, f"{desk['path']}/coordonnees", **CONTACT)
    assert response.status_code == 303
    assert "Coordonnées de contact enregistrées" in text(client.get(response.headers["Location"]))
    expected = ("Contact — portail BPOI-Occitanie BPOI Occitanie 12 allée Jean Jaurès "
                "31000 Toulouse E-mail : commandes@bpoi.example Téléphone : 05 61 00 00 00 "
                "Horaires : Du lundi au vendredi, de 9 h à 17 h")
    public = client.application.test_client()
    assert expected in text(public.get("/commander/bpoi-occitanie"))
    draft = start_draft(client)
    assert expected in text(public.get(f"{draft}/porteur"))
    order = make_order(desk["ae"], portal=desk["portal"], requester_email="a@exemple.fr")
    assert expected in text(public.get(followup_path(app, order)))
    other = make_order(desk["ae"], portal=Portal.get(Portal.code == "bpoi-rhone"))
    assert "Contact — portail" not in text(public.get(followup_path(app, other)))
    assert events("portal_contact_changed")[0]["après"]["adresse"] == CONTACT["contact_address"]
    assert events("portal_contact_changed")[0]["avant"]["e-mail"] == ""


@pytest.mark.parametrize("field, value, message", [
    ("contact_email", "commandes@", "L'e-mail de contact du portail « commandes@ » n'est pas une adresse e-mail valide."),
    ("contact_phone", "12", "Le téléphone de contact du portail « 12 » n'est pas un numéro de téléphone valide."),
    ("contact_address", "1\n2\n3\n4\n5\n6", "L'adresse du portail tient en 5 lignes au plus."),
    ("contact_hours", "h" * 201, "Le texte des horaires est trop long ou illisible (maximum 200 caractères)."),
])
def test_refused_contact_details_change_nothing(client, desk, field, value, message):
    before = snapshot()
    response = post(client, desk, f"{desk['path']}/coordonnees", **{**CONTACT, field: value})
    assert response.status_code == 422
    assert "Les coordonnées ne sont pas enregistrées" in text(response) and message in text(response)
    assert CONTACT["contact_hours"] in response.get_data(as_text=True) or field == "contact_hours"
    assert snapshot() == before


# --- Products sold ------------------------------------------------------------------------------

def add_offer(client, desk, name, durations=("1", "2", "3"), media=("usb", "card")):
    return post(client, desk, f"{desk['path']}/offres", name=name, durations=list(durations),
                media=list(media))


def test_offers_edited_appear_on_the_produit_step(client, desk):
    draft = start_draft(client)
    default = "Certificat qualifié eIDAS (RGS**) de signature"
    assert default in product_step(client, draft)  # no offer set yet: the default one
    assert "la page de commande propose l'offre par défaut" in text(client.get(desk["path"]))

    response = add_offer(client, desk, "Signature — marchés publics", ("1", "3"), ("card",))
    assert response.status_code == 303
    offer = Offer.get(Offer.name == "Signature — marchés publics")
    assert (offer.portal_id, offer.durations, offer.media, offer.active) == (
        desk["portal"].id, "1,3", "card", True)
    shown = product_step(client, draft)
    assert "Signature — marchés publics (validité 1, 3 ans ; Carte à puce)" in shown
    assert default not in shown
    assert "Signature — marchés publics" not in product_step(client, start_draft(client, "bpoi-rhone"))

    add_offer(client, desk, "Cachet serveur", ("2",), ("usb",))
    second = Offer.get(Offer.name == "Cachet serveur")
    page = f"{desk['path']}/offres/{second.id}"
    assert 'value="Cachet serveur"' in client.get(page).get_data(as_text=True)
    assert post(client, desk, page, name="Cachet d'entreprise", durations=["1", "2"],
                media=["usb", "card"]).status_code == 303
    assert events("offer_changed")[0]["avant"] == {"nom": "Cachet serveur", "validités": "2 ans",
                                                   "supports": "Clé USB"}
    assert events("offer_changed")[0]["après"] == {"nom": "Cachet d'entreprise",
                                                   "validités": "1 an, 2 ans",
                                                   "supports": "Clé USB, Carte à puce"}
    shown = product_step(client, draft)
    assert shown.index("Signature — marchés publics") < shown.index("Cachet d'entreprise (validité 1, 2 ans ; Clé USB ou Carte à puce)")

    post(client, desk, f"{page}/deplacement", direction="haut")
    shown = product_step(client, draft)
    assert shown.index("Cachet d'entreprise") < shown.index("Signature — marchés publics")
    assert events("offer_moved")[0]["après"] == {"ordre": ["Cachet d'entreprise",
                                                           "Signature — marchés publics"]}

    assert post(client, desk, f"{page}/activation", active="0").status_code == 303
    assert "Cachet d'entreprise" not in product_step(client, draft)
    assert events("offer_deactivated")[0]["après"] == {"état": "désactivée"}
    post(client, desk, f"{page}/activation", active="1")
    assert "Cachet d'entreprise" in product_step(client, draft)


def test_the_last_active_offer_of_an_open_portal_stays(client, desk):
    add_offer(client, desk, "Seule offre")
    offer = Offer.get(Offer.name == "Seule offre")
    before = snapshot()
    response = post(client, desk, f"{desk['path']}/offres/{offer.id}/activation", active="0")
    assert response.status_code == 422
    assert ("« Seule offre » est la dernière offre proposée sur le portail « BPOI-Occitanie » : "
            "ajoutez-en une autre avant de la désactiver, ou fermez le portail.") in text(response)
    assert snapshot() == before


def test_an_offer_of_the_whole_ae_is_shown_and_shared(client, desk):
    shared = Offer.create(ae=desk["ae"], name="Offre de l'AE", durations="1,2,3", media="usb")
    shown = text(client.get(desk["path"]))
    assert "Offre de l'AE 1 an, 2 ans, 3 ans Clé USB Tous les portails de l'AE Active" in shown
    post(client, desk, f"{desk['path']}/offres/{shared.id}", name="Offre commune",
         durations=["1"], media=["usb"])
    assert "Offre commune" in product_step(client, start_draft(client, "bpoi-rhone"))


@pytest.mark.parametrize("data, message", [
    ({"name": "", "durations": ["1"], "media": ["usb"]}, "Le nom de l'offre est obligatoire."),
    ({"name": "Offre", "media": ["usb"]}, "Choisissez au moins une durée de validité (1, 2 ou 3 ans)."),
    ({"name": "Offre", "durations": ["4"], "media": ["usb"]}, "Une durée de validité est de 1, 2 ou 3 ans."),
    ({"name": "Offre", "durations": ["1"]}, "Choisissez au moins un support (« Clé USB » ou « Carte à puce »)."),
    ({"name": "Offre", "durations": ["1"], "media": ["disquette"]}, "Support inconnu"),
    ({"name": "Existante", "durations": ["1"], "media": ["usb"]}, "Une offre « Existante » est déjà proposée sur ce portail."),
])
def test_refused_offers_change_nothing(client, desk, data, message):
    add_offer(client, desk, "Existante")
    before = snapshot()
    response = post(client, desk, f"{desk['path']}/offres", **data)
    assert response.status_code == 422
    assert "L'offre n'est pas ajoutée" in text(response) and message in text(response)
    assert snapshot() == before
    existing = Offer.get(Offer.name == "Existante")
    if data["name"] != "Existante":
        response = post(client, desk, f"{desk['path']}/offres/{existing.id}", **data)
        assert response.status_code == 422 and message in text(response)
        assert "L'offre n'est pas enregistrée" in text(response)
        assert snapshot() == before


# --- Who may ------------------------------------------------------------------------------------

def test_another_aes_portals_and_offers_answer_404(client, desk, make_ae):
    other = make_ae("AE Atlantique", portals=("Atlantique-Nantes",))
    theirs = Portal.get(Portal.ae == other)
    their_offer = Offer.create(ae=other, portal=theirs, name="Leur offre")
    rhone = Portal.get(Portal.code == "bpoi-rhone")
    rhone_offer = Offer.create(ae=desk["ae"], portal=rhone, name="Offre du Rhône")
    before = snapshot()
    for path in (f"{LIST}/{theirs.id}", f"{desk['path']}/offres/{their_offer.id}",
                 f"{desk['path']}/offres/{rhone_offer.id}"):
        assert client.get(path).status_code == 404, path
    for path, data in ((f"{LIST}/{theirs.id}/nom", {"name": "Pris", "code": "pris"}),
                       (f"{LIST}/{theirs.id}/fermeture", {}),
                       (f"{LIST}/{theirs.id}/coordonnees", CONTACT),
                       (f"{LIST}/{theirs.id}/offres", {"name": "X", "durations": "1", "media": "usb"}),
                       (f"{desk['path']}/offres/{their_offer.id}/activation", {"active": "0"}),
                       (f"{desk['path']}/offres/{rhone_offer.id}/deplacement", {"direction": "bas"})):
        assert post(client, desk, path, **data).status_code == 404, path
    assert snapshot() == before
    assert "Atlantique-Nantes" not in text(client.get(LIST))


def test_only_admins_may_and_every_change_needs_its_csrf_token(app, client, desk, make_operator):
    before = snapshot()
    assert client.post(f"{desk['path']}/fermeture").status_code == 400
    assert client.post(LIST, data={"name": "Sans jeton"}).status_code == 400
    aea = make_operator(desk["ae"], roles="AEA", name="Julie Vérif")
    other = app.test_client()
    login_as(other, aea)
    assert other.get(LIST).status_code == 403
    assert other.get(desk["path"]).status_code == 403
    token = csrf_token_from(other.get("/commandes").get_data(as_text=True))
    assert other.post(f"{desk['path']}/fermeture", data={"csrf_token": token}).status_code == 403
    assert snapshot() == before
    assert "/parametres/portails" not in other.get("/commandes").get_data(as_text=True)


def test_the_changes_have_french_words_in_the_audit_trail():
    from services.audit_words import action_label
    assert action_label("portal_closed") == "Portail fermé"
    assert action_label("offer_moved") == "Ordre des offres modifié"


def test_the_upgrade_adds_the_contact_columns_as_a_fresh_database_has_them(database_url):
    from models import AE
    from tests.test_migrations import upgraded_from_v1

    database = upgraded_from_v1(database_url)
    for model in (AE, Portal):
        table = model._meta.table_name
        assert ({column.name for column in database.get_columns(table)}
                == {field.column_name for field in model._meta.sorted_fields})
    kept = AE.get_by_id(1)
    assert (kept.name, kept.postal_address, kept.contact_email) == ("BPOI", None, None)
    database.close()
