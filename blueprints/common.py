"""What every operator view shares: the session bound to a certificate, the tenancy
scope, and the lookup helpers that answer 404 for anything outside that scope."""
from __future__ import annotations

import functools
import time

from flask import abort, current_app, g, redirect, request, session, url_for

from models import AE, Operator, OperatorCertificate, OperatorScope, Order

SESSION_KEYS = ("operator_id", "cert_fp", "last_seen")


def start_operator_session(operator: Operator, cert_fingerprint: str) -> None:
    """A fresh session (no fixation) bound to the certificate that logged in."""
    session.clear()
    session["operator_id"] = operator.id
    session["cert_fp"] = cert_fingerprint
    session["last_seen"] = int(time.time())


def end_operator_session() -> None:
    session.clear()
    g.pop("operator", None)


def current_operator() -> Operator | None:
    """The logged-in operator, or None when the session is absent, idle or unbound."""
    if "operator" in g:
        return g.operator
    g.operator = _load_session_operator()
    return g.operator


def _load_session_operator() -> Operator | None:
    operator_id, fingerprint = session.get("operator_id"), session.get("cert_fp")
    if not operator_id or not fingerprint:
        return None
    idle_limit = current_app.config["SESSION_IDLE_MINUTES"] * 60
    if time.time() - session.get("last_seen", 0) > idle_limit:
        session.clear()
        session["expired"] = True
        return None
    # The certificate must still be bound to an active operator: unbinding it ends sessions.
    # The AE comes in the same query: every page shows its name.
    operator = (Operator
                .select(Operator, AE)
                .join(AE, on=(Operator.ae == AE.id))
                .switch(Operator)
                .join(OperatorCertificate)
                .where((Operator.id == operator_id)
                       & (Operator.active == True)  # noqa: E712 (peewee expression)
                       & (OperatorCertificate.fingerprint_sha256 == fingerprint))
                .first())
    if operator is None:
        session.clear()
        return None
    session["last_seen"] = int(time.time())
    return operator


def current_scope() -> OperatorScope:
    if "scope" not in g:
        g.scope = OperatorScope(current_operator())
    return g.scope


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_operator() is None:
            target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
            if request.headers.get("HX-Request"):
                response = current_app.response_class(status=204)
                response.headers["HX-Redirect"] = target
                return response
            return redirect(target)
        return view(*args, **kwargs)
    return wrapped


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
        last_seen = session.get("last_seen")
        response = view(*args, **kwargs)
        if last_seen is not None and session.get("operator_id"):
            session["last_seen"] = last_seen
        return response
    return wrapped
