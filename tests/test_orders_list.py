"""The Commandes list: filters kept in the URL, HTMX fragment vs full page, counters,
paging, sorting, CSV export, the changes notice, and bad input never failing."""
import csv
import datetime as dt
import io

import pytest
from playhouse.test_utils import count_queries

from models import AuditEvent, Order, Portal, utcnow
from tests.conftest import login_as


@pytest.fixture
def desk(app, client, make_ae, make_operator, make_order):
    ae = make_ae("BPOI", ("BPOI-Occitanie", "BPOI-Rhône"))
    other = make_ae("AE Atlantique", ("Atlantique-Nantes",))
    occitanie, rhone = Portal.select().where(Portal.ae == ae).order_by(Portal.name)
    operator = make_operator(ae, name="Camille Martin")
    now = utcnow()
    orders = {
        960072: make_order(ae, portal=occitanie, number=960072, substate="to_check",
                           created_at=now - dt.timedelta(days=1)),
        960066: make_order(ae, portal=rhone, number=960066, first_name="Alice", last_name="Colbert",
                           substate="in_signature", created_at=now - dt.timedelta(days=3)),
        959313: make_order(ae, portal=rhone, number=959313, first_name="Hélène", last_name="Lefèvre",
                           siren="552100554", substate="to_validate", created_at=now - dt.timedelta(days=40)),
        958051: make_order(ae, portal=occitanie, number=958051, first_name="Léa", last_name="Durand",
                           siren="552100554", phase="generation", substate=None,
                           created_at=now - dt.timedelta(days=60)),
    }
    make_order(other, number=970001, first_name="Sandra", last_name="Boileau")
    login_as(client, operator)
    return {"ae": ae, "operator": operator, "orders": orders, "occitanie": occitanie, "rhone": rhone}


def numbers_in(html: str) -> list[int]:
    import re
    return [int(n) for n in re.findall(r'id="commande-(\d+)"', html)]


def test_columns_and_newest_first(client, desk):
    html = client.get("/commandes").get_data(as_text=True)
    for column in ("N°", "Date", "Prénom, Nom, SIREN", "Processus", "Phase", "Type"):
        assert f">{column}" in html
    assert numbers_in(html) == [960072, 960066, 959313, 958051]
    assert "Sandra Boileau, 0002 434202180" in html
    assert "Traiter" in html
    assert "970001" not in html  # another AE's order


@pytest.mark.parametrize("query, expected", [
    ("numero=960066", [960066]),
    ("nom=boileau", [960072]),
    ("nom=Lefevre", [959313]),          # accents and case ignored
    ("nom=hél", [959313]),
    ("siren=434202180", [960072, 960066]),
    ("siren=434 202 180", [960072, 960066]),
    ("siren=0002 434202180", [960072, 960066]),
    ("siren=0002434202180", [960072, 960066]),
    ("sous_etat=to_check", [960072]),
    ("sous_etat=in_signature", [960066]),
    ("sous_etat=to_validate", [959313]),
    ("sous_etat=to_generate", [958051]),
    ("phase=generation", [958051]),
    ("type=P", []),
    ("processus=generation&siren=552100554", [959313, 958051]),
    ("tri=numero_asc", [958051, 959313, 960066, 960072]),
    ("tri=date_asc", [958051, 959313, 960066, 960072]),
])
def test_filters(client, desk, query, expected):
    html = client.get(f"/commandes?{query}").get_data(as_text=True)
    assert numbers_in(html) == expected


def test_portal_and_date_filters(client, desk):
    html = client.get(f"/commandes?portail={desk['rhone'].id}").get_data(as_text=True)
    assert numbers_in(html) == [960066, 959313]
    since = (utcnow() - dt.timedelta(days=5)).date().isoformat()
    html = client.get(f"/commandes?du={since}").get_data(as_text=True)
    assert numbers_in(html) == [960072, 960066]
    until = (utcnow() - dt.timedelta(days=30)).date().isoformat()
    html = client.get(f"/commandes?au={until}").get_data(as_text=True)
    assert numbers_in(html) == [959313, 958051]


def test_counters_are_links_that_filter(client, desk):
    html = client.get("/commandes").get_data(as_text=True)
    assert "à vérifier : 1" in html and "en signature : 1" in html
    assert "à valider : 1" in html and "à générer : 1" in html
    assert 'href="/commandes?sous_etat=to_validate"' in html


