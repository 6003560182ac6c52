"""« Clients de l'API » under Administration: an admin creates a client (its credential shown
once, never again), gives it a new secret with an overlap, revokes it; refusals keep what was
chosen; only admins, only their AE's clients."""
from __future__ import annotations

import re

import pytest

from models import ApiClient, AuditEvent
from services.api import clients
from tests.conftest import csrf_token_from, login_as
from tests.text import text


@pytest.fixture
def admin(app, client, bpoi, make_operator):
    operator = make_operator(bpoi, roles="AEA,admin", name="Camille Martin")
    login_as(client, operator)
    return operator


def post(client, path, data):
    token = csrf_token_from(client.get("/parametres/api").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def test_an_admin_creates_a_client_and_sees_its_credential_once(client, admin):
    created = post(client, "/parametres/api", {"name": "Boutique", "portal": ["bpoi-occitanie"],
                                               "scope": ["commandes:ecrire", "commandes:lire"]})
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    credential = re.search(r"rad_[0-9a-f]{12}_[A-Za-z0-9_-]+", created.get_data(as_text=True))[0]
    assert clients.authenticate(credential).name == "Boutique"
    listed = client.get("/parametres/api").get_data(as_text=True)
    assert credential not in listed and credential[:16] + "_…" in listed  # rad_ + key id
    assert "BPOI-Occitanie" in text(client.get("/parametres/api"))
    event = AuditEvent.get(AuditEvent.action == "api_client_created")
    assert event.actor == "Camille Martin" and credential not in event.details


def test_a_refused_client_keeps_what_was_chosen(client, admin):
    refused = post(client, "/parametres/api", {"name": "Boutique", "scope": ["commandes:lire"]})
    assert refused.status_code == 422
    assert "Choisissez au moins un portail." in text(refused)
    assert 'value="Boutique"' in refused.get_data(as_text=True)
    assert ApiClient.select().count() == 0


def test_a_new_secret_overlaps_and_revocation_ends_every_secret(client, admin, bpoi):
    issued = clients.create(bpoi, "CRM", ["bpoi-occitanie"], ["commandes:lire"], created_by="t")
    rotated = post(client, f"/parametres/api/{issued.client.id}/secret", {"overlap": "24"})
    new = re.search(r"rad_[0-9a-f]{12}_[A-Za-z0-9_-]+", rotated.get_data(as_text=True))[0]
    assert clients.authenticate(new) is not None
    assert clients.authenticate(issued.credential) is not None  # for 24 hours
    revoked = post(client, f"/parametres/api/{issued.client.id}/revocation", {})
    assert revoked.status_code == 303
    assert clients.authenticate(new) is None and clients.authenticate(issued.credential) is None
    assert "Révoqué le" in text(client.get("/parametres/api"))


def test_only_admins_see_the_screen(app, bpoi, make_operator):
    aea = app.test_client()
    login_as(aea, make_operator(bpoi, roles="AEA"))
    assert aea.get("/parametres/api").status_code == 403
