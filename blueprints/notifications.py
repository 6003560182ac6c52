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

import scheduler
import workflow
from blueprints.common import (current_operator, login_required, order_or_404, passive,
                               role_required)
from extensions import client_ip
from services.messaging import notifications

bp = Blueprint("notifications", __name__)

PAGE = "notifications/page.html"
FORM = "notifications/_form.html"  # holds the « message_fields » block the type drop-down refills
WORDINGS_PAGE = "notifications/wordings.html"


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _context(order_id: int, draft=None, **extra) -> dict:
    """What the page and its blocks show: the order, the form's message, the history."""
    order = notifications.order_for_message(order_or_404(order_id).id)
    if draft is None:
        documents = list(notifications.current_documents(order))
        draft = notifications.draft(order, documents, request.args.get("type", ""),
                                    request.args.get("destinataire"))
    return dict(order=order, draft=draft, message_types=notifications.MESSAGE_TYPES,
                refusal=notifications.sending_problem(order, current_operator()),
                notification_history=notifications.history(order), body_max=notifications.BODY_MAX,
                subject_max=notifications.SUBJECT_MAX, **extra)


@bp.get("/commandes/<int:order_id>/notifications")
@login_required
def show(order_id: int):
    """The form (a type chosen in the drop-down fills in the message) and the history."""
    context = _context(order_id)
    if _is_htmx() and request.headers.get("HX-Target") == "notification-message-fields":
        return render_block(FORM, "message_fields", **context)
    if _is_htmx():
        return render_block(PAGE, "notification_form", **context)
    return render_template(PAGE, **context)


@bp.get("/commandes/<int:order_id>/notifications/historique")
@passive
@login_required
def history(order_id: int):
    """The history panel; polled while a notification waits, so its state updates itself."""
    context = _context(order_id)
    if _is_htmx():
        return render_block(PAGE, "notification_history", **context)
    return render_template(PAGE, **context)


@bp.post("/commandes/<int:order_id>/notifications/apercu")
@login_required
def preview(order_id: int):
    draft = notifications.draft_from_form(request.form)
    context = _context(order_id, draft=draft, problems=notifications.message_problems(draft))
    context["preview"] = notifications.preview_text(current_app, context["order"], draft)
    if _is_htmx():
        return render_block(PAGE, "notification_form", **context)
    return render_template(PAGE, **context)


@bp.post("/commandes/<int:order_id>/notifications")
@login_required
def send(order_id: int):
    order = order_or_404(order_id)
    draft = notifications.draft_from_form(request.form)
    try:
        notifications.queue(order, draft, operator=current_operator(), ip=client_ip(),
                            sender=current_app.config["MAIL_DEFAULT_SENDER"])
    except workflow.Refused as refused:
        context = _context(order_id, draft=draft, problems=refused.reasons)
        if _is_htmx():
            return render_block(PAGE, "notification_form", **context)
        return render_template(PAGE, **context), 422
    scheduler.wake(current_app)
    done = (f"Notification « {notifications.type_label(draft.type)} » enregistrée pour "
            f"{draft.recipient} : elle part dans quelques instants. Son état est suivi dans "
            f"l'historique des notifications.")
    if not _is_htmx():
        flash(done, "success")
        return redirect(url_for(".show", order_id=order.id, type=draft.type), 303)
    context = _context(order_id, sent_message=done)
    return render_blocks(PAGE, ["notification_form", "notification_history"], **context,
                         out_of_band=True)


@bp.post("/commandes/<int:order_id>/notifications/<int:notification_id>/renvoyer")
@login_required
def resend(order_id: int, notification_id: int):
    order = order_or_404(order_id)
    notification = notifications.notification_of(order, notification_id)
    if notification is None:
        abort(404)
    try:
        notifications.resend(notification, current_operator(), ip=client_ip())
        message, category = "Notification remise dans la boîte d'envoi.", "success"
        scheduler.wake(current_app)
    except workflow.Refused as refused:
        message, category = " ".join(refused.reasons), "error"
    if not _is_htmx():
        flash(message, category)
        return redirect(url_for(".show", order_id=order.id, _anchor="historique-notifications"), 303)
    key = "history_message" if category == "success" else "history_problem"
    return render_block(PAGE, "notification_history", **_context(order_id, **{key: message}))


# --- The AE's wordings (admins) ----------------------------------------------------------------

@bp.get("/parametres/notifications")
@role_required("admin")
def wordings():
    return render_template(WORDINGS_PAGE, wordings=notifications.wordings(current_operator().ae_id),
                           variables=notifications.VARIABLES, body_max=notifications.BODY_MAX,
                           subject_max=notifications.SUBJECT_MAX)


@bp.post("/parametres/notifications")
@role_required("admin")
def save_wording():
    operator, code = current_operator(), request.form.get("type", "")
    problems, message = [], None
    try:
        if request.form.get("action") == "retablir":
            changed = notifications.reset_wording(operator, code, ip=client_ip())
            message = "Texte d'origine rétabli." if changed else "Ce modèle utilise déjà le texte d'origine."
        else:
            changed = notifications.save_wording(operator, code, request.form.get("objet", ""),
                                                 request.form.get("message", ""), ip=client_ip())
            message = "Modèle enregistré." if changed else "Modèle inchangé : rien à enregistrer."
    except workflow.Refused as refused:
        problems = refused.reasons
    if not _is_htmx():
        flash(" ".join(problems) or message, "error" if problems else "success")
        return redirect(url_for(".wordings", _anchor=f"modele-{code}"), 303)
    current = notifications.wordings(operator.ae_id).get(code)
    if current is None:
        abort(404)
    submitted = request.form if problems else None
    return render_block(WORDINGS_PAGE, "wording", wording=current, problems=problems,
                        message=message, submitted=submitted, variables=notifications.VARIABLES,
                        body_max=notifications.BODY_MAX, subject_max=notifications.SUBJECT_MAX)
