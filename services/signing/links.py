"""The signer's personal link (services.public_links): a token signed with the app's secret
over the request's id and its ``link_nonce``. Nothing of it is stored: a new link or a
cancellation changes the nonce, so an older link answers « remplacé »; the request's own dates
say when it expires.
"""
from __future__ import annotations

from flask import Flask

from models import SignatureRequest
from services import public_links

TOKENS = public_links.TokenKind("radesk-signature-v1")


class InvalidLink(Exception):
    """A token that is not ours (tampered, truncated, another app's): answered with a 404."""


class StaleLink(Exception):
    """A genuine link replaced by a newer one, or voided by a cancellation."""

    def __init__(self, request: SignatureRequest):
        super().__init__("stale signing link")
        self.request = request


def make_token(secret: str, request: SignatureRequest) -> str:
    return TOKENS.make(secret, {"r": request.id, "n": request.link_nonce})


def link_for(app: Flask, request: SignatureRequest) -> str:
    token = make_token(app.config["SECRET_KEY"], request)
    return f"{app.config['RADESK_PUBLIC_URL'].rstrip('/')}/signature/{token}"


def request_for_token(secret: str, token: str) -> SignatureRequest:
    """The request a link is for; InvalidLink when not authentic, StaleLink when replaced."""
    try:
        payload = TOKENS.open(secret, token).payload
    except public_links.BadToken:
        raise InvalidLink() from None
    if not (isinstance(payload, dict) and isinstance(payload.get("r"), int)
            and isinstance(payload.get("n"), str)):
        raise InvalidLink()
    request = SignatureRequest.get_or_none(SignatureRequest.id == payload["r"])
    if request is None:
        raise InvalidLink()
    if not public_links.same(request.link_nonce, payload["n"]):
        raise StaleLink(request)
    return request
