"""PreparedQuery: a hot query's SQL written once per database kind and run with each call's
values — the same rows as building it anew — on SQLite as on PostgreSQL; on SQLite a query
naming a list value (``one_of``, PostgreSQL's array) is built on each call instead."""
from __future__ import annotations

import peewee

from models import Order, db
from models.prepared import PreparedQuery, one_of


def test_built_once_and_run_with_each_calls_values(app, bpoi, make_order):
    first, second = make_order(bpoi, number=960801), make_order(bpoi, number=960802)
    builds = []

    def build(number, ae_id):
        builds.append(number)
        return Order.select(Order.id, Order.number).where((Order.number == number)
                                                          & (Order.ae == ae_id))

    query = PreparedQuery(build, "number", "ae_id")
    assert query.first(number=960801, ae_id=bpoi.id).id == first.id
    assert query.first(number=960802, ae_id=bpoi.id).id == second.id
    assert query.first(number=960802, ae_id=bpoi.id + 1) is None  # another AE: nothing
    assert [order.number for order in query.execute(number=960801, ae_id=bpoi.id)] == [960801]
    assert len(builds) == 1  # the SQL was written once, for this database


def test_a_list_value_on_sqlite_is_built_each_time(app, bpoi, make_order):
    orders = [make_order(bpoi, number=960811 + n) for n in range(3)]
    builds = []

    def build(ids):
        builds.append(ids)
        return Order.select(Order.number).where(one_of(Order.id, ids)).order_by(Order.number)

    query = PreparedQuery(build, "ids")
    assert [o.number for o in query.execute(ids=[orders[0].id, orders[2].id])] == [960811, 960813]
    assert [o.number for o in query.execute(ids=[orders[1].id])] == [960812]
    postgres = isinstance(db.obj, peewee.PostgresqlDatabase)
    assert len(builds) == (1 if postgres else 3)  # SQLite: the compile try, then each call
