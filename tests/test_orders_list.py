"""The Commandes list: filters kept in the URL, HTMX fragment vs full page, counters,
paging, sorting, CSV export, the changes notice, and bad input never failing."""
import csv
import datetime as dt
import io
import re

import pytest
from playhouse.test_utils import count_queries

import workflow
from models import AuditEvent, Order, OrderReview, Portal, utcnow
from services.orders import order_file
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
    ("number=960066", [960066]),
    ("name=boileau", [960072]),
    ("name=Lefevre", [959313]),          # accents and case ignored
    ("name=hél", [959313]),
    ("siren=434202180", [960072, 960066]),
    ("siren=434 202 180", [960072, 960066]),
    ("siren=0002 434202180", [960072, 960066]),
    ("siren=0002434202180", [960072, 960066]),
    ("substate=to_check", [960072]),
    ("substate=in_signature", [960066]),
    ("substate=to_validate", [959313]),
    ("substate=to_generate", [958051]),
    ("phase=generation", [958051]),
    ("type=P", []),
    ("process=generation&siren=552100554", [959313, 958051]),
    ("sort=number_asc", [958051, 959313, 960066, 960072]),
    ("sort=date_asc", [958051, 959313, 960066, 960072]),
])
def test_filters(client, desk, query, expected):
    html = client.get(f"/commandes?{query}").get_data(as_text=True)
    assert numbers_in(html) == expected


def test_portal_and_date_filters(client, desk):
    html = client.get(f"/commandes?portal={desk['rhone'].id}").get_data(as_text=True)
    assert numbers_in(html) == [960066, 959313]
    since = (utcnow() - dt.timedelta(days=5)).date().isoformat()
    html = client.get(f"/commandes?from={since}").get_data(as_text=True)
    assert numbers_in(html) == [960072, 960066]
    until = (utcnow() - dt.timedelta(days=30)).date().isoformat()
    html = client.get(f"/commandes?to={until}").get_data(as_text=True)
    assert numbers_in(html) == [959313, 958051]


def test_counters_are_links_that_filter(client, desk):
    html = client.get("/commandes").get_data(as_text=True)
    assert "à vérifier : 1" in html and "en signature : 1" in html
    assert "à valider : 1" in html and "à générer : 1" in html
    assert 'href="/commandes?substate=to_validate"' in html


@pytest.mark.parametrize("query, expected", [
    ("numero=960066", [960066]),
    ("nom=boileau", [960072]),
    ("sous_etat=in_signature", [960066]),
    ("processus=generation&siren=552100554&tri=numero_asc", [958051, 959313]),
    ("du=2100-01-01", []),
    ("au=2000-01-01", []),
])
def test_the_french_names_of_older_links_still_filter(client, desk, query, expected):
    """Bookmarks and the links of activity digests already sent name the filters in French."""
    assert numbers_in(client.get(f"/commandes?{query}").get_data(as_text=True)) == expected


def test_links_keep_the_filters_under_their_english_names(client, desk):
    html = client.get("/commandes?nom=boileau&tri=numero_asc").get_data(as_text=True)
    assert 'href="/commandes?name=boileau&amp;sort=number_desc"' in html  # the « N° » header
    assert 'href="/commandes?name=boileau&amp;substate=to_check&amp;sort=number_asc"' in html
    assert 'href="/commandes/export.csv?name=boileau&amp;sort=number_asc"' in html
    assert 'name="sort"' in html and 'value="number_asc" selected' in html


