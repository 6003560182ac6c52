"""The audit trail is append-only and tamper-evident: `audit verify` notices an
edited, deleted or inserted row."""
import threading

import pytest

from models import AuditEvent, AuditHead, db
from services import audit


@pytest.fixture
def events(app, make_ae, make_operator, make_order):
    ae = make_ae()
    operator = make_operator(ae)
    order = make_order(ae)
    for index in range(5):
        audit.record("order_viewed", operator=operator, order=order, details={"n": index},
                     ip="127.0.0.1")
    return ae, operator, order


def test_events_are_chained(events):
    rows = list(AuditEvent.select().order_by(AuditEvent.id))
    assert [row.id for row in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == "0" * 64
    for previous, current in zip(rows, rows[1:]):
        assert current.prev_hash == previous.hash
    assert AuditHead.get_by_id(1).last_hash == rows[-1].hash
    assert rows[2].actor == events[1].display_name
    assert rows[2].ae_id == events[0].id


def test_verify_passes_on_intact_chain(events, runner):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "Piste d'audit intègre : 5 événements vérifiés." in result.output


@pytest.mark.parametrize("tamper, expected", [
    ("UPDATE audit_event SET details = '{\"n\":99}' WHERE id = 3", "contenu modifié au n° 3"),
    ("UPDATE audit_event SET action = 'login' WHERE id = 1", "contenu modifié au n° 1"),
    ("DELETE FROM audit_event WHERE id = 2", "événement(s) manquant(s) avant le n° 3"),
    ("DELETE FROM audit_event WHERE id = 5", "dernier(s) événement(s) supprimé(s)"),
])
def test_verify_fails_after_hand_edit(events, runner, tamper, expected):
    db.execute_sql(tamper)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert expected in result.output


def test_rewriting_a_row_with_a_fresh_hash_still_breaks_the_link(events, runner):
    """Someone who edits a row and recomputes its own hash breaks the next row's link."""
    row = AuditEvent.get_by_id(2)
    new_hash = audit.event_hash(row.prev_hash, row.id, row.at, row.ae_id, row.operator_id,
                                row.actor, "tampered", row.order_id, row.details, row.ip)
    AuditEvent.update(action="tampered", hash=new_hash).where(AuditEvent.id == 2).execute()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "chaînage rompu au n° 3" in result.output


def test_concurrent_appends_keep_one_chain(app, make_ae):
    ae = make_ae()
    errors = []

    def append(worker):
        try:
            with db.connection_context():
                for index in range(10):
                    audit.record("concurrent", ae=ae.id, details={"w": worker, "i": index})
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert AuditEvent.select().count() == 40
    assert audit.verify() == []
