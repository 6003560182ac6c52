"""The folder of prometheus_client's multiprocess mode, for the gunicorn master
(deploy/gunicorn.conf.py): prepared before the workers are forked, and told when one exits.

Imports nothing of prometheus_client at load: the master must set PROMETHEUS_MULTIPROC_DIR
before prometheus_client is first imported, or the workers it forks count in memory, each
for itself.
"""
from __future__ import annotations

import importlib
import os
import re
import shutil
import tempfile
from pathlib import Path

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # adapters.metrics reads the same variable
_VALUE_FILE = re.compile(r"^[a-z_]+_(\d+)\.db$")  # counter_1234.db, gauge_livesum_1234.db…
_created: list[Path] = []  # a temporary folder of ours, removed when the master stops


def prepare(workers: int) -> Path | None:
    """With several workers, the folder they all write their values to: the one
    PROMETHEUS_MULTIPROC_DIR names (created when missing; shared with the scheduler process
    when it names the same), else a new temporary one, set in the environment the workers
    inherit. Files of processes no longer running are removed: their counters would
    otherwise come back at every restart. One worker counts in memory, unless the variable
    is set."""
    configured = os.environ.get(MULTIPROCESS_ENV)
    if not configured and workers <= 1:
        return None
    if configured:
        folder = Path(configured)
    else:
        folder = Path(tempfile.mkdtemp(prefix="radesk-metrics-"))
        _created.append(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROCESS_ENV] = str(folder)
    # Loaded now, the folder set: child_exit runs in gunicorn's SIGCHLD handler, where a
    # first import can be re-entered by the next worker's exit and fail half-done.
    importlib.import_module("prometheus_client.multiprocess")
    for path in folder.glob("*.db"):
        match = _VALUE_FILE.match(path.name)
        if match and not _running(int(match.group(1))):
            path.unlink(missing_ok=True)
    return folder


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit: a dead worker's live gauges no longer count."""
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid)


def master_stopped() -> None:
    """gunicorn's on_exit: the temporary folder made by ``prepare`` goes (the values in a
    configured one stay for the next start to sort out)."""
    while _created:
        shutil.rmtree(_created.pop(), ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: running
    return True
