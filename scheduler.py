"""Background jobs (APScheduler): each run builds its own app context and database connection.

The jobs are what create_app registers with ``register_jobs`` (the outbox, signature reminders,
the activity digest). Run them

* as their own process: ``flask --app app scheduler`` (the production way, one process or
  several: every job is safe to run concurrently, see services.messaging.outbox);
* inside the server as well when ``RADESK_SCHEDULER=1`` (the demo): started by the first request
  a server process serves, never by the CLI or the tests' in-process apps.

``flask --app app outbox flush`` sends every queued notification now; ``outbox status`` counts.
"""
from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
from typing import Callable, NamedTuple

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from models import db

log = logging.getLogger("radesk.scheduler")

JOBS_KEY = "radesk_jobs"
OUTBOX_JOB = "outbox"
SIGNATURE_REMINDERS_JOB = "signature_reminders"
DIGEST_JOB = "digest"
DRAFT_EXPIRY_JOB = "draft_expiry"
REQUESTER_REMINDERS_JOB = "requester_reminders"
DOCUMENT_CLEANUP_JOB = "document_cleanup"
WEBHOOKS_JOB = "webhooks"
BULK_ACTIONS_JOB = "bulk_actions"
BULK_EXPORTS_CLEANUP_JOB = "bulk_exports_cleanup"
EXPIRY_REMINDERS_JOB = "expiry_reminders"
PKI_REFRESH_JOB = "pki_refresh"
AUDIT_CHECKPOINT_JOB = "audit_checkpoint"
PREVIEW_CACHE_JOB = "preview_cache"
ORDER_TALLY_JOB = "order_tally"
PIECE_READING_JOB = "piece_reading"
LOGIN_SESSIONS_PURGE_JOB = "login_sessions_purge"


class Job(NamedTuple):
    id: str
    function: Callable[[Flask], object]
    trigger: dict  # APScheduler trigger arguments


def every(**interval: float) -> dict:
    """An interval trigger: ``every(seconds=15)``, ``every(minutes=15)``."""
    return {"trigger": "interval", **{unit: float(value) for unit, value in interval.items()}}


def register_jobs(app: Flask, *new: Job) -> None:
    """Add periodic jobs to this app's scheduler (ids are unique)."""
    registered = app.extensions.setdefault(JOBS_KEY, {})
    for job in new:
        if job.id in registered:
            raise ValueError(f"Job {job.id!r} registered twice")
        registered[job.id] = job


def jobs(app: Flask) -> list[Job]:
    """Every periodic job registered for this app."""
    return list(app.extensions.get(JOBS_KEY, {}).values())


def job_intervals(app: Flask) -> dict[str, dt.timedelta]:
    """Each registered job's interval (what /sante compares its heartbeat with)."""
    units = ("weeks", "days", "hours", "minutes", "seconds")
    return {job.id: dt.timedelta(**{unit: job.trigger[unit] for unit in units
                                    if unit in job.trigger})
            for job in jobs(app) if job.trigger.get("trigger") == "interval"}


def run_job(app: Flask, job: Job):
    """One run of ``job`` in a fresh app context with its own connection; errors are logged,
    never raised into the scheduler (the next run tries again)."""
    from services import heartbeats

    with app.app_context(), db.connection_context():
        try:
            return job.function(app)
        except Exception:  # noqa: BLE001 — a job failure must not stop the scheduler
            log.exception("Tâche « %s » en erreur", job.id)
            return None
        finally:
            heartbeats.record(job.id)  # the scheduler is alive: /sante checks this


def build(app: Flask, scheduler_class: type[BaseScheduler] = BackgroundScheduler) -> BaseScheduler:
    from services import heartbeats

    heartbeats.forget_writes()  # a new scheduler's first runs say at once that it is up
    scheduler = scheduler_class(timezone="UTC", job_defaults={"coalesce": True,
                                                              "max_instances": 1,
                                                              "misfire_grace_time": None})
    now = dt.datetime.now(dt.timezone.utc)
    for job in jobs(app):
        scheduler.add_job(run_job, args=(app, job), id=job.id, next_run_time=now, **job.trigger)
    return scheduler


# --- Inside the server process (RADESK_SCHEDULER=1) -------------------------------------------

_lock = threading.Lock()


def _start_in_server(app: Flask) -> None:
    with _lock:
        if app.extensions.get("radesk_scheduler") is None:
            scheduler = build(app)
            scheduler.start()
            app.extensions["radesk_scheduler"] = scheduler


