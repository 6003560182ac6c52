"""The Commandes list's sub-state counters and total read from ``order_tally`` (models.tally),
which the database keeps with every change of an order: a few hundred rows summed, instead of
counting the archive's orders on every page.

It answers the filters it keeps a column for (portal, processus, type, phase, sub-state); a
search by number, name, SIREN, e-mail, company, telephone, period or « Prise en charge » counts
the orders themselves (services.orders.order_search). ``fold`` adds up the rows of each state
now and then (the ``order_tally`` job), so the sums stay short."""
from __future__ import annotations

from flask import Flask
from peewee import PostgresqlDatabase, fn

from models import OperatorScope, OrderTally, db
from models.prepared import PreparedQuery

COLUMNS = (OrderTally.ae_id, OrderTally.portal_id, OrderTally.process, OrderTally.order_type,
           OrderTally.phase, OrderTally.substate)
# Filters the tally has no column for: with any of them set, the orders are counted.
UNTALLIED = ("number", "name", "siren", "email", "company", "phone", "from_", "to", "handler")
FOLD_LOCK = 727273  # PostgreSQL advisory lock: one fold at a time


def answers(filters) -> bool:
    """Whether the tally alone gives these filters' counters and total."""
    return not any(getattr(filters, name) for name in UNTALLIED)


def groups(scope: OperatorScope, filters) -> list[tuple[str, str | None, int]]:
    """(phase, sub-state, orders) of the scope's orders under the portal, processus and type
    filters (the phase and sub-state filters are the caller's: the counters ignore them). The
    AE's sums are read by one statement built once, and these filters applied here: a few
    hundred rows at most."""
    portals = None if scope.all_portals else set(scope.portal_ids)
    wanted = {"portal": int(filters.portal) if filters.portal else None,
              "process": filters.process or None, "type": filters.type or None}
    sums: dict[tuple[str, str | None], int] = {}
    for portal_id, process, order_type, phase, substate, number in _OF_AE.execute(
            ae_id=scope.ae_id):
        if ((portals is not None and portal_id not in portals)
                or wanted["portal"] not in (None, portal_id)
                or wanted["process"] not in (None, process)
                or wanted["type"] not in (None, order_type)):
            continue
        sums[phase, substate] = sums.get((phase, substate), 0) + number
    return [(phase, substate, number) for (phase, substate), number in sums.items()]


_OF_AE = PreparedQuery(
    lambda ae_id: (OrderTally
                   .select(*COLUMNS[1:], fn.SUM(OrderTally.n))
                   .where(OrderTally.ae_id == ae_id)
                   .group_by(*COLUMNS[1:])
                   .tuples()),
    "ae_id")


def groups_by_portal(ae_ids, phases: list[str]) -> list[tuple[int, str, str | None, int]]:
    """(portal id, phase, sub-state, orders) over several AEs, for the given phases."""
    return list(OrderTally
                .select(OrderTally.portal_id, OrderTally.phase, OrderTally.substate,
                        fn.SUM(OrderTally.n))
                .where(OrderTally.ae_id.in_(list(ae_ids)) & OrderTally.phase.in_(phases))
                .group_by(OrderTally.portal_id, OrderTally.phase, OrderTally.substate)
                .having(fn.SUM(OrderTally.n) != 0)
                .tuples())


def fold() -> bool:
    """Replace each state's rows by one row holding their sum (none when it is 0); False when
    there was nothing to fold. Rows appended meanwhile by other transactions are kept as
    they are: on PostgreSQL the rows read are those deleted, in one statement."""
    columns = ", ".join(column.column_name for column in COLUMNS)
    with db.atomic():
        unfolded = (OrderTally.select(fn.COUNT(OrderTally.id)).group_by(*COLUMNS)
                    .having((fn.COUNT(OrderTally.id) > 1) | (fn.SUM(OrderTally.n) == 0))
                    .limit(1).scalar())
        if not unfolded:
            return False
        if isinstance(db.obj, PostgresqlDatabase):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (FOLD_LOCK,))
            db.execute_sql(f"WITH gone AS (DELETE FROM order_tally RETURNING {columns}, n) "
                           f"INSERT INTO order_tally ({columns}, n) SELECT {columns}, SUM(n) "
                           f"FROM gone GROUP BY {columns} HAVING SUM(n) <> 0")
        else:  # SQLite: the transaction holds the write lock, nobody appends meanwhile
            sums = list(OrderTally.select(*COLUMNS, fn.SUM(OrderTally.n)).group_by(*COLUMNS)
                        .having(fn.SUM(OrderTally.n) != 0).tuples())
            OrderTally.delete().execute()
            fields = [*COLUMNS, OrderTally.n]
            for start in range(0, len(sums), 500):
                OrderTally.insert_many(sums[start:start + 500], fields=fields).execute()
    return True


def job(app: Flask) -> bool:
    """The scheduler's pass (every minute)."""
    with app.app_context(), db.connection_context():
        return fold()
