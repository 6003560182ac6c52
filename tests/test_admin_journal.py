"""« Journal d'administration »: the AE's admin acts from the audit trail — who, what, when,
before → after — filtered by who, what and dates, paginated; admins of the AE only, and never
another AE's acts or the order file's events."""
from __future__ import annotations

import datetime as dt

import pytest

from models import AuditEvent, Portal
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

    earlier = dt.date.today() - dt.timedelta(days=3)
    AuditEvent.update(at=dt.datetime.combine(earlier, dt.time(12))).where(
        AuditEvent.action == "api_client_created").execute()
    today = dt.date.today().strftime("%d/%m/%Y")
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
