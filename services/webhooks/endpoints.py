"""An AE's webhook endpoints as its admins manage them: add one (its secret shown once),
change its secret (the previous one keeps signing alongside for ``SECRET_OVERLAP``, so the
receiver can switch without losing a message), deactivate it, read its recent deliveries and
send a failed one again. Each change is one transaction with its audit event; no secret is ever
written to the audit trail or the logs. Lookups take the AE: another AE's ids find nothing.
"""
from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass

from flask import Flask
from peewee import JOIN, fn

import workflow
from formatting import paris_datetime
from models import AE, Operator, Order, WebhookDelivery, WebhookEndpoint, WebhookEvent, db, utcnow
from services import audit
from services.webhooks import events, urls

MAX_ENDPOINTS = 20
SECRET_OVERLAP = dt.timedelta(hours=24)
RECENT_DELIVERIES = 50
DESCRIPTION_MAX = 200

ACTION_CREATED = "webhook_endpoint_created"
ACTION_SECRET_ROTATED = "webhook_secret_rotated"
ACTION_DEACTIVATED = "webhook_endpoint_deactivated"
ACTION_REQUEUED = "webhook_delivery_requeued"
AUDIT_ACTIONS = {
    ACTION_CREATED: "Webhook ajouté",
    ACTION_SECRET_ROTATED: "Secret d'un webhook changé",
    ACTION_DEACTIVATED: "Webhook désactivé",
    ACTION_REQUEUED: "Envoi d'un webhook relancé",
}
STATE_LABELS = {"queued": "en attente", "sending": "en cours d'envoi", "sent": "envoyé",
                "failed": "échec"}
WAITING_LABEL = "en attente de l'envoi précédent de cette commande"


