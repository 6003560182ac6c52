"""« /sante »: whether this installation works — the database answers, the document store
takes a file, the outbox drains, the scheduled jobs run, the embedded CA's CRLs are current.

Each check gives a ``Check``: its status, one French sentence and a few numbers. Nothing of
any AE (no name, address or order) and no error text (it could name a host or a path) leaves
here: the errors themselves go to the log.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from adapters.ca import authority
from adapters.ca.embedded import published_crls
from formatting import paris_datetime, utc_iso
from models import Notification, db, utcnow
from services import heartbeats
from services.dossiers.documents import document_store

log = logging.getLogger("radesk.health")

OK, ERROR, NOT_CHECKED = "ok", "erreur", "non vérifié"
FAILED_WINDOW = dt.timedelta(hours=24)

# What the 503's message calls each check.
LABELS = {
    "base_de_donnees": "base de données",
    "stockage_documents": "stockage des documents",
    "boite_d_envoi": "boîte d'envoi",
    "planificateur": "planificateur",
    "lcr": "LCR de l'AC intégrée",
}


@dataclass
class Check:
    status: str
    message: str
    details: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"status": self.status, "message": self.message, **self.details}


def run(app: Flask, job_intervals: dict[str, dt.timedelta],
        now: dt.datetime | None = None) -> dict[str, Check]:
    """Every check, in the order the answer lists them. ``job_intervals``: each registered
    job's interval (scheduler.job_intervals)."""
    now = now or utcnow()
    checks = {"base_de_donnees": _guarded("base_de_donnees", database_check)}
    checks["stockage_documents"] = _guarded("stockage_documents", store_check, app)
    if checks["base_de_donnees"].status == OK:
        checks["boite_d_envoi"] = _guarded("boite_d_envoi", outbox_check, app, now)
        checks["planificateur"] = _guarded("planificateur", scheduler_check, app,
                                           job_intervals, now)
    else:
        for name in ("boite_d_envoi", "planificateur"):
            checks[name] = Check(NOT_CHECKED, "Non vérifié : la base de données ne répond pas.")
    checks["lcr"] = _guarded("lcr", crl_check, Path(app.config["INSTANCE_PATH"]))
    return checks


def summary(checks: dict[str, Check]) -> tuple[dict, bool]:
    """The JSON answer, and whether every check passed."""
    failing = [name for name, check in checks.items() if check.status == ERROR]
    body: dict = {"status": OK if not failing else ERROR,
                  "checks": {name: check.as_json() for name, check in checks.items()}}
    if failing:
        body["message"] = "En échec : " + " ; ".join(
            f"{LABELS[name]} — {checks[name].message}" for name in failing)
    return body, not failing


def _guarded(name: str, check, *args) -> Check:
    try:
        return check(*args)
    except Exception:  # noqa: BLE001 — one broken check must not hide the others
        log.exception("Contrôle « %s » impossible", name)
        return Check(ERROR, "Contrôle impossible (erreur journalisée).")


# --- the checks ---------------------------------------------------------------------------

def database_check() -> Check:
    try:
        db.connect(reuse_if_open=True)  # /sante opens its connection here, not before the view
        db.execute_sql("SELECT 1").fetchone()
    except Exception:  # noqa: BLE001 — any driver error means the same to operations
        log.exception("Contrôle de santé : la base de données ne répond pas")
        return Check(ERROR, "La base de données ne répond pas.")
    return Check(OK, "La base de données répond.")


def store_check(app: Flask) -> Check:
    problem = document_store(app).probe()
    if problem:
        log.error("Contrôle de santé : stockage des documents : %s", problem)
        return Check(ERROR, f"Stockage des documents : {problem}")
    return Check(OK, "Le stockage des documents accepte un fichier.")


