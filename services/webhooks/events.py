"""The events RA Desk reports to the AEs' systems, and ``emit``, which writes one in the
transaction of the change it reports: a change rolled back reports nothing, a change committed
is reported even if the process stops the next instant (the delivery job sends it later).

The payload follows Standard Webhooks' shape — ``{"type", "timestamp", "data"}`` — and is
stored as the exact text that is signed and sent, so every try and every endpoint get the same
bytes under the same ``webhook-id``.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid

from models import (HolderCertificate, Order, Portal, WebhookDelivery, WebhookEndpoint,
                    WebhookEvent, db, utcnow)

ORDER_RECEIVED = "commande.recue"
ORDER_INCOMPLETE = "commande.incomplete"
ORDER_SENT_FOR_SIGNATURE = "commande.envoyee_en_signature"
ORDER_SIGNED = "commande.signee"
ORDER_VALIDATED = "commande.validee"
ORDER_REFUSED = "commande.refusee"
CERTIFICATE_ISSUED = "certificat.emis"
CERTIFICATE_HANDED_OVER = "certificat.remis"
CERTIFICATE_ACTIVATED = "certificat.active"
CERTIFICATE_REVOKED = "certificat.revoque"

EVENT_TYPES = {  # in the order of an order's life, as the admin's checkboxes list them
    ORDER_RECEIVED: "Commande reçue",
    ORDER_INCOMPLETE: "Commande incomplète (pièce manquante ou invalide)",
    ORDER_SENT_FOR_SIGNATURE: "Commande envoyée en signature",
    ORDER_SIGNED: "Commande signée par tous les signataires",
    ORDER_VALIDATED: "Commande validée",
    ORDER_REFUSED: "Commande refusée",
    CERTIFICATE_ISSUED: "Certificat émis",
    CERTIFICATE_HANDED_OVER: "Certificat remis au porteur",
    CERTIFICATE_ACTIVATED: "Certificat activé par le porteur",
    CERTIFICATE_REVOKED: "Certificat révoqué",
}

# ``commande.incomplete``: why, by the type of the operator's notification.
INCOMPLETE_REASONS = {"missing_document": "piece_manquante", "invalid_document": "piece_invalide"}


def label(event_type: str) -> str:
    return EVENT_TYPES.get(event_type, event_type)


def new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def timestamp(moment: dt.datetime) -> str:
    """A stored (naive UTC) time as ISO 8601 with its zone."""
    return moment.isoformat(timespec="seconds") + "Z"


def emit(order: Order, event_type: str, data: dict | None = None) -> WebhookEvent | None:
    """Write the event and one delivery per active endpoint of the order's AE that chose its
    type; nothing when none did. Must run inside the transaction of the change it reports."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type {event_type!r}")
    if not db.in_transaction():
        raise RuntimeError("emit() belongs in the transaction of the change it reports")
    endpoints = WebhookEndpoint.subscribed(order.ae_id, event_type)
    if not endpoints:
        return None
    # The order's row lock: one order's events get their ids in the order of their commits,
    # which is the order the delivery job keeps.
    Order.update(updated_at=Order.updated_at).where(Order.id == order.id).execute()
    current = Order.select(Order, Portal).join(Portal).where(Order.id == order.id).get()
    now = utcnow()
    payload = {"type": event_type, "timestamp": timestamp(now),
               "data": {"commande": order_data(current), **(data or {})}}
    event = WebhookEvent.create(
        ae=current.ae_id, order=current.id, type=event_type, created_at=now,
        payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        webhook_id=new_webhook_id())
    WebhookDelivery.insert_many([
        {"event": event.id, "endpoint": endpoint.id, "order": current.id, "state": "queued",
         "tries": 0, "next_try_at": now, "created_at": now}
        for endpoint in endpoints]).execute()
    return event


def order_data(order: Order) -> dict:
    """The order as every event shows it: the keys of the API's order summary, codes only."""
    return {"numero": order.number, "portail": order.portal.code, "phase": order.phase,
            "sous_etat": order.substate, "processus": order.process}


def incomplete_data(notification_type: str) -> dict:
    return {"motif": INCOMPLETE_REASONS[notification_type]}


def certificate_data(row: HolderCertificate, **more) -> dict:
    return {"certificat": {"numero_serie": row.serial_hex,
                           "empreinte_sha256": row.fingerprint_sha256,
                           "debut_validite": timestamp(row.not_before),
                           "fin_validite": timestamp(row.not_after), **more}}
