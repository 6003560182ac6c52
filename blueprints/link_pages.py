"""What the public pages opened from an e-mailed link share: the link is a key, so their
answers are not cached, not indexed and never sent on as a Referer to another site, their GETs
share one rate per address, and too many requests get a page that says so.

« same-origin », not « no-referrer »: with no-referrer a browser sends ``Origin: null`` on the
page's own POSTs, which the origin check (blueprints.request_guards) must refuse."""
from __future__ import annotations

from flask import Blueprint, render_template

from extensions import public_pages_limit


def protect_link_pages(bp: Blueprint, message_template: str, wait: str) -> None:
    """``wait``: how long the visitor should wait after too many requests (« une minute »)."""

    @bp.after_request
    def private(response):
        response.headers.setdefault("Cache-Control", "no-store")  # previews set their own
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    public_pages_limit(bp)

    @bp.errorhandler(429)
    def too_many(error):
        return render_template(message_template, title="Trop de demandes",
                               message="Trop de demandes depuis votre connexion : patientez "
                                       f"{wait} avant de réessayer."), 429
