"""Flask extensions shared by blueprints (rate limits, HTMX, operator sessions), and the client
address they key on."""
from __future__ import annotations

import hmac
import ipaddress

from flask import current_app, request
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_login import LoginManager


def _trusted_networks() -> list:
    configured = current_app.config.get("RADESK_TRUSTED_PROXIES") or []
    if isinstance(configured, str):
        configured = configured.split(",")
    networks = []
    for entry in (item.strip() for item in configured):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            current_app.logger.warning("RADESK_TRUSTED_PROXIES : entrée ignorée %r", entry)
    return networks


def _ip(text: str | None):
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    return getattr(address, "ipv4_mapped", None) or address


def is_trusted_proxy(remote_addr: str | None) -> bool:
    address = _ip(remote_addr)
    return address is not None and any(address in net for net in _trusted_networks()
                                       if net.version == address.version)


PROXY_SECRET_HEADER = "X-RADesk-Proxy-Secret"


def proxy_secret_presented() -> bool:
    """The request carries the secret nginx adds to what it forwards (RADESK_PROXY_SECRET)."""
    configured = current_app.config.get("RADESK_PROXY_SECRET") or ""
    presented = request.headers.get(PROXY_SECRET_HEADER, "")
    return bool(configured) and hmac.compare_digest(presented.encode("utf-8"),
                                                    configured.encode("utf-8"))


def client_ip() -> str:
    """The operator's address. Behind the trusted proxy every request comes from the proxy,
    so its X-Real-IP is used; from anyone else that header is ignored. Once the proxy's secret
    is configured, X-Real-IP counts only beside it: another process on the proxy's host could
    otherwise pick the address rate limits and the audit trail see."""
    remote = request.remote_addr or ""
    forwarded = _ip(request.headers.get("X-Real-IP"))
    if forwarded is None or not is_trusted_proxy(remote):
        return remote
    if current_app.config.get("RADESK_PROXY_SECRET") and not proxy_secret_presented():
        return remote
    return str(forwarded)


limiter = Limiter(key_func=client_ip, default_limits=[])
# The pages opened without a login (follow-up, signing, activation, ordering, renewal,
# revocation): one budget per address for all their GETs together; a route with its own,
# stricter limit keeps that one. blueprints.link_pages applies it to each such blueprint.
public_pages_limit = limiter.shared_limit(
    lambda: current_app.config["RADESK_PUBLIC_RATE_LIMIT"], scope="pages-publiques",
    key_func=client_ip, methods=["GET", "HEAD"])
# flask-htmx 0.4.0 ships no instance (``from flask_htmx import htmx`` is its submodule, always
# true): this one is, and ``if htmx:`` is how a view asks whether htmx sent the request.
htmx = HTMX()
# Operator sessions; blueprints.common gives it its loader and what to do when logged out.
login_manager = LoginManager()
