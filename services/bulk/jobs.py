"""The background jobs of « Actions sur la sélection »: asked in a request (``create``: one row
for the job, one per order, nothing else done there), carried out by the scheduler's worker
(``job``), read back by the progress and result page.

* **Claimed once.** A runner takes a job with one guarded UPDATE (queued, or running with a
  lease run out); two scheduler processes cannot both take it. The lease is renewed after
  every batch, so a runner that died lets another take the job over where it stopped.
* **Order by order, batch by batch.** Each order goes through the action's service in a
  savepoint of its own: a refused order (its French reasons kept) or a failing one is rolled
  back alone and the others go on. A batch (about 50 orders, at most a quarter of a second)
  commits the orders' changes, their outcomes and the job's counters together, so what is
  done is exactly what the result page says, even after a crash.
* **Audited.** Each order's service writes its own audit event; the finished job writes one
  more with the action, the selection's size and the results.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import socket
import time
import uuid
from collections import defaultdict

from flask import Flask
from peewee import fn

import workflow
from models import BulkItem, BulkJob, Operator, Order, OperatorScope, db, utcnow
from services import audit, wakeups
from services.bulk import actions
from services.bulk.selection import Selection

log = logging.getLogger("radesk.bulk")

LEASE = dt.timedelta(minutes=2)
BATCH_SECONDS = 0.25
INSERT_CHUNK = 500
QUEUED, RUNNING, FINISHED, FAILED = "queued", "running", "finished", "failed"
STATE_LABELS = {QUEUED: "en file d'attente", RUNNING: "en cours", FINISHED: "terminée",
                FAILED: "interrompue"}
DONE, REFUSED = "done", "refused"
OUT_OF_SCOPE = "Commande hors de votre périmètre (autre AE, ou portail auquel vous n'avez pas accès)."
INACTIVE = "Votre compte opérateur n'est plus actif : la commande n'a pas été traitée."
UNEXPECTED = "Erreur inattendue : la commande n'a pas été modifiée."
WAKE_KEY = "radesk_bulk_wake"
EXPORT_DAYS = 7  # an export's files are removed this long after it finished

ACTION_FINISHED = "bulk_action_finished"
AUDIT_ACTIONS = {ACTION_FINISHED: "Action sur la sélection terminée"}
DETAIL_LABELS = {"tâche": "Action n°", "sélection": "Commandes sélectionnées",
                 "traitées": "Traitées", "refusées": "Refusées"}


# --- Asked, in the request ---------------------------------------------------------------

def create(app: Flask, operator: Operator, action: str, parameters: dict, selection: Selection,
           ip: str = "") -> BulkJob:
    """The job and its orders, queued; the worker does the rest."""
    now = utcnow()
    with db.atomic():
        job = BulkJob.create(ae=operator.ae_id, operator=operator.id, action=action,
                             parameters=json.dumps(parameters, ensure_ascii=False),
                             selection=json.dumps(selection.stored(), ensure_ascii=False),
                             ip=ip, total=selection.size, created_at=now)
        rows = [{"job": job.id, "position": position, "order_id": order_id, "number": number}
                for position, (order_id, number) in enumerate(selection.orders)]
        for start in range(0, len(rows), INSERT_CHUNK):
            BulkItem.insert_many(rows[start:start + INSERT_CHUNK]).execute()
    wake(app)
    return job


def register_wake(app: Flask, hook: wakeups.Hook) -> None:
    """What ``wake`` calls: in the server, the scheduler running the worker now."""
    wakeups.register(app, WAKE_KEY, hook)


def wake(app: Flask) -> None:
    wakeups.wake(app, WAKE_KEY)


def job_of(operator: Operator, job_id: int) -> BulkJob | None:
    """A job the operator asked for; None for anyone else's (another AE's above all)."""
    return BulkJob.get_or_none((BulkJob.id == job_id) & (BulkJob.ae == operator.ae_id)
                               & (BulkJob.operator == operator.id))


def label(job: BulkJob) -> str:
    return actions.LABELS.get(job.action, job.action)


def parameters(job: BulkJob) -> dict:
    return json.loads(job.parameters or "{}")


def items(job: BulkJob, outcome: str):
    return (BulkItem.select()
            .where((BulkItem.job == job.id) & (BulkItem.outcome == outcome))
            .order_by(BulkItem.position))


# --- Claimed and carried out, in the worker ----------------------------------------------

def new_runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _claimable(now: dt.datetime):
    return ((BulkJob.state == QUEUED)
            | ((BulkJob.state == RUNNING) & (BulkJob.lease_until < now)))


def claim(runner: str, job_id: int | None = None) -> BulkJob | None:
    """Take the oldest job waiting (or ``job_id``) for ``runner``; None when there is none, or
    another runner took it first."""
    now = utcnow()
    waiting = (BulkJob.select(BulkJob.id).where(_claimable(now))
               .order_by(BulkJob.created_at, BulkJob.id).limit(5))
    if job_id is not None:
        waiting = waiting.where(BulkJob.id == job_id)
    # Read whole before writing: an SQLite cursor left open keeps its snapshot, and a write
    # from that snapshot after another process's commit fails at once (« database is locked »).
    for (candidate,) in list(waiting.tuples()):
        with db.atomic():
            taken = (BulkJob
                     .update(state=RUNNING, runner=runner, lease_until=now + LEASE,
                             started_at=fn.COALESCE(BulkJob.started_at, now))
                     .where((BulkJob.id == candidate) & _claimable(now))
                     .execute())
        if taken:
            job = BulkJob.get_by_id(candidate)
            if job.action == actions.EXPORT and job.processed:
                _start_again(job)  # its files died with the runner: they are written anew
            return job
    return None


def _start_again(job: BulkJob) -> None:
    with db.atomic():
        BulkItem.update(outcome=None, message=None).where(BulkItem.job == job.id).execute()
        BulkJob.update(processed=0, done=0, refused=0).where(BulkJob.id == job.id).execute()
    job.processed = job.done = job.refused = 0


def job(app: Flask) -> int:
    """The scheduler's worker: every job waiting, one after the other; how many were run."""
    return run_pending(app)


