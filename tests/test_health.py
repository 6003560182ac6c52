"""« /sante »: 200 when the installation works, 503 naming each part that does not (database,
document store, outbox, scheduled jobs, the embedded CA's CRLs), never any AE's data."""
from __future__ import annotations

import datetime as dt
import shutil
import uuid

import peewee
import pytest
from playhouse.db_url import connect

import scheduler
from adapters.ca import authority, get_ca
from database import LATEST_VERSION, migrate_database
from models import JobHeartbeat, Notification, SchemaVersion, db, utcnow
from services import heartbeats


@pytest.fixture
def healthy(app):
    """Every registered job just ran: a scheduler is alive."""
    heartbeats.forget_writes()
    for job_id in scheduler.job_intervals(app):
        assert heartbeats.record(job_id)
    return app


def sante(client):
    response = client.get("/sante")
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    return response, response.get_json()


def queued_notification(ae, *, state="queued", age=dt.timedelta(0), **fields):
    moment = utcnow() - age
    return Notification.create(ae=ae, order=None, type="digest", recipient="sandra@acme.example",
                               subject="Résumé BPOI confidentiel", body="…", state=state,
                               created_at=moment, next_try_at=moment,
                               message_id=f"<{uuid.uuid4().hex}@radesk.example>", **fields)


def test_everything_fine_answers_200_without_login(healthy, client):
    response, body = sante(client)

    assert response.status_code == 200
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"base_de_donnees", "stockage_documents", "boite_d_envoi",
                                   "planificateur", "lcr"}
    assert {check["status"] for check in body["checks"].values()} == {"ok"}
    assert "message" not in body
    assert body["checks"]["lcr"]["message"] == ("L'AC intégrée n'est pas encore créée : aucune "
                                                "LCR à publier.")
    assert set(body["checks"]["planificateur"]["taches"]) == set(scheduler.job_intervals(healthy))
    assert response.headers["X-Request-Id"]


def test_database_down_is_named_and_the_checks_needing_it_are_not_run(healthy, client,
                                                                        monkeypatch):
    db.close()

    def refused():
        raise peewee.OperationalError("connection to server at 10.1.2.3 refused")

    monkeypatch.setattr(db.obj, "_connect", refused)
    response, body = sante(client)

    assert response.status_code == 503
    assert body["status"] == "erreur"
    assert body["checks"]["base_de_donnees"] == {"status": "erreur",
                                                 "message": "La base de données ne répond pas."}
    assert body["checks"]["boite_d_envoi"]["status"] == "non vérifié"
    assert body["checks"]["planificateur"]["status"] == "non vérifié"
    assert body["checks"]["stockage_documents"]["status"] == "ok"
    assert body["message"] == "En échec : base de données — La base de données ne répond pas."
    assert "10.1.2.3" not in response.get_data(as_text=True)  # the driver's text stays in the log


def test_unwritable_document_store(healthy, client):
    documents = healthy.config["INSTANCE_PATH"] / "documents"
    shutil.rmtree(documents, ignore_errors=True)
    documents.write_text("not a folder")  # as root, permissions would not stop the write

    response, body = sante(client)

    assert response.status_code == 503
    check = body["checks"]["stockage_documents"]
    assert check["status"] == "erreur"
    assert check["message"].startswith("Stockage des documents : écriture impossible")
    assert str(documents) not in response.get_data(as_text=True)
    assert body["message"].startswith("En échec : stockage des documents — ")


def test_stale_heartbeat_names_the_late_job(healthy, client):
    interval = scheduler.job_intervals(healthy)["outbox"]
    (JobHeartbeat
     .update(last_run_at=utcnow() - interval - dt.timedelta(minutes=11))
     .where(JobHeartbeat.job == "outbox")
     .execute())

    response, body = sante(client)

    assert response.status_code == 503
    check = body["checks"]["planificateur"]
    assert check["status"] == "erreur"
    assert check["message"].startswith("Tâches en retard : outbox (dernière exécution le ")
    assert check["message"].endswith("attendue toutes les 15 s).")
    assert check["taches"]["outbox"]["en_retard"] is True
    assert check["taches"]["digest"]["en_retard"] is False
    assert body["message"].startswith("En échec : planificateur — Tâches en retard : outbox")


def test_a_heartbeat_within_the_grace_period_is_fine(healthy, client):
    interval = scheduler.job_intervals(healthy)["outbox"]
    (JobHeartbeat
     .update(last_run_at=utcnow() - interval - dt.timedelta(minutes=9))
     .where(JobHeartbeat.job == "outbox")
     .execute())
    assert client.get("/sante").status_code == 200


def test_no_scheduler_ever_ran_says_so(app, client):
    response, body = sante(client)

    assert response.status_code == 503
    assert body["checks"]["planificateur"] == {
        "status": "erreur", "dans_ce_processus": False,
        "message": "Aucun planificateur configuré : RADESK_SCHEDULER n'est pas activé et aucun "
                   "processus « flask --app app scheduler » n'a jamais exécuté de tâche."}


