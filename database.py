"""Opening the database named by DATABASE_URL, and migrating its schema.

A fresh database gets the current schema and the latest version stamp. An existing
one is brought up to date by the numbered steps in ``migrations.MIGRATIONS``, in a
transaction, so data made by an older schema is kept.
"""
from __future__ import annotations

import hashlib
import re

from peewee import Database, OperationalError, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect
from playhouse.pool import PooledDatabase

from migrations import MIGRATIONS
from models import ALL_MODELS, AuditHead, OrderNumber, SchemaVersion, db

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 15000,
    "synchronous": "normal",
    "analysis_limit": 1000,  # bounds the statistics gathering of ANALYZE
}


def refresh_planner_statistics(database: Database) -> None:
    """SQLite plans the list's queries from statistics it keeps only when asked: ANALYZE,
    bounded by analysis_limit (a few ms even on a large archive), refreshes them at each
    start. Another process holding the write lock just means this start skips it."""
    if isinstance(database, SqliteDatabase):
        try:
            database.execute_sql("ANALYZE")
        except OperationalError:
            pass


# Connections are pooled: opening one costs SQLite its pragmas and PostgreSQL a new backend
# (1.5–5 ms), on every request otherwise. A connection back in the pool is rolled back first.
POOLED_SCHEMES = {"sqlite": "sqlite+pool", "postgres": "postgres+pool",
                  "postgresql": "postgresql+pool"}
POOL_SETTINGS = {"max_connections": 32, "stale_timeout": 300, "timeout": 30}


def open_database(url: str) -> Database:
    """Connect lazily, through a pool; SQLite gets WAL and a busy timeout so several processes
    can share it, and may hand a pooled connection from one thread to the next. Its
    transactions begin IMMEDIATE: the write lock is taken at BEGIN, where the busy timeout
    waits for it, rather than when a transaction that read first writes — which SQLite refuses
    at once (« database is locked ») if another process wrote in between."""
    scheme, _, rest = url.partition("://")
    pooled_url = f"{POOLED_SCHEMES.get(scheme, scheme)}://{rest}"
    if scheme.startswith("sqlite"):
        database = connect(pooled_url, pragmas=SQLITE_PRAGMAS, check_same_thread=False,
                           lock_type="IMMEDIATE", **POOL_SETTINGS)
    else:
        # The statements models.prepared prepares are lookups by key: one generic plan, made
        # once, serves every value (PostgreSQL would otherwise plan the first five runs anew).
        database = connect(pooled_url, options="-c plan_cache_mode=force_generic_plan",
                           **POOL_SETTINGS)
    db.initialize(database)
    return database


def close_pooled_connections(database: Database) -> None:
    """Close every idle pooled connection: before a fork, or when a test drops its app."""
    if isinstance(database, PooledDatabase):
        database.close_idle()


LATEST_VERSION = max(MIGRATIONS)


def current_version(database: Database) -> int | None:
    if not database.table_exists("schema_version"):
        return None
    row = SchemaVersion.get_or_none(SchemaVersion.id == 1)
    return row.version if row else None


def migrate_database(database: Database) -> int:
    """Create or upgrade the schema; returns the version now in force."""
    sqlite = isinstance(database, SqliteDatabase)
    if sqlite:
        # SQLite adds a NOT NULL column by rebuilding the table; dropping the old copy of a
        # table other rows refer to needs foreign keys off (SQLite's documented procedure),
        # and that switch only works outside a transaction.
        database.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        # IMMEDIATE: take SQLite's write lock at BEGIN, where the busy timeout waits for it,
        # rather than failing at once when a read must become a write beside other writers.
        with database.atomic(**({"lock_type": "IMMEDIATE"} if sqlite else {})):
            version = _migrate(database)
            if sqlite:
                broken = database.execute_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration: clés étrangères rompues {broken[:5]}")
        return version
    finally:
        if sqlite:
            database.execute_sql("PRAGMA foreign_keys = ON")


