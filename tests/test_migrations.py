"""Schema upgrades keep the data of a database made by an older schema."""
import datetime as dt
from pathlib import Path

import peewee
from playhouse.db_url import connect

from database import LATEST_VERSION, current_version, migrate_database
from models import LoginSession, Operator, Order, SchemaVersion, db

DATA = Path(__file__).parent / "data"


def _load_v1(database: peewee.Database) -> None:
    name = "postgres" if isinstance(database, peewee.PostgresqlDatabase) else "sqlite"
    for statement in (DATA / f"schema_v1.{name}.sql").read_text().split(";\n"):
        lines = [line for line in statement.splitlines() if not line.startswith("--")]
        if "".join(lines).strip():
            database.execute_sql("\n".join(lines))


def _insert_v1_rows(database: peewee.Database) -> None:
    now = dt.datetime(2026, 1, 2, 9, 30)
    sql = [
        ("INSERT INTO ae (id, name, four_eyes, digest_slots, created_at) VALUES (1, 'BPOI', false, '07:10', %s)", [now]),
        ("INSERT INTO portal (id, ae_id, name) VALUES (1, 1, 'BPOI-Rhône')", []),
        ("INSERT INTO operator (id, ae_id, display_name, email, roles, all_portals, active, created_at) "
         "VALUES (1, 1, 'Ancien Opérateur', 'a@example.org', 'AEA', true, true, %s)", [now]),
        # A row referring to the operator: upgrades that rebuild a parent table must keep it.
        ("INSERT INTO operator_certificate (id, operator_id, fingerprint_sha256, subject, issuer, serial_hex, "
         "not_after, pem, bound_at) VALUES (1, 1, 'ab', 'CN=A', 'CN=CA', '01', %s, '', %s)", [now, now]),
        ("INSERT INTO company (id, ae_id, name, siren, rcs_registered) VALUES (1, 1, 'ACME', '434202180', true)", []),
        ("INSERT INTO person (id, ae_id, civility, first_name, last_name, email, phone) "
         "VALUES (1, 1, 'Mme', 'Sandra', 'Boileau', 's@example.org', '')", []),
        ('INSERT INTO "order" (id, number, ae_id, portal_id, created_at, updated_at, company_id, holder_id, '
         "legal_representative_id, requester_name, requester_email, product, validity_years, process, phase, "
         "order_type, otp_contact, payment_ok, dossier_complete_ok) VALUES (1, 960072, 1, 1, %s, %s, 1, 1, 1, "
         "'', '', 'Certificat', 3, 'generation', 'validation', 'D', '0612345678', false, false)", [now, now]),
    ]
    for statement, params in sql:
        if isinstance(database, peewee.SqliteDatabase):
            statement = statement.replace("%s", "?").replace("false", "0").replace("true", "1")
            params = [str(p) for p in params]
        database.execute_sql(statement, params)


def upgraded_from_v1(database_url: str) -> peewee.Database:
    """A database made by schema v1, with its rows, migrated to today's version (and bound to
    the models): what each migration's own upgrade test starts from."""
    database = connect(database_url)
    db.initialize(database)
    database.connect(reuse_if_open=True)
    _load_v1(database)
    _insert_v1_rows(database)
    assert migrate_database(database) == LATEST_VERSION
    return database


def test_upgrade_from_v1_keeps_data(tmp_path, database_url):
    database = connect(database_url)
    db.initialize(database)
    database.connect(reuse_if_open=True)
    _load_v1(database)
    _insert_v1_rows(database)
    assert current_version(database) == 1

    assert migrate_database(database) == LATEST_VERSION
    assert SchemaVersion.get_by_id(1).version == LATEST_VERSION
    order = Order.get(Order.number == 960072)
    assert order.holder_search == "sandra boileau"  # backfilled by the v2 step
    assert order.holder.last_name == "Boileau"
    operator = Operator.get_by_id(1)
    assert operator.display_name == "Ancien Opérateur"
    assert operator.digest_enabled is False
    # v5: the AEs' notification wordings, and the requester's last change.
    from models import MessageTemplate
    assert MessageTemplate.select().count() == 0 and order.requester_modified_at is None
    # v8: the digests sent per (operator, slot); AEs send all-zero digests by default.
    from models import AE, DigestRun
    assert DigestRun.select().count() == 0 and AE.get_by_id(order.ae_id).digest_send_empty is True

    # v9: the upgraded table has the indexes a fresh one is created with, no more.
    # Names compared on 63 characters: PostgreSQL cuts longer ones there.
    # (The lower-case e-mail index is made at every start: database.EXPRESSION_INDEXES.)
    expected = {index._name[:63] for index in Order._meta.fields_to_index()}
    found = {index.name[:63] for index in database.get_indexes("order")
             if not index.name.endswith(("_pkey", "_lower"))}
    assert found == expected
    assert "order_ae_id_order_type_created_at" in found
    assert "order_ae_id_phase_substate_portal_id" not in found

    # v10: the login sessions' table, with the columns and indexes a fresh one has.
    assert LoginSession.select().count() == 0
    assert ({column.name for column in database.get_columns("login_session")}
            == {field.column_name for field in LoginSession._meta.sorted_fields})
    assert ({index.name[:63] for index in database.get_indexes("login_session")
             if not index.name.endswith("_pkey")}
            == {index._name[:63] for index in LoginSession._meta.fields_to_index()})

    # Running the migration again changes nothing.
    assert migrate_database(database) == LATEST_VERSION
    assert Order.select().count() == 1
    database.close()


