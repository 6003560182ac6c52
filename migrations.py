"""The numbered schema migrations: each step brings a database of the version before it up to
its number, in the transaction ``database.migrate_database`` opens (SQLite and PostgreSQL).
"""
from __future__ import annotations

from peewee import (BooleanField, CharField, Database, ForeignKeyField, IntegerField,
                    PostgresqlDatabase)
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, make_index_name, migrate

from models import Order, OrderReview, Person, holder_search_fields


def _migrator(database: Database):
    if isinstance(database, PostgresqlDatabase):
        return PostgresqlMigrator(database)
    return SqliteMigrator(database)


def _index_named(database: Database, table: str, columns) -> str | None:
    """The name the database has for peewee's index of ``columns`` on ``table`` (None: there
    is none, as when an earlier step made the table from today's model without it).
    PostgreSQL cuts names at 63 characters."""
    name = make_index_name(table, columns)
    return next((index.name for index in database.get_indexes(table)
                 if index.name in (name, name[:63])), None)


def _v2_digest_and_holder_search(database: Database) -> None:
    """v2: operators can opt in to the digest; orders keep a searchable holder name; the
    sub-state indexes cover the list's order and the counters."""
    migrator = _migrator(database)
    migrate(
        migrator.add_column("operator", "digest_enabled", BooleanField(default=False)),
        migrator.add_column("order", "holder_search", CharField(default="")),
        migrator.add_column("order", "holder_search_last", CharField(default="")),
        migrator.add_index("order", ("holder_search",), False),
        migrator.add_index("order", ("holder_search_last",), False),
        migrator.drop_index("order", "order_ae_id_phase_substate"),
        migrator.add_index("order", ("ae_id", "phase", "substate", "created_at"), False),
        migrator.add_index("order", ("ae_id", "phase", "substate", "portal_id"), False),
        migrator.add_index("order", ("ae_id", "number"), False),
    )
    for order in Order.select(Order.id, Person.first_name, Person.last_name).join(
            Person, on=(Order.holder == Person.id)).objects():
        (Order
         .update(**holder_search_fields(order.first_name, order.last_name))
         .where(Order.id == order.id)
         .execute())


def _v3_order_review(database: Database) -> None:
    """v3: who is reviewing which order file; recent changes found by AE and update time."""
    database.create_tables([OrderReview], safe=True)
    migrate(_migrator(database).add_index("order", ("ae_id", "updated_at"), False))


def _v4_documents(database: Database) -> None:
    """v4: a justificatif's expiry date; each file's CRC-32 (for the dossier's ZIP);
    imports in progress (crash recovery)."""
    from peewee import BigIntegerField, DateField
    from models import PendingFile

    database.create_tables([PendingFile], safe=True)
    migrator = _migrator(database)
    migrate(migrator.add_column("document", "expires_on", DateField(null=True)),
            migrator.add_column("document", "crc32", BigIntegerField(null=True)))


def _v5_notifications(database: Database) -> None:
    """v5: the AEs' notification wordings; when the requester last changed an order."""
    from peewee import DateTimeField
    from models import MessageTemplate

    database.create_tables([MessageTemplate], safe=True)
    migrate(_migrator(database).add_column("order", "requester_modified_at",
                                           DateTimeField(null=True)))


def _v6_generation(database: Database) -> None:
    """v6: generation attempts, holder certificates, activations; the AE's policy."""
    from models import Activation, GenerationAttempt, HolderCertificate

    database.create_tables([GenerationAttempt, HolderCertificate, Activation], safe=True)
    migrate(_migrator(database).add_column("ae", "holder_policy_oid", CharField(null=True)))


def _v7_signatures(database: Database) -> None:
    """v7: signature requests and their documents; an order put on hold."""
    from peewee import DateTimeField, TextField
    from models import SignatureItem, SignatureMessage, SignatureRequest

    database.create_tables([SignatureRequest, SignatureItem, SignatureMessage], safe=True)
    migrator = _migrator(database)
    migrate(migrator.add_column("order", "on_hold_at", DateTimeField(null=True)),
            migrator.add_column("order", "hold_comment", TextField(null=True)))


def _v8_digest(database: Database) -> None:
    """v8: the digests sent per (operator, slot); whether an AE sends empty ones."""
    from models import DigestRun

    database.create_tables([DigestRun], safe=True)
    migrate(_migrator(database).add_column("ae", "digest_send_empty", BooleanField(default=True)))


