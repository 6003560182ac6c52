"""Guards: the checks of each operator action, and their failed reasons.

The guard of an action is the list of its failed checks' reasons, and the order file's "what
is missing" panel shows the same checks, so the two can never disagree.
"""
from __future__ import annotations

from typing import Iterable

from workflow.checks import Check, failed_reasons
from workflow.conditions import (
    awaiting_dispatch_check, cancellable_check, document_checks, dossier_complete_check,
    dossier_open_check, four_eyes_check, id_document_check, not_on_hold_check,
    not_validated_check, order_type_check, otp_contact_check, payment_check, phase_check,
    process_check, role_check, submitted_check, substate_check, validated_check)
from workflow.documents import document_rows
from workflow.lifecycle import next_step
from workflow.vocabulary import (CATEGORY_CONTRACTUAL, CATEGORY_SUPPORTING, DOCUMENT_KINDS,
                                 PHASE_GENERATION, PHASE_HANDOVER, PHASE_VALIDATION, ROLE_AEA,
                                 ROLE_AET, STEP_GENERATE, STEP_HAND_OVER, STEP_REVOKE,
                                 STEP_SEND_FOR_SIGNATURE, STEP_VALIDATE, SUBSTATE_IN_SIGNATURE,
                                 SUBSTATE_TO_VALIDATE)

# --- the order's steps -------------------------------------------------------------------

def send_for_signature_checks(order, documents: Iterable, operator) -> list[Check]:
    """Step 1 holds: « Envoyer pour signature » may go."""
    rows = document_rows(order, documents)
    return [
        role_check(operator, ROLE_AEA),
        process_check(order),
        order_type_check(order),
        awaiting_dispatch_check(order),
        *document_checks(rows, CATEGORY_SUPPORTING),
        otp_contact_check(order),
        id_document_check(order),
        not_on_hold_check(order),
    ]


def all_signed_checks(order, documents: Iterable) -> list[Check]:
    """Every contractual document came back signed (an e-signature event, no operator)."""
    rows = document_rows(order, documents)
    return [
        process_check(order),
        order_type_check(order),
        substate_check(order, SUBSTATE_IN_SIGNATURE),
        *document_checks(rows, CATEGORY_CONTRACTUAL),
    ]


def validation_checks(order, documents: Iterable, operator, ae) -> list[Check]:
    """« Valider »: irreversible, so what step 1 established is checked again too."""
    rows = document_rows(order, documents)
    checks = [
        role_check(operator, ROLE_AEA),
        process_check(order),
        order_type_check(order),
        substate_check(order, SUBSTATE_TO_VALIDATE),
        *document_checks(rows, CATEGORY_CONTRACTUAL),
        *document_checks(rows, CATEGORY_SUPPORTING),
        # The requester may correct these on the follow-up page after the dossier was sent.
        otp_contact_check(order),
        id_document_check(order),
        payment_check(order),
        dossier_complete_check(order),
        not_validated_check(order),
        not_on_hold_check(order),
    ]
    if getattr(ae, "four_eyes", False):
        checks.append(four_eyes_check(order, operator))
    return checks


def generation_checks(order, operator) -> list[Check]:
    return [
        role_check(operator, ROLE_AET),
        process_check(order),
        phase_check(order, PHASE_GENERATION),
        validated_check(order),
    ]


def handover_checks(order, operator) -> list[Check]:
    return [
        role_check(operator, ROLE_AET),
        process_check(order),
        phase_check(order, PHASE_HANDOVER),
    ]


def cancel_checks(order, operator) -> list[Check]:
    """Cancelling is possible until the order is validated (validation is irreversible)."""
    return [
        role_check(operator, ROLE_AEA),
        submitted_check(order),
        cancellable_check(order),
        not_validated_check(order),
    ]


def send_for_signature_blockers(order, documents: Iterable, operator) -> list[str]:
    return failed_reasons(send_for_signature_checks(order, documents, operator))


def all_signed_blockers(order, documents: Iterable) -> list[str]:
    return failed_reasons(all_signed_checks(order, documents))


def validation_blockers(order, documents: Iterable, operator, ae) -> list[str]:
    return failed_reasons(validation_checks(order, documents, operator, ae))


def generation_blockers(order, operator) -> list[str]:
    return failed_reasons(generation_checks(order, operator))


