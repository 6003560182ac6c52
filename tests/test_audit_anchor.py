"""The audit trail is anchored outside the database: a key in the instance folder MACs every
event, and signed checkpoints in an append-only file pin the chain's head over time, so that
`audit verify` notices a deleted head, a cut tail and a chain rewritten from some row on."""
import base64
import hashlib
import json
import stat

from models import AuditEvent, AuditHead, SchemaVersion, db
from services import audit


def _record(count: int, ae=None) -> None:
    audit.record_many([{"action": "order_viewed", "ae": ae, "details": {"n": index}}
                       for index in range(count)])


def _checkpoints_file(app):
    return app.config["INSTANCE_PATH"] / "audit" / "checkpoints.jsonl"


def _plain_sha256(prev_hash, seq, at, ae_id, operator_id, actor, action, order_id, details, ip):
    """How the chain was hashed before it had a key: what anyone can recompute."""
    payload = json.dumps([prev_hash, seq, at.isoformat(timespec="microseconds"), ae_id,
                          operator_id, actor, action, order_id, details, ip],
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _rehash_from(first_id: int, hash_function=_plain_sha256) -> None:
    """What a forger does: recompute every hash from ``first_id`` on, then the head."""
    previous = AuditEvent.get_by_id(first_id - 1).hash if first_id > 1 else "0" * 64
    for row in AuditEvent.select().where(AuditEvent.id >= first_id).order_by(AuditEvent.id):
        digest = hash_function(previous, row.id, row.at, row.ae_id, row.operator_id, row.actor,
                               row.action, row.order_id, row.details, row.ip)
        AuditEvent.update(prev_hash=previous, hash=digest).where(AuditEvent.id == row.id).execute()
        previous = digest
    AuditHead.update(last_hash=previous).where(AuditHead.id == 1).execute()


def _verify(runner):
    result = runner.invoke(args=["audit", "verify"])
    return result.exit_code, result.output


# --- the three attacks ------------------------------------------------------------------------

def test_a_deleted_head_is_reported(app, runner):
    _record(5)
    AuditHead.delete().execute()
    code, output = _verify(runner)
    assert code == 1
    assert "tête de chaîne (audit_head) absente" in output
    assert "Piste d'audit rompue" in output


def test_a_cut_tail_with_its_head_fixed_is_caught_by_the_checkpoint(app, runner):
    _record(8)
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    # The last three events go, and the head is made to point at the fifth.
    AuditEvent.delete().where(AuditEvent.id > 5).execute()
    fifth = AuditEvent.get_by_id(5)
    AuditHead.update(seq=5, last_hash=fifth.hash).where(AuditHead.id == 1).execute()
    assert audit.verify() == []  # the chain alone cannot tell
    code, output = _verify(runner)
    assert code == 1
    assert "événement(s) n° 6 à 8 supprimé(s)" in output
    assert "point de contrôle du" in output


def test_a_chain_rewritten_from_row_100_with_plain_sha256_is_reported(app, runner):
    _record(120)
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    AuditEvent.update(details='{"n":"falsifié"}').where(AuditEvent.id == 100).execute()
    _rehash_from(100)
    code, output = _verify(runner)
    assert code == 1
    assert "contenu modifié au n° 100" in output
    assert "n° 120 ne correspond pas au point de contrôle du" in output


def test_the_key_alone_catches_a_rewrite_before_any_checkpoint(app, runner):
    _record(120)
    AuditEvent.update(action="tampered").where(AuditEvent.id == 100).execute()
    _rehash_from(100)
    code, output = _verify(runner)
    assert code == 1
    assert "contenu modifié au n° 100" in output


def test_a_forged_checkpoint_line_is_reported(app, runner):
    _record(3)
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    path = _checkpoints_file(app)
    line = json.loads(path.read_text().splitlines()[0])
    # A forger adds a checkpoint claiming fewer events, with a signature of their own.
    forged = dict(line, seq=2, hash=AuditEvent.get_by_id(2).hash,
                  signature=base64.b64encode(b"\x01" * 64).decode())
    with path.open("a") as handle:
        handle.write(json.dumps(forged) + "\n")
        handle.write("pas du JSON\n")
    code, output = _verify(runner)
    assert code == 1
    assert "point de contrôle falsifié (ligne 2) : signature invalide" in output
    assert "point de contrôle illisible (ligne 3)" in output


# --- the keys and the checkpoints -------------------------------------------------------------

def test_keys_are_made_per_instance_and_private(app, runner):
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    folder = app.config["INSTANCE_PATH"] / "audit"
    for name in ("chain.key", "checkpoint.key", "checkpoints.jsonl"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_events_are_macced_with_the_instance_key(app):
    _record(1)
    row = AuditEvent.get_by_id(1)
    plain = _plain_sha256(row.prev_hash, row.id, row.at, row.ae_id, row.operator_id, row.actor,
                          row.action, row.order_id, row.details, row.ip)
    assert row.hash != plain and len(row.hash) == 64


def test_checkpoint_command_appends_a_signed_line(app, runner):
    _record(4)
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert "Point de contrôle écrit : 4 événements" in result.output
    _record(2)
    from services import audit_anchor
    audit_anchor.job(app)  # what the scheduler runs every hour
    lines = [json.loads(line) for line in _checkpoints_file(app).read_text().splitlines()]
    assert [line["seq"] for line in lines] == [4, 6]
    assert lines[1]["hash"] == AuditHead.get_by_id(1).last_hash
    assert set(lines[0]) == {"seq", "hash", "at", "signature"}
    code, output = _verify(runner)
    assert code == 0, output
    assert "Piste d'audit intègre : 6 événements vérifiés." in output
    assert "2 point(s) de contrôle concordant(s)" in output


def test_checkpoint_refuses_a_head_that_is_not_the_last_event(app, runner):
    _record(3)
    AuditHead.update(last_hash="f" * 64).where(AuditHead.id == 1).execute()
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 1
    assert "tête de chaîne ne correspond pas au dernier événement" in result.output
    assert not _checkpoints_file(app).exists()


def test_the_checkpoint_job_is_registered_hourly(app):
    import scheduler
    jobs = {job.id: job for job in scheduler.jobs(app)}
    assert jobs["audit_checkpoint"].trigger == {"trigger": "interval", "minutes": 60.0}


# --- upgrading a database whose chain had no key ---------------------------------------------

def _legacy_chain(count: int) -> None:
    """Events as the previous release wrote them (plain SHA-256), at schema version 31."""
    _record(count)
    _rehash_from(1)
    SchemaVersion.update(version=31).where(SchemaVersion.id == 1).execute()


def test_upgrade_macs_an_intact_legacy_chain_once(app, runner):
    from database import migrate_database
    _legacy_chain(7)
    old_hashes = [row.hash for row in AuditEvent.select().order_by(AuditEvent.id)]
    migrate_database(db.obj)
    rows = list(AuditEvent.select().order_by(AuditEvent.id))
    assert all(row.hash != old for row, old in zip(rows, old_hashes))
    code, output = _verify(runner)
    assert code == 0, output
    assert "Piste d'audit intègre : 7 événements vérifiés." in output
    _record(1)  # new events chain on
    assert _verify(runner)[0] == 0


def test_upgrade_leaves_a_broken_legacy_chain_as_it_found_it(app, runner):
    from database import migrate_database
    _legacy_chain(7)
    AuditEvent.update(action="tampered").where(AuditEvent.id == 4).execute()
    before = [(row.prev_hash, row.hash) for row in AuditEvent.select().order_by(AuditEvent.id)]
    migrate_database(db.obj)
    after = [(row.prev_hash, row.hash) for row in AuditEvent.select().order_by(AuditEvent.id)]
    assert after == before  # not laundered by a fresh MAC
    code, output = _verify(runner)
    assert code == 1
    assert "contenu modifié au n° 4" in output