def run_pending(app: Flask, runner: str | None = None) -> int:
    """Claims and runs jobs until none waits (the scheduler, and tests, call this)."""
    runner = runner or new_runner()
    count = 0
    with app.app_context():
        while (claimed := claim(runner)) is not None:
            run(app, claimed, runner)
            count += 1
    return count


def run(app: Flask, job: BulkJob, runner: str) -> None:
    """Carry out a claimed job to its end (or until another runner took it over)."""
    operator = Operator.get_or_none(Operator.id == job.operator_id)
    action = None
    try:
        action = actions.build(app, job, operator, parameters(job))
        action.keep_alive = lambda: _renew(job, runner)
        scope = OperatorScope(operator)
        while True:
            batch = list(BulkItem.select()
                         .where((BulkItem.job == job.id) & BulkItem.outcome.is_null())
                         .order_by(BulkItem.position)
                         .limit(action.batch_size))
            if not batch:
                break
            if not _run_batch(job, batch, action, scope, operator, runner):
                raise actions.LostJob()
            action.after_batch()
        action.finish()
        _finish(job, runner, operator, FINISHED)
    except actions.LostJob:
        action.abandon(lost=True)
        log.warning("Action sur la sélection n° %s reprise par un autre processus", job.id)
    except Exception as error:  # noqa: BLE001 — the job is marked, the worker goes on
        log.exception("Action sur la sélection n° %s en erreur", job.id)
        if action is not None:
            action.abandon()
        _finish(job, runner, operator, FAILED, error=str(error)[:500])


