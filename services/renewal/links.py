"""The renewal link, « /renouveler/<token> », sent with the expiry reminders. The token names
the certificate (its serial, lowercase hex) and is signed for this purpose only; it does not
expire: the renewal page checks the certificate's state (revoked, expired, already renewed)
when it is opened, so an old link can say why it no longer applies.

It also carries the link generation of the certificate's order (``Order.link_generation``):
« Révoquer le lien de suivi » on that order revokes the renewal links sent so far too. A token
of the first generation is the serial alone, as tokens were before generations existed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask

from models import HolderCertificate, Order
from services import public_links
from services.public_links import BadToken

TOKENS = public_links.TokenKind(salt="renouvellement")
SERIAL = re.compile(r"^[0-9a-f]{1,64}$")  # as the CA's register spells it

__all__ = ["BadToken", "RenewalLink", "read_renewal_link", "read_renewal_token", "renewal_token",
           "renewal_url"]


@dataclass(frozen=True)
class RenewalLink:
    serial: str
    generation: int


def renewal_token(app: Flask, serial_hex: str, generation: int = 0) -> str:
    serial = serial_hex.lower()
    return TOKENS.make(app.config["SECRET_KEY"], [serial, generation] if generation else serial)


def renewal_url(app: Flask, serial_hex: str) -> str:
    """The public page's address, in the current link generation of the certificate's order;
    built from RADESK_PUBLIC_URL (e-mails leave from jobs with no request to take the host from)."""
    generation = (Order
                  .select(Order.link_generation)
                  .join(HolderCertificate, on=(HolderCertificate.order == Order.id))
                  .where(HolderCertificate.serial_hex == serial_hex.lower())
                  .scalar()) or 0
    return (f"{app.config['RADESK_PUBLIC_URL'].rstrip('/')}/renouveler/"
            f"{renewal_token(app, serial_hex, generation)}")


def read_renewal_link(app: Flask, token: str) -> RenewalLink:
    """The serial and generation the token names; BadToken when not one of ours for renewal."""
    if not isinstance(token, str) or not token or len(token) > 300:
        raise BadToken()
    payload = TOKENS.open(app.config["SECRET_KEY"], token).payload
    serial, generation = (payload if isinstance(payload, list) and len(payload) == 2
                          else (payload, 0))
    if not isinstance(serial, str) or not SERIAL.match(serial) \
            or not isinstance(generation, int) or isinstance(generation, bool):
        raise BadToken()
    return RenewalLink(serial, generation)


def read_renewal_token(app: Flask, token: str) -> str:
    """The serial the token names; BadToken when it is not one of ours for renewal."""
    return read_renewal_link(app, token).serial