def handover_blockers(order, operator) -> list[str]:
    return failed_reasons(handover_checks(order, operator))


def cancel_blockers(order, operator) -> list[str]:
    return failed_reasons(cancel_checks(order, operator))


# --- the order file's "what is missing" panel ---------------------------------------------

def next_step_checklist(order, documents: Iterable, operator, ae) -> list[Check]:
    """Every condition of the next step's guard, met or not; empty when nothing is left to do."""
    documents = list(documents)  # read twice: by next_step and by the step's checks
    step = next_step(order, documents)
    if step == STEP_SEND_FOR_SIGNATURE:
        return send_for_signature_checks(order, documents, operator)
    if step == STEP_VALIDATE:
        return validation_checks(order, documents, operator, ae)
    if step == STEP_GENERATE:
        return generation_checks(order, operator)
    if step == STEP_HAND_OVER:
        return handover_checks(order, operator)
    if step == STEP_REVOKE:
        from workflow.revocation import revoke_step_checks  # it imports this module's kin
        return revoke_step_checks(order, operator)
    return []


# --- the dossier: hold, resume, refusal, the validation flags ------------------------------

def hold_checks(order, operator) -> list[Check]:
    """« Mettre en attente »: an open dossier, not already on hold."""
    on_hold = getattr(order, "on_hold_at", None) is not None
    return [role_check(operator, ROLE_AEA), submitted_check(order), cancellable_check(order),
            dossier_open_check(order),
            Check.of("not_on_hold", "Commande pas déjà en attente",
                      "La commande est déjà en attente." if on_hold else None)]


def hold_blockers(order, operator) -> list[str]:
    return failed_reasons(hold_checks(order, operator))


def resume_checks(order, operator) -> list[Check]:
    """« Reprendre le traitement » of an order on hold."""
    on_hold = getattr(order, "on_hold_at", None) is not None
    return [role_check(operator, ROLE_AEA), dossier_open_check(order),
            Check.of("on_hold", "Commande en attente",
                      None if on_hold else "La commande n'est pas en attente.")]


def resume_blockers(order, operator) -> list[str]:
    return failed_reasons(resume_checks(order, operator))


def refusal_checks(order, operator) -> list[Check]:
    """« Refuser la commande »: the order is cancelled (« Annulée »), until validation."""
    return cancel_checks(order, operator)


def validation_flags_checks(order, operator) -> list[Check]:
    """Ticking « Règlement (OK) » and « Dossier complet (OK) »: an AEA, a dossier still open in
    the validation phase."""
    return [role_check(operator, ROLE_AEA), phase_check(order, PHASE_VALIDATION),
            dossier_open_check(order)]


def validation_flags_blockers(order, operator) -> list[str]:
    return failed_reasons(validation_flags_checks(order, operator))


# --- the viewer: one document verified, a file added ----------------------------------------

def _document_check(document) -> Check:
    problem = None
    if document is None or not getattr(document, "sha256", None):
        problem = "Ce document n'a pas été importé : il n'y a rien à vérifier."
    elif document.category != CATEGORY_SUPPORTING:
        problem = ("Seules les pièces justificatives se vérifient ici ; un document contractuel "
                   "est complet une fois signé.")
    elif not document.is_current:
        problem = "Cette version a été remplacée : vérifiez la version actuelle."
    return Check.of("document", "Pièce justificative importée, version actuelle", problem)


def document_verification_checks(order, document, operator) -> list[Check]:
    """Marking a justificatif « vérifié » (or withdrawing the mark) in the viewer."""
    return [role_check(operator, ROLE_AEA), submitted_check(order), dossier_open_check(order),
            _document_check(document)]


def document_verification_blockers(order, document, operator) -> list[str]:
    return failed_reasons(document_verification_checks(order, document, operator))


def document_import_blockers(order, kind: str) -> list[str]:
    """Adding a file to the dossier: a known kind, and a dossier not yet frozen."""
    reasons = []
    if kind not in DOCUMENT_KINDS:
        reasons.append(f"Type de document inconnu : « {kind} ».")
    problem = dossier_open_check(order).reason
    if problem is not None:
        reasons.append(problem + " Aucun document ne peut plus y être ajouté.")
    return reasons
