"""« En attente » is a sub-state you see: an order put on hold leaves « à vérifier » (or « en
signature », « à valider ») for « en attente » in the list, its counters, its filter and the
digest; the list says since when and why; « Reprendre » brings back the sub-state its progress
gives — one the signatures reached meanwhile too; a requester's change keeps the hold."""
from __future__ import annotations

import pytest

import workflow
from migrations import _v19_hold_substate
from models import AuditEvent, Document, Order, db
from services import validation
from services.messaging import followup
from services.orders import order_search
from tests.conftest import csrf_token_from, login_as
from tests.signature_support import ready_order
from tests.text import text
from tests.pdf_samples import text_pdf


@pytest.fixture
def desk(app, client, make_ae, make_operator, make_order):
    ae = make_ae()
    operator = make_operator(ae, roles="AEA", name="Camille Martin")
    held = ready_order(app, make_order, ae, number=960700)
    waiting = ready_order(app, make_order, ae, number=960701)
    login_as(client, operator)
    return {"app": app, "ae": ae, "operator": operator, "held": held, "waiting": waiting}


def put_on_hold(client, order, comment="Kbis de plus de 3 mois : envoyez un extrait récent."):
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    response = client.post(f"/commandes/{order.id}/attente",
                           data={"csrf_token": token, "comment": comment})
    assert response.status_code in (200, 303), response.get_data(as_text=True)
    return token


def counters(operator) -> dict:
    from models import OperatorScope
    return order_search.substate_counts(OperatorScope(operator), order_search.OrderFilters())


def test_an_order_on_hold_leaves_a_verifier_for_en_attente_in_the_list(client, desk):
    assert counters(desk["operator"])["to_check"] == 2
    put_on_hold(client, desk["held"])
    order = Order.get_by_id(desk["held"].id)
    assert (order.substate, order.held_substate) == ("on_hold", "to_check")

    assert counters(desk["operator"]) == {"to_check": 1, "in_signature": 0, "to_validate": 0,
                                          "on_hold": 1, "to_revoke": 0, "to_generate": 0}
    listed = text(client.get("/commandes"))
    assert "en attente depuis le" in listed
    assert "Kbis de plus de 3 mois : envoyez un extrait récent." in listed
    assert "à vérifier : 1" in listed and "en attente : 1" in listed
    only_held = text(client.get("/commandes", query_string={"substate": "on_hold"}))
    assert "960700" in only_held and "960701" not in only_held
    to_check = text(client.get("/commandes", query_string={"substate": "to_check"}))
    assert "960701" in to_check and "960700" not in to_check


def test_reprendre_brings_back_the_sub_state_its_progress_gives(client, desk):
    token = put_on_hold(client, desk["held"])
    resumed = client.post(f"/commandes/{desk['held'].id}/reprise", data={"csrf_token": token},
                          follow_redirects=True)
    assert "Commande en attente depuis le" not in text(resumed)
    order = Order.get_by_id(desk["held"].id)
    assert (order.substate, order.held_substate, order.on_hold_at) == ("to_check", None, None)
    event = AuditEvent.get(AuditEvent.action == "order_resumed")
    assert "à vérifier" in event.details and event.operator_id == desk["operator"].id


def test_signatures_completed_during_the_hold_take_it_to_a_valider_on_resume(desk):
    order = desk["held"]
    Order.update(substate="in_signature").where(Order.id == order.id).execute()
    validation.hold(desk["app"], Order.get_by_id(order.id), desk["operator"], "Attente du Kbis")
    for kind in workflow.contractual_kinds(order):  # every document signed while on hold
        Document.create(order=order, kind=kind, category="contractuel", status="signed",
                        sha256="a" * 64, filename=f"{kind}.pdf", media_type="application/pdf")
    assert Order.get_by_id(order.id).substate == "on_hold"
    validation.resume(Order.get_by_id(order.id), desk["operator"])
    assert Order.get_by_id(order.id).substate == "to_validate"


def test_a_requesters_change_keeps_the_hold_and_sends_the_dossier_back_to_check(desk):
    order = desk["held"]
    Order.update(substate="in_signature").where(Order.id == order.id).execute()
    validation.hold(desk["app"], Order.get_by_id(order.id), desk["operator"], "Attente du Kbis")
    with desk["app"].app_context():
        followup.upload_document(Order.get_by_id(order.id), "kbis", "kbis-recent.pdf", text_pdf())
    changed = Order.get_by_id(order.id)
    assert (changed.substate, changed.held_substate) == ("on_hold", "to_check")
    assert changed.on_hold_at is not None and changed.requester_modified_at is not None
    assert "en signature" in AuditEvent.get(AuditEvent.action == "order_back_to_check").details
    validation.resume(changed, desk["operator"])
    assert Order.get_by_id(order.id).substate == "to_check"


def test_the_follow_up_page_tells_the_requester_the_order_waits_for_them(desk):
    put_on = Order.get_by_id(desk["held"].id)
    validation.hold(desk["app"], put_on, desk["operator"], "Attente du Kbis")
    held = Order.get_by_id(desk["held"].id)
    assert workflow.requester_state_text(held).endswith(
        "Votre commande est en attente : l'Autorité d'Enregistrement vous a écrit ce qu'elle "
        "attend de vous.")


def test_the_upgrade_gives_orders_already_on_hold_their_sub_state(desk):
    order = desk["held"]
    Order.update(on_hold_at=Order.created_at, hold_comment="ancien",
                 substate="in_signature").where(Order.id == order.id).execute()
    db.execute_sql('ALTER TABLE "order" DROP COLUMN held_substate')
    _v19_hold_substate(db.obj)
    upgraded = Order.get_by_id(order.id)
    assert (upgraded.substate, upgraded.held_substate) == ("on_hold", "in_signature")
    assert Order.get_by_id(desk["waiting"].id).substate == "to_check"
