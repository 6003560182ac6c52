"""« Révoquer le lien de suivi », in the order file's « Notifications au demandeur » (AEA):
every follow-up and renewal link issued so far stops working, and a fresh link may go to the
requester (services.messaging.link_revocation). A self-replacing panel for htmx; a plain form
with a redirect and a message without JavaScript.
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from jinja2_fragments.flask import render_block

import workflow
from blueprints import refusals
from blueprints.common import current_operator, order_or_404, role_required
from extensions import client_ip, htmx
from services.messaging import link_revocation, notifications, outbox

bp = Blueprint("followup_links", __name__, url_prefix="/commandes")
PANEL = "followup_links/_panel.html"
ANCHOR = "lien-de-suivi"


@bp.app_context_processor
def followup_link_helpers():
    def followup_link_panel(order):
        operator = current_operator()
        return link_revocation.panel(order, operator) if operator else None
    return {"followup_link_panel": followup_link_panel}


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    if htmx:
        return _panel(request.view_args["order_id"], problem=refusal.message)
    return refusals.show_refusal(refusal, ANCHOR)


@bp.post("/<int:order_id>/lien-de-suivi/revocation")
@role_required(workflow.ROLE_AEA)
def revoke(order_id: int):
    order = order_or_404(order_id)
    notification = link_revocation.revoke_links(
        order, current_operator(), send_new_link=request.form.get("send_new_link") == "1",
        sender=current_app.config["MAIL_DEFAULT_SENDER"], ip=client_ip())
    message = ("Lien de suivi révoqué : les liens de suivi, de renouvellement et de révocation "
               "envoyés jusqu'ici ne donnent plus accès à la commande.")
    if notification is not None:
        outbox.wake(current_app)
        message += f" Un nouveau lien part vers {notification.recipient}."
    if not htmx:
        return refusals.back_to_order_file(order.id, ANCHOR, message)
    return _panel(order.id, message=message, with_history=notification is not None)


def _panel(order_id: int, *, message: str | None = None, problem: str | None = None,
           with_history: bool = False):
    """The panel, and the notification history out of band when a new link was queued."""
    order = order_or_404(order_id)
    panel = render_block(PANEL, "panel", order=order, message=message, problem=problem,
                         link_panel=link_revocation.panel(order, current_operator()))
    if not with_history:
        return panel
    history = render_template("notifications/_history.html", order=order, out_of_band=True,
                              notification_history=notifications.history(order),
                              history_heading="h3", refusal=None)
    return panel + history
