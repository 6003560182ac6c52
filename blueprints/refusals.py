"""How the order file's plain forms (signature, validation, certificate) answer: back to the
order file, at the form's section, with a message. A refused action (``workflow.Refused``, raised
by the services) shows its French reasons there as an error: one handler, which each of these
blueprints registers with its section."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for

import workflow


def back_to_order_file(order_id: int, anchor: str | None, message: str | None = None):
    """303 to the order file's ``anchor`` section (its top when None), ``message`` shown there
    as a success."""
    if message:
        flash(message, "success")
    return redirect(url_for("order_file.show", order_id=order_id, _anchor=anchor), 303)


def show_refusal(refusal: workflow.Refused, anchor: str, prefix: str = ""):
    """The reasons as an error message, back at the section of the refused form."""
    flash(prefix + refusal.message, "error")
    return back_to_order_file(request.view_args["order_id"], anchor)


def register(bp: Blueprint, anchor: str, prefixes: dict[str, str] | None = None) -> None:
    """``bp``'s refusal handler. ``prefixes``: endpoint -> the words shown before its reasons."""
    prefixes = prefixes or {}

    def refused(refusal: workflow.Refused):
        return show_refusal(refusal, anchor, prefixes.get(request.endpoint, ""))

    bp.register_error_handler(workflow.Refused, refused)