def _v9_list_filter_indexes(database: Database) -> None:
    """v9: the Type and Processus filters read their own indexes, newest first; one
    index serves the sub-state lists and their counters whatever the other filters (date
    range, portal, type, processus) from its entries alone, replacing two; the name indexes
    carry the order's date."""
    migrator = _migrator(database)
    migrate(
        migrator.drop_index("order", "order_ae_id_phase_substate_created_at"),
        migrator.drop_index("order", "order_ae_id_phase_substate_portal_id"),
        migrator.add_index("order", ("ae_id", "phase", "substate", "created_at", "portal_id",
                                     "order_type", "process"), False),
        migrator.add_index("order", ("ae_id", "order_type", "created_at"), False),
        migrator.add_index("order", ("ae_id", "process", "created_at"), False),
        # A name and a period: the holder's orders are sifted by date inside the name index.
        migrator.drop_index("order", "order_holder_search"),
        migrator.drop_index("order", "order_holder_search_last"),
        migrator.add_index("order", ("holder_search", "created_at"), False),
        migrator.add_index("order", ("holder_search_last", "created_at"), False),
    )


def _v10_login_sessions(database: Database) -> None:
    """v10: server-side login sessions; the session cookie now names one of them. Sessions
    opened before the upgrade (cookies naming an operator) are no longer recognised: their
    operators log in again."""
    from models import LoginSession

    database.create_tables([LoginSession], safe=True)


def _v11_ordering_pages(database: Database) -> None:
    """v11: portals get an ordering code and can be closed; the AEs' offers; an order's medium
    and submission time; the ordering page's drafts; the order-number row. Existing portals get
    a code made from their name."""
    from peewee import DateTimeField
    from models import Offer, OrderIntake, OrderNumber, Portal
    from models.portal_codes import unique_code

    database.create_tables([Offer, OrderIntake, OrderNumber], safe=True)
    migrator = _migrator(database)
    migrate(migrator.add_column("portal", "code", CharField(null=True)),
            migrator.add_column("portal", "closed_at", DateTimeField(null=True)),
            migrator.add_column("order", "medium", CharField(default="usb")),
            migrator.add_column("order", "submitted_at", DateTimeField(null=True)))
    taken: set[str] = set()
    for portal_id, name in Portal.select(Portal.id, Portal.name).order_by(Portal.id).tuples():
        code = unique_code(name, taken)
        taken.add(code)
        Portal.update(code=code).where(Portal.id == portal_id).execute()
    migrate(migrator.add_index("portal", ("code",), True))
    OrderNumber.insert(id=1).on_conflict_ignore().execute()


def _v12_api(database: Database) -> None:
    """v12: API clients, their portals and hashed secrets, the answers kept per
    Idempotency-Key."""
    from models import ApiClient, ApiClientPortal, ApiSecret, IdempotentRequest

    database.create_tables([ApiClient, ApiClientPortal, ApiSecret, IdempotentRequest], safe=True)


def _v13_webhooks(database: Database) -> None:
    """v13: the AEs' webhook endpoints, the events written with the changes they report, and
    their deliveries."""
    from models import WebhookDelivery, WebhookEndpoint, WebhookEvent

    database.create_tables([WebhookEndpoint, WebhookEvent, WebhookDelivery], safe=True)


def _v14_operator_certificate_revocation(database: Database) -> None:
    """v14: an operator's certificate revoked from the administration keeps when and why."""
    from peewee import DateTimeField

    migrator = _migrator(database)
    migrate(migrator.add_column("operator_certificate", "revoked_at", DateTimeField(null=True)),
            migrator.add_column("operator_certificate", "revocation_reason",
                                CharField(null=True)))


def _v19_hold_substate(database: Database) -> None:
    """v19: an order on hold has the sub-state « en attente » (counted apart from « à
    vérifier »), the sub-state its progress gave kept in ``held_substate``."""
    migrate(_migrator(database).add_column("order", "held_substate",
                                           CharField(null=True)))
    (Order
     .update(held_substate=Order.substate, substate="on_hold")
     .where(Order.on_hold_at.is_null(False) & (Order.phase == "validation"))
     .execute())


