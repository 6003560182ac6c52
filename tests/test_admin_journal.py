"""« Journal d'administration »: the AE's admin acts from the audit trail — who, what, when,
before → after — filtered by who, what and dates, paginated; admins of the AE only, and never
another AE's acts or the order file's events."""
from __future__ import annotations

import datetime as dt

import pytest

from formatting import paris_date
from models import AuditEvent, Portal, utcnow
from services import audit, digest
from services.api import clients
from tests.conftest import csrf_token_from, login_as
from tests.text import text

JOURNAL = "/parametres/journal"


@pytest.fixture
def desk(client, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    admin = make_operator(ae, roles="AEA,admin", name="Nadia Admin")
    colleague = make_operator(ae, roles="AEA,admin", name="Paul Second")
    login_as(client, admin)
    return {"ae": ae, "admin": admin, "colleague": colleague, "order": make_order(ae, number=960500)}


def test_a_settings_change_shows_who_what_and_before_after(client, desk):
    token = csrf_token_from(client.get("/parametres/operateurs").get_data(as_text=True))
    client.post("/parametres/resume", data={"csrf_token": token, "slots": "08:00, 16:30"})
    shown = text(client.get(JOURNAL))
    assert "1 acte(s)." in shown
    assert ("Nadia Admin Heures d'envoi du résumé modifiées "
            "Heures d'envoi du résumé : 07:10,12:10,17:10 → 08:00,16:30") in shown
    assert "Résumé envoyé même vide" not in shown  # unchanged: not listed


def test_filters_by_who_what_and_dates(client, desk):
    digest.set_digest(desk["colleague"], True, desk["admin"])
    digest.set_digest(desk["admin"], True, desk["colleague"])
    Portal.create(ae=desk["ae"], name="Boutique BPOI", code="boutique-bpoi")
    clients.create(desk["ae"], "Boutique", ["boutique-bpoi"], [clients.SCOPE_READ_ORDERS],
                   created_by="ligne de commande")
    audit.record("order_viewed", operator=desk["admin"], order=desk["order"])  # not an admin act

    assert "3 acte(s)." in text(client.get(JOURNAL))
    by_paul = text(client.get(JOURNAL, query_string={"qui": desk["colleague"].id}))
    assert "1 acte(s)." in by_paul and "Paul Second Résumé d'activité activé" in by_paul
    api = text(client.get(JOURNAL, query_string={"quoi": "api_client_created"}))
    assert "1 acte(s)." in api and "ligne de commande Client d'API créé" in api

    # Paris days, as the journal shows and filters them (after 23:00 UTC it is already
    # tomorrow there).
    earlier = utcnow() - dt.timedelta(days=3)
    AuditEvent.update(at=earlier).where(AuditEvent.action == "api_client_created").execute()
    today = paris_date(utcnow())
    assert "2 acte(s)." in text(client.get(JOURNAL, query_string={"du": today, "au": today}))
    refused = text(client.get(JOURNAL, query_string={"du": "31/02"}))
    assert "Date illisible : « 31/02 » (attendu jj/mm/aaaa)." in refused


def test_long_journals_are_paginated(client, desk):
    for _ in range(55):
        digest.set_digest(desk["colleague"], True, desk["admin"])
    first = text(client.get(JOURNAL))
    assert "55 acte(s), page 1 sur 2." in first and "Page suivante" in first
    assert text(client.get(JOURNAL, query_string={"page": 2})).count("Nadia Admin Résumé d'activité activé") == 5


def test_only_the_aes_admins_see_its_journal(client, desk, make_ae, make_operator):
    other = make_ae("Atlantique")
    their_admin = make_operator(other, roles="AEA,admin", name="Autre Admin")
    digest.set_digest(their_admin, True, their_admin)
    assert "Autre Admin" not in text(client.get(JOURNAL))
    login_as(client, make_operator(desk["ae"], roles="AEA", name="Simple Opérateur"))
    assert client.get(JOURNAL).status_code == 403


def test_the_administration_links_to_the_journal(client, desk):
    page = client.get("/parametres/operateurs").get_data(as_text=True)
    assert f'href="{JOURNAL}"' in page and "Journal d&#39;administration" in page


def test_api_clients_and_webhooks_changed_in_the_browser_are_found_by_who(app, client, desk):
    """The admin who creates, rotates or revokes an API client, or adds or deactivates a
    webhook, is the one the « Qui » filter finds; the command line still signs its own acts."""
    from models import ApiClient, WebhookEndpoint

    app.config.update(RADESK_WEBHOOKS_ALLOW_HTTP=True)
    Portal.create(ae=desk["ae"], name="Boutique BPOI", code="boutique-bpoi")
    login_as(client, desk["colleague"])
    token = csrf_token_from(client.get("/parametres/api").get_data(as_text=True))
    assert client.post("/parametres/api", data={
        "csrf_token": token, "name": "Boutique", "portal": ["boutique-bpoi"],
        "scope": [clients.SCOPE_READ_ORDERS]}).status_code == 201
    shop = ApiClient.get(ApiClient.name == "Boutique")
    client.post(f"/parametres/api/{shop.id}/secret", data={"csrf_token": token, "overlap": "0"})
    client.post(f"/parametres/api/{shop.id}/revocation", data={"csrf_token": token})
    client.post("/parametres/webhooks", data={
        "csrf_token": token, "url": "http://127.0.0.1:9/hooks", "description": "CRM",
        "events": ["commande.validee"], "allow_private_network": "1"})
    hook = WebhookEndpoint.get()
    client.post(f"/parametres/webhooks/{hook.id}/desactivation", data={"csrf_token": token})
    clients.create(desk["ae"], "Lecture", ["boutique-bpoi"], [clients.SCOPE_READ_ORDERS],
                   created_by="ligne de commande")

    login_as(client, desk["admin"])
    by_paul = text(client.get(JOURNAL, query_string={"qui": desk["colleague"].id}))
    assert "5 acte(s)." in by_paul
    for act in ("Client d'API créé", "Secret d'un client d'API renouvelé", "Client d'API révoqué",
                "Webhook ajouté", "Webhook désactivé"):
        assert f"Paul Second {act}" in by_paul
    assert "Lecture" not in by_paul
    assert "0 acte(s)." in text(client.get(JOURNAL, query_string={"qui": desk["admin"].id}))
    created = text(client.get(JOURNAL, query_string={"quoi": "api_client_created"}))
    assert "ligne de commande Client d'API créé" in created
    assert ApiClient.get(ApiClient.name == "Boutique").created_by == "Paul Second"
