"""« Modifié par le demandeur » asks the operators to look again: it shows on the Commandes
list and the order file while the order is being handled, never once it is finished or
cancelled."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import login_as
from tests.text import text

CHANGED = dt.datetime(2026, 3, 2, 9, 30)


@pytest.fixture
def ae(client, make_ae, make_operator):
    ae = make_ae("BPOI")
    login_as(client, make_operator(ae, roles="AEA", name="Camille Martin"))
    return ae


@pytest.mark.parametrize("phase, substate, shown", [
    ("validation", "to_check", True),
    ("handover", None, True),
    ("done", None, False),
    ("cancelled", None, False),
])
def test_the_badge_only_on_orders_still_handled(client, ae, make_order, phase, substate, shown):
    order = make_order(ae, number=961300, phase=phase, substate=substate,
                       requester_modified_at=CHANGED)
    listed = text(client.get("/commandes?phase=&sous_etat="))
    assert "961300" in listed
    assert ("modifié par le demandeur" in listed) is shown
    assert ("Modifié par le demandeur" in text(client.get(f"/commandes/{order.id}"))) is shown
