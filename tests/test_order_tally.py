"""The Commandes list's counters come from ``order_tally``, which triggers on ``order`` keep: after
every kind of write (a service's transition through its page, the bulk worker, a plain UPDATE of
several rows, a delete, an AE's deletion, the upgrade that creates it) the tally's sums equal a
COUNT(*) of the orders, and the list shows them. On PostgreSQL two transactions moving orders
in opposite directions do not wait for each other."""
from __future__ import annotations

import threading

import pytest
from peewee import PostgresqlDatabase, fn

import workflow
from models import AE, Order, OperatorScope, OrderTally, db
from services.bulk import jobs
from services.orders import order_search, substate_tally
from tests.conftest import csrf_token_from, login_as
from tests.signature_support import ready_order
from tests.text import text

KEY = ("ae_id", "portal_id", "process", "order_type", "phase", "substate")


def tallied() -> dict[tuple, int]:
    columns = [getattr(OrderTally, c) for c in KEY]
    sums = OrderTally.select(*columns, fn.SUM(OrderTally.n)).group_by(*columns).tuples()
    return {row[:-1]: row[-1] for row in sums if row[-1]}


def counted() -> dict[tuple, int]:
    columns = [getattr(Order, c.removesuffix("_id")) for c in KEY]
    rows = Order.select(*columns, fn.COUNT(Order.id)).group_by(*columns).tuples()
    return {row[:-1]: row[-1] for row in rows}


def assert_tally_is_exact() -> None:
    assert tallied() == counted()


@pytest.fixture
def desk(app, client, make_ae, make_operator, make_order):
    ae = make_ae()
    operator = make_operator(ae, roles="AEA,AET", name="Camille Martin")
    orders = [ready_order(app, make_order, ae, number=960800 + n) for n in range(3)]
    make_order(ae, number=960900, phase="generation", substate=None)
    make_order(ae, number=960901, phase="done", substate=None, order_type="P")
    login_as(client, operator)
    return {"app": app, "ae": ae, "operator": operator, "orders": orders}


def post_from_file(client, order, path, **data):
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    response = client.post(f"/commandes/{order.id}/{path}", data={"csrf_token": token, **data})
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:2000]


def test_the_counters_follow_hold_resume_and_refusal_made_from_the_order_file(client, desk):
    first, second, _ = desk["orders"]
    assert "à vérifier : 3" in text(client.get("/commandes"))
    post_from_file(client, first, "attente", comment="Kbis de plus de 3 mois.")
    assert_tally_is_exact()
    listed = text(client.get("/commandes"))
    assert "à vérifier : 2" in listed and "en attente : 1" in listed
    post_from_file(client, first, "reprise")
    post_from_file(client, second, "refus", comment="Dossier frauduleux.")
    assert_tally_is_exact()
    listed = text(client.get("/commandes"))
    assert "à vérifier : 2" in listed and "en attente : 0" in listed
    assert "à générer : 1" in listed
    desk["app"].config["ORDERS_PER_PAGE"] = 1  # the total and the pages from the tally too
    listed = text(client.get("/commandes"))
    assert "5 commandes" in listed and "Page 1 sur 5" in listed
    assert "2 commandes" in text(client.get("/commandes", query_string={"phase": "validation"}))


def test_the_counters_follow_the_bulk_worker(client, desk):
    token = csrf_token_from(client.get("/commandes").get_data(as_text=True))
    ids = ",".join(str(order.id) for order in desk["orders"])
    response = client.post("/commandes/actions", data={
        "csrf_token": token, "action": "hold", "ids": ids, "search": "",
        "comment": "Pièces illisibles."})
    assert response.status_code == 303
    jobs.run_pending(desk["app"])
    assert_tally_is_exact()
    listed = text(client.get("/commandes"))
    assert "à vérifier : 0" in listed and "en attente : 3" in listed


