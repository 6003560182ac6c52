"""The scheduled jobs' heartbeats: after each run the scheduler writes the job's time in
``job_heartbeat`` (one row per job, whichever scheduler process ran it); ``/sante`` reads them.

A job that runs every few seconds would otherwise write as often: a process writes a job's
row at most once per ``MIN_WRITE_INTERVAL``, far below the staleness threshold (an interval
plus ``RADESK_HEALTH_HEARTBEAT_GRACE_MINUTES``).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time

from models import JobHeartbeat, db, utcnow

log = logging.getLogger("radesk.scheduler")

MIN_WRITE_INTERVAL = 60.0  # seconds

_last_written: dict[str, float] = {}
_lock = threading.Lock()


def _process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:255]


def record(job_id: str, now: dt.datetime | None = None) -> bool:
    """Note that ``job_id`` just ran; returns whether a row was written. Never raises: a
    database that does not answer is the job's problem, already logged."""
    with _lock:
        last = _last_written.get(job_id)
        if last is not None and time.monotonic() - last < MIN_WRITE_INTERVAL:
            return False
        _last_written[job_id] = time.monotonic()
    now = now or utcnow()
    try:
        with db.atomic():
            (JobHeartbeat
             .insert(job=job_id, last_run_at=now, process=_process_name())
             .on_conflict(conflict_target=[JobHeartbeat.job],
                          update={JobHeartbeat.last_run_at: now,
                                  JobHeartbeat.process: _process_name()})
             .execute())
    except Exception:  # noqa: BLE001 — a heartbeat must not turn a job's run into an error
        with _lock:
            _last_written.pop(job_id, None)  # try again after the next run
        log.exception("Battement de la tâche « %s » non enregistré", job_id)
        return False
    return True


def latest() -> dict[str, dt.datetime]:
    """Each job's latest recorded run (UTC)."""
    return {row.job: row.last_run_at for row in JobHeartbeat.select()}


def forget_writes() -> None:
    """Write at the next run whatever the last write (a new scheduler, and the tests)."""
    with _lock:
        _last_written.clear()