def _run_batch(job: BulkJob, batch: list[BulkItem], action: actions.Action,
               scope: OperatorScope, operator: Operator, runner: str) -> bool:
    """One batch in one transaction; False when the job is no longer this runner's."""
    visible = {order.id: order for order in
               Order.visible_to(scope).where(Order.id.in_([item.order_id for item in batch]))}
    outcomes: dict[tuple[str, str], list[int]] = defaultdict(list)
    began = time.monotonic()
    with db.atomic() as transaction:
        together = _together(action, list(visible.values()) if operator.active else [])
        for item in batch:
            if item.order_id in together:
                done, message = together[item.order_id]
                outcomes[(DONE if done else REFUSED, message)].append(item.id)
                continue
            outcome, message = _one(action, visible.get(item.order_id), operator)
            outcomes[(outcome, message)].append(item.id)
            if time.monotonic() - began > BATCH_SECONDS:
                break
        for (outcome, message), ids in outcomes.items():
            BulkItem.update(outcome=outcome, message=message).where(BulkItem.id.in_(ids)).execute()
        done = sum(len(ids) for (outcome, _), ids in outcomes.items() if outcome == DONE)
        reached = sum(len(ids) for ids in outcomes.values())
        renewed = (BulkJob
                   .update(processed=BulkJob.processed + reached, done=BulkJob.done + done,
                           refused=BulkJob.refused + (reached - done),
                           lease_until=utcnow() + LEASE)
                   .where((BulkJob.id == job.id) & (BulkJob.runner == runner)
                          & (BulkJob.state == RUNNING))
                   .execute())
        if not renewed:
            transaction.rollback()
            return False
    return True


def _renew(job: BulkJob, runner: str) -> bool:
    """Pushes the lease back; False when the job is no longer this runner's."""
    with db.atomic():
        return bool(BulkJob.update(lease_until=utcnow() + LEASE)
                    .where((BulkJob.id == job.id) & (BulkJob.runner == runner)
                           & (BulkJob.state == RUNNING))
                    .execute())


def _together(action: actions.Action, orders: list[Order]) -> dict[int, tuple[bool, str]]:
    """The batch's orders done at once when the action can; those it leaves out (all of them
    when the batch failed) go one by one."""
    if not orders:
        return {}
    try:
        with db.atomic():
            return action.apply_many(orders) or {}
    except Exception:  # noqa: BLE001 — one by one then, each order's failure kept to itself
        log.exception("Action sur la sélection : lot en erreur, repris commande par commande")
        return {}


def _one(action: actions.Action, order: Order | None, operator: Operator) -> tuple[str, str]:
    """(outcome, message) for one order, whatever happens to it."""
    if order is None:
        return REFUSED, OUT_OF_SCOPE
    if not operator.active:
        return REFUSED, INACTIVE
    try:
        with db.atomic():
            return DONE, action.apply(order)
    except workflow.Refused as refusal:
        return REFUSED, refusal.message
    except Exception:  # noqa: BLE001 — one order's failure must not stop the others
        log.exception("Action sur la sélection : commande %s en erreur", order.id)
        return REFUSED, UNEXPECTED


def _finish(job: BulkJob, runner: str, operator: Operator | None, state: str,
            error: str | None = None) -> None:
    with db.atomic():
        current = BulkJob.get_by_id(job.id)
        finished = (BulkJob
                    .update(state=state, finished_at=utcnow(), lease_until=None, error=error)
                    .where((BulkJob.id == job.id) & (BulkJob.runner == runner)
                           & (BulkJob.state == RUNNING))
                    .execute())
        if finished:
            details = {"tâche": job.id, "action": label(job), "sélection": current.total,
                       "traitées": current.done, "refusées": current.refused}
            if error:
                details["erreur"] = error
            audit.record(ACTION_FINISHED, operator=operator, ae=job.ae_id, ip=job.ip,
                         details=details)


# --- Housekeeping ------------------------------------------------------------------------

def cleanup_job(app: Flask) -> int:
    """Removes the files of exports finished more than EXPORT_DAYS days ago (hourly job)."""
    from services.bulk import export

    root = export.folder(app, BulkJob(id=0)).parent
    kept = [int(path.name) for path in root.iterdir() if path.name.isdigit()] \
        if root.is_dir() else []
    since = utcnow() - dt.timedelta(days=EXPORT_DAYS)
    old = [job_id for (job_id,) in BulkJob.select(BulkJob.id)
           .where(BulkJob.id.in_(kept) & (BulkJob.finished_at < since)).tuples()] if kept else []
    for job_id in old:
        shutil.rmtree(root / str(job_id), ignore_errors=True)
    return len(old)
