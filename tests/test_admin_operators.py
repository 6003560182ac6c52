"""« Opérateurs » under Administration: the list (roles, portals, certificates and their state,
last login, active or not), « Ajouter un opérateur » and its French refusals, the operator's
page (roles and portals, « Désactiver » ending their open session at once, « Réactiver »), the
rule that an AE keeps an active administrator; admins of the AE only, CSRF-protected, audited
with « avant » / « après », another AE's ids answering 404."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from models import AuditEvent, LoginSession, Operator, OperatorCertificate, Portal, utcnow
from services.operator_auth import sessions
from tests.conftest import csrf_token_from, login_as
from tests.text import source, text
from workflow import operators as rules

LIST = "/parametres/operateurs"
NEW = "/parametres/operateurs/nouveau"


@pytest.fixture
def desk(app, client, make_ae, make_operator):
    ae = make_ae("BPOI", ("BPOI-Occitanie", "BPOI-Rhône", "BPOI-Rhône-Alpes"))
    occitanie, rhone, alpes = Portal.select().where(Portal.ae == ae).order_by(Portal.name)
    camille = make_operator(ae, "Camille Martin", roles="AEA,admin",
                            email="camille.martin@bpoi.example")
    julien = make_operator(ae, "Julien Roux", roles="AET", portals=[rhone],
                           email="julien.roux@bpoi.example")
    other = make_ae("AE Atlantique", ("Atlantique-Nantes",))
    login_as(client, camille)
    token = csrf_token_from(client.get(LIST).get_data(as_text=True))
    return {"ae": ae, "portals": (occitanie, rhone, alpes), "camille": camille,
            "julien": julien, "other": other, "token": token,
            "their_operator": make_operator(other, "Yann Le Goff", roles="AEA,admin",
                                            email="yann@atlantique.example")}


def events(action: str) -> list[dict]:
    rows = AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id)
    return [{**json.loads(row.details), "by": row.operator_id, "ae": row.ae_id} for row in rows]


def reload(operator) -> Operator:
    return Operator.get_by_id(operator.id)


def new_operator(desk, **fields):
    data = {"csrf_token": desk["token"], "display_name": "Léa Durand",
            "email": "lea.durand@bpoi.example", "roles": ["AEA"], "portal_scope": "all"}
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


# --- the list ------------------------------------------------------------------------------

def test_a_certificate_subject_reads_with_short_names_and_wraps(client, desk):
    """Subjects stored as cryptography writes them (2.5.4.4=…) show as SN=…, GN=…, one space
    after each comma: the table no longer runs past a 1280 px window."""
    (OperatorCertificate.update(subject="CN=Julien ROUX,2.5.4.4=Roux,2.5.4.42=Julien,O=BPOI,C=FR")
     .where(OperatorCertificate.operator == desk["julien"].id).execute())
    for path in (LIST, f"{LIST}/{desk['julien'].id}"):
        shown = text(client.get(path))
        assert "CN=Julien ROUX, SN=Roux, GN=Julien, O=BPOI, C=FR" in shown
        assert "2.5.4.4" not in shown


def test_the_list_shows_roles_portals_certificates_last_login_and_state(client, desk,
                                                                         make_operator):
    julien = desk["julien"]
    OperatorCertificate.update(not_after=dt.datetime(2099, 1, 1, 12)).execute()
    expired = make_operator(desk["ae"], "Chloé Bernard", roles="AEA")
    (OperatorCertificate.update(not_after=dt.datetime(2025, 3, 1, 12))
     .where(OperatorCertificate.operator == expired.id).execute())
    revoked = make_operator(desk["ae"], "Hugo Petit", roles="AET")
    (OperatorCertificate.update(revoked_at=utcnow(), revocation_reason="keyCompromise",
                                not_after=dt.datetime(2099, 1, 1, 12))
     .where(OperatorCertificate.operator == revoked.id).execute())
    Operator.update(active=False).where(Operator.id == revoked.id).execute()
    for day in (14, 15):  # two logins of Julien's, ended since
        LoginSession.create(token_hash=f"t{day}", operator=julien, certificate_fingerprint="x",
                            method="bridge", created_at=dt.datetime(2026, 1, day, 8, 5),
                            ended_at=dt.datetime(2026, 1, day, 9), end_reason="logout")

    page = client.get(LIST)
    assert page.status_code == 200
    shown = text(page)
    assert 'href="/parametres/operateurs/nouveau"' in source(page)
    assert "Ajouter un opérateur" in shown
    for header in ("Opérateur", "Rôles", "Portails autorisés", "Certificats liés",
                   "Dernière connexion", "Statut"):
        assert header in shown
    assert ("Camille Martin camille.martin@bpoi.example AEA (vérification, validation) "
            "Administrateur Tous les portails CN=Camille Martin N° 01, expire le 01/01/2099 "
            "valide") in shown  # then today's login
    assert ("Julien Roux julien.roux@bpoi.example AET (génération) BPOI-Rhône "
            "CN=Julien Roux N° 01, expire le 01/01/2099 valide 15/01/2026 09:05 Actif") in shown
    assert "CN=Chloé Bernard N° 01, expiré le 01/03/2025 expiré Jamais Actif" in shown
    assert "CN=Hugo Petit N° 01, expire le 01/01/2099 révoqué Jamais Inactif" in shown
    assert f'href="/parametres/operateurs/{julien.id}"' in source(page)
    assert "Yann Le Goff" not in shown  # another AE's operator


# --- « Ajouter un opérateur » ---------------------------------------------------------------

def test_an_admin_adds_an_operator_limited_to_some_portals(client, desk):
    occitanie, rhone, _ = desk["portals"]
    form = client.get(NEW)
    assert form.status_code == 200
    for label in ("Nom affiché", "E-mail", "AEA", "AET", "admin", "Tous les portails",
                  "BPOI-Occitanie", "BPOI-Rhône-Alpes"):
        assert label in text(form)
    assert "Atlantique-Nantes" not in text(form)

    response = client.post(NEW, data=new_operator(
        desk, display_name="  Léa Durand ", email="Lea.Durand@BPOI.example",
        roles=["AEA", "AET"], portal_scope="some", portals=[str(occitanie.id), str(rhone.id)]))
    lea = Operator.get(Operator.display_name == "Léa Durand")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/parametres/operateurs/{lea.id}")
    assert (lea.ae_id, lea.email, lea.roles, lea.all_portals, lea.active) == (
        desk["ae"].id, "Lea.Durand@bpoi.example", "AEA,AET", False, True)
    assert [p.name for p in lea.visible_portals()] == ["BPOI-Occitanie", "BPOI-Rhône"]
    page = text(client.get(response.headers["Location"]))
    assert "Opérateur « Léa Durand » ajouté." in page
    assert "Aucun certificat : cet opérateur ne peut pas se connecter." in page
    [event] = events("operator_created")
    assert (event["by"], event["ae"], event["operator_id"]) == (
        desk["camille"].id, desk["ae"].id, lea.id)
    assert event["avant"] is None
    assert event["après"] == {"rôles": ["AEA", "AET"],
                              "portails": ["BPOI-Occitanie", "BPOI-Rhône"]}


def test_the_same_address_in_another_ae_is_accepted(client, desk):
    response = client.post(NEW, data=new_operator(desk, email="yann@atlantique.example"))
    assert response.status_code == 303
    assert Operator.get(Operator.display_name == "Léa Durand").all_portals


def _foreign_portal(desk):
    return str(Portal.get(Portal.ae == desk["other"].id).id)


@pytest.mark.parametrize("fields, message", [
    ({"display_name": "   "}, "Le nom affiché est obligatoire."),
    ({"display_name": "L" * 121}, "Le nom affiché ne doit pas dépasser 120 caractères."),
    ({"email": ""}, "L'adresse e-mail est obligatoire."),
    ({"email": "lea.durand"},
     "L'adresse e-mail « lea.durand » n'est pas une adresse e-mail valide."),
    ({"email": "Julien.Roux@bpoi.example"},
     "Un opérateur de l'AE a déjà l'adresse e-mail « Julien.Roux@bpoi.example »."),
    ({"roles": None}, "Cochez au moins un rôle : AEA, AET ou admin."),
    ({"roles": ["AEA", "root"]}, "Rôle inconnu : « root »."),
    ({"portal_scope": "some"}, "Choisissez au moins un portail, ou « Tous les portails »."),
    ({"portal_scope": "some", "portals": "foreign"},
     "Un des portails choisis n'est pas un portail de votre AE."),
    ({"portal_scope": "some", "portals": "abc"},
     "Un des portails choisis n'est pas un portail de votre AE."),
])
def test_adding_is_refused_with_a_french_reason_and_keeps_what_was_typed(client, desk, fields,
                                                                         message):
    if fields.get("portals") == "foreign":
        fields = {**fields, "portals": _foreign_portal(desk)}
    before = Operator.select().count()
    response = client.post(NEW, data=new_operator(desk, **fields))
    assert response.status_code == 422
    shown = text(response)
    assert "L'opérateur n'est pas ajouté :" in shown and message in shown
    assert Operator.select().count() == before and events("operator_created") == []
    typed = fields.get("display_name", "Léa Durand")
    if typed.strip() and len(typed) <= 120:
        assert f'value="{typed}"' in source(response)


# --- the operator's page: roles and portals ---------------------------------------------------

def test_roles_and_portals_are_changed_and_audited_before_and_after(client, desk):
    julien = desk["julien"]
    occitanie, rhone, _ = desk["portals"]
    page = client.get(f"{LIST}/{julien.id}")
    assert page.status_code == 200
    assert "Rôles et portails" in text(page) and "Enregistrer" in text(page)
    assert 'id="portal-scope-some" name="portal_scope" value="some" checked' in source(page)

    response = client.post(f"{LIST}/{julien.id}", data={
        "csrf_token": desk["token"], "roles": ["AEA", "AET"], "portal_scope": "some",
        "portals": [str(occitanie.id), str(rhone.id)]})
    assert response.status_code == 303
    julien = reload(julien)
    assert julien.roles == "AEA,AET" and not julien.all_portals
    assert [p.name for p in julien.visible_portals()] == ["BPOI-Occitanie", "BPOI-Rhône"]
    [event] = events("operator_access_changed")
    assert event["avant"] == {"rôles": ["AET"], "portails": ["BPOI-Rhône"]}
    assert event["après"] == {"rôles": ["AEA", "AET"],
                              "portails": ["BPOI-Occitanie", "BPOI-Rhône"]}
    assert "Rôles et portails enregistrés." in text(client.get(f"{LIST}/{julien.id}"))

    client.post(f"{LIST}/{julien.id}", data={"csrf_token": desk["token"], "roles": ["AET"],
                                             "portal_scope": "all"})
    assert reload(julien).all_portals and reload(julien).roles == "AET"
    assert events("operator_access_changed")[-1]["après"] == {
        "rôles": ["AET"], "portails": "Tous les portails"}


@pytest.mark.parametrize("fields, message", [
    ({"roles": []}, "Cochez au moins un rôle : AEA, AET ou admin."),
    ({"portals": []}, "Choisissez au moins un portail, ou « Tous les portails »."),
    ({"portals": "foreign"}, "Un des portails choisis n'est pas un portail de votre AE."),
])
def test_a_refused_change_changes_nothing(client, desk, fields, message):
    julien = desk["julien"]
    data = {"csrf_token": desk["token"], "roles": ["AEA"], "portal_scope": "some",
            "portals": [str(desk["portals"][0].id)], **fields}
    if data["portals"] == "foreign":
        data["portals"] = [_foreign_portal(desk)]
    response = client.post(f"{LIST}/{julien.id}", data=data)
    assert response.status_code == 422
    assert "Rien n'est enregistré :" in text(response) and message in text(response)
    assert reload(julien).roles == "AET"
    assert [p.name for p in reload(julien).visible_portals()] == ["BPOI-Rhône"]
    assert events("operator_access_changed") == []


# --- « Désactiver » / « Réactiver » -----------------------------------------------------------

def test_deactivation_ends_the_operators_open_session_at_once(app, client, desk):
    julien = desk["julien"]
    julien_browser = app.test_client()
    token = login_as(julien_browser, julien)
    assert julien_browser.get("/commandes").status_code == 200

    response = client.post(f"{LIST}/{julien.id}/desactivation",
                           data={"csrf_token": desk["token"]}, follow_redirects=True)
    assert "« Julien Roux » désactivé : connexion refusée, 1 session(s) fermée(s) aussitôt." \
        in text(response)
    assert "Statut Désactivé" in text(response) and "Réactiver" in text(response)
    assert not reload(julien).active
    row = LoginSession.get(LoginSession.token_hash == sessions.token_hash(token))
    assert row.end_reason == "operator_deactivated"
    refused = julien_browser.get("/commandes")
    assert refused.status_code == 302 and "/connexion" in refused.headers["Location"]
    [event] = events("operator_deactivated")
    assert (event["by"], event["operator_id"], event["sessions_ended"]) == (
        desk["camille"].id, julien.id, 1)
    assert (event["avant"], event["après"]) == ({"actif": True}, {"actif": False})
    assert "Inactif" in text(client.get(LIST))  # kept in the list, history kept

    client.post(f"{LIST}/{julien.id}/reactivation", data={"csrf_token": desk["token"]})
    assert reload(julien).active
    assert events("operator_reactivated")[-1]["après"] == {"actif": True}
    assert julien_browser.get("/commandes").status_code == 302  # an ended session stays ended


# --- an AE keeps an active administrator -------------------------------------------------------

def test_the_last_admin_keeps_their_admin_role_and_stays_active(client, desk):
    camille = desk["camille"]
    demoted = client.post(f"{LIST}/{camille.id}", data={
        "csrf_token": desk["token"], "roles": ["AEA"], "portal_scope": "all"})
    assert demoted.status_code == 422
    assert ("Vous êtes le dernier administrateur actif de l'AE : vous ne pouvez pas retirer "
            "votre propre rôle admin.") in text(demoted)
    assert reload(camille).roles == "AEA,admin"

    deactivated = client.post(f"{LIST}/{camille.id}/desactivation",
                              data={"csrf_token": desk["token"]})
    assert deactivated.status_code == 422
    assert ("Vous êtes le dernier administrateur actif de l'AE : vous ne pouvez pas vous "
            "désactiver.") in text(deactivated)
    assert reload(camille).active
    assert events("operator_deactivated") == events("operator_access_changed") == []


def test_with_a_second_admin_an_admin_may_step_down(client, desk, make_operator):
    camille = desk["camille"]
    lucas = make_operator(desk["ae"], "Lucas Bernard", roles="admin")
    response = client.post(f"{LIST}/{camille.id}", data={
        "csrf_token": desk["token"], "roles": ["AEA"], "portal_scope": "all"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/commandes")
    assert reload(camille).roles == "AEA"
    assert client.get(LIST).status_code == 403  # her session goes on, without the admin pages

    login_as(client, lucas)
    token = csrf_token_from(client.get(LIST).get_data(as_text=True))
    refused = client.post(f"{LIST}/{lucas.id}/desactivation", data={"csrf_token": token})
    assert refused.status_code == 422
    assert reload(lucas).active


def test_an_inactive_admin_does_not_count(client, desk, make_operator):
    lucas = make_operator(desk["ae"], "Lucas Bernard", roles="admin")
    Operator.update(active=False).where(Operator.id == lucas.id).execute()
    refused = client.post(f"{LIST}/{desk['camille'].id}/desactivation",
                          data={"csrf_token": desk["token"]})
    assert refused.status_code == 422


@pytest.mark.parametrize("before, after, others, is_self, deactivating, expected", [
    (True, False, 0, True, False, "vous ne pouvez pas retirer votre propre rôle admin"),
    (True, False, 0, True, True, "vous ne pouvez pas vous désactiver"),
    (True, False, 0, False, True, "« Camille » est le dernier administrateur actif"),
    (True, False, 1, True, True, None),
    (True, True, 0, True, False, None),
    (False, False, 0, False, True, None),
])
def test_the_last_admin_rule(before, after, others, is_self, deactivating, expected):
    problem = rules.last_admin_problem(is_admin_before=before, is_admin_after=after,
                                       other_active_admins=others, is_self=is_self,
                                       deactivating=deactivating, name="Camille")
    assert (problem is None) if expected is None else (expected in problem)


# --- who may do it -----------------------------------------------------------------------------

def _operator_routes(app):
    return [rule for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("admin.") and rule.rule.startswith(LIST)]


def _url(rule, desk, operator):
    certificate = operator.certificates.get()
    return (rule.rule.replace("<int:operator_id>", str(operator.id))
            .replace("<int:certificate_id>", str(certificate.id)))


def test_no_operator_route_answers_to_a_non_admin(app, client, desk):
    login_as(client, desk["julien"])
    token = csrf_token_from(client.get("/commandes").get_data(as_text=True))
    for rule in _operator_routes(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_url(rule, desk, desk["camille"]), method=method,
                                   data={"csrf_token": token})
            assert response.status_code == 403, f"{method} {rule.rule}"
    assert reload(desk["camille"]).active and Operator.select().count() == 3


def test_another_aes_operator_and_certificate_ids_answer_404(app, client, desk):
    theirs = desk["their_operator"]
    their_certificate = theirs.certificates.get()
    for rule in _operator_routes(app):
        if "<int:operator_id>" not in rule.rule:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_url(rule, desk, theirs), method=method,
                                   data={"csrf_token": desk["token"]})
            assert response.status_code == 404, f"{method} {rule.rule}"
    # my operator, with their certificate's id
    mine = desk["julien"]
    for action in ("retrait", "revocation"):
        url = f"{LIST}/{mine.id}/certificats/{their_certificate.id}/{action}"
        assert client.post(url, data={"csrf_token": desk["token"]}).status_code == 404
    assert reload(theirs).active and OperatorCertificate.get_by_id(their_certificate.id)


def test_every_change_needs_the_csrf_token(client, desk):
    julien = desk["julien"]
    certificate = julien.certificates.get()
    assert client.post(NEW, data=new_operator(desk, csrf_token="")).status_code == 400
    for url, data in ((f"{LIST}/{julien.id}", {"roles": ["AEA"], "portal_scope": "all"}),
                      (f"{LIST}/{julien.id}/desactivation", {}),
                      (f"{LIST}/{julien.id}/certificats", {}),
                      (f"{LIST}/{julien.id}/certificats/{certificate.id}/retrait", {}),
                      (f"{LIST}/{julien.id}/certificats/{certificate.id}/revocation",
                       {"reason": "keyCompromise", "confirm": "1"})):
        assert client.post(url, data=data).status_code == 400, url
    julien = reload(julien)
    assert julien.active and julien.roles == "AET"
    assert OperatorCertificate.get_by_id(certificate.id).revoked_at is None
    assert Operator.select().count() == 3


def test_the_cli_also_keeps_the_last_admin(runner, desk):
    result = runner.invoke(args=["operator", "deactivate", "--id", str(desk["camille"].id)])
    assert result.exit_code != 0
    assert "dernier administrateur actif" in result.output
    assert reload(desk["camille"]).active