def wake(app: Flask) -> None:
    """Run the outbox now rather than at its next tick (create_app makes this its wake hook);
    nothing happens when no scheduler runs in this process: the scheduler process will."""
    scheduler = app.extensions.get("radesk_scheduler")
    if scheduler is not None and scheduler.get_job(OUTBOX_JOB) is not None:
        scheduler.modify_job(OUTBOX_JOB, next_run_time=dt.datetime.now(dt.timezone.utc))


def wake_job(app: Flask, job_id: str) -> None:
    """Run ``job_id`` now rather than at its next tick, when this process runs the scheduler."""
    scheduler = app.extensions.get("radesk_scheduler")
    if scheduler is not None and scheduler.get_job(job_id) is not None:
        scheduler.modify_job(job_id, next_run_time=dt.datetime.now(dt.timezone.utc))


def init_app(app: Flask) -> None:
    app.cli.add_command(scheduler_command)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(digest_cli)
    if app.config.get("RADESK_SCHEDULER") and not app.config.get("TESTING"):
        @app.before_request
        def start_scheduler():
            if "radesk_scheduler" not in app.extensions:
                _start_in_server(app)


# --- Command line --------------------------------------------------------------------------

@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Exécute les tâches de fond (boîte d'envoi des notifications…) jusqu'à Ctrl-C."""
    app = current_app._get_current_object()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # APScheduler says « Running job » and « executed successfully » at INFO for every tick of
    # every job: the journal would be mostly that. Its warnings and errors still show.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    scheduler = build(app, BlockingScheduler)
    click.echo("Tâches de fond démarrées : " + ", ".join(job.id for job in jobs(app))
               + " (Ctrl-C pour arrêter).")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass


outbox_cli = AppGroup("outbox", help="Boîte d'envoi des notifications.")


@outbox_cli.command("flush")
@with_appcontext
def outbox_flush():
    """Envoie maintenant toutes les notifications en attente (code de sortie 1 si un envoi
    a échoué)."""
    from services.messaging import outbox

    app = current_app._get_current_object()
    with db.connection_context():
        report = outbox.flush(app)
        waiting = outbox.pending_count()
    click.echo(f"Boîte d'envoi : {report} {waiting} en attente.")
    if report.retried or report.failed:
        sys.exit(1)


@outbox_cli.command("status")
@with_appcontext
def outbox_status():
    """Compte les notifications par état."""
    from peewee import fn

    from models import Notification

    with db.connection_context():
        counts = dict(Notification
                      .select(Notification.state, fn.COUNT(Notification.id))
                      .group_by(Notification.state)
                      .tuples())
    labels = {"queued": "en attente", "sending": "en cours d'envoi", "sent": "envoyée(s)",
              "failed": "en échec"}
    click.echo("Boîte d'envoi : " + ", ".join(
        f"{counts.get(state, 0)} {label}" for state, label in labels.items()) + ".")


# --- Activity digest ---------------------------------------------------------------------------

digest_cli = AppGroup("digest", help="Résumé d'activité des opérateurs.")


@digest_cli.command("preview")
@click.option("--operator", "who", required=True,
              help="Opérateur : n°, adresse e-mail, nom affiché ou clé de démonstration (demo-aea).")
@with_appcontext
def digest_preview(who: str):
    """Affiche le résumé qu'un opérateur recevrait maintenant (texte)."""
    from cli import operator_reference
    from models import utcnow
    from services import digest

    app = current_app._get_current_object()
    with db.connection_context():
        try:
            operator = digest.find_operator(operator_reference(who))
        except digest.DigestError as problem:
            raise click.ClickException(str(problem))
        click.echo(digest.text(digest.preview(app, operator, utcnow())))
        if not operator.digest_enabled:
            click.echo("(Résumé désactivé pour cet opérateur : il ne le reçoit pas.)")


@digest_cli.command("send-now")
@with_appcontext
def digest_send_now():
    """Met en boîte d'envoi les résumés du créneau en cours (une seule fois par opérateur et
    créneau), puis les envoie."""
    from services import digest
    from services.messaging import outbox

    app = current_app._get_current_object()
    with db.connection_context():
        report = digest.run(app)
        click.echo(f"Résumé d'activité : {report}")
        if report.queued:
            click.echo(f"Boîte d'envoi : {outbox.run(app)}")
