"""The link of an expiry reminder: signed, not timed — the renewal page checks the
certificate's state when it is opened."""
from __future__ import annotations

from flask import Flask

from services import public_links

TOKENS = public_links.TokenKind(salt="renouvellement")


def renewal_token(app: Flask, serial_hex: str) -> str:
    return TOKENS.make(app.config["SECRET_KEY"], {"s": serial_hex})


def renewal_url(app: Flask, serial_hex: str) -> str:
    return f"{app.config['RADESK_PUBLIC_URL'].rstrip('/')}/renouveler/{renewal_token(app, serial_hex)}"


def read_renewal_token(app: Flask, token: str) -> str:
    """The serial the token names; public_links.BadToken when it is not one of ours."""
    payload = TOKENS.open(app.config["SECRET_KEY"], token).payload
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), str):
        raise public_links.BadToken()
    return payload["s"]