def _v20_handling(database: Database) -> None:
    """v20: « Prise en charge » — the operator who handles an order, and since when."""
    from peewee import DateTimeField, ForeignKeyField
    from models import Operator

    migrator = _migrator(database)
    migrate(migrator.add_column("order", "handled_by_id",
                                ForeignKeyField(Operator, null=True, on_delete="SET NULL",
                                                field=Operator.id)),
            migrator.add_column("order", "handled_since", DateTimeField(null=True)),
            migrator.add_index("order", ("handled_by_id", "phase", "substate", "created_at"),
                               False))


def _v21_saved_searches(database: Database) -> None:
    """v21: the operators' saved searches of the Commandes list."""
    from models import SavedSearch

    database.create_tables([SavedSearch], safe=True)


def _v15_operator_enrolment(database: Database) -> None:
    """v15: operators' login keys made through the token bridge (enrolment, renewal, first PIN)."""
    from models import OperatorEnrolment

    database.create_tables([OperatorEnrolment], safe=True)


def _v16_portal_contacts_and_ae_identity(database: Database) -> None:
    """v16: a portal's contact details for its requesters; the AE's postal address, e-mail
    and telephone, which sign its e-mails and documents."""
    from peewee import TextField

    migrator = _migrator(database)
    migrate(migrator.add_column("portal", "contact_email", CharField(null=True)),
            migrator.add_column("portal", "contact_phone", CharField(null=True)),
            migrator.add_column("portal", "contact_address", TextField(null=True)),
            migrator.add_column("portal", "contact_hours", CharField(null=True)),
            migrator.add_column("ae", "postal_address", TextField(null=True)),
            migrator.add_column("ae", "contact_email", CharField(null=True)),
            migrator.add_column("ae", "contact_phone", CharField(null=True)))


def _v17_contract_texts(database: Database) -> None:
    """v17: the AEs' versions of their contractual texts; each generated contract names the
    version it was made from (none for the contracts made before)."""
    from models import ContractTextVersion, Document

    database.create_tables([ContractTextVersion], safe=True)
    migrate(_migrator(database).add_column("document", "text_version_id", Document.text_version))


def _v18_key_stock(database: Database) -> None:
    """v18: the AEs' stock of blank keys, each key's links to the audit trail, the stock rule,
    and the « Remise en face à face » record of each hand-over."""
    from models import BlankKey, BlankKeyEvent, FaceToFaceHandover, KeyStockSettings

    database.create_tables([BlankKey, BlankKeyEvent, KeyStockSettings, FaceToFaceHandover],
                           safe=True)


def _v22_state_since(database: Database) -> None:
    """v22: when each order entered its current (phase, sub-state) — its last change stands in
    for the orders already there — and the AE's « en retard » threshold."""
    from peewee import DateTimeField, IntegerField

    migrator = _migrator(database)
    migrate(migrator.add_column("order", "state_since", DateTimeField(null=True)),
            migrator.add_column("ae", "late_after_days", IntegerField(default=5)))
    Order.update(state_since=Order.updated_at).execute()
    migrate(migrator.add_index("order", ("ae_id", "state_since"), False))


def _v23_requester_reminders(database: Database) -> None:
    """v23: the AE's « Relances automatiques » settings."""
    from peewee import IntegerField

    migrator = _migrator(database)
    migrate(migrator.add_column("ae", "reminder_after_days", IntegerField(default=7)),
            migrator.add_column("ae", "reminder_max", IntegerField(default=2)),
            migrator.add_column("ae", "cancel_incomplete", BooleanField(default=False)),
            migrator.add_column("ae", "cancel_after_days", IntegerField(default=30)))


def _v24_bulk_actions(database: Database) -> None:
    """v24: « Actions sur la sélection » — the background jobs and their orders' results."""
    from models import BulkItem, BulkJob

    database.create_tables([BulkJob, BulkItem], safe=True)


