"""The audit trail's words for operators' keys (services.audit_words gathers them), and the
stages the enrolment page reports a failure at."""
from __future__ import annotations

from bridge_protocol import KEY_TYPES
from models import OperatorEnrolment

ACTION_STARTED = "operator_enrolment_started"
ACTION_ISSUED = "operator_certificate_issued"
ACTION_ENROLLED = "operator_key_enrolled"
ACTION_RENEWED = "operator_certificate_renewed"
ACTION_FAILED = "operator_enrolment_failed"
ACTION_REFUSED = "operator_enrolment_refused"
ACTION_PIN_REQUIRED = "operator_first_pin_required"
ACTION_PIN_SET = "operator_first_pin_set"
ACTION_BOUND_FROM_KEY = "operator_certificate_bound_from_key"
ACTION_BINDING_REFUSED = "operator_certificate_binding_refused"

AUDIT_ACTIONS = {
    ACTION_STARTED: "Enrôlement d'un opérateur sur une clé commencé",
    ACTION_ISSUED: "Certificat de connexion d'opérateur émis par l'AC",
    ACTION_ENROLLED: "Opérateur enrôlé sur une clé USB",
    ACTION_RENEWED: "Certificat de connexion d'opérateur renouvelé",
    ACTION_FAILED: "Échec de l'enrôlement d'un opérateur",
    ACTION_REFUSED: "Enrôlement d'un opérateur refusé",
    ACTION_PIN_REQUIRED: "Premier code PIN demandé à l'opérateur",
    ACTION_PIN_SET: "Code PIN personnel posé par l'opérateur",
    ACTION_BOUND_FROM_KEY: "Certificat d'une clé associé à un opérateur",
    ACTION_BINDING_REFUSED: "Association du certificat d'une clé refusée",
}

DETAIL_LABELS = {
    "operator": "Opérateur", "operator_id": "N° d'opérateur", "renews": "Certificat remplacé",
    "initial_pin": "Code PIN initial", "warning": "Avertissement", "issuer": "Émetteur",
}

# The stages the page reports a failure at, in French.
STAGES = {
    "bridge": "dialogue avec le pont de clés USB",
    "key_pair": "génération de la paire de clés sur la clé USB",
    "request": "émission du certificat",
    "write": "inscription du certificat sur la clé USB",
    "record": "enregistrement du certificat par le serveur",
}
KINDS = {"enrolment": "Enrôlement", "renewal": "Renouvellement"}
STATES = {"open": "en cours", "issued": "certificat émis, pas encore inscrit",
          "written": "terminé", "failed": "échec", "superseded": "abandonné pour un autre essai"}


def attempt_details(row: OperatorEnrolment, **more) -> dict:
    """The details of an event about this try."""
    details = {"operator": row.operator.display_name, "operator_id": row.operator_id,
               "token": row.token_label or row.token_serial, "token_serial": row.token_serial,
               "key_type": KEY_TYPES.get(row.key_type, row.key_type)}
    if row.serial_hex:
        details.update(serial=row.serial_hex, fingerprint_sha256=row.fingerprint_sha256)
    if row.renews_sha256:
        details["renews"] = row.renews_sha256
    details.update(more)
    return details
