"""What every operator view shares: the operator's session, the tenancy scope, and the lookup
helpers that answer 404 for anything outside that scope.

Flask-Login owns the session; the cookie carries only the login session's random token
(``OperatorSession.get_id``), and the row it names (services.operator_auth.sessions) carries
the rest: operator, certificate, times, end. The token comes back through a ``user_loader``
rather than a ``request_loader``: it lives in the session cookie, which is what the user
loader reads, while a request loader is meant for credentials sent with each request. The
loader refuses a session that has ended, been idle too long, outlived its absolute lifetime,
or whose operator was deactivated or certificate unbound.
"""
from __future__ import annotations

import datetime as dt
import functools

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask_htmx.responses import HTMXResponseClientRedirect
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_login import login_required  # re-exported: the blueprints import it from here

from extensions import client_ip, htmx, login_manager
from models import LoginSession, Operator, OperatorScope, Order
from services.operator_auth import sessions


class OperatorSession(UserMixin):
    """Flask-Login's user: one open login session. Its id is the session's token, so the
    cookie names a session, never an operator."""

    def __init__(self, row: LoginSession, token: str):
        self.row = row
        self.token = token

    def get_id(self) -> str:
        return self.token

    @property
    def operator(self) -> Operator:
        return self.row.operator


def init_operator_sessions(app: Flask) -> None:
    login_manager.init_app(app)
    # The row is the protection (bound to a certificate, expiring, ended at logout); tying
    # the cookie to the client's address as well would log out operators whose address moves.
    login_manager.session_protection = None
    login_manager.user_loader(_load_session)
    login_manager.unauthorized_handler(_to_login_page)
    app.after_request(_note_activity)


def _limits() -> sessions.Limits:
    return sessions.Limits(idle=dt.timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"]),
                           max_age=dt.timedelta(hours=current_app.config["SESSION_MAX_HOURS"]))


def _load_session(token: str) -> OperatorSession | None:
    found = sessions.check(token, _limits())
    if isinstance(found, sessions.Refusal):
        session.clear()
        if found.reason:
            session["expired"] = found.reason  # the login page explains the ones it knows, once
        return None
    g.login_session = found
    return OperatorSession(found, token)


def _note_activity(response):
    """A request that used the session pushes its idle expiry back, unless it was a poll."""
    row = g.get("login_session")
    if row is not None and not g.get("passive_request"):
        sessions.touch(row)
    return response


def start_operator_session(operator: Operator, cert_fingerprint: str, method: str) -> None:
    """A fresh session (no fixation) bound to the certificate that logged in."""
    session.clear()
    row, token = sessions.open_session(operator, cert_fingerprint, method=method,
                                       ip=client_ip(), user_agent=request.user_agent.string)
    login_user(OperatorSession(row, token))
    g.login_session = row


def end_operator_session() -> None:
    """Logout: the row ends, so the token is refused from now on, whoever presents it."""
    row = g.pop("login_session", None)
    if row is not None:
        sessions.end(row, sessions.LOGOUT)
    logout_user()
    session.clear()
    g.pop("scope", None)


def current_operator() -> Operator | None:
    """The logged-in operator, or None when the session is absent, ended or refused."""
    return current_user.operator if current_user.is_authenticated else None


def current_certificate_fingerprint() -> str | None:
    """SHA-256 (hex) of the certificate the current session logged in with."""
    return current_user.row.certificate_fingerprint if current_user.is_authenticated else None


def current_scope() -> OperatorScope:
    if "scope" not in g:
        g.scope = OperatorScope(current_operator())
    return g.scope


def _to_login_page():
    target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
    if htmx:
        return HTMXResponseClientRedirect(target, status=204)
    return redirect(target)



def role_required(role: str):
    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_operator().has_role(role):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def any_role_required(*roles: str):
    """Operators holding at least one of ``roles``; the others get 403."""
    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not any(current_operator().has_role(role) for role in roles):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def order_or_404(order_id: int) -> Order:
    order = current_scope().order_or_none(order_id)
    if order is None:
        abort(404)
    return order


def passive(view):
    """For polled endpoints: a poll is not operator activity, so it must not push back the
    session's idle expiry, or a page left open in a tab would keep the session alive for ever."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        g.passive_request = True
        return view(*args, **kwargs)
    return wrapped
