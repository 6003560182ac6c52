"""The stock's events in the audit trail: their names, how their details read, and the one
way they are written — the audit event, then a link from each key it concerns, so that a key's
history is read from the tamper-evident trail itself."""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from peewee import JOIN

from models import AuditEvent, BlankKey, BlankKeyEvent, Operator, Order
from services import audit
from workflow import keys as rules

ACTION_ADDED = "blank_key_added"
ACTION_IMPORTED = "blank_keys_imported"
ACTION_ADDED_AT_GENERATION = "blank_key_added_at_generation"
ACTION_ASSIGNED = "blank_key_assigned"
ACTION_RELEASED = "blank_key_released"
ACTION_HANDED_OVER = "blank_key_handed_over"
ACTION_REVOKED = "blank_key_revoked"
ACTION_DEFECTIVE = "blank_key_defective"
ACTION_SETTINGS = "key_stock_settings_changed"

AUDIT_ACTIONS = {
    ACTION_ADDED: "Clé vierge ajoutée au stock",
    ACTION_IMPORTED: "Clés vierges importées dans le stock",
    ACTION_ADDED_AT_GENERATION: "Clé hors stock ajoutée au stock à la génération",
    ACTION_ASSIGNED: "Clé du stock attribuée à la commande",
    ACTION_RELEASED: "Clé rendue au stock (génération reprise sur une autre clé)",
    ACTION_HANDED_OVER: "Clé du stock remise au porteur",
    ACTION_REVOKED: "Clé du stock révoquée (certificat révoqué)",
    ACTION_DEFECTIVE: "Clé déclarée défectueuse",
    ACTION_SETTINGS: "Réglage du stock de clés modifié",
}
DETAIL_LABELS = {
    "key_serial": "N° de série de la clé", "key_model": "Modèle", "medium": "Support",
    "received_on": "Reçue le", "batch": "Lot", "order_number": "Commande N°",
    "previous_state": "État précédent", "defect": "Motif", "count": "Nombre de clés",
    "serials": "N° de série", "avant": "Avant", "après": "Après",
}


def _date(value) -> str:
    try:
        return dt.date.fromisoformat(str(value)).strftime("%d/%m/%Y")
    except ValueError:
        return str(value)


DETAIL_FORMATTERS = {
    "medium": lambda value: rules.KEY_MEDIA.get(value, str(value)),
    "previous_state": lambda value: rules.KEY_STATES.get(value, str(value)),
    "received_on": _date,
    "serials": lambda value: ", ".join(value) if isinstance(value, list) else str(value),
}


def key_details(key: BlankKey) -> dict:
    return {"key_serial": key.serial, "key_model": key.model_name, "medium": key.medium,
            "received_on": key.received_on, "batch": key.batch}


def record(action: str, keys: Iterable[BlankKey | int], *, operator: Operator | None,
           ae_id: int, order: Order | None = None, details: dict | None = None,
           ip: str = "") -> AuditEvent:
    """The audit event, linked to every key it is about; inside the caller's transaction."""
    event = audit.record(action, operator=operator, ae=ae_id, order=order, details=details, ip=ip)
    links = [{"key": key if isinstance(key, int) else key.id, "event": event.id} for key in keys]
    for start in range(0, len(links), 500):
        BlankKeyEvent.insert_many(links[start:start + 500]).execute()
    return event


def history(key: BlankKey) -> list[AuditEvent]:
    """The key's events, oldest first (one query)."""
    return list(AuditEvent
                .select(AuditEvent, Operator)
                .join(BlankKeyEvent, on=(BlankKeyEvent.event == AuditEvent.id))
                .switch(AuditEvent)
                .join(Operator, on=(AuditEvent.operator == Operator.id), join_type=JOIN.LEFT_OUTER)
                .where(BlankKeyEvent.key == key.id)
                .order_by(AuditEvent.id))
