"""Hot SELECTs built once: peewee writes their SQL once per process and database kind (building
a wide join's SQL costs about a millisecond of Python on every call otherwise) and, on
PostgreSQL, each connection plans them once (a PREPAREd statement: planning a join of six to
nine tables costs 2–10 ms, running it well under one). Only for queries whose best plan does
not depend on the values — lookups by key — since PostgreSQL may keep one generic plan for
every value. On SQLite a query with ``one_of`` on a named value is built on each call (its
``= ANY(array)`` is PostgreSQL's).

    ROWS = PreparedQuery(lambda order_id, ae_id: Order.select()...where(...), "order_id", "ae_id")
    ROWS.execute(order_id=4, ae_id=1)   # what query.execute() would give: models, dicts…

The values are passed through unconverted: give them as the database takes them (ids,
strings, datetimes); ``one_of(column, values)`` is ``column IN values`` for a list.
"""
from __future__ import annotations

import itertools
import re
import threading
import weakref
from collections import OrderedDict
from typing import Callable

from peewee import Node, PostgresqlDatabase, Value, fn

from models.base import db

PER_CONNECTION = 64  # statements kept prepared on one connection; the oldest is let go
_names = itertools.count(1)
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # connection → {sql: name}
_lock = threading.Lock()


class _Name(str):
    """A named value's mark in the parameters of a query built once."""


def _slot(name: str) -> Value:
    """Where the value ``name`` goes, never converted (it is only a mark until run)."""
    return Value(_Name(name), converter=False, unpack=False)


def one_of(column, values) -> Node:
    """``column IN values``: one array parameter on PostgreSQL, so the SQL is the same
    whatever the number of values."""
    if isinstance(values, Value) and isinstance(values.value, _Name):
        return column == fn.ANY(values)
    return column.in_(list(values))


class PreparedQuery:
    def __init__(self, build: Callable[..., object], *names: str):
        self._build, self._names = build, names
        # By database class: query, SQL, parameters (None: built on each call there).
        self._compiled: dict[type, tuple[object, str, list] | None] = {}

    def execute(self, **values):
        database = db.obj
        kind = type(database)
        compiled = self._compiled[kind] if kind in self._compiled else self._compile(database)
        if compiled is None:
            return self._build(**values).execute()
        query, sql, parameters = compiled
        arguments = [values[p] if isinstance(p, _Name) else p for p in parameters]
        if not isinstance(database, PostgresqlDatabase):  # SQLite plans in microseconds
            return query._get_cursor_wrapper(database.execute_sql(sql, arguments))
        name = _statement(database, sql)
        placeholders = ", ".join(["%s"] * len(arguments))
        cursor = database.execute_sql(
            f"EXECUTE {name}({placeholders})" if arguments else f"EXECUTE {name}", arguments)
        return query._get_cursor_wrapper(cursor)

    def first(self, **values):
        for row in self.execute(**values):
            return row
        return None

    def _compile(self, database):
        query = self._build(**{name: _slot(name) for name in self._names})
        sql, parameters = database.get_sql_context().sql(query).query()
        compiled = (query, sql, parameters)
        if isinstance(database, PostgresqlDatabase):
            if "%%" in sql or "$" in sql:  # a literal % or $ would need rewriting: not supported
                raise ValueError("requête non préparable")
        elif "ANY(" in sql.upper():  # one_of on a named value: PostgreSQL's array form
            compiled = None
        self._compiled[type(database)] = compiled
        return compiled


def _statement(database: PostgresqlDatabase, sql: str) -> str:
    """This connection's name for ``sql``, prepared on first use."""
    connection = database.connection()
    with _lock:
        known = _prepared.setdefault(connection, OrderedDict())
        name = known.get(sql)
        if name is not None:
            known.move_to_end(sql)
            return name
    count = itertools.count(1)
    numbered = re.sub(r"%s", lambda _: f"${next(count)}", sql)
    name = f"radesk_{next(_names)}"
    database.execute_sql(f"PREPARE {name} AS {numbered}")
    with _lock:
        known[sql] = name
        if len(known) > PER_CONNECTION:
            _, oldest = known.popitem(last=False)
            database.execute_sql(f"DEALLOCATE {oldest}")
    return name
