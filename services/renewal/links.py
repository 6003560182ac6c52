"""The renewal link, « /renouveler/<token> », sent with the expiry reminders. The token names
the certificate (its serial, lowercase hex) and is signed for this purpose only; it does not
expire: the renewal page checks the certificate's state (revoked, expired, already renewed)
when it is opened, so an old link can say why it no longer applies.
"""
from __future__ import annotations

import re

from flask import Flask

from services import public_links
from services.public_links import BadToken

TOKENS = public_links.TokenKind(salt="renouvellement")
SERIAL = re.compile(r"^[0-9a-f]{1,64}$")  # as the CA's register spells it

__all__ = ["BadToken", "read_renewal_token", "renewal_token", "renewal_url"]


def renewal_token(app: Flask, serial_hex: str) -> str:
    return TOKENS.make(app.config["SECRET_KEY"], serial_hex.lower())


def renewal_url(app: Flask, serial_hex: str) -> str:
    """The public page's address; built from RADESK_PUBLIC_URL (e-mails leave from jobs with
    no request to take the host from)."""
    return (f"{app.config['RADESK_PUBLIC_URL'].rstrip('/')}/renouveler/"
            f"{renewal_token(app, serial_hex)}")


def read_renewal_token(app: Flask, token: str) -> str:
    """The serial the token names; BadToken when it is not one of ours for renewal."""
    if not isinstance(token, str) or not token or len(token) > 300:
        raise BadToken()
    serial = TOKENS.open(app.config["SECRET_KEY"], token).payload
    if not isinstance(serial, str) or not SERIAL.match(serial):
        raise BadToken()
    return serial
