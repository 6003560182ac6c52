"""Server-side login sessions: opened at login, checked on every request, ended by logout,
expiry, the operator's deactivation, or the unbinding or revocation of the certificate that
logged in; ended ones are purged after a while (the logins themselves are in the audit trail).

The browser holds a random token; the row keeps its SHA-256. A session ends for good: its
token is then refused, so a cookie copied before logout is worth nothing after it. No Flask
``request`` here: the web layer passes the address, user agent and time limits.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import fn

from models import LoginSession, Operator, db, utcnow
from services import public_links

LOGOUT = "logout"
IDLE = "idle"
MAX_AGE = "max_age"
OPERATOR_DEACTIVATED = "operator_deactivated"
CERTIFICATE_UNBOUND = "certificate_unbound"
CERTIFICATE_REVOKED = "certificate_revoked"
END_REASONS = (LOGOUT, IDLE, MAX_AGE, OPERATOR_DEACTIVATED, CERTIFICATE_UNBOUND,
               CERTIFICATE_REVOKED)

# Activity is written at most this often: the idle limit counts in minutes, and a write on
# every request would serialise page loads on SQLite for nothing.
TOUCH_EVERY = dt.timedelta(seconds=60)
TEXT_LIMIT = 255  # the CharField columns' size on PostgreSQL


@dataclass(frozen=True)
class Limits:
    idle: dt.timedelta
    max_age: dt.timedelta


@dataclass(frozen=True)
class Refusal:
    """Why a session token was refused; ``reason`` is None for an unknown or ended token."""
    reason: str | None


def token_hash(token: str) -> str:
    return public_links.secret_hash(token)


def open_session(operator: Operator, fingerprint: str, *, method: str, ip: str = "",
                 user_agent: str = "") -> tuple[LoginSession, str]:
    """A new session of ``operator`` with the certificate ``fingerprint``; returns the row and
    the token the browser keeps (never stored)."""
    token = public_links.new_secret()
    now = utcnow()
    row = LoginSession.create(token_hash=token_hash(token), operator=operator,
                              certificate_fingerprint=fingerprint, method=method,
                              created_at=now, last_seen_at=now, ip=(ip or "")[:TEXT_LIMIT],
                              user_agent=(user_agent or "")[:TEXT_LIMIT])
    return row, token


def check(token: str, limits: Limits, now: dt.datetime | None = None) -> LoginSession | Refusal:
    """The open session ``token`` names, its operator (and AE) loaded, or why it is refused. A
    session found past a limit, or whose operator or certificate no longer qualifies, is
    ended here, so the row says why."""
    now = now or utcnow()
    row = LoginSession.of_token(token_hash(token or ""))
    if row is None or row.ended_at is not None:
        return Refusal(None)
    reason = _failed_condition(row, limits, now)
    if reason is not None:
        end(row, reason, now)
        return Refusal(reason)
    return row


def _failed_condition(row: LoginSession, limits: Limits, now: dt.datetime) -> str | None:
    if now - row.created_at > limits.max_age:
        return MAX_AGE
    if now - row.last_seen_at > limits.idle:
        return IDLE
    if not row.operator.active:
        return OPERATOR_DEACTIVATED
    if getattr(row, "certificate", None) is None or row.certificate.id is None:
        return CERTIFICATE_UNBOUND
    if row.certificate.revoked_at is not None:
        return CERTIFICATE_REVOKED
    return None


def touch(row: LoginSession, now: dt.datetime | None = None) -> None:
    """Note the operator's activity, pushing back the idle expiry (at most every minute)."""
    now = now or utcnow()
    if now - row.last_seen_at < TOUCH_EVERY:
        return
    (LoginSession
     .update(last_seen_at=now)
     .where((LoginSession.id == row.id)
            & LoginSession.ended_at.is_null())
     .execute())
    row.last_seen_at = now


def end(row: LoginSession, reason: str, now: dt.datetime | None = None) -> bool:
    """End one session; False when it had already ended."""
    ended = (LoginSession
             .update(ended_at=now or utcnow(), end_reason=reason)
             .where((LoginSession.id == row.id)
                    & LoginSession.ended_at.is_null())
             .execute())
    return ended == 1


def end_operator_sessions(operator: Operator | int, reason: str, *,
                          fingerprint: str | None = None) -> int:
    """End at once every open session of ``operator`` (only those opened with the certificate
    ``fingerprint`` when given); returns how many. Deactivating an operator and unbinding a
    certificate call this in their own transaction."""
    operator_id = operator.id if isinstance(operator, Operator) else operator
    condition = ((LoginSession.operator == operator_id)
                 & LoginSession.ended_at.is_null())
    if fingerprint is not None:
        condition &= LoginSession.certificate_fingerprint == fingerprint
    with db.atomic():
        return (LoginSession
                .update(ended_at=utcnow(), end_reason=reason)
                .where(condition)
                .execute())


def purge(older_than: dt.datetime) -> int:
    """Delete the sessions over before ``older_than`` (ended then, or last seen then: long past
    their limits), except each operator's latest, which « Dernière connexion » reads; returns
    how many went."""
    latest = (LoginSession.select(fn.MAX(LoginSession.id))
              .group_by(LoginSession.operator))
    with db.atomic():
        return (LoginSession
                .delete()
                .where((fn.COALESCE(LoginSession.ended_at, LoginSession.last_seen_at) < older_than)
                       & LoginSession.id.not_in(latest))
                .execute())


def purge_job(app, now: dt.datetime | None = None) -> int:
    """The scheduler's hourly pass: sessions older than ``SESSION_KEEP_DAYS``."""
    keep = dt.timedelta(days=app.config["SESSION_KEEP_DAYS"])
    return purge((now or utcnow()) - keep)