def test_fresh_database_gets_latest_schema(app):
    assert current_version(db.obj) == LATEST_VERSION


def test_v31_adds_the_certificates_view_index(tmp_path, database_url):
    """A database at v30 whose holder_certificate lacks the (issued_at, id) index gets it, and
    ends with the indexes a fresh table has."""
    from models import HolderCertificate
    database = connect(database_url)
    db.initialize(database)
    database.connect(reuse_if_open=True)
    assert migrate_database(database) == LATEST_VERSION
    database.execute_sql("DROP INDEX holder_certificate_issued_at_id")
    SchemaVersion.update(version=30).execute()

    assert migrate_database(database) == LATEST_VERSION
    found = {index.name[:63] for index in database.get_indexes("holder_certificate")
             if not index.name.endswith("_pkey")}
    assert "holder_certificate_issued_at_id" in found
    assert found == {index._name[:63] for index in HolderCertificate._meta.fields_to_index()}
    database.close()


def test_v37_starts_the_handled_orders_index_with_the_ae(tmp_path, database_url):
    """A database at v36, with its (handled_by, phase, substate, created_at) index, ends with
    the (ae, handled_by, …) one instead: the indexes a fresh order table has."""
    from models import Order
    database = connect(database_url)
    db.initialize(database)
    database.connect(reuse_if_open=True)
    assert migrate_database(database) == LATEST_VERSION
    database.execute_sql('DROP INDEX "order_ae_id_handled_by_id_phase_substate_created_at"')
    database.execute_sql('CREATE INDEX "order_handled_by_id_phase_substate_created_at" ON '
                         '"order" ("handled_by_id", "phase", "substate", "created_at")')
    SchemaVersion.update(version=36).execute()

    assert migrate_database(database) == LATEST_VERSION
    found = {index.name[:63] for index in database.get_indexes("order")
             if not index.name.endswith("_pkey")}
    assert "order_ae_id_handled_by_id_phase_substate_created_at" in found
    assert "order_handled_by_id_phase_substate_created_at" not in found
    expression_indexes = {"order_requester_email_lower"}  # database.EXPRESSION_INDEXES
    assert found - expression_indexes == {index._name[:63]
                                          for index in Order._meta.fields_to_index()}
    database.close()


def _trigger_ids() -> dict:
    if isinstance(db.obj, peewee.PostgresqlDatabase):
        rows = db.execute_sql("SELECT tgname, oid FROM pg_trigger WHERE NOT tgisinternal "
                              "AND tgrelid = '\"order\"'::regclass").fetchall()
    else:
        rows = db.execute_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    return dict(rows)


def test_a_start_leaves_the_triggers_in_force_alone(app):
    """Several workers start beside others that serve pages: a start that dropped and made the
    order table's triggers again would lock the table (PostgreSQL) or write (SQLite) each time."""
    before = _trigger_ids()
    assert {"order_state_since", "order_tally"} <= set(before) or \
        {"order_state_since", "order_tally_insert"} <= set(before)
    migrate_database(db.obj)
    assert _trigger_ids() == before
    if isinstance(db.obj, peewee.PostgresqlDatabase):
        db.execute_sql("COMMENT ON TRIGGER order_tally ON \"order\" IS 'older'")
        migrate_database(db.obj)
        after = _trigger_ids()
        assert after["order_tally"] != before["order_tally"]  # made again from today's text
        assert after["order_state_since"] == before["order_state_since"]