def outbox_check(app: Flask, now: dt.datetime) -> Check:
    """Notifications due for longer than the limit and still not sent (the outbox does not
    drain), and notifications given up in the last 24 hours (above a threshold)."""
    max_age = dt.timedelta(minutes=float(app.config["RADESK_HEALTH_OUTBOX_MAX_AGE_MINUTES"]))
    max_failed = int(app.config["RADESK_HEALTH_OUTBOX_MAX_FAILED"])
    overdue = (Notification
               .select()
               .where(Notification.state.in_(("queued", "sending"))
                      & (Notification.next_try_at < now - max_age))
               .count())
    failed = (Notification
              .select()
              .where((Notification.state == "failed")
                     & (Notification.next_try_at >= now - FAILED_WINDOW))
              .count())
    details = {"en_retard": overdue, "en_echec_24h": failed,
               "retard_max_minutes": max_age.total_seconds() / 60, "echecs_max_24h": max_failed}
    problems = []
    if overdue:
        problems.append(f"{overdue} notification(s) attendent leur envoi depuis plus de "
                        f"{_minutes(max_age)}.")
    if failed > max_failed:
        problems.append(f"{failed} notification(s) abandonnées en échec ces dernières 24 h "
                        f"(seuil : {max_failed}).")
    if problems:
        return Check(ERROR, " ".join(problems), details)
    return Check(OK, "La boîte d'envoi se vide.", details)


def scheduler_check(app: Flask, job_intervals: dict[str, dt.timedelta],
                    now: dt.datetime) -> Check:
    """Each registered job ran within its interval plus the grace period; no heartbeat at all
    means no scheduler ever ran against this database."""
    grace = dt.timedelta(minutes=float(app.config["RADESK_HEALTH_HEARTBEAT_GRACE_MINUTES"]))
    in_process = bool(app.config.get("RADESK_SCHEDULER"))
    seen = heartbeats.latest()
    details: dict = {"dans_ce_processus": in_process}
    if not seen:
        if in_process:
            return Check(ERROR, "Le planificateur de ce processus n'a encore exécuté aucune "
                                "tâche.", details)
        return Check(ERROR, "Aucun planificateur configuré : RADESK_SCHEDULER n'est pas activé "
                            "et aucun processus « flask --app app scheduler » n'a jamais exécuté "
                            "de tâche.", details)
    jobs, late = {}, []
    for job_id, interval in sorted(job_intervals.items()):
        last = seen.get(job_id)
        stale = last is None or now - last > interval + grace
        jobs[job_id] = {"derniere_execution": utc_iso(last), "en_retard": stale}
        if stale:
            when = f"dernière exécution le {paris_datetime(last)}" if last else "jamais exécutée"
            late.append(f"{job_id} ({when}, attendue toutes les {_minutes(interval)})")
    details["taches"] = jobs
    if late:
        return Check(ERROR, "Tâches en retard : " + ", ".join(late) + ".", details)
    return Check(OK, "Les tâches planifiées tournent.", details)


def crl_check(instance_path: Path) -> Check:
    """The CRLs the embedded CA published: present, and their nextUpdate not passed."""
    crls = published_crls(instance_path)
    if crls is None:
        return Check(OK, "L'AC intégrée n'est pas encore créée : aucune LCR à publier.")
    now = authority.now_utc()
    details, problems = {}, []
    for name, crl in crls.items():
        next_update = crl.next_update_utc if crl is not None else None
        details[name] = {"prochaine_mise_a_jour": next_update.isoformat() if next_update else None}
        if crl is None:
            problems.append(f"{name} absente ou illisible")
        elif next_update is None or next_update <= now:
            problems.append(f"{name} périmée (prochaine mise à jour prévue le "
                            f"{paris_datetime(next_update)})")
    if problems:
        return Check(ERROR, "LCR : " + ", ".join(problems) + ".", details)
    return Check(OK, "Les LCR publiées sont à jour.", details)


def _minutes(delay: dt.timedelta) -> str:
    seconds = delay.total_seconds()
    if seconds < 120:
        return f"{seconds:g} s"
    return f"{seconds / 60:g} min"
