"""A generation's tries (``GenerationAttempt``): the one a step names by its nonce, the last
failure shown in the order file, a failed step recorded with its reason, a refusal audited.
"""
from __future__ import annotations

from flask import Flask

import workflow
from adapters import metrics
from models import GenerationAttempt, Operator, Order, db, utcnow
from services import audit
from services.certificates.events import ACTION_FAILED, ACTION_REFUSED, STAGES
from services.certificates.holder_certificates import revoke_unwritten

MAX_REPORTED_TEXT = 300


def attempt_of(order: Order, nonce: object) -> GenerationAttempt | None:
    """The order's try that ``nonce`` names, whatever its state."""
    return (GenerationAttempt
            .select()
            .where((GenerationAttempt.order == order.id)
                   & (GenerationAttempt.nonce == (nonce if isinstance(nonce, str) else "")))
            .first())


def last_failure(order: Order) -> GenerationAttempt | None:
    """The latest try, when it failed (shown in the order file until a try succeeds)."""
    latest = (GenerationAttempt
              .select()
              .where(GenerationAttempt.order == order.id)
              .order_by(GenerationAttempt.id.desc())
              .first())
    return latest if latest is not None and latest.state == "failed" else None


def report_failure(app: Flask, order: Order, operator: Operator, *, nonce: object, stage: object,
                   code: object, message: object, ip: str = "") -> str:
    """The page reports a failed step. Returns the French reason kept with the order."""
    stage = stage if stage in STAGES else "bridge"
    code = code if isinstance(code, str) and code.isidentifier() and len(code) <= 40 else "error"
    text = " ".join(str(message or "").split())[:MAX_REPORTED_TEXT] or "Erreur inconnue."
    attempt = attempt_of(order, nonce)
    reason = f"Échec à l'étape « {STAGES[stage]} » : {text}"
    if attempt is None or attempt.state not in ("open", "issued"):
        # Nothing in progress (e.g. no key, bridge down before any instruction): audited only.
        audit.record(ACTION_FAILED, operator=operator, order=order, ip=ip,
                     details={"stage": stage, "code": code, "reason": reason})
        metrics.GENERATION_FAILURES.labels(stage).inc()
        return reason
    if attempt.state == "issued":
        revoked = revoke_unwritten(app, order, operator, ip=ip)
        if revoked:
            reason += (f" Le certificat émis (n° de série {', '.join(revoked)}) n'a pas été "
                       f"inscrit sur la clé : il a été révoqué.")
    fail(attempt, order, operator, ip, stage, code, reason)
    return reason


def fail(attempt, order, operator, ip, stage: str, code: str, reason: str) -> None:
    """The try ends « failed » with ``reason``, audited."""
    with db.atomic():
        (GenerationAttempt
         .update(state="failed", failure=reason, finished_at=utcnow())
         .where((GenerationAttempt.id == attempt.id)
                & GenerationAttempt.state.in_(("open", "issued")))
         .execute())
        audit.record(ACTION_FAILED, operator=operator, order=order, ip=ip,
                     details={"stage": stage, "code": code, "reason": reason})
    metrics.GENERATION_FAILURES.labels(stage).inc()


def refuse(order, operator, ip, stage: str, problems: list[str], code: str = "refused"):
    """Audit a refused step, then raise the refusal."""
    audit.record(ACTION_REFUSED, operator=operator, order=order, ip=ip,
                 details={"stage": stage, "code": code, "reasons": problems})
    raise workflow.Refused(problems, code)


def record_unknown_order(operator: Operator, order_id: int, endpoint: str | None,
                         ip: str = "") -> None:
    """A generation step asked for an order outside the operator's scope (another AE's, another
    portal's, or none): audited in the operator's AE, nothing else happens."""
    audit.record(ACTION_REFUSED, operator=operator, ip=ip,
                 details={"stage": "start", "code": "not_found", "order_id": order_id,
                          "endpoint": endpoint or ""})
