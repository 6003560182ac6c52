"""The « Statistiques » page as operators get it: the tab (AEA and admin; AET-only operators
get 403), the filters in the URL with their French messages, the figures' tables beside
accessible SVG charts, tenancy (another AE, portals out of reach), the CSV export (French
spreadsheet, no formula injection), and the backlog agreeing with the Commandes list's
counters. The small archive is tests/statistics_dataset.py."""
from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest

from models import AuditEvent, Portal
from tests import statistics_dataset as dataset
from tests.conftest import login_as
from tests.text import text

PAGE, EXPORT = "/statistiques", "/statistiques/export.csv"


@pytest.fixture
def desk(app):
    with app.test_request_context():
        return dataset.build()


def row(page, table_id: str, heading: str) -> list[str]:
    """The cells of the row of table ``table_id`` whose heading starts with ``heading``."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page.get_data(as_text=True), re.S)
    assert table, f"no table {table_id}"
    for match in re.finditer(r"<tr>(.*?)</tr>", table.group(0), re.S):
        cells = [text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", match.group(1), re.S)]
        if cells and cells[0].startswith(heading):
            return cells[1:]
    raise AssertionError(f"no row {heading!r} in {table_id}")


@pytest.mark.parametrize("roles", ["AEA", "admin", "AEA,AET"])
def test_the_tab_and_the_page_for_aea_and_admin_operators(client, desk, make_operator, roles):
    login_as(client, make_operator(desk["ae"], roles=roles))
    assert 'aria-current="page">Statistiques</a>' not in client.get("/commandes").get_data(as_text=True)
    assert ">Statistiques</a>" in client.get("/commandes").get_data(as_text=True)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert 'aria-current="page">Statistiques</a>' in page.get_data(as_text=True)


def test_an_aet_only_operator_has_no_tab_and_gets_403(client, desk):
    login_as(client, desk["aet"])
    assert "Statistiques" not in text(client.get("/commandes"))
    assert client.get(PAGE).status_code == 403
    assert client.get(EXPORT).status_code == 403


def test_without_login_the_page_leads_to_the_login(client, desk):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_the_figures_tables_and_charts(client, desk):
    login_as(client, desk["aea"])
    page = client.get(PAGE, query_string=dataset.PERIOD)
    shown = text(page)
    assert ("Du 16/03/2026 au 05/04/2026, tous vos portails : 15 commande(s) reçue(s), 10 "
            "validée(s), 3 générée(s), 3 annulée(s).") in shown
    assert row(page, "table-semaines", "Semaine 12 (2026)") == ["3", "1", "1", "0"]
    assert row(page, "table-semaines", "Semaine 13 (2026)") == ["10", "9", "1", "2"]
    assert row(page, "table-semaines", "Semaine 14 (2026) du 30/03 au 05/04") == ["2", "0", "1", "1"]
    assert row(page, "table-semaines", "Total") == ["15", "10", "3", "3"]
    assert row(page, "table-portails", "BPOI-Occitanie") == ["12", "10", "2", "1"]
    assert row(page, "table-portails", "BPOI-Rhône") == ["3", "0", "1", "2"]
    assert row(page, "table-portails", "Total") == ["15", "10", "3", "3"]
    assert row(page, "table-delais", "Réception → validation") == ["10", "5 h", "1 j"]
    assert row(page, "table-delais", "Validation → remise de la clé") == ["3", "20 j", "52 j"]
    assert row(page, "table-anciennete", "Validation — à vérifier")[-1] == "2"
    assert row(page, "table-anciennete", "Total")[-1] == "9"
    assert row(page, "table-refus", "Pièce d'identité illisible") == ["2"]
    assert row(page, "table-annulations", "Annulée : dossier resté incomplet") == ["1"]
    assert row(page, "table-notifications", "Pièce manquante") == ["3"]
    assert "Une commande qui n'est jamais passée par la page de commande" in shown  # « reçue »
    html = page.get_data(as_text=True)
    # Charts: images with a title and a description, drawn on the server, no script.
    for chart in ("graphique-semaines", "graphique-anciennete"):
        assert (f'role="img" aria-labelledby="{chart}-titre {chart}-desc"') in html
        assert f'<title id="{chart}-titre">' in html and f'<desc id="{chart}-desc">' in html
    assert html.count("<rect class=\"series-") == 3 * 4 + 4
    assert "Semaine 13 (2026), du 23/03 au 29/03 — Reçues : 10" in html
    assert "<script>" not in html and " style=" not in html  # CSP: no inline script or style


def test_bad_values_are_said_in_french_and_ignored(client, desk):
    login_as(client, desk["aea"])
    page = client.get(PAGE, query_string={"du": "32/13/2026", "au": "05/04/2026",
                                          "portail": "999999"})
    assert page.status_code == 200
    shown = text(page)
    assert ("Date « Du » ignorée : « 32/13/2026 » n'est pas une date (jj/mm/aaaa, entre 2000 et "
            "2100).") in shown
    assert "Filtre « Portail » ignoré : valeur inconnue." in shown
    assert "Du 12/01/2026 au 05/04/2026, tous vos portails" in shown  # 12 weeks ending « Au »


def test_an_operator_limited_to_a_portal_sees_and_chooses_only_that_one(client, desk):
    login_as(client, desk["rhone_only"])
    page = client.get(PAGE, query_string={**dataset.PERIOD, "portail": desk["occitanie"].id})
    html = page.get_data(as_text=True)
    assert "Filtre « Portail » ignoré" in text(page)
    assert "BPOI-Occitanie" not in html
    assert row(page, "table-portails", "Total") == ["3", "0", "1", "2"]
    assert row(page, "table-refus", "pièce d'identité ILLISIBLE") == ["1"]


def test_another_ae_sees_none_of_bpoi(client, desk):
    login_as(client, desk["other_aea"])
    page = client.get(PAGE, query_string={**dataset.PERIOD, "portail": desk["rhone"].id})
    html = page.get_data(as_text=True)
    assert "BPOI" not in html and "Filtre « Portail » ignoré" in text(page)
    assert row(page, "table-portails", "Atlantique-Nantes") == ["2", "1", "1", "0"]


def test_the_backlog_shows_the_commandes_lists_counters_for_the_same_portal(client, desk):
    login_as(client, desk["aea"])
    for portal in (desk["occitanie"], desk["rhone"]):
        listed = text(client.get("/commandes", query_string={"portal": portal.id}))
        page = client.get(PAGE, query_string={"portail": portal.id})
        for label in ("à vérifier", "en signature", "à valider", "en attente", "à générer"):
            counter = re.search(rf"{label} : (\d+)", listed).group(1)
            assert row(page, "table-anciennete", f"{'Génération du certificat' if label == 'à générer' else 'Validation'} — {label}")[-1] == counter, (portal.name, label)


RECEIVED_LINK = re.compile(r'<a href="([^"]+)" aria-label="([\d\u202f]+) commande\(s\) '
                           r'reçue\(s\) ([^"]*?) : voir la liste des Commandes">')


def received_links(page) -> dict[str, tuple[str, int]]:
    """The page's « Reçues » links: {what they count: (the list's URL, the number shown)}."""
    return {what: (unescape(href), int(number.replace("\u202f", "")))
            for href, number, what in RECEIVED_LINK.findall(page.get_data(as_text=True))}


def listed(client, url: str) -> int:
    """How many orders the Commandes list says it found at ``url``."""
    shown = text(client.get(url))
    found = re.search(r"(Aucune commande|(\d+) commandes?) correspondant aux filtres", shown)
    assert found, shown[:300]
    return int(found.group(2) or 0)


def test_received_orders_are_the_lists_orders_received_the_same_days(client, desk):
    """Over a period, each « Reçues » figure (summary, each week, each portal, total) leads to
    the Commandes list with the same dates of receipt and portal, which counts as many — on
    the weeks either side of the change to summer time too. Dated by creation (the list's
    default), the list counts otherwise, as the page says."""
    login_as(client, desk["aea"])
    page = client.get(PAGE, query_string=dataset.PERIOD)
    links = received_links(page)
    expected = {"Semaine 12 (2026)": 3, "Semaine 13 (2026)": 10, "Semaine 14 (2026)": 2,
                "sur BPOI-Occitanie": 12, "sur BPOI-Rhône": 3, "sur la période": 15}
    assert {what: number for what, (_, number) in links.items()} == expected
    for what, (url, number) in links.items():
        assert "dates=received" in url
        assert listed(client, url) == number, what
    week_13 = links["Semaine 13 (2026)"][0]
    assert "from=23/03/2026" in unescape(week_13) and "to=29/03/2026" in unescape(week_13)
    # The list's form keeps « Dates : de réception », and the page explains both datings.
    assert '<option value="received" selected>de réception</option>' in client.get(
        links["sur la période"][0]).get_data(as_text=True)
    assert "montre exactement ces commandes" in text(page)
    # Dated by creation, the same days hold drafts never sent (E, F) and not L, begun on the
    # evening before the period and sent after midnight.
    assert listed(client, "/commandes?from=16/03/2026&to=05/04/2026") == 15 - 1 + 2


def test_with_a_portal_and_a_period_the_figures_are_the_lists(client, desk):
    """With « Portail » and a period, « Reçues » of each week and of the period are the list's
    number of orders for the same portal and dates of receipt; the backlog, today's whatever
    the period, stays the list's sub-state counters for that portal."""
    login_as(client, desk["aea"])
    for portal, total in ((desk["occitanie"], 12), (desk["rhone"], 3)):
        page = client.get(PAGE, query_string={**dataset.PERIOD, "portail": portal.id})
        links = received_links(page)
        assert links["sur la période"][1] == total
        assert links[f"sur {portal.name}"][1] == total
        for what, (url, number) in links.items():
            assert f"portal={portal.id}" in url
            assert listed(client, url) == number, (portal.name, what)
        assert listed(client, f"/commandes?dates=received&from=16/03/2026&to=05/04/2026"
                              f"&portal={portal.id}") == total
        counters = text(client.get("/commandes", query_string={"portal": portal.id}))
        for label in ("à vérifier", "en signature", "à valider", "en attente"):
            assert row(page, "table-anciennete", f"Validation — {label}")[-1] == re.search(
                rf"{label} : (\d+)", counters).group(1), (portal.name, label)