def _v25_statistics_indexes(database: Database) -> None:
    """v25: « Statistiques » reads each of its figures from an index range — orders by when
    they were sent, validated, entered their state; certificates by when written, hand-overs
    by when done, notifications per type and date —
    rather than the whole archive (docs/statistics.md gives the times measured). A table an
    earlier step created from today's model already has its own."""
    migrator = _migrator(database)
    wanted = (("order", ("ae_id", "portal_id", "submitted_at", "created_at", "phase")),
              ("order", ("ae_id", "portal_id", "validated_at", "submitted_at", "created_at")),
              ("order", ("ae_id", "phase", "substate", "portal_id", "state_since",
                         "submitted_at", "created_at")),
              ("holder_certificate", ("written_at", "order_id")),
              ("activation", ("delivered_at", "order_id")),
              ("notification", ("ae_id", "type", "created_at", "order_id")))
    migrate(*(migrator.add_index(table, columns, False) for table, columns in wanted
              if _index_named(database, table, columns) is None))


def _v26_search_columns(database: Database) -> None:
    """v26: the list's « E-mail », « Raison sociale » and « Téléphone du porteur » filters —
    a search key of each company's name and person's telephone, filled for existing rows."""
    from models import Company, Person, phone_key, search_key

    migrator = _migrator(database)
    migrate(migrator.add_column("company", "name_search", CharField(default="")),
            migrator.add_column("person", "phone_search", CharField(default="")))
    for model, source, target, key in ((Company, Company.name, "name_search", search_key),
                                       (Person, Person.phone, "phone_search", phone_key)):
        rows = model.select(model.id, source).where(source != "").tuples()
        for start in range(0, rows.count(), 1000):
            for row_id, value in rows.order_by(model.id).limit(1000).offset(start):
                model.update({target: key(value)}).where(model.id == row_id).execute()
    migrate(migrator.add_index("company", ("name_search",), False),
            migrator.add_index("person", ("phone_search",), False))


def _v27_renewal_and_revocation(database: Database) -> None:
    """v27: Renouvellement and Révocation orders name the order and certificate they follow."""
    migrator = _migrator(database)
    migrate(migrator.add_column("order", "previous_order_id",
                                ForeignKeyField(Order, null=True, on_delete="SET NULL",
                                                field=Order.id)),
            migrator.add_column("order", "target_serial", CharField(null=True)),
            migrator.add_column("order", "revocation_reason", CharField(null=True)),
            migrator.add_index("order", ("target_serial",), False))


def _v28_issuer_key_id(database: Database) -> None:
    """v28: the register names each certificate's issuer by its key id, read once from the
    certificates already there, so that a CRL of many entries is built from one indexed query."""
    from adapters.ca.authority import issuer_key_id_of
    from models import IssuedCertificate

    migrator = _migrator(database)
    migrate(migrator.add_column("issued_certificate", "issuer_key_id", CharField(null=True)))
    by_key: dict[str, list[int]] = {}
    rows = (IssuedCertificate
            .select(IssuedCertificate.id, IssuedCertificate.pem)
            .where(IssuedCertificate.pem != "")
            .tuples())
    for row_id, pem in rows.iterator():
        key_id = issuer_key_id_of(pem)
        if key_id:
            by_key.setdefault(key_id, []).append(row_id)
    for key_id, ids in by_key.items():
        for start in range(0, len(ids), 500):
            (IssuedCertificate
             .update(issuer_key_id=key_id)
             .where(IssuedCertificate.id.in_(ids[start:start + 500]))
             .execute())
    migrate(migrator.add_index("issued_certificate", ("issuer_key_id", "revoked_at"), False))


def _v29_expiry_reminders(database: Database) -> None:
    """v29: the AE's « Relances avant expiration (jours) » and the reminders sent."""
    from models import CertificateExpiryReminder

    migrator = _migrator(database)
    if "expiry_reminder_days" not in {column.name for column in database.get_columns("ae")}:
        migrate(migrator.add_column("ae", "expiry_reminder_days", CharField(default="90,30,7")))
    # Certificates soon to expire; a table an earlier step created from today's model has it.
    columns = ("not_after", "written_at")
    if _index_named(database, "holder_certificate", columns) is None:
        migrate(migrator.add_index("holder_certificate", columns, False))
    database.create_tables([CertificateExpiryReminder], safe=True)


def _v30_revocation_requests(database: Database) -> None:
    """v30: revocation requests by holders and requesters — the one-time code that proves
    them, and the request each revocation order carries (one waiting per certificate)."""
    from models import RevocationClaim, RevocationRequest

    database.create_tables([RevocationClaim, RevocationRequest], safe=True)


