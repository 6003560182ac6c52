"""The lifecycle's vocabulary: codes in English, labels in French (the exact UI wording).

Processes, phases and sub-states, order types, identity documents, document kinds and their
statuses, operator roles and steps, with the helpers that turn a code into its label.
"""
from __future__ import annotations

from typing import NamedTuple

PROCESS_GENERATION = "generation"
PROCESS_RENEWAL = "renewal"
PROCESS_REVOCATION = "revocation"
PROCESSES = {
    PROCESS_GENERATION: "Génération Certificat",
    PROCESS_RENEWAL: "Renouvellement",
    PROCESS_REVOCATION: "Révocation",
}
# A renewal goes the generation's whole way (review, signature, validation, generation,
# hand-over); a revocation request waits « à révoquer » for an AEA's « Révoquer ».
ISSUING_PROCESSES = (PROCESS_GENERATION, PROCESS_RENEWAL)
SUPPORTED_PROCESSES = ISSUING_PROCESSES

PHASE_ENTRY = "entry"
PHASE_VALIDATION = "validation"
PHASE_GENERATION = "generation"
PHASE_HANDOVER = "handover"
PHASE_DONE = "done"
PHASE_CANCELLED = "cancelled"
PHASES = {  # in lifecycle order
    PHASE_ENTRY: "Saisie des informations",
    PHASE_VALIDATION: "Validation de la commande",
    PHASE_GENERATION: "Génération du certificat",
    PHASE_HANDOVER: "Remise",
    PHASE_DONE: "Terminée",
    PHASE_CANCELLED: "Annulée",
}

SUBSTATE_TO_CHECK = "to_check"
SUBSTATE_IN_SIGNATURE = "in_signature"
SUBSTATE_TO_VALIDATE = "to_validate"
# « Mettre en attente »: the order waits for nobody at the AE until « Reprendre »; the sub-state
# its progress gives is kept aside meanwhile (Order.held_substate).
SUBSTATE_ON_HOLD = "on_hold"
# A revocation request (processus « Révocation ») waits in the validation phase for an AEA.
SUBSTATE_TO_REVOKE = "to_revoke"
SUBSTATES = {  # sub-states of the validation phase, in order
    SUBSTATE_TO_CHECK: "à vérifier",
    SUBSTATE_IN_SIGNATURE: "en signature",
    SUBSTATE_TO_VALIDATE: "à valider",
    SUBSTATE_ON_HOLD: "en attente",
    SUBSTATE_TO_REVOKE: "à révoquer",
}
# An order has been sent for signature exactly when its stored sub-state is one of these.
SENT_FOR_SIGNATURE_SUBSTATES = (SUBSTATE_IN_SIGNATURE, SUBSTATE_TO_VALIDATE)

# The list's « Sous-état » filter also offers « à générer », which is a phase, not a sub-state.
FILTER_TO_GENERATE = "to_generate"
SUBSTATE_FILTERS = {**SUBSTATES, FILTER_TO_GENERATE: "à générer"}

ORDER_TYPE_DEMATERIALISED = "D"
ORDER_TYPE_PAPER = "P"
ORDER_TYPES = {ORDER_TYPE_DEMATERIALISED: "D", ORDER_TYPE_PAPER: "P"}  # the list shows the letter
ORDER_TYPE_TITLES = {
    ORDER_TYPE_DEMATERIALISED: "Commande dématérialisée",
    ORDER_TYPE_PAPER: "Commande papier",
}

ID_DOC_TYPES = {"CNI": "CNI", "PASSEPORT": "Passeport", "TITRE_SEJOUR": "Titre de séjour"}

CATEGORY_CONTRACTUAL = "contractuel"
CATEGORY_SUPPORTING = "justificatif"
DOCUMENT_CATEGORIES = {
    CATEGORY_CONTRACTUAL: "Document contractuel",
    CATEGORY_SUPPORTING: "Pièce justificative",
}


class DocumentKind(NamedTuple):
    code: str
    label: str
    category: str


DOCUMENT_KINDS: dict[str, DocumentKind] = {kind.code: kind for kind in (  # in display order
    DocumentKind("cgu", "CGU", CATEGORY_CONTRACTUAL),
    DocumentKind("subscription_contract", "Contrat d'abonnement", CATEGORY_CONTRACTUAL),
    DocumentKind("authorization_letter", "Lettre d'autorisation de demande de certificat",
                 CATEGORY_CONTRACTUAL),
    DocumentKind("power_of_attorney", "Procuration du représentant légal", CATEGORY_CONTRACTUAL),
    DocumentKind("kbis", "Extrait de KBIS", CATEGORY_SUPPORTING),
    DocumentKind("holder_id", "Pièce d'identité du porteur", CATEGORY_SUPPORTING),
    DocumentKind("legal_rep_id", "Pièce d'identité du représentant légal", CATEGORY_SUPPORTING),
    DocumentKind("mandataire_id", "Pièce d'identité du mandataire", CATEGORY_SUPPORTING),
    DocumentKind("payment_proof", "Preuve de paiement", CATEGORY_SUPPORTING),
)}

STATUS_IMPORTED = "imported"
STATUS_NOT_IMPORTED = "not_imported"
STATUS_UNSIGNED = "unsigned"
STATUS_SIGNED = "signed"
DOCUMENT_STATUSES = {
    STATUS_IMPORTED: "importé",
    STATUS_NOT_IMPORTED: "non importé",
    STATUS_UNSIGNED: "non signé",
    STATUS_SIGNED: "signé",
}
# The status a document of each category must reach, and the one it has while absent.
COMPLETE_STATUS = {CATEGORY_SUPPORTING: STATUS_IMPORTED, CATEGORY_CONTRACTUAL: STATUS_SIGNED}
MISSING_STATUS = {CATEGORY_SUPPORTING: STATUS_NOT_IMPORTED, CATEGORY_CONTRACTUAL: STATUS_UNSIGNED}

ROLE_AEA = "AEA"
ROLE_AET = "AET"

STEP_SEND_FOR_SIGNATURE = "send_for_signature"
STEP_VALIDATE = "validate"
STEP_GENERATE = "generate"
STEP_HAND_OVER = "hand_over"
STEP_REVOKE = "revoke"
STEPS = {
    STEP_SEND_FOR_SIGNATURE: "Envoyer pour signature",
    STEP_VALIDATE: "Valider",
    STEP_GENERATE: "Générer le certificat",
    STEP_HAND_OVER: "Remise de la clé",
    STEP_REVOKE: "Révoquer",
}


def label(vocabulary: dict[str, str], code: str | None) -> str:
    """French label of a code; an unknown code is shown as is rather than hidden."""
    if code is None:
        return ""
    return vocabulary.get(code, code)


def document_kind_label(kind: str) -> str:
    return DOCUMENT_KINDS[kind].label if kind in DOCUMENT_KINDS else kind


def substate_filter(code: str) -> tuple[str, str | None]:
    """The (phase, substate) an order has when it matches the list's « Sous-état » filter."""
    if code == FILTER_TO_GENERATE:
        return PHASE_GENERATION, None
    if code in SUBSTATES:
        return PHASE_VALIDATION, code
    raise ValueError(f"unknown sub-state filter: {code!r}")
