"""The AE's webhooks through the API (scope « webhooks:gerer »): the same service as the
Administration screen (services.webhooks.endpoints), its refusals as problem details, its rows
as the API's JSON. Webhooks belong to the AE, not to a portal: a client with this scope manages
all of its AE's endpoints; another AE's ids are « introuvable ».
"""
from __future__ import annotations

from flask import Flask

import workflow
from formatting import utc_iso
from models import ApiClient, Order, WebhookDelivery, WebhookEndpoint, utcnow
from services.api.orders import actor
from services.api.problems import Problem
from services.webhooks import endpoints, events


def _refused(refusal: workflow.Refused) -> Problem:
    return Problem(409, "action_refusee", refusal.message)


def create(app: Flask, client: ApiClient, payload: dict, ip: str = "") -> tuple[WebhookEndpoint,
                                                                                   str]:
    form = endpoints.EndpointForm(url=payload["url"].strip(), description=payload["description"],
                                  event_types=list(payload["evenements"]),
                                  allow_private_network=payload["adresses_privees"])
    try:
        return endpoints.create(app, client.ae_id, form, actor=actor(client), ip=ip)
    except endpoints.FormRefused as refusal:
        raise Problem(422, "webhook_invalide", refusal.message,
                      [{"code": code, "champ": code.split(".")[0], "detail": reason}
                       for code, reason in refusal.problems]) from None


def find(client: ApiClient, endpoint_id: int) -> WebhookEndpoint:
    endpoint = endpoints.endpoint_of_ae(client.ae_id, endpoint_id)
    if endpoint is None:
        raise Problem(404, "introuvable", f"Aucun webhook N° {endpoint_id} pour cette AE.")
    return endpoint


def rotate_secret(client: ApiClient, endpoint: WebhookEndpoint, ip: str = "") -> str:
    try:
        return endpoints.rotate_secret(endpoint, actor=actor(client), ip=ip)
    except workflow.Refused as refusal:
        raise _refused(refusal) from None


def deactivate(client: ApiClient, endpoint: WebhookEndpoint, ip: str = "") -> None:
    try:
        endpoints.deactivate(endpoint, actor=actor(client), ip=ip)
    except workflow.Refused as refusal:
        raise _refused(refusal) from None


def resend(client: ApiClient, endpoint: WebhookEndpoint, delivery_id: int,
           ip: str = "") -> WebhookDelivery:
    delivery = endpoints.delivery_of_endpoint(endpoint, delivery_id)
    if delivery is None:
        raise Problem(404, "introuvable", f"Aucun envoi N° {delivery_id} pour ce webhook.")
    try:
        endpoints.resend(delivery, actor=actor(client), ip=ip)
    except workflow.Refused as refusal:
        raise _refused(refusal) from None
    return endpoints.delivery_of_endpoint(endpoint, delivery_id)


# --- As the API shows them ---------------------------------------------------------------------

def view(line: endpoints.EndpointLine) -> dict:
    endpoint = line.endpoint
    overlap = endpoint.previous_secret_expires_at
    return {"id": endpoint.id, "url": endpoint.url, "description": endpoint.description,
            "evenements": endpoint.event_list, "adresses_privees": endpoint.allow_private_network,
            "actif": endpoint.active, "cree_le": utc_iso(endpoint.created_at),
            "ancien_secret_valable_jusqu_au": utc_iso(overlap) if overlap and overlap > utcnow()
            else None,
            "envois": line.counts}


def listing(client: ApiClient) -> dict:
    return {"webhooks": [view(line) for line in endpoints.listing(client.ae_id)]}


def line_of(client: ApiClient, endpoint_id: int) -> endpoints.EndpointLine:
    """The endpoint as listed, read again (after a change)."""
    return next(line for line in endpoints.listing(client.ae_id)
                if line.endpoint.id == endpoint_id)


def detail(client: ApiClient, endpoint_id: int) -> dict:
    line = line_of(client, endpoint_id)
    return {**view(line), "derniers_envois": [delivery(row) for row in
                                              endpoints.recent_deliveries(line.endpoint)]}


def delivery(line: endpoints.DeliveryLine) -> dict:
    row = line.delivery
    return {"id": row.id, "webhook_id": row.event.webhook_id, "evenement": row.event.type,
            "evenement_libelle": line.event_label, "commande": line.order_number,
            "etat": row.state, "etat_libelle": line.state_label, "essais": row.tries,
            "dernier_statut_http": row.last_status, "derniere_erreur": row.last_error,
            "cree_le": utc_iso(row.created_at), "envoye_le": utc_iso(row.sent_at)}


def resent(row: WebhookDelivery) -> dict:
    """A delivery just sent back to the queue."""
    order_number = Order.get_by_id(row.order_id).number if row.order_id else None
    return delivery(endpoints.DeliveryLine(row, events.label(row.event.type), order_number,
                                           endpoints.STATE_LABELS[row.state]))
