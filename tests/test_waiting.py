"""« En attente depuis »: how long each order has been in its current phase and sub-state —
restarted by the database whichever code moves the order, kept by any other change — shown in
days in the list, sortable, « en retard » past the AE's threshold (Paramètres de l'AE)."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from models import AE, AuditEvent, Order, utcnow
from tests.conftest import csrf_token_from, login_as
from tests.text import text


@pytest.fixture
def desk(client, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    admin = make_operator(ae, roles="AEA,admin", name="Nadia Admin")
    login_as(client, admin)
    now = utcnow()
    orders = {}
    for number, phase, substate, days in ((960950, "validation", "to_check", 12),
                                          (960951, "validation", "to_check", 2),
                                          (960952, "done", None, 40),
                                          (960953, "validation", "on_hold", 30)):
        order = make_order(ae, number=number, phase=phase, substate=substate)
        Order.update(state_since=now - dt.timedelta(days=days, hours=1)).where(
            Order.id == order.id).execute()
        orders[number] = order
    return {"ae": ae, "admin": admin, "orders": orders}


def since(order) -> dt.datetime:
    return Order.get_by_id(order.id).state_since


def test_the_database_restarts_it_when_the_state_changes_and_only_then(desk):
    order = desk["orders"][960950]
    before = since(order)
    Order.update(updated_at=utcnow(), requester_name="Autre").where(Order.id == order.id).execute()
    Order.update(substate="to_check").where(Order.id == order.id).execute()  # the same state
    assert since(order) == before
    Order.update(substate="in_signature").where(Order.id == order.id).execute()
    assert utcnow() - since(order) < dt.timedelta(minutes=1)
    moved = desk["orders"][960952]
    Order.update(phase="cancelled").where(Order.id == moved.id).execute()
    assert utcnow() - since(moved) < dt.timedelta(minutes=1)


def row_text(page: str, number: int) -> str:
    match = re.search(rf'<tr id="commande-{number}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {number}"
    return text(match.group(1))


def test_the_list_shows_days_and_marks_late_orders(client, desk):
    page = client.get("/commandes").get_data(as_text=True)
    assert "En attente depuis" in text(page)
    assert "12 j en retard" in row_text(page, 960950)
    assert "2 j" in row_text(page, 960951) and "en retard" not in row_text(page, 960951)
    assert "40 j" in row_text(page, 960952) and "en retard" not in row_text(page, 960952)  # done
    assert "en retard" not in row_text(page, 960953)  # on hold: waits for the requester
    oldest_first = client.get("/commandes", query_string={"sort": "waiting_desc"}).get_data(
        as_text=True)
    numbers = [int(n) for n in re.findall(r'<tr id="commande-(\d+)">', oldest_first)]
    assert numbers == [960952, 960953, 960950, 960951]


def test_the_threshold_is_an_ae_setting(client, desk):
    token = csrf_token_from(client.get("/parametres/ae").get_data(as_text=True))
    refused = client.post("/parametres/ae/retard", data={"csrf_token": token,
                                                         "late_after_days": "0"})
    assert refused.status_code == 422
    assert "Le seuil de retard doit être un nombre de jours entre 1 et 365" in text(refused)
    assert AE.get_by_id(desk["ae"].id).late_after_days == 5
    saved = client.post("/parametres/ae/retard", follow_redirects=True,
                        data={"csrf_token": token, "late_after_days": "15"})
    assert "Seuil de retard : 15 jour(s)." in text(saved)
    event = AuditEvent.get(AuditEvent.action == "ae_late_after_changed")
    assert '"avant":{"seuil de retard (jours)":5}' in event.details
    page = client.get("/commandes").get_data(as_text=True)
    assert "en retard" not in row_text(page, 960950)  # 12 days, under 15 now
