"""/api/v1/webhooks: the AE's webhook endpoints — list, add (secret shown once), read with the
latest deliveries, change the secret, deactivate, send a failed delivery again."""
from __future__ import annotations

from flask import current_app

from blueprints.api import Answers, bp, current_client, idempotent, json_response, requires, spec
from blueprints.api.orders import REFUSALS, body_of
from blueprints.api.schemas import (DeliveryOut, Problem as ProblemModel, WebhookCreate,
                                    WebhookDetail, WebhookList, WebhookOut, WebhookSecret)
from extensions import client_ip
from services.api import webhooks
from services.api.clients import SCOPE_WEBHOOKS

TAGS = ["Webhooks"]
CHANGE = dict(HTTP_404=ProblemModel, HTTP_409=ProblemModel, **REFUSALS)


def _location(endpoint_id: int) -> str:
    return f"{bp.url_prefix}/webhooks/{endpoint_id}"


def _secret_answer(endpoint_id: int, secret: str, status: int):
    """The endpoint with its secret — this answer only; no cache keeps it."""
    client = current_client()
    body = {**webhooks.view(webhooks.line_of(client, endpoint_id)), "secret": secret}
    response = json_response(body, status, _location(endpoint_id) if status == 201 else None)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/webhooks")
@spec.validate(resp=Answers(HTTP_200=WebhookList, **REFUSALS), tags=TAGS)
@requires(SCOPE_WEBHOOKS)
def list_webhooks():
    """Les webhooks de l'AE, actifs d'abord, avec leurs envois comptés par état."""
    return json_response(webhooks.listing(current_client()))


@bp.post("/webhooks")
@spec.validate(json=WebhookCreate, resp=Answers(HTTP_201=WebhookSecret, HTTP_422=ProblemModel,
                                                 HTTP_409=ProblemModel, **REFUSALS), tags=TAGS)
@requires(SCOPE_WEBHOOKS)
@idempotent
def create_webhook():
    """Ajouter un webhook : son secret « whsec_… » est dans cette réponse seulement (une
    nouvelle tentative avec la même « Idempotency-Key » le rend à nouveau)."""
    body = body_of("json", "un objet JSON (Content-Type: application/json)")
    endpoint, secret = webhooks.create(current_app._get_current_object(), current_client(),
                                       body.model_dump(), ip=client_ip())
    return _secret_answer(endpoint.id, secret, 201)


@bp.get("/webhooks/<int:endpoint_id>")
@spec.validate(resp=Answers(HTTP_200=WebhookDetail, HTTP_404=ProblemModel, **REFUSALS),
               tags=TAGS)
@requires(SCOPE_WEBHOOKS)
def read_webhook(endpoint_id: int):
    """Un webhook et ses derniers envois (les plus récents d'abord)."""
    client = current_client()
    return json_response(webhooks.detail(client, webhooks.find(client, endpoint_id).id))


@bp.post("/webhooks/<int:endpoint_id>/secret")
@spec.validate(resp=Answers(HTTP_200=WebhookSecret, **CHANGE), tags=TAGS)
@requires(SCOPE_WEBHOOKS)
@idempotent
def rotate_webhook_secret(endpoint_id: int):
    """Changer le secret : l'ancien signe aussi pendant 24 heures, le temps de basculer."""
    client = current_client()
    endpoint = webhooks.find(client, endpoint_id)
    return _secret_answer(endpoint.id, webhooks.rotate_secret(client, endpoint, ip=client_ip()),
                          200)


@bp.post("/webhooks/<int:endpoint_id>/desactivation")
@spec.validate(resp=Answers(HTTP_200=WebhookOut, **CHANGE), tags=TAGS)
@requires(SCOPE_WEBHOOKS)
@idempotent
def deactivate_webhook(endpoint_id: int):
    """Désactiver le webhook : plus rien ne lui est envoyé, ses envois en attente non plus."""
    client = current_client()
    endpoint = webhooks.find(client, endpoint_id)
    webhooks.deactivate(client, endpoint, ip=client_ip())
    return json_response(webhooks.view(webhooks.line_of(client, endpoint.id)))


@bp.post("/webhooks/<int:endpoint_id>/envois/<int:delivery_id>/renvoi")
@spec.validate(resp=Answers(HTTP_200=DeliveryOut, **CHANGE), tags=TAGS)
@requires(SCOPE_WEBHOOKS)
@idempotent
def resend_delivery(endpoint_id: int, delivery_id: int):
    """Renvoyer un envoi en échec : il repart pour une nouvelle série d'essais, sous le même
    « webhook-id »."""
    client = current_client()
    endpoint = webhooks.find(client, endpoint_id)
    row = webhooks.resend(client, endpoint, delivery_id, ip=client_ip())
    return json_response(webhooks.resent(row))