def test_a_scheduler_of_this_process_that_has_not_run_yet(app, client):
    app.config["RADESK_SCHEDULER"] = True
    response, body = sante(client)
    assert response.status_code == 503
    assert body["checks"]["planificateur"]["message"] == (
        "Le planificateur de ce processus n'a encore exécuté aucune tâche.")


def test_expired_crl(healthy, client, monkeypatch):
    get_ca(healthy).refresh()  # the pki_refresh job: both CRLs published, valid 7 days
    response, body = sante(client)
    assert response.status_code == 200
    assert body["checks"]["lcr"]["message"] == "Les LCR publiées sont à jour."
    assert body["checks"]["lcr"]["issuing.crl"]["prochaine_mise_a_jour"]

    later = authority.now_utc() + dt.timedelta(days=8)
    monkeypatch.setattr(authority, "now_utc", lambda: later)
    response, body = sante(client)

    assert response.status_code == 503
    check = body["checks"]["lcr"]
    assert check["status"] == "erreur"
    assert check["message"].startswith("LCR : issuing.crl périmée (prochaine mise à jour prévue "
                                       "le ")
    assert "root.crl périmée" in check["message"]
    assert body["message"].startswith("En échec : LCR de l'AC intégrée — ")


def test_missing_crl(healthy, client):
    get_ca(healthy).refresh()
    (healthy.config["INSTANCE_PATH"] / "ca" / "root.crl").unlink()

    response, body = sante(client)

    assert response.status_code == 503
    assert body["checks"]["lcr"]["message"] == "LCR : root.crl absente ou illisible."


def test_outbox_backlog_is_counted_without_saying_what_waits(healthy, client, make_ae):
    ae = make_ae("BPOI")
    queued_notification(ae, age=dt.timedelta(minutes=5))  # due recently: the outbox has time
    assert client.get("/sante").status_code == 200

    queued_notification(ae, age=dt.timedelta(minutes=16))
    queued_notification(ae, state="failed", age=dt.timedelta(hours=25))  # beyond the 24 h
    response, body = sante(client)

    assert response.status_code == 503
    check = body["checks"]["boite_d_envoi"]
    assert check["status"] == "erreur"
    assert check["message"] == "1 notification(s) attendent leur envoi depuis plus de 15 min."
    assert (check["en_retard"], check["en_echec_24h"]) == (1, 0)
    text = response.get_data(as_text=True)
    for secret in ("BPOI", "sandra@acme.example", "confidentiel"):
        assert secret not in text


def test_failed_notifications_above_the_threshold(healthy, client, make_ae):
    ae = make_ae("BPOI")
    healthy.config["RADESK_HEALTH_OUTBOX_MAX_FAILED"] = 2
    for _ in range(2):
        queued_notification(ae, state="failed", age=dt.timedelta(hours=3), tries=8)
    assert client.get("/sante").status_code == 200

    queued_notification(ae, state="failed", age=dt.timedelta(hours=1), tries=8)
    response, body = sante(client)

    assert response.status_code == 503
    assert body["checks"]["boite_d_envoi"]["message"] == (
        "3 notification(s) abandonnées en échec ces dernières 24 h (seuil : 2).")


def test_every_failing_part_is_named(app, client, make_ae):
    queued_notification(make_ae("BPOI"), age=dt.timedelta(hours=2))
    response, body = sante(client)

    assert response.status_code == 503
    assert body["message"].startswith("En échec : boîte d'envoi — 1 notification(s) ")
    assert " ; planificateur — Aucun planificateur configuré" in body["message"]


def test_rate_limited(healthy, client):
    healthy.config["RADESK_HEALTH_RATE_LIMIT"] = "2 per minute"
    assert [client.get("/sante").status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/sante").get_json() == {
        "status": "erreur",
        "message": "Trop de contrôles de santé demandés : réessayez dans une minute."}


# --- the heartbeats the scheduler writes ------------------------------------------------------

def test_a_job_run_records_its_heartbeat_at_most_once_a_minute(app):
    heartbeats.forget_writes()
    job = scheduler.Job("essai", lambda app: None, scheduler.every(seconds=5))
    scheduler.run_job(app, job)
    first = JobHeartbeat.get_by_id("essai").last_run_at
    assert utcnow() - first < dt.timedelta(seconds=30)

    scheduler.run_job(app, job)  # a few seconds later: no second write
    assert JobHeartbeat.get_by_id("essai").last_run_at == first


def test_a_failing_job_still_beats(app):
    heartbeats.forget_writes()

    def broken(app):
        raise RuntimeError("boom")

    assert scheduler.run_job(app, scheduler.Job("cassee", broken, scheduler.every(hours=1))) is None
    assert JobHeartbeat.get_or_none(JobHeartbeat.job == "cassee") is not None


def test_v34_adds_the_heartbeat_table(tmp_path, database_url):
    database = connect(database_url)
    db.initialize(database)
    database.connect(reuse_if_open=True)
    assert migrate_database(database) == LATEST_VERSION
    database.execute_sql("DROP TABLE job_heartbeat")
    SchemaVersion.update(version=31).execute()

    assert migrate_database(database) == LATEST_VERSION
    assert database.table_exists("job_heartbeat")
    database.close()