def _migrate(database: Database) -> int:
    if isinstance(database, PostgresqlDatabase):
        # Several server processes may start at once: one migrates, the others wait.
        database.execute_sql("SELECT pg_advisory_xact_lock(727272)")
    version = current_version(database)
    if version is None:
        database.create_tables(ALL_MODELS, safe=True)
        SchemaVersion.insert(id=1, version=LATEST_VERSION).on_conflict_ignore().execute()
        AuditHead.insert(id=1).on_conflict_ignore().execute()
        OrderNumber.insert(id=1).on_conflict_ignore().execute()
        version = LATEST_VERSION
    for step in sorted(MIGRATIONS):
        if step > version:
            MIGRATIONS[step](database)
            SchemaVersion.update(version=step).where(SchemaVersion.id == 1).execute()
            version = step
    _create_triggers(database)
    return version


# ``order.state_since`` restarts whenever an update changes the order's phase or sub-state,
# whichever code (or script) writes it; a new phase also ends the « Prise en charge » (another
# role acts in it). Created at every start: SQLite drops a table's triggers when a migration
# rebuilds that table.
STATE_SINCE_TRIGGERS = {
    "sqlite": [
        'DROP TRIGGER IF EXISTS order_state_since',
        '''CREATE TRIGGER order_state_since AFTER UPDATE OF phase, substate ON "order"
           WHEN OLD.phase IS NOT NEW.phase OR OLD.substate IS NOT NEW.substate
           BEGIN UPDATE "order" SET state_since = strftime('%Y-%m-%d %H:%M:%f', 'now'),
                 handled_by_id = CASE WHEN OLD.phase IS NOT NEW.phase THEN NULL
                                      ELSE handled_by_id END,
                 handled_since = CASE WHEN OLD.phase IS NOT NEW.phase THEN NULL
                                      ELSE handled_since END
                 WHERE id = NEW.id; END''',
    ],
    "postgresql": [
        '''CREATE OR REPLACE FUNCTION order_state_since() RETURNS trigger AS $$
           BEGIN
             IF NEW.phase IS DISTINCT FROM OLD.phase
                OR NEW.substate IS DISTINCT FROM OLD.substate THEN
               NEW.state_since := timezone('utc', clock_timestamp());
             END IF;
             IF NEW.phase IS DISTINCT FROM OLD.phase THEN
               NEW.handled_by_id := NULL;
               NEW.handled_since := NULL;
             END IF;
             RETURN NEW;
           END $$ LANGUAGE plpgsql''',
        'DROP TRIGGER IF EXISTS order_state_since ON "order"',
        '''CREATE TRIGGER order_state_since BEFORE UPDATE OF phase, substate ON "order"
           FOR EACH ROW EXECUTE FUNCTION order_state_since()''',
    ],
}


# The Commandes list's counters (models.tally): each order counted under its (AE, portal,
# processus, type, phase, sub-state); an insert adds +1, a delete -1, an update that moves the
# order to another of these keys -1 for the old one and +1 for the new, in its own transaction.
TALLY_COLUMNS = "ae_id, portal_id, process, order_type, phase, substate"
TALLY_KEYS = [column.strip() for column in TALLY_COLUMNS.split(",")]


def _tally_insert(row: str, n: int) -> str:
    values = ", ".join(f"{row}.{column}" for column in TALLY_KEYS)
    return f"INSERT INTO order_tally ({TALLY_COLUMNS}, n) VALUES ({values}, {n});"