def test_the_csv_export_for_a_french_spreadsheet(client, desk):
    login_as(client, desk["aea"])
    response = client.get(EXPORT, query_string={**dataset.PERIOD, "portail": desk["occitanie"].id})
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="statistiques-')
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeffStatistiques;BPOI\r\n")
    rows = list(csv.reader(io.StringIO(body[1:]), delimiter=";"))
    assert ["Période", "du 16/03/2026 au 05/04/2026"] in rows
    assert ["Portail", "BPOI-Occitanie"] in rows
    assert ["2026-S13", "23/03/2026", "29/03/2026", "9", "9", "1", "1"] in rows
    assert ["BPOI-Occitanie", "12", "10", "2", "1"] in rows
    assert ["Réception → validation", "10", "5", "24", "5 h", "1 j", "10"] in rows
    assert ["Pièce d'identité illisible", "1"] in rows
    event = AuditEvent.get(AuditEvent.action == "statistics_exported")
    assert event.operator_id == desk["aea"].id and '"portail"' in event.details


def test_the_csv_cells_never_start_a_formula(client, desk):
    order = desk["orders"]["G"]
    for comment in ("=HYPERLINK(\"http://x\")", "+33 6 12", "-2+3", "@SUM(A1)"):
        dataset.event("order_refused", order, "2026-03-27T10:00", commentaire=comment)
    Portal.update(name="=cmd|' /C calc'!A0").where(Portal.id == desk["rhone"].id).execute()
    login_as(client, desk["aea"])
    rows = list(csv.reader(io.StringIO(client.get(EXPORT, query_string=dataset.PERIOD)
                                       .get_data(as_text=True)[1:]), delimiter=";"))
    cells = [cell for line in rows for cell in line]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
    assert "'=HYPERLINK(\"http://x\")" in cells and "'+33 6 12" in cells
    assert "'-2+3" in cells and "'@SUM(A1)" in cells and "'=cmd|' /C calc'!A0" in cells
