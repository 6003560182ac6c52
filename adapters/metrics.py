"""Prometheus metrics (prometheus_client): the counters and the histogram that the app and the
services update where things happen, the gauges read from the database at each scrape, and
the text a scrape gets.

Several processes (gunicorn's workers, the scheduler) each count their own. With
``PROMETHEUS_MULTIPROC_DIR`` set they write their values to files in that folder and a scrape
adds them up (prometheus_client's multiprocess mode; adapters.metrics_processes prepares the
folder). The variable must be set before this module is first imported in a process.
"""
from __future__ import annotations

import datetime as dt
import logging
import os

from peewee import fn
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Histogram, disable_created_metrics, generate_latest)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("radesk.metrics")

disable_created_metrics()  # the *_created series double every counter for little use

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "(aucune)"  # a 404 matched no URL rule: one label, whatever the path
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "radesk_http_requests", "Requêtes HTTP servies, par route (règle d'URL), méthode et statut.",
    ["route", "method", "status"])
HTTP_LATENCY = Histogram(
    "radesk_http_request_duration_seconds",
    "Durée de traitement des requêtes HTTP (jusqu'à la réponse), par route et méthode.",
    ["route", "method"], buckets=LATENCY_BUCKETS)
DIGEST_RUNS = Counter(
    "radesk_digest_runs", "Passages du résumé d'activité (tâche planifiée ou « digest send-now »).")
DIGESTS = Counter(
    "radesk_digests", "Résumés d'activité d'un créneau : mis en boîte d'envoi (queued) ou non "
    "envoyés (skipped).", ["result"])
GENERATION_FAILURES = Counter(
    "radesk_certificate_generation_failures",
    "Échecs de génération de certificat signalés ou constatés, par étape.", ["stage"])


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_LATENCY.labels(route, method).observe(seconds)


class DatabaseCollector(Collector):
    """Read at each scrape (a few indexed counts): the outbox's queued and failed
    notifications, the webhook deliveries waiting and given up, each scheduled job's latest
    run, and whether the database answered."""

    def collect(self):
        from models import JobHeartbeat, Notification, WebhookDelivery, db

        up = GaugeMetricFamily("radesk_database_up",
                               "1 quand la base de données a répondu à la collecte, sinon 0.")
        try:
            db.connect(reuse_if_open=True)
            counts, deliveries = _by_state(Notification), _by_state(WebhookDelivery)
            runs = list(JobHeartbeat.select(JobHeartbeat.job, JobHeartbeat.last_run_at).tuples())
        except Exception:  # noqa: BLE001 — the scrape still answers, saying so
            log.exception("Métriques : la base de données ne répond pas")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("radesk_outbox_queued",
                                "Notifications en attente d'envoi (ou en cours d'envoi).",
                                value=counts.get("queued", 0) + counts.get("sending", 0))
        yield GaugeMetricFamily("radesk_outbox_failed",
                                "Notifications abandonnées en échec (toutes, depuis le début).",
                                value=counts.get("failed", 0))
        # A receiver of the AE's that is down fills these, not a fault of RA Desk: a metric to
        # alert on, not a /sante failure.
        yield GaugeMetricFamily("radesk_webhook_deliveries_queued",
                                "Livraisons de webhooks en attente (ou en cours), nouvelles "
                                "tentatives comprises.",
                                value=deliveries.get("queued", 0) + deliveries.get("sending", 0))
        yield GaugeMetricFamily("radesk_webhook_deliveries_failed",
                                "Livraisons de webhooks abandonnées en échec, en attente d'un "
                                "« Renvoyer » (toutes, depuis le début).",
                                value=deliveries.get("failed", 0))
        last_run = GaugeMetricFamily("radesk_scheduler_job_last_run_timestamp_seconds",
                                     "Fin de la dernière exécution de chaque tâche planifiée "
                                     "(heure Unix).", labels=["job"])
        for job, at in sorted(runs):
            last_run.add_metric([job], at.replace(tzinfo=dt.timezone.utc).timestamp())
        yield last_run


def _by_state(model) -> dict[str, int]:
    """How many rows of an outbox-like table (notifications, webhook deliveries) wait or failed,
    by state."""
    return dict(model
                .select(model.state, fn.COUNT(model.id))
                .where(model.state.in_(("queued", "sending", "failed")))
                .group_by(model.state)
                .tuples())


class _ThisProcess(Collector):
    """The default registry: this process's metrics (and its process_* and python_* ones)."""

    def collect(self):
        return REGISTRY.collect()


def exposition() -> tuple[bytes, str]:
    """The text of a scrape and its content type: every process's values in multiprocess mode,
    else this process's, then the database gauges."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
