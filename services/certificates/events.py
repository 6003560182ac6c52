"""The certificate events of the audit trail: their names, and how their details read in the
order file and the dossier's ZIP (services.audit_words gathers these words).
"""
from __future__ import annotations

import datetime as dt

from bridge_protocol import KEY_TYPES
from formatting import paris_datetime
from models import HolderCertificate
from services.certificates.holder_certificates import REASON_LABELS

ACTION_STARTED = "generation_started"
ACTION_ISSUED = "certificate_issued"
ACTION_GENERATED = "certificate_generated"
ACTION_FAILED = "generation_failed"
ACTION_REFUSED = "generation_refused"
ACTION_REVOKED = "certificate_revoked"
ACTION_SUSPENDED = "certificate_suspended"   # put on hold (certificateHold) by the CA
ACTION_RELEASED = "certificate_released"     # the hold lifted

AUDIT_ACTIONS = {
    ACTION_STARTED: "Génération du certificat commencée",
    ACTION_ISSUED: "Certificat émis par l'AC",
    ACTION_GENERATED: "Certificat inscrit sur la clé USB",
    ACTION_FAILED: "Échec de la génération du certificat",
    ACTION_REFUSED: "Génération du certificat refusée",
    ACTION_REVOKED: "Certificat révoqué",
    ACTION_SUSPENDED: "Certificat suspendu",
    ACTION_RELEASED: "Suspension du certificat levée",
}

# The stages the page reports a failure at, in French.
STAGES = {
    "bridge": "dialogue avec le pont de clés USB",
    "key_pair": "génération de la paire de clés sur la clé USB",
    "request": "émission du certificat",
    "write": "inscription du certificat sur la clé USB",
}

# The details' names, and the words for some of their values.
DETAIL_LABELS = {
    "serial": "N° de série", "fingerprint_sha256": "Empreinte SHA-256", "valid_from": "Valide du",
    "valid_until": "au", "key_type": "Clé", "token": "Clé USB", "token_serial": "N° de clé USB",
    "stage": "Étape", "code": "Cause", "reason": "Motif", "reasons": "Motifs",
    "revoked": "Certificat(s) révoqué(s)", "kind": "Type", "subject": "Titulaire",
    "channel": "Envoi", "recipient": "Destinataire", "certificate": "Certificat",
    "tries_left": "Essais restants",
}
_CAUSES = {
    "tampered": "instruction ou demande altérée", "nonce": "génération inconnue ou terminée",
    "expired": "expiré", "ca_refused": "refus de l'AC", "state": "état de la commande",
    "refused": "conditions non remplies", "wrong_code": "code incorrect",
    "too_many_tries": "trop d'essais", "no_token": "clé USB absente ou retirée",
    "pin_locked": "code PIN bloqué", "pin_incorrect": "code PIN incorrect",
    "not_blank": "clé non vierge", "bridge_unavailable": "pont de clés USB injoignable",
    "not_found": "commande hors de votre périmètre ou inexistante",
    "instruction_refused": "instruction refusée par le pont", "token_error": "erreur de la clé",
    "key_stock": "clé refusée par le stock de clés",
}
_KINDS = {"holder": "certificat de porteur", "operator": "certificat d'opérateur", "ca": "AC"}
_CHANNELS = {"email": "e-mail", "sms": "SMS"}


def _paris(value) -> str:
    try:
        return paris_datetime(dt.datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


DETAIL_FORMATTERS = {
    "valid_from": _paris, "valid_until": _paris,
    "stage": lambda value: STAGES.get(value, "démarrage" if value == "start" else str(value)),
    "code": lambda value: _CAUSES.get(value, str(value)),
    "reason": lambda value: REASON_LABELS.get(value, str(value)),
    "reasons": lambda value: " ".join(value) if isinstance(value, list) else str(value),
    "revoked": lambda value: ", ".join(value) if isinstance(value, list) else str(value),
    "kind": lambda value: _KINDS.get(value, str(value)),
    "channel": lambda value: _CHANNELS.get(value, str(value)),
}


def certificate_details(row: HolderCertificate) -> dict:
    """The details of an event about this certificate."""
    return {"serial": row.serial_hex, "fingerprint_sha256": row.fingerprint_sha256,
            "valid_from": row.not_before, "valid_until": row.not_after,
            "key_type": KEY_TYPES.get(row.key_type, row.key_type),
            "token": row.token_label or row.token_serial}
