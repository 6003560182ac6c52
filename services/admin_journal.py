"""« Journal d'administration »: an AE's admin acts read back from the audit trail — who, what,
when, and for a change of settings what it was before and after. The acts are the audit
actions the administration's modules declare; their events come from the hash-chained trail
itself, so the journal shows nothing the trail does not hold.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from peewee import JOIN

from formatting import paris_midnight_utc
from models import AuditEvent, Operator
from services import audit_words
from services import ae_settings, offers, operator_enrolment, portals, trusted_cas
from services.admin import operator_certificates, operators as admin_operators
from services.key_stock import events as key_stock_events
from services.operator_enrolment import events as enrolment_events
from services.signing import text_versions
from services.api import clients as api_clients
from services.webhooks import endpoints as webhook_endpoints

PAGE_SIZE = 50

# What counts as an admin act, in the journal's words (the order file's acts stay there).
ADMIN_ACTIONS = {
    **admin_operators.AUDIT_ACTIONS,
    **{code: label for code, label in operator_enrolment.AUDIT_ACTIONS.items()
       if code not in (enrolment_events.ACTION_PIN_REQUIRED, enrolment_events.ACTION_PIN_SET)},
    **portals.AUDIT_ACTIONS,
    **offers.AUDIT_ACTIONS,
    **ae_settings.AUDIT_ACTIONS,
    **trusted_cas.AUDIT_ACTIONS,
    **text_versions.AUDIT_ACTIONS,
    **{code: key_stock_events.AUDIT_ACTIONS[code]  # the admins' acts on the stock
       for code in (key_stock_events.ACTION_ADDED, key_stock_events.ACTION_IMPORTED,
                    key_stock_events.ACTION_DEFECTIVE, key_stock_events.ACTION_SETTINGS)},
    **operator_certificates.AUDIT_ACTIONS,
    "digest_enabled": "Résumé d'activité activé",
    "digest_disabled": "Résumé d'activité désactivé",
    "digest_settings_changed": "Heures d'envoi du résumé modifiées",
    "message_template_updated": "Texte de notification modifié",
    "message_template_reset": "Texte de notification rétabli",
    **{code: label for code, label in api_clients.AUDIT_ACTIONS.items()
       if code != api_clients.ACTION_CALL},
    **webhook_endpoints.AUDIT_ACTIONS,
}
BEFORE, AFTER = "avant", "après"
FIELD_LABELS = {"slots": "Heures d'envoi du résumé", "send_empty": "Résumé envoyé même vide",
                "operator": "Opérateur", "roles": "Rôles", "portals": "Portails",
                "operator_id": "N° d'opérateur", "sessions_ended": "Sessions fermées"}


@dataclass(frozen=True)
class Filters:
    operator_id: int | None = None   # who: an operator of the AE
    action: str | None = None        # what: one of ADMIN_ACTIONS
    since: dt.date | None = None     # from this day (Paris), included
    until: dt.date | None = None     # to this day (Paris), included


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class Line:
    event: AuditEvent
    who: str
    label: str
    changes: list[Change]   # a change of settings, field by field
    details: str            # the rest of the event's details, in words


@dataclass(frozen=True)
class Page:
    lines: list[Line]
    total: int
    number: int
    pages: int



def _query(ae_id: int, filters: Filters):
    query = AuditEvent.select().where((AuditEvent.ae == ae_id)
                                      & AuditEvent.action.in_(list(ADMIN_ACTIONS)))
    if filters.operator_id is not None:
        query = query.where(AuditEvent.operator == filters.operator_id)
    if filters.action in ADMIN_ACTIONS:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since is not None:
        query = query.where(AuditEvent.at >= paris_midnight_utc(filters.since))
    if filters.until is not None:
        query = query.where(AuditEvent.at < paris_midnight_utc(filters.until
                                                                + dt.timedelta(days=1)))
    return query


def page(ae_id: int, filters: Filters, number: int = 1) -> Page:
    """The AE's admin acts matching ``filters``, newest first, ``PAGE_SIZE`` a page."""
    query = _query(ae_id, filters)
    total = query.count()
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(max(1, number), pages)
    events = (query.select_extend(Operator)
              .join(Operator, JOIN.LEFT_OUTER, on=(AuditEvent.operator == Operator.id))
              .order_by(AuditEvent.id.desc())
              .paginate(number, PAGE_SIZE))
    return Page([line(event) for event in events], total, number, pages)


def line(event: AuditEvent) -> Line:
    details = _details(event.details)
    changes, rest = [], details
    if isinstance(details.get(BEFORE), dict) or isinstance(details.get(AFTER), dict):
        before, after = details.get(BEFORE) or {}, details.get(AFTER) or {}
        changes = [Change(_field_label(key), _value(before.get(key)),
                          _value(after.get(key)))
                   for key in [*before, *(key for key in after if key not in before)]
                   if before.get(key) != after.get(key)]
        rest = {key: value for key, value in details.items() if key not in (BEFORE, AFTER)}
    return Line(event, audit_words.who(event), ADMIN_ACTIONS.get(event.action, event.action),
                changes, " ; ".join(f"{_field_label(key)} : {_value(value)}"
                                   for key, value in rest.items()))


def _field_label(key: str) -> str:
    return FIELD_LABELS.get(key) or audit_words.DETAIL_LABELS.get(key, key)


def operators(ae_id: int) -> list[Operator]:
    """Who may be chosen in the « Qui » filter: the AE's operators, active or not."""
    return list(Operator.select().where(Operator.ae == ae_id).order_by(Operator.display_name))


def _details(text: str) -> dict:
    try:
        details = json.loads(text or "{}")
    except ValueError:
        return {}
    return details if isinstance(details, dict) else {}


def _value(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "—"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