def test_plain_updates_deletes_and_an_aes_deletion_keep_the_tally_exact(desk, make_ae,
                                                                         make_order):
    ae = desk["ae"]
    # One UPDATE of several rows, as scripts and batches write.
    Order.update(substate=workflow.SUBSTATE_TO_VALIDATE).where(Order.ae == ae).where(
        Order.phase == workflow.PHASE_VALIDATION).execute()
    assert_tally_is_exact()
    # A change of portal, type and processus moves the order between rows of the tally.
    order = desk["orders"][0]
    other = [portal for portal in ae.portals if portal.id != order.portal_id][0]
    Order.update(order_type="P", process=workflow.PROCESS_RENEWAL,
                 portal=other).where(Order.id == order.id).execute()
    assert_tally_is_exact()
    Order.delete().where(Order.number == 960900).execute()  # an order with no row of its own
    assert_tally_is_exact()
    # An update that changes nothing counted writes nothing.
    rows = OrderTally.select().count()
    Order.update(requester_name="Boutique").where(Order.ae == ae).execute()
    assert OrderTally.select().count() == rows
    # Another AE's orders, then that AE deleted with them (ON DELETE CASCADE).
    gone = make_ae("Atlantique", portals=("Atlantique-Nantes",))
    make_order(gone, number=970001)
    assert_tally_is_exact()
    AE.delete().where(AE.id == gone.id).execute()
    assert_tally_is_exact()


def test_folding_keeps_the_sums_in_one_row_per_state(desk):
    for order in desk["orders"]:
        Order.update(substate=workflow.SUBSTATE_ON_HOLD).where(Order.id == order.id).execute()
        Order.update(substate=workflow.SUBSTATE_TO_CHECK).where(Order.id == order.id).execute()
    before, rows = tallied(), OrderTally.select().count()
    assert substate_tally.fold() is True
    assert tallied() == before == counted()
    assert OrderTally.select().count() == len(before) < rows
    assert OrderTally.select().where(OrderTally.n == 0).count() == 0
    assert substate_tally.fold() is False  # nothing left to fold


@pytest.mark.parametrize("query", [
    {}, {"type": "P"}, {"process": "generation"}, {"phase": "validation"},
    {"substate": "to_check"}, {"portal": "first"}, {"type": "D", "substate": "to_generate"},
])
def test_the_tally_gives_what_counting_the_orders_gives(desk, make_operator, make_order, query):
    ae = desk["ae"]
    portals = sorted(ae.portals, key=lambda portal: portal.id)
    second = portals[1]
    make_order(ae, portal=second, number=960950)
    make_order(ae, portal=second, number=960951, phase="generation", substate=None,
               order_type="P")
    if query.get("portal") == "first":
        query = {"portal": str(portals[0].id)}
    limited = make_operator(ae, roles="AEA", name="Lucas Bernard",
                            portals=[portals[0]])
    for operator in (desk["operator"], limited):
        scope = OperatorScope(operator)
        filters = order_search.parse_filters(query, scope)
        assert substate_tally.answers(filters)
        counts, total = order_search.counters(scope, filters)
        assert counts == order_search.substate_counts(scope, filters)
        assert total == order_search.count(scope, filters)


def test_the_upgrade_fills_the_tally_from_the_orders(database_url):
    from tests.test_migrations import upgraded_from_v1

    database = upgraded_from_v1(database_url)
    assert counted() and tallied() == counted()
    order = Order.select().first()
    Order.update(phase="cancelled", substate=None).where(Order.id == order.id).execute()
    assert tallied() == counted()  # the triggers took over
    database.close()


def test_opposite_transitions_in_two_transactions_do_not_wait_for_each_other(desk):
    """Each writer only appends to the tally: no counter row that one transaction would lock
    until its commit while the other waits for it (a lock wait here, a deadlock when each
    moves two orders)."""
    if not isinstance(db.obj, PostgresqlDatabase):
        pytest.skip("SQLite has one writer at a time anyway")
    import psycopg2

    first, second, _ = desk["orders"]
    Order.update(substate="to_validate").where(Order.id == second.id).execute()
    connections = [psycopg2.connect(dbname=db.obj.database, **db.obj.connect_params)
                   for _ in range(2)]
    both_moved = threading.Barrier(2, timeout=10)
    errors: list[Exception] = []

    def move(connection, order_id: int, substate: str) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = '3s'")
                cursor.execute('UPDATE "order" SET substate = %s WHERE id = %s',
                               (substate, order_id))
            both_moved.wait()  # both transactions open, each holding its change
            connection.commit()
        except Exception as error:  # a lock wait ends in a timeout, or the barrier breaks
            errors.append(error)
            both_moved.abort()
            connection.rollback()

    threads = [threading.Thread(target=move, args=(connections[0], first.id, "to_validate")),
               threading.Thread(target=move, args=(connections[1], second.id, "to_check"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    for connection in connections:
        connection.close()
    assert errors == []
    assert_tally_is_exact()
