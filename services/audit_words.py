"""The audit trail in French words, for the order file's « Historique » and the dossier's ZIP.

Each module that writes events names its actions and details in its own words; this module
gathers them in one vocabulary. An action without words still shows, by its code.
"""
from __future__ import annotations

import json
from typing import Any

import workflow
from services import ae_settings, offers, portals, trusted_cas, validation
from services.admin import operator_certificates, operators as admin_operators
from services.certificates import activation, face_to_face, generation
from services.api import clients as api_clients
from services.dossiers import documents, piece_checks, piece_readings
from services.intake import address as intake_address, drafts as intake_drafts
from services.intake import expiry as intake_expiry
from services.key_stock import events as key_stock_events
from services.messaging import link_revocation, notifications
from services.orders import handling, requester_reminders, saved_searches
from services.bulk import jobs as bulk_jobs
from services import operator_enrolment
from services.signing import signatures
from services.signing import text_versions
from services import statistics
from services.renewal import orders as renewal_orders
from services.renewal import expiry_reminders
from services.certificates import revocation_orders, revocation_requests

ACTION_ORDER_RECEIVED = "order_received"
ACTION_ORDER_VIEWED = "order_viewed"
ACTION_ID_DOCUMENT_RECORDED = "id_document_recorded"
ACTION_CROSS_ORIGIN_REFUSED = "cross_origin_refused"  # blueprints.request_guards
NOT_RECORDED = "non renseigné"

AUDIT_ACTIONS = {
    ACTION_ORDER_RECEIVED: "Commande reçue du portail",
    ACTION_ORDER_VIEWED: "Consultation du dossier",
    ACTION_ID_DOCUMENT_RECORDED: "Saisie du N° de justificatif d'identité",
    ACTION_CROSS_ORIGIN_REFUSED: "Requête venue d'un autre site refusée",
    intake_drafts.ACTION_DRAFT_STARTED: "Commande commencée sur le portail",
    intake_drafts.ACTION_STEP_SAVED: "Étape de la commande enregistrée par le demandeur",
    intake_address.ACTION_CODE_SENT: "Code de confirmation envoyé au demandeur",
    intake_address.ACTION_CODE_FAILED: "Code de confirmation erroné",
    intake_address.ACTION_VERIFIED: "Adresse e-mail du demandeur confirmée",
    intake_expiry.ACTION_DRAFT_EXPIRED: "Commande non envoyée annulée (saisie abandonnée)",
    **api_clients.AUDIT_ACTIONS,
    **admin_operators.AUDIT_ACTIONS,
    **operator_certificates.AUDIT_ACTIONS,
    **documents.AUDIT_ACTIONS,
    **piece_readings.AUDIT_ACTIONS,
    **piece_checks.AUDIT_ACTIONS,
    **generation.AUDIT_ACTIONS,
    **activation.AUDIT_ACTIONS,
    **notifications.AUDIT_ACTIONS,
    **signatures.AUDIT_ACTIONS,
    **text_versions.AUDIT_ACTIONS,
    **validation.AUDIT_ACTIONS,
    **handling.AUDIT_ACTIONS,
    **saved_searches.AUDIT_ACTIONS,
    **requester_reminders.AUDIT_ACTIONS,
    **operator_enrolment.AUDIT_ACTIONS,
    **portals.AUDIT_ACTIONS,
    **offers.AUDIT_ACTIONS,
    **ae_settings.AUDIT_ACTIONS,
    **trusted_cas.AUDIT_ACTIONS,
    **key_stock_events.AUDIT_ACTIONS,
    **face_to_face.AUDIT_ACTIONS,
    **bulk_jobs.AUDIT_ACTIONS,
    **statistics.AUDIT_ACTIONS,
    **renewal_orders.AUDIT_ACTIONS,
    **expiry_reminders.AUDIT_ACTIONS,
    **revocation_requests.AUDIT_ACTIONS,
    **revocation_orders.AUDIT_ACTIONS,
    **link_revocation.AUDIT_ACTIONS,
}
DETAIL_LABELS = {
    "portal": "Portail", "number": "N°", "étape": "Étape", "via": "Depuis",
    "méthode": "Méthode", "chemin": "Adresse", "statut": "Statut HTTP", "client": "Client",
    "portails": "Portails", "portées": "Portées", "recouvrement": "Recouvrement",
    "origine": "Origine",
    **documents.DETAIL_LABELS,
    **piece_readings.DETAIL_LABELS,
    **piece_checks.DETAIL_LABELS,
    **generation.DETAIL_LABELS,
    **notifications.DETAIL_LABELS,
    **link_revocation.DETAIL_LABELS,
    **signatures.DETAIL_LABELS,
    **text_versions.DETAIL_LABELS,
    **validation.DETAIL_LABELS,
    **operator_enrolment.DETAIL_LABELS,
    **portals.DETAIL_LABELS,
    **key_stock_events.DETAIL_LABELS,
    **face_to_face.DETAIL_LABELS,
    **bulk_jobs.DETAIL_LABELS,
    **revocation_requests.DETAIL_LABELS,
}
# A detail's value in French, by the detail's key (dates, reasons…); others are shown as they are.
DETAIL_FORMATTERS = {**generation.DETAIL_FORMATTERS, **notifications.DETAIL_FORMATTERS,
                     **key_stock_events.DETAIL_FORMATTERS, **face_to_face.DETAIL_FORMATTERS}


def who(event) -> str:
    """Who acted: ``actor`` keeps the name as it was when the event happened, even if the
    operator goes; else the operator's name; else « Système »."""
    if event.actor:
        return event.actor
    return event.operator.display_name if event.operator_id else "Système"


def action_label(action: str) -> str:
    return AUDIT_ACTIONS.get(action, f"Événement « {action} »")


def describe_details(action: str, details_json: str) -> str:
    """The event's details in French, as one line."""
    try:
        details = json.loads(details_json or "{}")
    except ValueError:
        return details_json
    if action == ACTION_ID_DOCUMENT_RECORDED:
        text = (f"Avant : {_id_document_text(details.get('old'))} ; "
                f"après : {_id_document_text(details.get('new'))}")
        return text + (f" ; Origine : {details['origine']}" if details.get("origine") else "")
    if not isinstance(details, dict):
        return str(details)
    return " ; ".join(f"{DETAIL_LABELS.get(key, key)} : "
                      f"{DETAIL_FORMATTERS.get(key, _detail_value)(value)}"
                      for key, value in details.items())


def _id_document_text(value: dict | None) -> str:
    if not value or not value.get("number"):
        return NOT_RECORDED
    return f"{workflow.label(workflow.ID_DOC_TYPES, value.get('type'))} {value['number']}"


def _detail_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