@dataclass(frozen=True)
class EndpointForm:
    url: str
    description: str
    event_types: list[str]
    allow_private_network: bool


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class FormRefused(workflow.Refused):
    """The endpoint's form refused: ``problems`` pairs each French reason with a stable code
    (the API's ``erreurs``); the screens show the reasons."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__([reason for _, reason in problems], code="webhook_form")
        self.problems = problems


def form_problems(app: Flask, ae_id: int, form: EndpointForm) -> list[tuple[str, str]]:
    """``(code, reason)`` of each problem of the form, none when it can be saved."""
    problems = []
    try:
        urls.resolve(form.url, allow_http=app.config["RADESK_WEBHOOKS_ALLOW_HTTP"],
                     allow_private=form.allow_private_network)
    except urls.RefusedUrl as refused:
        problems.append(("url.invalide", refused.message))
    if len(form.description) > DESCRIPTION_MAX:
        problems.append(("description.invalide",
                         f"La description est trop longue ({DESCRIPTION_MAX} caractères au plus)."))
    if not form.event_types:
        problems.append(("evenements.obligatoire", "Choisissez au moins un type d'événement."))
    elif any(code not in events.EVENT_TYPES for code in form.event_types):
        problems.append(("evenements.invalide", "Type d'événement inconnu."))
    if WebhookEndpoint.of_ae(ae_id).where(WebhookEndpoint.active).count() >= MAX_ENDPOINTS:
        problems.append(("webhooks.trop_nombreux",
                         f"Une AE a au plus {MAX_ENDPOINTS} webhooks actifs : désactivez-en un "
                         f"d'abord."))
    return problems


def create(app: Flask, ae_id: int, form: EndpointForm, *, by: Operator | None = None,
           actor: str | None = None, ip: str = "") -> tuple[WebhookEndpoint, str]:
    """Add the endpoint; returns it with its secret (to show once). Raises FormRefused."""
    problems = form_problems(app, ae_id, form)
    if problems:
        raise FormRefused(problems)
    secret = new_secret()
    chosen = [code for code in events.EVENT_TYPES if code in form.event_types]
    with db.atomic():
        endpoint = WebhookEndpoint.create(
            ae=ae_id, url=form.url.strip(), description=form.description.strip(),
            event_types=",".join(chosen), secret=secret,
            allow_private_network=form.allow_private_network, created_by=by.id if by else None)
        audit.record(ACTION_CREATED, operator=by, ae=ae_id, actor=actor, ip=ip,
                     details={**_details(endpoint),
                              "événements": [events.label(code) for code in chosen],
                              "adresses_privées": "oui" if form.allow_private_network else "non"})
    return endpoint, secret


def rotate_secret(endpoint: WebhookEndpoint, *, by: Operator | None = None,
                  actor: str | None = None, ip: str = "") -> str:
    """A new secret; the current one signs alongside for SECRET_OVERLAP. Returns the new one."""
    secret = new_secret()
    now = utcnow()
    with db.atomic():
        current = WebhookEndpoint.get_by_id(endpoint.id)
        if not current.active:
            raise workflow.Refused(["Ce webhook est désactivé : son secret ne change plus."])
        (WebhookEndpoint
         .update(secret=secret, previous_secret=current.secret,
                 previous_secret_expires_at=now + SECRET_OVERLAP)
         .where(WebhookEndpoint.id == endpoint.id)
         .execute())
        audit.record(ACTION_SECRET_ROTATED, operator=by, ae=current.ae_id, actor=actor, ip=ip,
                     details={**_details(current),
                              "ancien_secret_jusqu_au": paris_datetime(now + SECRET_OVERLAP)})
    return secret


def deactivate(endpoint: WebhookEndpoint, *, by: Operator | None = None,
               actor: str | None = None, ip: str = "") -> None:
    """No new delivery for it, and its waiting ones are not sent."""
    with db.atomic():
        changed = (WebhookEndpoint
                   .update(active=False)
                   .where((WebhookEndpoint.id == endpoint.id) & WebhookEndpoint.active)
                   .execute())
        if not changed:
            raise workflow.Refused(["Ce webhook est déjà désactivé."])
        audit.record(ACTION_DEACTIVATED, operator=by, ae=endpoint.ae_id, actor=actor, ip=ip,
                     details=_details(endpoint))


def resend(delivery: WebhookDelivery, *, by: Operator | None = None, actor: str | None = None,
           ip: str = "") -> None:
    """A failed delivery goes back to the queue for a new series of tries (same webhook-id)."""
    with db.atomic():
        endpoint = WebhookEndpoint.get_by_id(delivery.endpoint_id)
        if not endpoint.active:
            raise workflow.Refused(["Ce webhook est désactivé : rien ne lui est plus envoyé."])
        changed = (WebhookDelivery
                   .update(state="queued", tries=0, next_try_at=utcnow())
                   .where((WebhookDelivery.id == delivery.id)
                          & (WebhookDelivery.state == "failed"))
                   .execute())
        if not changed:
            raise workflow.Refused(["Seul un envoi en échec peut être renvoyé."])
        audit.record(ACTION_REQUEUED, operator=by, ae=endpoint.ae_id, actor=actor, ip=ip,
                     details={**_details(endpoint), "envoi": delivery.id,
                              "événement": events.label(delivery.event.type),
                              "webhook_id": delivery.event.webhook_id})


def _details(endpoint: WebhookEndpoint) -> dict:
    return {"webhook": endpoint.id, "url": endpoint.url}


# --- Reading ---------------------------------------------------------------------------------

def endpoint_of_ae(ae_id: int, endpoint_id: int) -> WebhookEndpoint | None:
    return WebhookEndpoint.get_or_none((WebhookEndpoint.id == endpoint_id)
                                       & (WebhookEndpoint.ae == ae_id))


def delivery_of_endpoint(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery | None:
    return (WebhookDelivery
            .select(WebhookDelivery, WebhookEvent)
            .join(WebhookEvent)
            .where((WebhookDelivery.id == delivery_id)
                   & (WebhookDelivery.endpoint == endpoint.id))
            .first())


@dataclass(frozen=True)
class EndpointLine:
    endpoint: WebhookEndpoint
    event_labels: list[str]
    counts: dict[str, int]   # deliveries by state


def listing(ae: AE | int) -> list[EndpointLine]:
    """The AE's endpoints, active first, with their deliveries counted by state (two queries)."""
    ae_id = ae if isinstance(ae, int) else ae.id
    endpoints = list(WebhookEndpoint.of_ae(ae_id)
                     .order_by(WebhookEndpoint.active.desc(), WebhookEndpoint.created_at.desc()))
    counts: dict[int, dict[str, int]] = {}
    ids = [endpoint.id for endpoint in endpoints] or [-1]
    for endpoint_id, state, count in (WebhookDelivery
                                      .select(WebhookDelivery.endpoint, WebhookDelivery.state,
                                              fn.COUNT(WebhookDelivery.id))
                                      .where(WebhookDelivery.endpoint.in_(ids))
                                      .group_by(WebhookDelivery.endpoint, WebhookDelivery.state)
                                      .tuples()):
        counts.setdefault(endpoint_id, {})[state] = count
    return [EndpointLine(endpoint, [events.label(code) for code in endpoint.event_list],
                         counts.get(endpoint.id, {}))
            for endpoint in endpoints]


@dataclass(frozen=True)
class DeliveryLine:
    delivery: WebhookDelivery
    event_label: str
    order_number: int | None
    state_label: str

    @property
    def can_resend(self) -> bool:
        return self.delivery.state == "failed"


def recent_deliveries(endpoint: WebhookEndpoint,
                      limit: int = RECENT_DELIVERIES) -> list[DeliveryLine]:
    """The endpoint's latest deliveries, newest first, with their event (one query)."""
    rows = (WebhookDelivery
            .select(WebhookDelivery, WebhookEvent, Order.number)
            .join(WebhookEvent)
            .switch(WebhookDelivery)
            .join(Order, JOIN.LEFT_OUTER, on=(WebhookDelivery.order == Order.id),
                  attr="order_row")
            .where(WebhookDelivery.endpoint == endpoint.id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit))
    rows = list(rows)
    # A delivery waiting behind an earlier one of its order says so (among the rows shown).
    unsent_orders, behind = set(), set()
    for row in reversed(rows):
        if row.state == "queued" and row.order_id in unsent_orders:
            behind.add(row.id)
        if row.state != "sent" and row.order_id is not None:
            unsent_orders.add(row.order_id)
    return [DeliveryLine(row, events.label(row.event.type),
                         row.order_row.number if getattr(row, "order_row", None) else None,
                         WAITING_LABEL if row.id in behind else STATE_LABELS[row.state])
            for row in rows]
