"""« Stock de clés » under Administration: a key entered by hand or a CSV file imported (each
refused with French reasons per line, nothing imported when a line is wrong), the states with
their counts and filters, a key declared « défectueuse » with its reason, each key's history
from the audit trail, the rule « N'accepter que les clés du stock »; admins change it, AETs
read it, others get 403; another AE's keys answer 404; every change needs the CSRF token."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from models import AuditEvent, BlankKey, BlankKeyEvent, KeyStockSettings
from services import audit
from services.key_stock import stock
from tests.conftest import csrf_token_from, login_as
from tests.text import text
from workflow import keys as rules

LIST = "/parametres/cles"
TODAY = stock.today()


@pytest.fixture
def desk(app, client, make_ae, make_operator):
    ae = make_ae("BPOI")
    admin = make_operator(ae, roles="AEA,admin", name="Camille Martin")
    login_as(client, admin)
    token = csrf_token_from(client.get(LIST).get_data(as_text=True))
    return {"app": app, "ae": ae, "admin": admin, "token": token}


def add(client, desk, serial="SN-0001", model_name="SafeNet eToken 5110", medium="usb",
        received_on="2026-03-02", batch="LOT-2026-03", token=None):
    return client.post(LIST, data={"csrf_token": desk["token"] if token is None else token,
                                   "serial": serial, "model_name": model_name, "medium": medium,
                                   "received_on": received_on, "batch": batch})


def upload(client, desk, content: str | bytes, name="livraison.csv", token=None):
    data = content.encode("utf-8") if isinstance(content, str) else content
    import io
    return client.post(f"{LIST}/import", content_type="multipart/form-data",
                       data={"csrf_token": desk["token"] if token is None else token,
                             "file": (io.BytesIO(data), name)})


def history_of(key) -> list[str]:
    return [e.action for e in AuditEvent.select().join(BlankKeyEvent, on=(BlankKeyEvent.event == AuditEvent.id))
            .where(BlankKeyEvent.key == key.id).order_by(AuditEvent.id)]


# --- one key by hand ----------------------------------------------------------------------------

def test_administration_lists_the_stock_and_an_admin_adds_a_key(client, desk):
    assert 'href="/parametres/cles"' in client.get("/parametres/webhooks").get_data(as_text=True)
    assert "Aucune clé n'est dans le stock." in text(client.get(LIST))
    response = add(client, desk)
    assert response.status_code == 303
    page = text(client.get(LIST))
    assert "Clé n° SN-0001 ajoutée au stock." in page
    assert "SN-0001 SafeNet eToken 5110 clé USB 02/03/2026 LOT-2026-03 en stock" in page
    assert "en stock : 1" in page and "défectueuse : 0" in page
    key = BlankKey.get()
    assert (key.ae_id, key.serial, key.medium, key.received_on, key.state, key.added_by_id) == (
        desk["ae"].id, "SN-0001", "usb", dt.date(2026, 3, 2), "in_stock", desk["admin"].id)
    event = AuditEvent.get(AuditEvent.action == "blank_key_added")
    assert event.ae_id == desk["ae"].id and event.operator_id == desk["admin"].id
    assert json.loads(event.details)["key_serial"] == "SN-0001"
    assert history_of(key) == ["blank_key_added"]


@pytest.mark.parametrize("fields, message", [
    ({"serial": ""}, "Le N° de série de la clé est obligatoire."),
    ({"serial": "SN 01"}, "Le N° de série « SN 01 » n'est pas valide"),
    ({"medium": "disquette"}, "Le support doit être « clé USB » ou « carte à puce »."),
    ({"received_on": ""}, "La date de réception est obligatoire (jj/mm/aaaa)."),
    ({"received_on": "31/02/2026"}, "La date de réception « 31/02/2026 » n'est pas une date valide"),
    ({"received_on": (TODAY + dt.timedelta(days=1)).isoformat()},
     "La date de réception ne peut pas être dans le futur."),
    ({"model_name": "x" * 101}, "Le modèle est trop long (100 caractères au plus)."),
])
def test_a_wrong_key_is_refused_with_what_was_typed(client, desk, fields, message):
    response = add(client, desk, **{"batch": "LOT-TAPÉ", **fields})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "La clé n'est pas ajoutée" in text(page) and message in text(page)
    assert 'value="LOT-TAPÉ"' in page
    assert BlankKey.select().count() == 0
    assert not AuditEvent.select().where(AuditEvent.action == "blank_key_added").exists()


def test_a_serial_already_in_the_stock_is_refused(client, desk, make_ae):
    add(client, desk)
    again = add(client, desk, batch="autre")
    assert again.status_code == 422
    assert "La clé n° SN-0001 est déjà dans le stock (en stock)." in text(again)
    assert BlankKey.select().count() == 1
    # Another AE may hold the same serial: its stock is its own.
    other = make_ae("AE Atlantique", portals=("Atlantique-Nantes",))
    BlankKey.create(ae=other, serial="SN-0002", received_on=TODAY)
    assert add(client, desk, serial="SN-0002").status_code == 303


# --- a CSV file -----------------------------------------------------------------------------------

GOOD_CSV = ("N° de série;Modèle;Support;Date de réception;Lot\r\n"
            "A-100;eToken 5110;clé USB;02/03/2026;LOT-7\r\n"
            "A-101;eToken 5110;Clé USB;02/03/2026;LOT-7\r\n"
            "C-200;IAS ECC;carte à puce;03/03/2026;LOT-8\r\n")


def test_a_csv_file_enters_the_stock(client, desk):
    response = upload(client, desk, GOOD_CSV)
    assert response.status_code == 303
    page = text(client.get(LIST))
    assert "3 clés importées dans le stock." in page and "en stock : 3" in page
    assert "C-200 IAS ECC carte à puce 03/03/2026 LOT-8 en stock" in page
    keys = {k.serial: k for k in BlankKey.select()}
    assert keys["C-200"].medium == "card" and keys["A-100"].added_how == "import"
    event = AuditEvent.get(AuditEvent.action == "blank_keys_imported")
    assert json.loads(event.details) == {"filename": "livraison.csv", "count": 3,
                                         "batch": "LOT-7, LOT-8"}
    assert all(history_of(key) == ["blank_keys_imported"] for key in keys.values())


def test_a_spreadsheet_export_with_commas_bom_and_windows_1252_is_read(client, desk):
    content = ("Lot,Numero de serie,Support,Date de reception\r\n"
               "Réception mars,Z-1,carte,02/03/2026\r\n").encode("cp1252")
    assert upload(client, desk, content).status_code == 303
    assert BlankKey.get().batch == "Réception mars" and BlankKey.get().medium == "card"
    assert upload(client, desk, "\ufeffN° de série;Support;Date de réception\nZ-2;usb;2026-03-02\n"
                  ).status_code == 303
    assert BlankKey.select().count() == 2


def test_a_wrong_line_imports_nothing_and_each_line_says_why(client, desk):
    add(client, desk, serial="A-101")
    content = ("N° de série;Modèle;Support;Date de réception;Lot\n"
               "A-100;eToken;clé USB;02/03/2026;LOT-7\n"
               "A-101;eToken;clé USB;02/03/2026;LOT-7\n"
               "A 102;eToken;disquette;32/03/2026;LOT-7\n"
               "A-100;eToken;clé USB;02/03/2026;LOT-7\n")
    response = upload(client, desk, content)
    assert response.status_code == 422
    page = text(response)
    assert "Aucune clé n'est importée de « livraison.csv »" in page
    assert "Ligne 4 : le N° de série « A 102 » n'est pas valide" in page
    assert "Ligne 4 : le support doit être « clé USB » ou « carte à puce »." in page
    assert "Ligne 4 : la date de réception « 32/03/2026 » n'est pas une date valide (jj/mm/aaaa)." in page
    assert "Ligne 5 : le N° de série A-100 figure déjà ligne 2." in page
    assert BlankKey.select().count() == 1
    # The file itself is right but a key is already in the stock: still nothing imported.
    fixed = content.replace("A 102;eToken;disquette;32/03/2026", "A-102;eToken;usb;02/03/2026")
    fixed = "\n".join(fixed.split("\n")[:4]) + "\n"
    again = upload(client, desk, fixed)
    assert again.status_code == 422
    assert "Ligne 3 : la clé n° A-101 est déjà dans le stock (en stock)." in text(again)
    assert BlankKey.select().count() == 1
    assert not AuditEvent.select().where(AuditEvent.action == "blank_keys_imported").exists()


@pytest.mark.parametrize("content, message", [
    ("", "Le fichier est vide."),
    ("Modèle;Lot\nX;Y\n", "Ligne 1 : colonne(s) « N° de série », « Support », « Date de réception » absente(s)."),
    ("N° de série;Support;Date de réception\n", "Le fichier ne contient aucune clé"),
    (b"\x81\x8d\x8f\x90\x9d", "n'est pas un fichier texte CSV lisible"),
])
def test_unreadable_files_are_refused(client, desk, content, message):
    response = upload(client, desk, content)
    assert response.status_code == 422 and message in text(response)
    assert BlankKey.select().count() == 0


def test_no_file_chosen(client, desk):
    response = client.post(f"{LIST}/import", data={"csrf_token": desk["token"]})
    assert response.status_code == 422 and "Choisissez le fichier CSV à importer." in text(response)


# --- states, filters, counts, défectueuse -----------------------------------------------------------

def test_filters_by_state_and_serial_with_counts(client, desk, make_order):
    upload(client, desk, GOOD_CSV)
    order = make_order(desk["ae"], number=960066)
    BlankKey.update(state="assigned", order=order.id).where(BlankKey.serial == "A-101").execute()
    BlankKey.update(state="defective").where(BlankKey.serial == "C-200").execute()
    page = text(client.get(LIST))
    assert "Toutes : 3" in page and "en stock : 1" in page and "attribuée : 1" in page
    assert "défectueuse : 1" in page and "remise : 0" in page
    assigned = text(client.get(f"{LIST}?state=assigned"))
    assert "attribuée à la commande N° 960066" in assigned and "A-100" not in assigned
    assert "C-200" not in text(client.get(f"{LIST}?state=in_stock"))
    found = text(client.get(f"{LIST}?serial=c-2"))
    assert "C-200" in found and "A-100" not in found
    assert "Aucune clé ne correspond à ces filtres." in text(client.get(f"{LIST}?state=revoked"))


def test_an_admin_declares_a_key_defective_with_a_reason(client, desk):
    add(client, desk)
    key = BlankKey.get()
    page = client.get(f"{LIST}/{key.id}")
    assert "Déclarer la clé défectueuse" in text(page)
    refused = client.post(f"{LIST}/{key.id}/defectueuse", data={"csrf_token": desk["token"], "reason": " "})
    assert refused.status_code == 422
    assert "Indiquez le motif : ce qui ne fonctionne pas sur la clé." in text(refused)
    assert BlankKey.get_by_id(key.id).state == "in_stock"
    done = client.post(f"{LIST}/{key.id}/defectueuse",
                       data={"csrf_token": desk["token"], "reason": "Ne s'initialise pas"},
                       follow_redirects=True)
    shown = text(done)
    assert "Clé n° SN-0001 déclarée défectueuse." in shown
    assert "État défectueuse" in shown and "Ne s'initialise pas" in shown
    assert BlankKey.get_by_id(key.id).defect_reason == "Ne s'initialise pas"
    assert "Clé vierge ajoutée au stock" in shown and "Clé déclarée défectueuse" in shown
    assert ("Motif : Ne s'initialise pas ; N° de série de la clé : SN-0001 ; État précédent : "
            "en stock") in shown  # the history, from the audit trail
    again = client.post(f"{LIST}/{key.id}/defectueuse", data={"csrf_token": desk["token"], "reason": "encore"})
    assert again.status_code == 422 and "déjà déclarée défectueuse" in text(again)
    assert history_of(key) == ["blank_key_added", "blank_key_defective"]


def test_the_stock_only_rule_is_off_by_default_and_audited(client, desk):
    assert not stock.stock_only(desk["ae"].id)
    page = client.get(LIST).get_data(as_text=True)
    assert "N&#39;accepter que les clés du stock" in page or "N'accepter que les clés du stock" in page
    client.post(f"{LIST}/reglage", data={"csrf_token": desk["token"], "stock_only": "1"})
    assert KeyStockSettings.get().stock_only and stock.stock_only(desk["ae"].id)
    event = AuditEvent.get(AuditEvent.action == "key_stock_settings_changed")
    assert json.loads(event.details) == {"avant": {"N'accepter que les clés du stock": "non"},
                                         "après": {"N'accepter que les clés du stock": "oui"}}
    client.post(f"{LIST}/reglage", data={"csrf_token": desk["token"]})
    assert not stock.stock_only(desk["ae"].id)
    assert AuditEvent.select().where(AuditEvent.action == "key_stock_settings_changed").count() == 2


# --- who may ------------------------------------------------------------------------------------

def test_aets_without_admin_may_neither_read_nor_change_the_stock(client, desk, make_operator):
    add(client, desk)
    key = BlankKey.get()
    aet = make_operator(desk["ae"], roles="AET", name="Julien Roux")
    login_as(client, aet)
    assert client.get(LIST).status_code == 403  # Administration is for admins only
    assert client.get(f"{LIST}/{key.id}").status_code == 403
    token = csrf_token_from(client.get("/commandes").get_data(as_text=True))
    assert add(client, desk, serial="SN-0002", token=token).status_code == 403
    assert upload(client, desk, GOOD_CSV, token=token).status_code == 403
    assert client.post(f"{LIST}/{key.id}/defectueuse", data={"csrf_token": token, "reason": "x"}).status_code == 403
    assert client.post(f"{LIST}/reglage", data={"csrf_token": token, "stock_only": "1"}).status_code == 403
    assert BlankKey.select().count() == 1 and BlankKey.get().state == "in_stock"
    assert not stock.stock_only(desk["ae"].id)


def test_an_aea_without_admin_may_not_even_read(client, desk, make_operator):
    login_as(client, make_operator(desk["ae"], roles="AEA"))
    assert client.get(LIST).status_code == 403


def test_another_aes_keys_answer_404(client, desk, make_ae):
    other = make_ae("AE Atlantique", portals=("Atlantique-Nantes",))
    theirs = BlankKey.create(ae=other, serial="THEIRS-1", received_on=TODAY)
    assert client.get(f"{LIST}/{theirs.id}").status_code == 404
    assert client.post(f"{LIST}/{theirs.id}/defectueuse",
                       data={"csrf_token": desk["token"], "reason": "x"}).status_code == 404
    assert "THEIRS-1" not in text(client.get(LIST))
    assert "Toutes : 0" in text(client.get(LIST))
    assert BlankKey.get_by_id(theirs.id).state == "in_stock"


def test_changes_need_the_csrf_token(client, desk):
    assert add(client, desk, token="").status_code == 400
    assert upload(client, desk, GOOD_CSV, token="").status_code == 400
    assert client.post(f"{LIST}/reglage", data={"stock_only": "1"}).status_code == 400
    key = BlankKey.create(ae=desk["ae"], serial="SN-9", received_on=TODAY)
    assert client.post(f"{LIST}/{key.id}/defectueuse", data={"reason": "x"}).status_code == 400
    assert BlankKey.select().count() == 1 and BlankKey.get().state == "in_stock"
    assert not stock.stock_only(desk["ae"].id)


def test_the_history_and_chain_hold(client, desk):
    upload(client, desk, GOOD_CSV)
    assert audit.verify() == []


# --- the rules, alone -----------------------------------------------------------------------------

def test_key_rules():
    from types import SimpleNamespace as NS
    order = NS(id=1, number=960072, medium="usb")
    key = NS(serial="K1", state="in_stock", order_id=None, medium="usb")
    assert rules.assignment_problem(key, order, stock_only=True) is None
    assert rules.assignment_problem(None, order, stock_only=False) is None
    assert "n'est pas dans le stock" in rules.assignment_problem(None, order, stock_only=True)
    assert rules.assignment_problem(NS(**key.__dict__ | {"state": "assigned", "order_id": 1}), order,
                                    stock_only=True) is None
    assert "déjà attribuée à une autre commande" in rules.assignment_problem(
        NS(**key.__dict__ | {"state": "assigned", "order_id": 2}), order, stock_only=False)
    assert "défectueuse" in rules.assignment_problem(NS(**key.__dict__ | {"state": "defective"}), order,
                                                    stock_only=False)
    assert "déjà été remise" in rules.assignment_problem(NS(**key.__dict__ | {"state": "handed_over"}),
                                                         order, stock_only=False)
    assert "révoqué" in rules.assignment_problem(NS(**key.__dict__ | {"state": "revoked"}), order,
                                                 stock_only=False)
    assert rules.assignment_problem(NS(**key.__dict__ | {"medium": "card"}), order, stock_only=False) == (
        "La commande N° 960072 prévoit une clé USB : la clé n° K1 du stock est une carte à puce.")
    assert rules.state_label("assigned", 960072) == "attribuée à la commande N° 960072"
    assert rules.defect_problems(key, "ok", holds_valid_certificate=False) == []
    assert "faites-le révoquer" in rules.defect_problems(
        NS(**key.__dict__ | {"state": "assigned"}), "ok", holds_valid_certificate=True)[0]


def test_the_upgrade_creates_the_stock_tables_as_a_fresh_database_has_them(database_url):
    from playhouse.db_url import connect

    from database import LATEST_VERSION, migrate_database
    from models import BlankKeyEvent, FaceToFaceHandover, db
    from tests.test_migrations import _insert_v1_rows, _load_v1

    database = connect(database_url)
    db.initialize(database)
    database.connect(reuse_if_open=True)
    _load_v1(database)
    _insert_v1_rows(database)
    assert migrate_database(database) >= 18 and migrate_database(database) == LATEST_VERSION
    for model in (BlankKey, BlankKeyEvent, KeyStockSettings, FaceToFaceHandover):
        table = model._meta.table_name
        assert ({column.name for column in database.get_columns(table)}
                == {field.column_name for field in model._meta.sorted_fields})
        assert ({index.name[:63] for index in database.get_indexes(table)
                 if not index.name.endswith("_pkey")}
                == {index._name[:63] for index in model._meta.fields_to_index()})
    database.close()
