"""« Envoyer une notification » and « Historique des notifications » (SPEC §6), for the order
file and the viewer, and the admins' page of message wordings.

Each endpoint answers an HTMX request with the block it replaces and a plain request with the
whole page, so everything works without JavaScript. Every order comes from the operator's
scope (order_or_404): another AE's or portal's ids answer 404.
"""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   url_for)
from jinja2_fragments.flask import render_block, render_blocks

import workflow
from blueprints.common import (current_operator, login_required, order_or_404, passive,
                               role_required)
from blueprints.lookups import notification_or_404
from extensions import client_ip, htmx
from services.messaging import drafts, notifications, outbox, wordings

bp = Blueprint("notifications", __name__)

PAGE = "notifications/page.html"
FORM = "notifications/_form.html"  # holds the « message_fields » block the type drop-down refills
WORDINGS_PAGE = "notifications/wordings.html"


def _page_or_block(block: str, context: dict, page_status: int = 200):
    """The panel alone for htmx, else the whole page (the panels work without JavaScript) with
    ``page_status``: htmx swaps only 2xx answers, so a refused form comes back to it as 200."""
    if htmx:
        return render_block(PAGE, block, **context)
    return render_template(PAGE, **context), page_status


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """A notification, a resending or a wording refused: the reasons, in the form used."""
    if request.endpoint == "notifications.send":
        draft = drafts.draft_from_form(request.form)
        context = _context(request.view_args["order_id"], draft=draft, problems=refusal.reasons)
        return _page_or_block("notification_form", context, 422)
    if request.endpoint == "notifications.resend":
        return _history_answer(request.view_args["order_id"], " ".join(refusal.reasons), "error")
    return _wording_answer(request.form.get("type", ""), None, refusal.reasons)


def _context(order_id: int, draft=None, **extra) -> dict:
    """What the page and its blocks show: the order, the form's message, the history."""
    order = drafts.order_for_message(order_or_404(order_id).id)
    if draft is None:
        documents = list(drafts.current_documents(order))
        draft = drafts.draft(order, documents, request.args.get("type", ""),
                             request.args.get("recipient"))
    return dict(order=order, draft=draft, message_types=wordings.MESSAGE_TYPES,
                refusal=notifications.sending_problem(order, current_operator()),
                notification_history=notifications.history(order), body_max=wordings.BODY_MAX,
                subject_max=wordings.SUBJECT_MAX, **extra)


@bp.get("/commandes/<int:order_id>/notifications")
@login_required
def show(order_id: int):
    """The form (a type chosen in the drop-down fills in the message) and the history."""
    context = _context(order_id)
    if htmx and htmx.target == "notification-message-fields":
        return render_block(FORM, "message_fields", **context)
    return _page_or_block("notification_form", context)


@bp.get("/commandes/<int:order_id>/notifications/historique")
@passive
@login_required
def history(order_id: int):
    """The history panel; polled while a notification waits, so its state updates itself."""
    context = _context(order_id)
    return _page_or_block("notification_history", context)


@bp.post("/commandes/<int:order_id>/notifications/apercu")
@login_required
def preview(order_id: int):
    draft = drafts.draft_from_form(request.form)
    context = _context(order_id, draft=draft, problems=drafts.message_problems(draft))
    context["preview"] = drafts.preview_text(current_app, context["order"], draft)
    return _page_or_block("notification_form", context)


@bp.post("/commandes/<int:order_id>/notifications")
@login_required
def send(order_id: int):
    order = order_or_404(order_id)
    draft = drafts.draft_from_form(request.form)
    notifications.queue(order, draft, operator=current_operator(), ip=client_ip(),
                        sender=current_app.config["MAIL_DEFAULT_SENDER"])
    outbox.wake(current_app)
    done = (f"Notification « {notifications.type_label(draft.type)} » enregistrée pour "
            f"{draft.recipient} : elle part dans quelques instants. Son état est suivi dans "
            f"l'historique des notifications.")
    if not htmx:
        flash(done, "success")
        return redirect(url_for(".show", order_id=order.id, type=draft.type), 303)
    # The form comes back empty (same type and recipient): a second click sends nothing twice.
    context = _context(order_id, draft=drafts.Draft(draft.type, draft.recipient, "", ""),
                       sent_message=done)
    return render_blocks(PAGE, ["notification_form", "notification_history"], **context,
                         out_of_band=True)


@bp.post("/commandes/<int:order_id>/notifications/<int:notification_id>/renvoyer")
@login_required
def resend(order_id: int, notification_id: int):
    order = order_or_404(order_id)
    notification = notification_or_404(order, notification_id)
    notifications.resend(notification, current_operator(), ip=client_ip())
    outbox.wake(current_app)
    return _history_answer(order.id, "Notification remise dans la boîte d'envoi.", "success")


def _history_answer(order_id: int, message: str, category: str):
    if not htmx:
        flash(message, category)
        return redirect(url_for(".show", order_id=order_id, _anchor="historique-notifications"),
                        303)
    key = "history_message" if category == "success" else "history_problem"
    return render_block(PAGE, "notification_history", **_context(order_id, **{key: message}))


# --- The AE's wordings (admins) ----------------------------------------------------------------

@bp.get("/parametres/notifications", endpoint="wordings")
@role_required("admin")
def wordings_page():
    return render_template(WORDINGS_PAGE, wordings=wordings.wordings(current_operator().ae_id),
                           variables=wordings.VARIABLES, body_max=wordings.BODY_MAX,
                           subject_max=wordings.SUBJECT_MAX)


@bp.post("/parametres/notifications")
@role_required("admin")
def save_wording():
    operator, code = current_operator(), request.form.get("type", "")
    if request.form.get("action") == "reset":
        changed = wordings.reset_wording(operator, code, ip=client_ip())
        message = ("Texte d'origine rétabli." if changed
                   else "Ce modèle utilise déjà le texte d'origine.")
    else:
        changed = wordings.save_wording(operator, code, request.form.get("subject", ""),
                                        request.form.get("message", ""), ip=client_ip())
        message = "Modèle enregistré." if changed else "Modèle inchangé : rien à enregistrer."
    return _wording_answer(code, message, [])


def _wording_answer(code: str, message: str | None, problems: list[str]):
    if not htmx:
        flash(" ".join(problems) or message, "error" if problems else "success")
        return redirect(url_for(".wordings", _anchor=f"modele-{code}"), 303)
    current = wordings.wordings(current_operator().ae_id).get(code)
    if current is None:
        abort(404)
    return render_block(WORDINGS_PAGE, "wording", wording=current, problems=problems,
                        message=message, submitted=request.form if problems else None,
                        variables=wordings.VARIABLES, body_max=wordings.BODY_MAX,
                        subject_max=wordings.SUBJECT_MAX)