def _v31_certificates_view_index(database: Database) -> None:
    """v31: « Certificats » reads the newest certificates first from an index, stopping at
    the page's end, rather than sorting every certificate of the AE."""
    columns = ("issued_at", "id")
    if _index_named(database, "holder_certificate", columns) is None:  # else today's model's
        migrate(_migrator(database).add_index("holder_certificate", columns, False))


def _v32_audit_chain_key(database: Database) -> None:
    """v32: the audit chain's hashes become HMACs under the instance's key (create_app loads
    it first); an intact older chain is chained again with it, once."""
    from services.audit_legacy import mac_plain_chain

    mac_plain_chain()


def _v33_public_link_generations(database: Database) -> None:
    """v33: revoking an order's follow-up and renewal links (a generation counter their tokens
    carry), and the activation link and code written when they leave the outbox (the nonces
    they are derived from)."""
    migrator = _migrator(database)
    columns = {column.name for column in database.get_columns("order")}
    if "link_generation" not in columns:  # a table made from today's model has it
        migrate(migrator.add_column("order", "link_generation", IntegerField(default=0)))
    columns = {column.name for column in database.get_columns("activation")}
    for name in ("link_nonce", "code_nonce"):
        if name not in columns:
            migrate(migrator.add_column("activation", name, CharField(null=True)))


def _v34_job_heartbeats(database: Database) -> None:
    """v34: each scheduled job's latest run, which ``/sante`` checks for staleness."""
    from models import JobHeartbeat

    database.create_tables([JobHeartbeat], safe=True)


def _v35_order_tally(database: Database) -> None:
    """v35: the Commandes list's counters kept in ``order_tally`` (database.ORDER_TALLY_TRIGGERS
    keeps it from now on, created right after the steps in this same transaction): one row per
    (AE, portal, processus, type, phase, sub-state) with its orders counted."""
    from models import OrderTally

    database.create_tables([OrderTally], safe=True)
    columns = "ae_id, portal_id, process, order_type, phase, substate"
    database.execute_sql(f'INSERT INTO order_tally ({columns}, n) '
                         f'SELECT {columns}, COUNT(*) FROM "order" GROUP BY {columns}')


def _v36_document_readings(database: Database) -> None:
    """v36: what RA Desk read on each identity document and KBIS extract (one row per document
    version), and the pending reads the reading job takes in turn."""
    from models import DocumentReading

    database.create_tables([DocumentReading], safe=True)


def _v37_handlers_index_by_ae(database: Database) -> None:
    """v37: « Mes dossiers » and « Non attribuées » read from an index that starts with the AE:
    the list's count and counters under them come from the index alone, not from thousands of
    order rows looked up for their AE (README, bench_orders)."""
    before = ("handled_by_id", "phase", "substate", "created_at")
    after = ("ae_id", *before)
    steps = []
    if _index_named(database, "order", after) is None:  # else made from today's model
        steps.append(_migrator(database).add_index("order", after, False))
    old = _index_named(database, "order", before)
    if old is not None:
        steps.append(_migrator(database).drop_index("order", old))
    migrate(*steps)


MIGRATIONS = {
    2: _v2_digest_and_holder_search,
    3: _v3_order_review,
    4: _v4_documents,
    5: _v5_notifications,
    6: _v6_generation,
    7: _v7_signatures,
    8: _v8_digest,
    9: _v9_list_filter_indexes,
    10: _v10_login_sessions,
    11: _v11_ordering_pages,
    12: _v12_api,
    13: _v13_webhooks,
    14: _v14_operator_certificate_revocation,
    15: _v15_operator_enrolment,
    16: _v16_portal_contacts_and_ae_identity,
    17: _v17_contract_texts,
    18: _v18_key_stock,
    19: _v19_hold_substate,
    20: _v20_handling,
    21: _v21_saved_searches,
    22: _v22_state_since,
    23: _v23_requester_reminders,
    24: _v24_bulk_actions,
    25: _v25_statistics_indexes,
    26: _v26_search_columns,
    27: _v27_renewal_and_revocation,
    28: _v28_issuer_key_id,
    29: _v29_expiry_reminders,
    30: _v30_revocation_requests,
    31: _v31_certificates_view_index,
    32: _v32_audit_chain_key,
    33: _v33_public_link_generations,
    34: _v34_job_heartbeats,
    35: _v35_order_tally,
    36: _v36_document_readings,
    37: _v37_handlers_index_by_ae,
}