ORDER_TALLY_TRIGGERS = {
    "sqlite": [
        'DROP TRIGGER IF EXISTS order_tally_insert',
        'DROP TRIGGER IF EXISTS order_tally_delete',
        'DROP TRIGGER IF EXISTS order_tally_update',
        f'CREATE TRIGGER order_tally_insert AFTER INSERT ON "order" '
        f'BEGIN {_tally_insert("NEW", 1)} END',
        f'CREATE TRIGGER order_tally_delete AFTER DELETE ON "order" '
        f'BEGIN {_tally_insert("OLD", -1)} END',
        f'CREATE TRIGGER order_tally_update AFTER UPDATE OF {TALLY_COLUMNS} ON "order" '
        f'WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in TALLY_KEYS)} '
        f'BEGIN {_tally_insert("OLD", -1)} {_tally_insert("NEW", 1)} END',
    ],
    "postgresql": [
        f'''CREATE OR REPLACE FUNCTION order_tally() RETURNS trigger AS $$
           BEGIN
             IF TG_OP = 'UPDATE' AND ({", ".join(f"OLD.{c}" for c in TALLY_KEYS)})
                IS NOT DISTINCT FROM ({", ".join(f"NEW.{c}" for c in TALLY_KEYS)}) THEN
               RETURN NULL;
             END IF;
             IF TG_OP IN ('UPDATE', 'DELETE') THEN {_tally_insert("OLD", -1)} END IF;
             IF TG_OP IN ('UPDATE', 'INSERT') THEN {_tally_insert("NEW", 1)} END IF;
             RETURN NULL;
           END $$ LANGUAGE plpgsql''',
        'DROP TRIGGER IF EXISTS order_tally ON "order"',
        f'''CREATE TRIGGER order_tally AFTER INSERT OR DELETE OR UPDATE OF {TALLY_COLUMNS}
           ON "order" FOR EACH ROW EXECUTE FUNCTION order_tally()''',
    ],
}


# The « E-mail » filter compares addresses in lower case (they are stored as given).
EXPRESSION_INDEXES = [
    'CREATE INDEX IF NOT EXISTS person_email_lower ON person (lower(email))',
    'CREATE INDEX IF NOT EXISTS order_requester_email_lower ON "order" (lower(requester_email))',
]


def _create_triggers(database: Database) -> None:
    """The triggers and expression indexes peewee's models cannot declare."""
    engine = "postgresql" if isinstance(database, PostgresqlDatabase) else "sqlite"
    statements = []
    for triggers in (STATE_SINCE_TRIGGERS[engine], ORDER_TALLY_TRIGGERS[engine]):
        # Already in force: no write at a start beside other writers (on PostgreSQL, DROP
        # TRIGGER would lock the whole order table while the other workers serve pages).
        if engine == "sqlite" and _sqlite_triggers_in_force(database, triggers):
            continue
        if engine == "postgresql":
            if _postgres_triggers_in_force(database, triggers):
                continue
            triggers = triggers + _postgres_fingerprints(triggers)
        statements += triggers
    for statement in statements + EXPRESSION_INDEXES:
        database.execute_sql(statement)


def _trigger_names(triggers: list[str]) -> list[str]:
    return re.findall(r"CREATE TRIGGER (\w+)", "\n".join(triggers))


def _fingerprint(triggers: list[str]) -> str:
    return hashlib.sha256("\n".join(triggers).encode("utf-8")).hexdigest()


def _postgres_fingerprints(triggers: list[str]) -> list[str]:
    """Each trigger's comment names the statements that made it, to know it at the next start."""
    return [f"COMMENT ON TRIGGER {name} ON \"order\" IS '{_fingerprint(triggers)}'"
            for name in _trigger_names(triggers)]


def _postgres_triggers_in_force(database: Database, triggers: list[str]) -> bool:
    names = _trigger_names(triggers)
    rows = database.execute_sql(
        "SELECT t.tgname, obj_description(t.oid, 'pg_trigger') FROM pg_trigger t "
        "WHERE t.tgrelid = '\"order\"'::regclass AND NOT t.tgisinternal").fetchall()
    comments = dict(rows)
    return all(comments.get(name) == _fingerprint(triggers) for name in names)


def _sqlite_triggers_in_force(database: Database, triggers: list[str]) -> bool:
    """Whether every CREATE TRIGGER of ``triggers`` is in the schema as written there."""
    wanted = {statement for statement in triggers if statement.startswith("CREATE")}
    found = {row[0] for row in database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger'").fetchall()}
    return wanted <= found
