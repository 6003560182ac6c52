"""The Commandes list's « Du » and « Au » filters show and take jj/mm/aaaa whatever the
browser's language: text fields read on the server; a bad date is refused in French and stays
in its field, to be corrected; an old link's aaaa-mm-jj still works and shows as jj/mm/aaaa."""
from __future__ import annotations

import datetime as dt

import pytest

from models import Order, OrderIntake
from tests.conftest import login_as
from tests.text import text


@pytest.fixture
def desk(client, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    login_as(client, make_operator(ae, roles="AEA", name="Camille Martin"))
    for number, day in ((961400, dt.datetime(2026, 3, 2, 10)), (961401, dt.datetime(2026, 3, 20, 10))):
        order = make_order(ae, number=number)
        Order.update(created_at=day).where(Order.id == order.id).execute()
    return ae


def numbers(response) -> set[str]:
    return {n for n in ("961400", "961401") if n in text(response)}


def test_the_fields_are_text_showing_jj_mm_aaaa(client, desk):
    html = client.get("/commandes").get_data(as_text=True)
    for name in ("from", "to"):
        field = html.split(f'name="{name}"')[0].rsplit("<input", 1)[1] + html.split(f'name="{name}"')[1].split(">")[0]
        assert 'type="date"' not in field and 'placeholder="jj/mm/aaaa"' in field


def test_french_dates_filter_the_list_and_stay_in_the_form(client, desk):
    found = client.get("/commandes", query_string={"from": "01/03/2026", "to": "10/03/2026"})
    assert numbers(found) == {"961400"}
    html = found.get_data(as_text=True)
    assert 'value="01/03/2026"' in html and 'value="10/03/2026"' in html


def test_an_old_link_in_iso_form_still_filters_and_shows_french(client, desk):
    found = client.get("/commandes", query_string={"from": "2026-03-10"})
    assert numbers(found) == {"961401"}
    assert 'value="10/03/2026"' in found.get_data(as_text=True)


@pytest.mark.parametrize("typed", ["31/02/2026", "03/20/2026", "bientôt"])
def test_a_bad_date_is_refused_in_french_and_kept(client, desk, typed):
    found = client.get("/commandes", query_string={"from": typed})
    assert numbers(found) == {"961400", "961401"}  # the filter is ignored
    assert (f"Date de début ignorée : « {typed} » n'est pas une date : saisissez-la au format "
            "jj/mm/aaaa") in text(found)
    assert f'value="{typed}"' in found.get_data(as_text=True)


def test_dates_of_receipt_list_the_orders_that_reached_the_ae_those_days(client, desk, make_order):
    """« Dates : de réception » dates each order by its arrival at the AE, as the
    « Statistiques » count orders received: one begun on 28/02 and sent on 02/03 is there (its
    row says so) and not by creation; a draft never sent is only there by creation."""
    sent = make_order(desk, number=961402, created_at=dt.datetime(2026, 2, 28, 10),
                      submitted_at=dt.datetime(2026, 3, 2, 9))
    draft = make_order(desk, number=961403, phase="entry", substate=None,
                       created_at=dt.datetime(2026, 3, 5, 10))
    for order in (sent, draft):
        OrderIntake.create(order=order, link_nonce=f"nonce-{order.number}")
    period = {"from": "01/03/2026", "to": "10/03/2026"}

    def listed(**args) -> set[str]:
        shown = text(client.get("/commandes", query_string={**period, **args}))
        return {n for n in ("961400", "961401", "961402", "961403") if n in shown}

    assert listed() == {"961400", "961403"}
    assert listed(dates="received") == {"961400", "961402"}  # 961400: entered at the AE
    page = client.get("/commandes", query_string={**period, "dates": "received"})
    assert '<option value="received" selected>de réception</option>' in page.get_data(as_text=True)
    assert "28/02/2026 reçue le 02/03/2026" in text(page)
    assert listed(dates="received", to="") == {"961400", "961402", "961401"}  # « Du » alone
    refused = client.get("/commandes", query_string={**period, "dates": "sent"})
    assert "Filtre « dates » ignoré : valeur inconnue." in text(refused)
