"""The Commandes list's « Du » and « Au » filters show and take jj/mm/aaaa whatever the
browser's language: text fields read on the server; a bad date is refused in French and stays
in its field, to be corrected; an old link's aaaa-mm-jj still works and shows as jj/mm/aaaa."""
from __future__ import annotations

import datetime as dt

import pytest

from models import Order
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