def test_htmx_request_gets_only_the_results(client, desk):
    response = client.get("/commandes?nom=colbert", headers={"HX-Request": "true",
                                                             "HX-Trigger": "filters-form"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="orders-results"' in html
    assert numbers_in(html) == [960066]
    assert 'id="filters-form"' not in html  # the operator is typing in it: not replaced
    assert "HX-Request" in response.headers.get("Vary", "")
    # A counter link refreshes the form out-of-band so it shows the new filter.
    html = client.get("/commandes?sous_etat=to_check", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-swap-oob="true"' in html and 'value="to_check" selected' in html


def test_full_page_keeps_filters_in_the_form(client, desk):
    html = client.get("/commandes?nom=Boileau&sous_etat=to_check").get_data(as_text=True)
    assert 'name="nom" value="Boileau"' in html
    assert 'value="to_check" selected' in html


def test_empty_state_says_why(client, desk):
    html = client.get("/commandes?numero=970001").get_data(as_text=True)
    assert numbers_in(html) == []
    assert "Aucune commande ne correspond à ces filtres" in html
    assert "n'existe pas ou n'est pas sur vos portails" in html


@pytest.mark.parametrize("query, message", [
    ("du=2026-13-45", "Date de début ignorée"),
    ("au=demain", "Date de fin ignorée"),
    ("siren=12345", "SIREN ignoré"),
    ("numero=96%27%20OR%201%3D1--", "N° de commande ignoré"),
    ("phase=inconnue", "Filtre « phase » ignoré"),
    ("portail=999999", "Filtre « portail » ignoré"),
    ("sous_etat=%3Cscript%3E", "Filtre « sous-etat » ignoré"),
])
def test_bad_filter_values_are_explained_not_errors(client, desk, query, message):
    response = client.get(f"/commandes?{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in html
    assert "<script>" not in html


def test_sql_looking_name_is_plain_text(client, desk):
    response = client.get("/commandes?nom=%27%3B%20DROP%20TABLE%20%22order%22%3B--")
    assert response.status_code == 200
    assert numbers_in(response.get_data(as_text=True)) == []
    assert Order.select().count() == 5


def test_paging_and_huge_page_numbers(app, client, desk, make_order):
    app.config["ORDERS_PER_PAGE"] = 2
    html = client.get("/commandes?page=2").get_data(as_text=True)
    assert numbers_in(html) == [959313, 958051]
    assert "Page 2 sur 2" in html and "Page précédente" in html
    html = client.get("/commandes?page=99999999999999999999").get_data(as_text=True)
    assert "Page 2 sur 2" in html
    html = client.get("/commandes?page=abc").get_data(as_text=True)
    assert "Page 1 sur 2" in html


def test_query_count_does_not_grow_with_rows(app, client, desk, make_order):
    def queries_for_page():
        with count_queries() as counter:
            assert client.get("/commandes").status_code == 200
        return counter.count

    few = queries_for_page()
    # Session operator with its AE, visible portals, count, rows, sub-state counters, reviews.
    assert few == 6
    for index in range(30):
        make_order(desk["ae"], number=961000 + index, last_name=f"Nom{index}")
    assert queries_for_page() == few


def test_csv_export_for_a_french_spreadsheet(client, desk):
    response = client.get("/commandes/export.csv?siren=434202180")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode("utf-8"))  # BOM: Excel reads UTF-8 correctly
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:5] == ["N°", "Date", "Prénom", "Nom", "SIREN"]
    assert [row[0] for row in rows[1:]] == ["960072", "960066"]
    assert rows[1][4] == "0002 434202180"
    assert rows[2][9] == "en signature"
    assert AuditEvent.select().where(AuditEvent.action == "orders_exported").count() == 1


def test_changes_notice(client, desk):
    loaded_at = utcnow().isoformat()
    html = client.get(f"/commandes/nouveautes?depuis={loaded_at}").get_data(as_text=True)
    assert "nouvelle" not in html
    order = desk["orders"][959313]
    Order.update(updated_at=utcnow() + dt.timedelta(seconds=5)).where(Order.id == order.id).execute()
    html = client.get(f"/commandes/nouveautes?depuis={loaded_at}").get_data(as_text=True)
    assert "1 nouvelle commande / mise à jour" in html
    html = client.get(f"/commandes/nouveautes?depuis={loaded_at}&sous_etat=to_check").get_data(as_text=True)
    assert "nouvelle" not in html  # the changed order is not in this filtered list


def test_list_requires_login(app):
    response = app.test_client().get("/commandes")
    assert response.status_code == 302
    assert "/connexion" in response.headers["Location"]
