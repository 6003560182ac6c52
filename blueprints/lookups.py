"""Lookups that answer 404 for what belongs to an order or an AE: the order itself comes from
blueprints.common.order_or_404 (the operator's scope), its parts are looked up through it, so
an id of another order's document or signer is as unknown as another AE's order."""
from __future__ import annotations

from typing import TypeVar

from flask import abort

from blueprints.common import current_operator
from models import (ApiClient, Document, Notification, Operator, OperatorCertificate, Order,
                    OrderRow, SignatureRequest, WebhookDelivery, WebhookEndpoint)
from services import administration
from services.admin import operator_certificates
from services.signing import text_versions
from services.webhooks import endpoints as webhook_endpoints

Row = TypeVar("Row")
Part = TypeVar("Part", bound=OrderRow)


def _found(row: Row | None) -> Row:
    if row is None:
        abort(404)
    return row


def document_or_404(order: Order, document_id: int) -> Document:
    """A document of ``order`` that has a file (a row still waiting for its upload has none)."""
    document = Document.of_order(order, document_id)
    return _found(document if document is not None and document.sha256 else None)


def part_of_order_or_404(model: type[Part], order: Order, row_id: int) -> Part:
    return _found(model.of_order(order, row_id))


def signature_request_or_404(order: Order, request_id: int) -> SignatureRequest:
    return part_of_order_or_404(SignatureRequest, order, request_id)


def notification_or_404(order: Order, notification_id: int) -> Notification:
    return part_of_order_or_404(Notification, order, notification_id)


def operator_or_404(operator_id: int) -> Operator:
    """An operator of the logged-in operator's AE."""
    return _found(administration.operator_of_ae(current_operator().ae_id, operator_id))


def operator_certificate_or_404(operator: Operator, certificate_id: int) -> OperatorCertificate:
    """A certificate bound to ``operator`` (which must come from operator_or_404)."""
    return _found(operator_certificates.certificate_of(operator, certificate_id))


def api_client_or_404(client_id: int) -> ApiClient:
    """An API client of the logged-in operator's AE."""
    return _found(ApiClient.get_or_none((ApiClient.id == client_id)
                                        & (ApiClient.ae == current_operator().ae_id)))


def webhook_endpoint_or_404(endpoint_id: int) -> WebhookEndpoint:
    """A webhook endpoint of the logged-in operator's AE."""
    return _found(webhook_endpoints.endpoint_of_ae(current_operator().ae_id, endpoint_id))


def webhook_delivery_or_404(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    """A delivery to ``endpoint`` (which must come from webhook_endpoint_or_404)."""
    return _found(webhook_endpoints.delivery_of_endpoint(endpoint, delivery_id))


def contract_text_version_or_404(version_id: int) -> text_versions.ContractTextVersion:
    """A version of a contractual text of the logged-in operator's AE."""
    return _found(text_versions.version_of_ae(current_operator().ae_id, version_id))


def blank_key_or_404(key_id: int):
    """A key of the logged-in operator's AE's stock."""
    from services.key_stock import stock as key_stock
    return _found(key_stock.key_of_ae(current_operator().ae_id, key_id))
