"""Order numbers (models.next_order_number): twenty requesters starting their orders at the same
moment get twenty distinct numbers, in the order the orders were made, with no error; numbering
continues above an order inserted with its own number (the demo does) and leaves no hole when
an order is rolled back; the v11 upgrade gives an existing database's portals their ordering codes and the
numbering row. On SQLite and on PostgreSQL (TEST_DATABASE_URL)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import peewee
import pytest
from playhouse.db_url import connect

import database
from database import LATEST_VERSION, current_version, migrate_database
from models import (AuditEvent, Company, Notification, Offer, Order, OrderIntake, OrderNumber,
                    Portal, db, next_order_number)
from models.portal_codes import CODE_PATTERN
from services.intake import drafts, messages
from tests.conftest import csrf_token_from, make_test_app
from tests.test_migrations import _insert_v1_rows, _load_v1
from tests.text import text

REQUESTERS = 20
FIRST_NUMBER = 960001  # the numbering row starts at 960000


def company_answers(n: int) -> dict[str, str]:
    return {"company_name": f"Société {n}", "siren": "434202180", "rcs": "oui",
            "requester_name": f"Demandeur {n}", "requester_email": f"demandeur{n}@exemple.fr"}


def numbers_in_creation_order() -> list[int]:
    return [number for (number,) in Order.select(Order.number).order_by(Order.id).tuples()]


def run_together(count: int, work):
    """``work(n, barrier)`` in ``count`` threads; the results, any thread's error re-raised."""
    barrier = threading.Barrier(count, timeout=60)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, n, barrier) for n in range(count)]
        return [future.result(timeout=120) for future in futures]


# --- Concurrent submissions ------------------------------------------------------------------

def test_twenty_requesters_posting_the_first_step_at_once_get_twenty_numbers(app, make_ae):
    make_ae("BPOI", ("BPOI-Rhône",))

    def order_from_the_page(n: int, barrier: threading.Barrier):
        client = app.test_client()  # one browser per requester: its own session and CSRF token
        token = csrf_token_from(client.get("/commander/bpoi-rhone").get_data(as_text=True))
        barrier.wait()
        response = client.post("/commander/bpoi-rhone",
                               data={"csrf_token": token, **company_answers(n)})
        assert response.status_code == 303, text(response)
        return n, client.get(response.headers["Location"])

    answers = run_together(REQUESTERS, order_from_the_page)

    numbers = numbers_in_creation_order()
    assert numbers == list(range(FIRST_NUMBER, FIRST_NUMBER + REQUESTERS))
    assert OrderNumber.get_by_id(1).last == numbers[-1]
    # Each requester was told their own order's number, on their own draft's next step.
    for n, page in answers:
        order = Order.select().join(Company).where(Company.name == f"Société {n}").get()
        assert page.status_code == 200
        shown = text(page)
        assert f"Votre commande N° {order.number} est commencée." in shown
        assert f"Commander un certificat — commande N° {order.number}" in shown
    assert AuditEvent.select().where(
        AuditEvent.action == drafts.ACTION_DRAFT_STARTED).count() == REQUESTERS
    links = Notification.select().where(Notification.type == messages.TYPE_DRAFT_LINK)
    assert sorted(n.subject for n in links) == sorted(
        f"Commande N° {number} : votre commande en cours de saisie" for number in numbers)


