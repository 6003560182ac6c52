"""« Prise en charge »: an operator takes an order (confirming when a colleague has it, who sees
it live on their open file), gives it to a colleague who holds the phase's role, releases it;
the list shows who handles each order and filters « Mes dossiers » and « Non attribuées »; the
digest tells each operator how many of theirs wait. Each change is audited, checked on the
server, CSRF-protected."""
from __future__ import annotations

import datetime as dt

import pytest

from models import AuditEvent, Order
from services import digest
from services.orders import handling
from tests.conftest import csrf_token_from, login_as
from tests.text import text

HTMX = {"HX-Request": "true"}


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    lucas = make_operator(ae, roles="AEA", name="Lucas Bernard")
    tech = make_operator(ae, roles="AET", name="Théo Technicien")
    other_ae = make_ae("Atlantique")
    stranger = make_operator(other_ae, roles="AEA", name="Yann Ailleurs")
    order = make_order(ae, number=960800, phase="validation", substate="to_check")
    other = make_order(ae, number=960801, phase="validation", substate="to_check")
    return {"app": app, "ae": ae, "camille": camille, "lucas": lucas, "tech": tech,
            "stranger": stranger, "order": order, "other": other}


def client_of(app, operator):
    client = app.test_client()
    login_as(client, operator)
    return client


def token_of(client, order) -> str:
    return csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))


def post(client, order, action, token, **data):
    return client.post(f"/commandes/{order.id}/{action}", data={"csrf_token": token, **data},
                       follow_redirects=True)


def test_an_operator_takes_an_order_and_the_list_shows_it(desk):
    camille = client_of(desk["app"], desk["camille"])
    page = text(camille.get(f"/commandes/{desk['order'].id}"))
    assert "Prise en charge Non attribuée : personne ne prend en charge cette commande." in page
    taken = post(camille, desk["order"], "prise-en-charge", token_of(camille, desk["order"]))
    shown = text(taken)
    assert "Vous prenez en charge cette commande." in shown
    assert "Vous prenez en charge cette commande depuis le" in shown and "Libérer" in shown
    assert Order.get_by_id(desk["order"].id).handled_by_id == desk["camille"].id
    event = AuditEvent.get(AuditEvent.action == "order_taken")
    assert '"avant":"personne"' in event.details and '"après":"Camille Martin"' in event.details

    listed = text(camille.get("/commandes"))
    assert "Pris en charge par" in listed and "960800" in listed
    assert "Camille Martin" in text(camille.get("/commandes", query_string={"number": "960800"}))
    mine = text(camille.get("/commandes", query_string={"handler": "me"}))
    assert "960800" in mine and "960801" not in mine and "à vérifier : 1" in mine
    free = text(camille.get("/commandes", query_string={"handler": "none"}))
    assert "960801" in free and "960800" not in free
    lucas = client_of(desk["app"], desk["lucas"])
    assert "960800" not in text(lucas.get("/commandes", query_string={"handler": "me"}))


def test_taking_a_colleagues_order_asks_to_confirm_and_tells_them_live(desk):
    app, order = desk["app"], desk["order"]
    handling.take(order, desk["camille"])
    camille = client_of(app, desk["camille"])
    camille_page = camille.get(f"/commandes/{order.id}").get_data(as_text=True)
    handler_key = handling.key(Order.get_by_id(order.id))
    assert f'"handler": "{handler_key}"' in camille_page

    lucas = client_of(app, desk["lucas"])
    asked = post(lucas, order, "prise-en-charge", token_of(lucas, order))
    shown = text(asked)
    assert "Cette commande est prise en charge par Camille Martin depuis le" in shown
    assert "Confirmer la prise en charge" in shown
    assert Order.get_by_id(order.id).handled_by_id == desk["camille"].id  # nothing changed yet

    confirmed = post(lucas, order, "prise-en-charge", token_of(lucas, order), confirm="1")
    assert "Vous prenez en charge cette commande." in text(confirmed)
    assert Order.get_by_id(order.id).handled_by_id == desk["lucas"].id

    beat = camille.post(f"/commandes/{order.id}/presence", headers=HTMX,
                        data={"shown": "", "handler": handler_key,
                              "csrf_token": csrf_token_from(camille_page)})
    assert beat.status_code == 200
    assert "Prise en charge par Lucas Bernard depuis" in text(beat)


