"""« Webhooks » (Administration): an AE's admins list the addresses where its systems receive
its events, add one, change its secret, deactivate it, and follow its deliveries, sending a
failed one again. A secret is shown once, in the answer to the POST that made it — never put in
the session or a flashed message — with ``Cache-Control: no-store``. Another AE's ids answer
404 (blueprints.lookups)."""
from __future__ import annotations

from flask import (Blueprint, current_app, flash, make_response, redirect, render_template,
                   request, url_for)

import workflow
from blueprints.common import current_operator, role_required
from blueprints.lookups import webhook_delivery_or_404, webhook_endpoint_or_404
from extensions import client_ip
from models import WebhookEndpoint, utcnow
from services.webhooks import endpoints, events, urls

bp = Blueprint("webhooks_admin", __name__, url_prefix="/parametres/webhooks")

LIST = "admin/webhooks.html"
DETAIL = "admin/webhook.html"


@bp.get("")
@role_required("admin")
def index():
    return _list_page()


@bp.post("")
@role_required("admin")
def create():
    operator = current_operator()
    form = endpoints.EndpointForm(
        url=request.form.get("url", "").strip(), description=request.form.get("description", ""),
        event_types=request.form.getlist("events"),
        allow_private_network=request.form.get("allow_private_network") == "1")
    try:
        endpoint, secret = endpoints.create(current_app._get_current_object(), operator.ae_id,
                                            form, by=operator, ip=client_ip())
    except workflow.Refused as refused:
        return _list_page(form=form, problems=refused.reasons), 422
    return _with_secret(endpoint, secret, "Webhook ajouté.")


@bp.get("/<int:endpoint_id>")
@role_required("admin")
def show(endpoint_id: int):
    return _detail(webhook_endpoint_or_404(endpoint_id))


@bp.post("/<int:endpoint_id>/secret")
@role_required("admin")
def rotate(endpoint_id: int):
    endpoint = webhook_endpoint_or_404(endpoint_id)
    secret = endpoints.rotate_secret(endpoint, by=current_operator(), ip=client_ip())
    return _with_secret(WebhookEndpoint.get_by_id(endpoint.id), secret, "Secret changé.")


@bp.post("/<int:endpoint_id>/desactivation")
@role_required("admin")
def deactivate(endpoint_id: int):
    endpoint = webhook_endpoint_or_404(endpoint_id)
    endpoints.deactivate(endpoint, by=current_operator(), ip=client_ip())
    flash("Webhook désactivé : plus rien ne lui est envoyé.", "success")
    return redirect(url_for(".show", endpoint_id=endpoint.id), 303)


@bp.post("/<int:endpoint_id>/envois/<int:delivery_id>/renvoi")
@role_required("admin")
def resend(endpoint_id: int, delivery_id: int):
    endpoint = webhook_endpoint_or_404(endpoint_id)
    delivery = webhook_delivery_or_404(endpoint, delivery_id)
    endpoints.resend(delivery, by=current_operator(), ip=client_ip())
    flash("Envoi relancé : il part au prochain passage de la tâche d'envoi.", "success")
    return redirect(url_for(".show", endpoint_id=endpoint.id, _anchor=f"envoi-{delivery.id}"),
                    303)


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """A refused change: its reasons, back on the endpoint's page."""
    flash(refusal.message, "error")
    return redirect(url_for(".show", endpoint_id=request.view_args["endpoint_id"]), 303)


def _list_page(form: endpoints.EndpointForm | None = None, problems: list[str] | None = None):
    return render_template(LIST, lines=endpoints.listing(current_operator().ae_id),
                           event_types=events.EVENT_TYPES, form=form, problems=problems or [],
                           private_label=urls.PRIVATE_LABEL,
                           allow_http=current_app.config["RADESK_WEBHOOKS_ALLOW_HTTP"])


def _detail(endpoint: WebhookEndpoint, new_secret: str | None = None, message: str = ""):
    return render_template(DETAIL, endpoint=endpoint, new_secret=new_secret, message=message,
                           event_labels=[events.label(code) for code in endpoint.event_list],
                           deliveries=endpoints.recent_deliveries(endpoint),
                           overlap=endpoint.previous_secret_expires_at
                           if endpoint.previous_secret_expires_at
                           and endpoint.previous_secret_expires_at > utcnow() else None,
                           private_label=urls.PRIVATE_LABEL)


def _with_secret(endpoint: WebhookEndpoint, secret: str, message: str):
    """The endpoint's page with its new secret, shown this once and kept by no cache."""
    response = make_response(_detail(endpoint, secret, message))
    response.headers["Cache-Control"] = "no-store"
    return response
