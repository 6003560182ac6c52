"""gunicorn settings for RA Desk (``gunicorn -c deploy/gunicorn.conf.py 'app:create_app()'``).

Command-line options override these. Two things the command line cannot do:

* several workers share their Prometheus metrics: before forking them the master prepares
  the folder of prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR) and tells it
  when one exits (adapters.metrics_processes). Do not add ``--preload``: the app would then
  import prometheus_client in the master, before the folder is set;
* RADESK_LOG_FORMAT=json also makes gunicorn's own lines (errors, access) JSON objects, the
  access lines with the request's X-Request-Id (adapters.json_logs).
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the app's modules

from adapters import json_logs, metrics_processes  # noqa: E402 — after the path above

bind = "127.0.0.1:8000"
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))  # gunicorn's own variable
threads = 2
accesslog = "-"
errorlog = "-"
# Access lines without the keys the public links' paths are (adapters.access_log).
logger_class = "adapters.access_log.RedactingLogger"
if (os.environ.get("RADESK_LOG_FORMAT") or "").strip().lower() == "json":
    logconfig_dict = json_logs.gunicorn_logconfig()


def on_starting(server):
    folder = metrics_processes.prepare(server.cfg.workers)
    if folder is not None:
        server.log.info("Métriques Prometheus des workers dans %s", folder)


def child_exit(server, worker):
    metrics_processes.worker_exited(worker.pid)


def on_exit(server):
    metrics_processes.master_stopped()