@pytest.mark.parametrize("target, reason", [
    ("tech", "Théo Technicien n'a pas le rôle AEA que demande cette phase."),
    ("stranger", "Choisissez un opérateur actif de l'AE."),
    (None, "Choisissez un opérateur actif de l'AE."),
])
def test_attribuer_a_refuses_who_cannot_handle_it(desk, target, reason):
    camille = client_of(desk["app"], desk["camille"])
    target_id = desk[target].id if target else ""
    refused = post(camille, desk["order"], "attribution", token_of(camille, desk["order"]),
                   operator_id=target_id)
    assert reason in text(refused)
    assert Order.get_by_id(desk["order"].id).handled_by_id is None
    assert not AuditEvent.select().where(AuditEvent.action == "order_assigned").exists()


def test_attribuer_a_gives_it_to_a_colleague_then_liberer_frees_it(desk):
    camille = client_of(desk["app"], desk["camille"])
    page = camille.get(f"/commandes/{desk['order'].id}").get_data(as_text=True)
    assert "Lucas Bernard</option>" in page and "Théo Technicien</option>" not in page
    given = post(camille, desk["order"], "attribution", csrf_token_from(page),
                 operator_id=desk["lucas"].id)
    assert "Commande attribuée à Lucas Bernard." in text(given)
    assert "Prise en charge par Lucas Bernard depuis le" in text(given)
    freed = post(camille, desk["order"], "liberation", token_of(camille, desk["order"]))
    assert "Commande libérée : personne ne la prend plus en charge." in text(freed)
    assert Order.get_by_id(desk["order"].id).handled_by_id is None
    assert [e.action for e in AuditEvent.select().where(AuditEvent.action.startswith("order_")
                                                        & (AuditEvent.action != "order_viewed"))
            .order_by(AuditEvent.id)] == ["order_assigned", "order_released"]


def test_the_phase_decides_who_may_take_it(desk, make_order):
    tech = client_of(desk["app"], desk["tech"])
    refused = post(tech, desk["order"], "prise-en-charge", token_of(tech, desk["order"]))
    assert "Rôle AEA requis." in text(refused)
    to_generate = make_order(desk["ae"], number=960802, phase="generation", substate=None)
    assert "Vous prenez en charge cette commande." in text(
        post(tech, to_generate, "prise-en-charge", token_of(tech, to_generate)))
    done = make_order(desk["ae"], number=960803, phase="done", substate=None)
    assert "Prise en charge" not in text(tech.get(f"/commandes/{done.id}"))
    refused = post(tech, done, "prise-en-charge", token_of(tech, done))
    assert "plus personne ne la prend en charge" in text(refused)


def test_changes_need_the_csrf_token(desk):
    camille = client_of(desk["app"], desk["camille"])
    for action in ("prise-en-charge", "attribution", "liberation"):
        assert camille.post(f"/commandes/{desk['order'].id}/{action}").status_code == 400
    assert Order.get_by_id(desk["order"].id).handled_by_id is None


def test_the_digest_tells_each_operator_how_many_of_theirs_wait(app, desk):
    handling.take(desk["order"], desk["camille"])
    handling.take(desk["other"], desk["camille"])
    content = digest.preview(app, desk["camille"], dt.datetime(2026, 1, 15, 6, 10))
    assert content["mine"]["number"] == 2
    assert "Vos dossiers (pris en charge par vous) : 2 commandes" in digest.text(content)
    assert content["mine"]["url"].endswith("/commandes?handler=me_to_do")
    assert digest.preview(app, desk["lucas"], dt.datetime(2026, 1, 15, 6, 10))["mine"]["number"] == 0


def test_the_upgrade_gives_orders_the_columns_a_fresh_database_has(database_url):
    from tests.test_migrations import upgraded_from_v1

    database = upgraded_from_v1(database_url)
    assert ({column.name for column in database.get_columns("order")}
            == {field.column_name for field in Order._meta.sorted_fields})
    assert ({index.name[:63] for index in database.get_indexes("order")
             if not index.name.endswith("_pkey")}
            >= {index._name[:63] for index in Order._meta.fields_to_index()})
    database.close()


def test_a_new_phase_ends_the_handling(desk):
    handling.take(desk["order"], desk["camille"])
    Order.update(substate="in_signature").where(Order.id == desk["order"].id).execute()
    assert Order.get_by_id(desk["order"].id).handled_by_id == desk["camille"].id
    Order.update(phase="generation", substate=None).where(Order.id == desk["order"].id).execute()
    moved = Order.get_by_id(desk["order"].id)
    assert (moved.handled_by_id, moved.handled_since) == (None, None)  # the AETs' turn now
