"""« Recherches enregistrées »: an operator saves the list's current filters under a name; they
show as shortcuts above the list, open exactly that list, can be replaced and deleted; they are
the operator's own (another's id answers 404); refusals say why in French."""
from __future__ import annotations

import pytest

from models import AuditEvent, SavedSearch
from tests.conftest import csrf_token_from, login_as
from tests.text import source, text


@pytest.fixture
def desk(client, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    make_order(ae, number=960900, phase="validation", substate="to_check")
    make_order(ae, number=960901, phase="done", substate=None)
    login_as(client, camille)
    token = csrf_token_from(client.get("/commandes").get_data(as_text=True))
    return {"ae": ae, "camille": camille, "token": token}


def save(client, desk, name, **filters):
    return client.post("/commandes/recherches", follow_redirects=True,
                       data={"csrf_token": desk["token"], "search_name": name, **filters})


def test_a_saved_search_is_a_shortcut_to_the_same_list(client, desk):
    page = client.get("/commandes", query_string={"substate": "to_check"}).get_data(as_text=True)
    assert "Enregistrer cette recherche sous le nom" in text(page)
    saved = save(client, desk, "  À vérifier   BPOI ", substate="to_check")
    assert "Recherche « À vérifier BPOI » enregistrée." in text(saved)
    [search] = SavedSearch.select()
    assert (search.name, search.query, search.operator_id) == ("À vérifier BPOI", "substate=to_check",
                                                              desk["camille"].id)
    shortcut = 'href="/commandes?substate=to_check">À vérifier BPOI</a>'
    assert shortcut in source(client.get("/commandes"))
    opened = text(client.get("/commandes?substate=to_check"))
    assert "960900" in opened and "960901" not in opened
    assert AuditEvent.get(AuditEvent.action == "search_saved").operator_id == desk["camille"].id


def test_the_same_name_replaces_and_delete_removes(client, desk):
    save(client, desk, "Mes filtres", substate="to_check")
    save(client, desk, "Mes filtres", phase="done")
    [search] = SavedSearch.select()
    assert search.query == "phase=done"
    deleted = client.post(f"/commandes/recherches/{search.id}/suppression",
                          data={"csrf_token": desk["token"]}, follow_redirects=True)
    assert "Recherche « Mes filtres » supprimée." in text(deleted)
    assert SavedSearch.select().count() == 0


@pytest.mark.parametrize("name, filters, reason", [
    ("", {"substate": "to_check"}, "Donnez un nom à la recherche."),
    ("x" * 61, {"substate": "to_check"}, "Le nom de la recherche est trop long (60 caractères au plus)."),
    ("Rien", {}, "Aucun filtre n'est choisi : il n'y a rien à enregistrer."),
])
def test_refusals_say_why_and_save_nothing(client, desk, name, filters, reason):
    assert reason in text(save(client, desk, name, **filters))
    assert SavedSearch.select().count() == 0


def test_another_operators_search_is_not_found(client, desk, make_operator):
    lucas = make_operator(desk["ae"], roles="AEA", name="Lucas Bernard")
    theirs = SavedSearch.create(operator=lucas, name="À Lucas", query="phase=done")
    assert "À Lucas" not in text(client.get("/commandes"))
    response = client.post(f"/commandes/recherches/{theirs.id}/suppression",
                           data={"csrf_token": desk["token"]})
    assert response.status_code == 404 and SavedSearch.select().count() == 1
