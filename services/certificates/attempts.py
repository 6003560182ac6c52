"""A generation's tries (``GenerationAttempt``): the one a step names by its nonce, the last
failure shown in the order file, a failed step recorded with its reason, a refusal audited.

A refusal of the first step, which only names an order (out of scope, not in « Génération du
certificat », wrong choices: nothing was started), is written once per operator, order and
reason per hour; pointing the step at order after order must not fill the trail. A refusal
within a generation (its nonce, its request, its written certificate) is written every time.
"""
from __future__ import annotations

import hashlib

from flask import Flask
from limits import parse as parse_limit

import workflow
from adapters import metrics
from models import GenerationAttempt, Operator, Order, db, utcnow
from services import audit
from services.certificates.events import ACTION_FAILED, ACTION_REFUSED, STAGES
from services.certificates.holder_certificates import revoke_unwritten

MAX_REPORTED_TEXT = 300
FIRST_STEP = "start"
# Counted in the rate limiter's storage (RATELIMIT_STORAGE_URI): per process with memory://.
SAME_REFUSAL_ONCE = parse_limit("1 per hour")


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
    """Audit a refused step (the first step's, once an hour), then raise the refusal."""
    if stage != FIRST_STEP or _first_this_hour(operator, order.id, code, *problems):
        audit.record(ACTION_REFUSED, operator=operator, order=order, ip=ip,
                     details={"stage": stage, "code": code, "reasons": problems})
    raise workflow.Refused(problems, code)


def record_unknown_order(operator: Operator, order_id: int, endpoint: str | None,
                         ip: str = "") -> None:
    """A generation step asked for an order outside the operator's scope (another AE's, another
    portal's, or none): audited in the operator's AE (once an hour), nothing else happens."""
    if not _first_this_hour(operator, order_id, "not_found", endpoint or ""):
        return
    audit.record(ACTION_REFUSED, operator=operator, ip=ip,
                 details={"stage": "start", "code": "not_found", "order_id": order_id,
                          "endpoint": endpoint or ""})


def _first_this_hour(operator: Operator, order_id: int, code: str, *reasons: str) -> bool:
    """True for the first refusal of this operator, order and reason in the hour."""
    from extensions import limiter
    reason = hashlib.sha256("\n".join((code, *reasons)).encode("utf-8")).hexdigest()[:16]
    return limiter.limiter.hit(SAME_REFUSAL_ONCE, "generation_refused_audit",
                               str(operator.id if operator else ""), str(order_id), reason)