def test_drafts_started_at_once_on_two_aes_portals_share_one_numbering(app, make_ae):
    """Numbers are unique across AEs (the column is): both AEs' drafts draw from one row."""
    portals = [Portal.get(Portal.ae == make_ae("BPOI", ("BPOI-Rhône",))),
               Portal.get(Portal.ae == make_ae("AE Atlantique", ("Atlantique-Nantes",)))]

    def start(n: int, barrier: threading.Barrier):
        with app.app_context(), db.connection_context():
            barrier.wait()
            started = drafts.start(app, portals[n % 2], company_answers(n))
            return started.order.number

    returned = run_together(REQUESTERS, start)

    numbers = numbers_in_creation_order()
    assert numbers == list(range(FIRST_NUMBER, FIRST_NUMBER + REQUESTERS))
    assert sorted(returned) == numbers
    per_ae = {ae_id: count for ae_id, count in
              Order.select(Order.ae, peewee.fn.COUNT(Order.id)).group_by(Order.ae).tuples()}
    assert sorted(per_ae.values()) == [REQUESTERS // 2, REQUESTERS // 2]


# --- Orders numbered by someone else ---------------------------------------------------------

def test_numbering_continues_above_an_order_inserted_with_its_own_number(app, make_ae,
                                                                         make_order):
    ae = make_ae("BPOI", ("BPOI-Rhône",))
    portal = Portal.get(Portal.ae == ae)
    with app.app_context():
        first = drafts.start(app, portal, company_answers(1)).order.number
        make_order(ae, number=970500)  # as demo/seed.py inserts its reference orders
        after = drafts.start(app, portal, company_answers(2)).order.number
        then = drafts.start(app, portal, company_answers(3)).order.number
    assert (first, after, then) == (FIRST_NUMBER, 970501, 970502)


def test_the_first_number_of_a_database_without_the_row_is_made_then(app, make_ae, make_order):
    """A row removed by hand: the next number still follows the highest order."""
    make_order(make_ae(), number=960050)
    OrderNumber.delete().execute()
    with db.atomic():
        assert next_order_number() == 960051
    assert OrderNumber.get_by_id(1).last == 960051


def test_a_rolled_back_order_gives_its_number_back(app, make_ae):
    """The number is taken in the order's transaction: a refused order leaves no hole."""
    with pytest.raises(RuntimeError):
        with db.atomic():
            assert next_order_number() == FIRST_NUMBER
            raise RuntimeError("l'insertion de la commande échoue")
    with db.atomic():
        assert next_order_number() == FIRST_NUMBER


# --- The v11 upgrade --------------------------------------------------------------------------

V10_PORTALS = [  # inserted in a v1 database next to tests.test_migrations' « BPOI-Rhône » (id 1)
    "INSERT INTO ae (id, name, four_eyes, digest_slots, created_at) VALUES "
    "(2, 'AE Atlantique', false, '07:10', '2026-01-02 09:30:00')",
    "INSERT INTO portal (id, ae_id, name) VALUES (2, 1, 'BPOI Rhône')",
    "INSERT INTO portal (id, ae_id, name) VALUES (3, 1, 'Île-de-France')",
    "INSERT INTO portal (id, ae_id, name) VALUES (4, 2, 'BPOI-Rhône')",
    "INSERT INTO portal (id, ae_id, name) VALUES (5, 2, '« ! »')",
]


def _sequences_past_the_inserted_ids(old: peewee.Database) -> None:
    """Rows inserted with their ids leave PostgreSQL's sequences behind; a real database's
    rows came from the sequences."""
    for table in old.get_tables():
        if "id" in {column.name for column in old.get_columns(table)}:
            old.execute_sql(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                            f"(SELECT COALESCE(MAX(id), 0) + 1 FROM \"{table}\"), false)")


def _v10_database(database_url: str, monkeypatch) -> peewee.Database:
    """A database as version 10 left it, with portals and an order made before the upgrade."""
    old = connect(database_url)
    db.initialize(old)
    old.connect(reuse_if_open=True)
    _load_v1(old)
    _insert_v1_rows(old)
    for statement in V10_PORTALS:
        if isinstance(old, peewee.SqliteDatabase):
            statement = statement.replace("false", "0")
        old.execute_sql(statement)
    if isinstance(old, peewee.PostgresqlDatabase):
        _sequences_past_the_inserted_ids(old)
    with monkeypatch.context() as patch:
        for later in [step for step in database.MIGRATIONS if step > 10]:
            patch.delitem(database.MIGRATIONS, later)
        assert migrate_database(old) == 10
    assert not old.table_exists("order_counter")
    assert "code" not in {column.name for column in old.get_columns("portal")}
    return old


def test_the_v11_upgrade_gives_portals_codes_and_starts_the_numbering(tmp_path, database_url,
                                                                      monkeypatch):
    old = _v10_database(database_url, monkeypatch)
    assert migrate_database(old) == LATEST_VERSION
    assert current_version(old) == LATEST_VERSION

    codes = dict(Portal.select(Portal.id, Portal.code).tuples())
    assert codes == {1: "bpoi-rhone", 2: "bpoi-rhone-2", 3: "ile-de-france", 4: "bpoi-rhone-3",
                     5: "portail"}
    assert all(portal.closed_at is None for portal in Portal.select())
    assert Portal.open_by_code("bpoi-rhone").name == "BPOI-Rhône"
    with pytest.raises(peewee.IntegrityError, match="code"):
        with old.atomic():
            Portal.create(ae=1, name="Autre", code="bpoi-rhone")
    # The tables and indexes a fresh database is created with.
    assert OrderIntake.select().count() == 0 and Offer.select().count() == 0
    portal_indexes = {(index.name[:63], index.unique) for index in old.get_indexes("portal")
                      if not index.name.endswith("_pkey")}
    assert ("portal_code", True) in portal_indexes
    # The order made before: its columns filled, its number below the next one.
    order = Order.get(Order.number == 960072)
    assert (order.medium, order.submitted_at) == ("usb", None)
    assert OrderNumber.get_by_id(1).last == 960000
    with old.atomic():
        assert next_order_number() == 960073

    # Upgrading again changes nothing.
    assert migrate_database(old) == LATEST_VERSION
    assert dict(Portal.select(Portal.id, Portal.code).tuples()) == codes
    assert OrderNumber.select().count() == 1
    old.close()


def test_an_upgraded_portal_takes_orders_at_its_code(tmp_path, database_url, monkeypatch):
    _v10_database(database_url, monkeypatch).close()
    app = make_test_app(tmp_path, database_url)  # create_app runs the v11 step
    try:
        client = app.test_client()
        page = client.get("/commander/bpoi-rhone")
        assert page.status_code == 200
        assert "BPOI — portail BPOI-Rhône" in text(page)
        response = client.post("/commander/bpoi-rhone", data={
            "csrf_token": csrf_token_from(page.get_data(as_text=True)), **company_answers(1)},
            follow_redirects=True)
        assert "Votre commande N° 960073 est commencée." in text(response)
        assert client.get("/commander/bpoi-rhone-3").status_code == 200
        assert client.get("/commander/inconnu").status_code == 404
    finally:
        if not db.is_closed():
            db.close()
        database.close_pooled_connections(db.obj)


def test_long_names_that_share_a_code_are_numbered_into_a_well_formed_code():
    from models.portal_codes import unique_code

    # Two AEs' portals whose names share their first 40 characters, the code's length.
    first = unique_code("Chambre de commerce et d'industrie de la Haute-Savoie", set())
    second = unique_code("Chambre de commerce et d'industrie de la Haute-Marne", {first})
    assert first == "chambre-de-commerce-et-d-industrie-de-la" and second != first
    assert CODE_PATTERN.fullmatch(first) and CODE_PATTERN.fullmatch(second), second