def test_htmx_request_gets_only_the_results(client, desk):
    response = client.get("/commandes?name=colbert", headers={"HX-Request": "true",
                                                             "HX-Trigger": "filters-form"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="orders-results"' in html
    assert numbers_in(html) == [960066]
    assert 'id="filters-form"' not in html  # the operator is typing in it: not replaced
    assert "HX-Request" in response.headers.get("Vary", "")
    # A counter link refreshes the form out-of-band so it shows the new filter.
    html = client.get("/commandes?substate=to_check", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-swap-oob="true"' in html and 'value="to_check" selected' in html


def test_history_restore_gets_the_whole_page(client, desk):
    """htmx asks for the page again when its history cache misses (back button): it replaces
    the whole body, so a fragment would leave a page without its form."""
    html = client.get("/commandes?name=colbert", headers={
        "HX-Request": "true", "HX-History-Restore-Request": "true"}).get_data(as_text=True)
    assert "<html" in html and 'id="filters-form"' in html
    assert numbers_in(html) == [960066]


def test_full_page_keeps_filters_in_the_form(client, desk):
    html = client.get("/commandes?name=Boileau&substate=to_check").get_data(as_text=True)
    assert 'name="name" value="Boileau"' in html
    assert 'value="to_check" selected' in html


def test_empty_state_says_why(client, desk):
    html = client.get("/commandes?number=970001").get_data(as_text=True)
    assert numbers_in(html) == []
    assert "Aucune commande ne correspond à ces filtres" in html
    assert "n'existe pas ou n'est pas sur vos portails" in html


@pytest.mark.parametrize("query, message", [
    ("from=2026-13-45", "Date de début ignorée"),
    ("to=demain", "Date de fin ignorée"),
    ("siren=12345", "SIREN ignoré"),
    ("number=96%27%20OR%201%3D1--", "N° de commande ignoré"),
    ("phase=inconnue", "Filtre « phase » ignoré"),
    ("portal=999999", "Filtre « portail » ignoré"),
    ("substate=%3Cscript%3E", "Filtre « sous-etat » ignoré"),
    ("name=m", "Nom ignoré : saisissez au moins 2 lettres du prénom ou du nom."),
])
def test_bad_filter_values_are_explained_not_errors(client, desk, query, message):
    response = client.get(f"/commandes?{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in html
    assert "<script>" not in html


def test_sql_looking_name_is_plain_text(client, desk):
    response = client.get("/commandes?name=%27%3B%20DROP%20TABLE%20%22order%22%3B--")
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

    queries_for_page()  # on PostgreSQL the first page also prepares its statements
    # Session operator with its AE, visible portals, the page's ids, their rows (with who
    # reviews them), counters with the total (order_tally), the saved searches.
    assert queries_for_page() == 6
    app.config["ORDERS_PER_PAGE"] = 2
    few = queries_for_page()
    assert few == 6  # « Page 1 sur N »: the counters' tally gives the total, no count
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
    html = client.get(f"/commandes/nouveautes?since={loaded_at}").get_data(as_text=True)
    assert "nouvelle" not in html
    order = desk["orders"][959313]
    Order.update(updated_at=utcnow() + dt.timedelta(seconds=5)).where(Order.id == order.id).execute()
    html = client.get(f"/commandes/nouveautes?since={loaded_at}").get_data(as_text=True)
    assert "1 nouvelle commande / mise à jour" in html
    html = client.get(f"/commandes/nouveautes?depuis={loaded_at}").get_data(as_text=True)
    assert "1 nouvelle commande / mise à jour" in html  # polled by a page loaded before the rename
    html = client.get(f"/commandes/nouveautes?since={loaded_at}&substate=to_check").get_data(as_text=True)
    assert "nouvelle" not in html  # the changed order is not in this filtered list


def test_list_requires_login(app):
    response = app.test_client().get("/commandes")
    assert response.status_code == 302
    assert "/connexion" in response.headers["Location"]


def test_rows_say_who_else_is_reviewing_them(client, desk, make_operator):
    orders, camille = desk["orders"], desk["operator"]
    lucas = make_operator(desk["ae"], name="Lucas Bernard")
    order_file.open_file(orders[960066], lucas)
    order_file.open_file(orders[959313], lucas)
    order_file.open_file(orders[960072], camille)  # her own review is not announced to her
    OrderReview.update(last_seen=utcnow() - dt.timedelta(minutes=6)).where(
        OrderReview.order == orders[959313].id).execute()  # Lucas left that one long ago
    html = client.get("/commandes").get_data(as_text=True)

    def row(number):
        start = html.index(f'id="commande-{number}"')
        return html[start:html.index("</tr>", start)]
    assert "En cours de traitement par Lucas Bernard" in row(960066)
    for number in (960072, 959313, 958051):
        assert "En cours de traitement par" not in row(number)


@pytest.mark.parametrize("query", [
    "", "name=le", "siren=552100554", "number=958051", "portal={rhone}", "type=D", "type=P",
    "from=2000-01-01&to=2100-01-01", "from={week_ago}", "name=le&portal={rhone}", "process=generation",
])
def test_each_counter_equals_the_orders_its_link_lists(client, desk, make_order, query):
    """Counted by one query (grouped, or one count per sub-state), listed by another: both
    must agree, or « à valider : 3 » would open a list of two."""
    ae, rhone = desk["ae"], desk["rhone"]
    make_order(ae, portal=rhone, number=957001, last_name="Leroy", substate="to_check")
    make_order(ae, portal=rhone, number=957002, last_name="Lambert", phase="generation",
               substate=None, order_type="P")
    make_order(ae, number=957003, last_name="Laurent", substate="to_validate",
               created_at=utcnow() - dt.timedelta(days=400))
    make_order(ae, number=957004, last_name="Lopez", phase="done", substate=None)
    query = query.format(rhone=rhone.id, week_ago=(utcnow() - dt.timedelta(days=7)).date())
    html = client.get(f"/commandes?{query}").get_data(as_text=True)
    for code, label in workflow.SUBSTATE_FILTERS.items():
        counted = int(re.search(rf">{label} : (\d+)<", html).group(1))
        listed = client.get(f"/commandes?{query}&substate={code}").get_data(as_text=True)
        assert len(numbers_in(listed)) == counted, (code, query)
        assert total_in(listed) == counted, (code, query)
    assert total_in(html) == len(numbers_in(html))


def total_in(html: str) -> int:
    """The number the list says above the table (« Aucune commande », « 1 commande », « N … »)."""
    said = re.search(r"(Aucune|\d+) commandes?\b", html).group(1)
    return 0 if said == "Aucune" else int(said)


def test_a_name_shared_by_many_orders_is_listed_newest_first_and_counted_up_to_a_cap(
        client, desk, make_order, monkeypatch):
    """Past order_search.COMMON_NAME orders a name is checked on each order read in date order
    (not gathered first), and counted only up to that cap (« Plus de … commandes »)."""
    from services.orders import order_search
    monkeypatch.setattr(order_search, "COMMON_NAME", 3)
    ae = desk["ae"]
    for index in range(5):
        make_order(ae, number=957100 + index, last_name="Leroux", substate="to_validate",
                   created_at=utcnow() - dt.timedelta(days=100 + index))
    make_order(ae, number=957200, last_name="Martin", substate="to_validate")
    html = client.get("/commandes?name=le").get_data(as_text=True)
    # Lefèvre, Léa Durand, then the five Leroux, newest first; Martin is not a « le… ».
    assert numbers_in(html) == [959313, 958051, 957100, 957101, 957102, 957103, 957104]
    assert "7 commandes" in html  # all on page 1: counted exactly
    client.application.config["ORDERS_PER_PAGE"] = 2
    html = client.get("/commandes?name=le").get_data(as_text=True)
    assert numbers_in(html) == [959313, 958051] and "Plus de 3 commandes" in html
    assert "Page suivante" in html
    assert "à valider : 6" in html and "à générer : 1" in html
    client.application.config["ORDERS_PER_PAGE"] = 50
    listed = client.get("/commandes?name=le&substate=to_validate").get_data(as_text=True)
    assert len(numbers_in(listed)) == 6


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(client, desk):
    from models import Company
    order = desk["orders"][959313]
    Company.update(name='=HYPERLINK("http://evil.example","x")').where(
        Company.id == order.company_id).execute()
    import csv
    raw = client.get("/commandes/export.csv").get_data().decode("utf-8-sig")
    names = {row["Raison sociale"] for row in csv.DictReader(io.StringIO(raw), delimiter=";")}
    assert """'=HYPERLINK("http://evil.example","x")""" in names
    assert not any(name.startswith("=") for name in names)


def test_what_users_typed_is_escaped_in_the_rows(client, desk, make_order, make_operator):
    """The rows are written outside Jinja (blueprints/order_rows.py): every value a user or
    a portal typed is still escaped, the holder's name, the hold comment, who handles it."""
    script = "<script>alert(1)</script>"
    handler = make_operator(desk["ae"], name='Zoé "><script>alert(2)</script>')
    order = make_order(desk["ae"], number=960099, first_name=script, last_name="O'Brien & fils",
                       siren="<b>1</b>", substate="on_hold", on_hold_at=utcnow(),
                       hold_comment="<img src=x onerror=alert(3)> " + "x" * 120,
                       handled_by=handler)
    order.company.name = script
    order.company.save()
    html = client.get("/commandes").get_data(as_text=True)
    start = html.index('id="commande-960099"')
    row = html[start:html.index("</tr>", start)]
    assert "<script>" not in html and "<img" not in html and "<b>1" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; O&#39;Brien &amp; fils, &lt;b&gt;1&lt;/b&gt;" in row
    assert 'class="badge on-hold">en attente</span>' in row
    assert "&lt;img src=x onerror=alert(3)&gt; xxx" in row and "x…</span>" in row
    assert "Zoé &#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in row
    assert f'href="/commandes/{order.id}" aria-label="Traiter la commande 960099"' in row
