"""The conditions guards are made of, each a ``Check`` with its French reason: the operator's
role, the order's process, type and phase, its documents, its fields, its flags.
"""
from __future__ import annotations

from workflow.checks import Check
from workflow.documents import DocumentRow
from workflow.identifiers import id_document_problem, otp_contact_problem
from workflow.lifecycle import is_read_only, is_validated, sent_for_signature
from workflow.vocabulary import (CATEGORY_SUPPORTING, ORDER_TYPE_DEMATERIALISED,
                                 PHASE_CANCELLED, PHASE_ENTRY, PHASE_VALIDATION, PHASES,
                                 PROCESS_GENERATION, PROCESS_RENEWAL, PROCESSES,
                                 SUBSTATE_TO_CHECK, SUBSTATES, SUPPORTED_PROCESSES, label)


def role_check(operator, role: str) -> Check:
    allowed = operator is not None and operator.has_role(role)
    return Check.of("role", f"Rôle {role}", None if allowed else f"Rôle {role} requis.")


def process_check(order) -> Check:
    problem = None
    if order.process not in SUPPORTED_PROCESSES:
        problem = (f"Le processus « {label(PROCESSES, order.process)} » ne passe pas par "
                   f"cette étape.")
    return Check.of("process", f"Processus « {PROCESSES[PROCESS_GENERATION]} » ou "
                               f"« {PROCESSES[PROCESS_RENEWAL]} »", problem)


def order_type_check(order) -> Check:
    problem = None
    if order.order_type != ORDER_TYPE_DEMATERIALISED:
        problem = (f"La commande est de type « {order.order_type} » : seules les commandes de "
                   f"type « D » (dématérialisées) sont instruites ici.")
    return Check.of("order_type", "Commande de type « D » (dématérialisée)", problem)


def phase_problem(order, phase: str) -> str | None:
    if order.phase == phase:
        return None
    return (f"La commande n'est pas en phase « {PHASES[phase]} » "
            f"(phase actuelle : « {label(PHASES, order.phase)} »).")


def phase_check(order, phase: str) -> Check:
    return Check.of("state", f"Phase « {PHASES[phase]} »", phase_problem(order, phase))


def awaiting_dispatch_check(order) -> Check:
    """Validation phase, not yet sent for signature (a missing sub-state counts as
    « à vérifier »)."""
    problem = phase_problem(order, PHASE_VALIDATION)
    if problem is None and sent_for_signature(order):
        problem = "La commande a déjà été envoyée pour signature."
    return Check.of("state", f"Phase « {PHASES[PHASE_VALIDATION]} », sous-état "
                              f"« {SUBSTATES[SUBSTATE_TO_CHECK]} »", problem)


def substate_check(order, substate: str) -> Check:
    problem = phase_problem(order, PHASE_VALIDATION)
    if problem is None and order.substate != substate:
        current = label(SUBSTATES, order.substate or SUBSTATE_TO_CHECK)
        problem = (f"La commande n'est pas au sous-état « {SUBSTATES[substate]} » "
                   f"(sous-état actuel : « {current} »).")
    return Check.of("state", f"Phase « {PHASES[PHASE_VALIDATION]} », sous-état "
                              f"« {SUBSTATES[substate]} »", problem)


def cancellable_check(order) -> Check:
    problem = None
    if order.phase == PHASE_CANCELLED:
        problem = "La commande est déjà annulée."
    elif order.phase not in (PHASE_ENTRY, PHASE_VALIDATION):
        problem = (f"La commande ne peut plus être annulée en phase "
                   f"« {label(PHASES, order.phase)} ».")
    return Check.of("state", f"Phase « {PHASES[PHASE_ENTRY]} » ou « {PHASES[PHASE_VALIDATION]} »",
                     problem)


def document_checks(rows: list[DocumentRow], category: str) -> list[Check]:
    checks = []
    for row in rows:
        if row.category != category:
            continue
        if category == CATEGORY_SUPPORTING:
            condition = f"Pièce justificative importée : {row.label}"
            problem = f"Pièce justificative non importée : {row.label}."
        else:
            condition = f"Document contractuel signé : {row.label}"
            problem = f"Document contractuel non signé : {row.label}."
        checks.append(Check.of(f"document:{row.kind}", condition,
                                None if row.complete else problem))
    return checks


def otp_contact_check(order) -> Check:
    return Check.of("otp_contact", "Contact OTP valide (numéro de mobile ou adresse e-mail)",
                     otp_contact_problem(order.otp_contact))


def id_document_check(order) -> Check:
    return Check.of("id_document", "N° de justificatif d'identité du porteur renseigné",
                     id_document_problem(order.id_doc_type, order.id_doc_number))


def payment_check(order) -> Check:
    return Check.of("payment_ok", "Case « Règlement (OK) » cochée",
                     None if order.payment_ok else "La case « Règlement (OK) » n'est pas cochée.")


def dossier_complete_check(order) -> Check:
    return Check.of("dossier_complete_ok", "Case « Dossier complet (OK) » cochée",
                     None if order.dossier_complete_ok
                     else "La case « Dossier complet (OK) » n'est pas cochée.")


def not_validated_check(order) -> Check:
    return Check.of("not_validated", "Commande pas encore validée",
                     "La commande a déjà été validée." if is_validated(order) else None)


def validated_check(order) -> Check:
    return Check.of("validated", "Commande validée",
                     None if is_validated(order) else "La commande n'a pas été validée.")


def four_eyes_check(order, operator) -> Check:
    recorded_by = getattr(order, "id_doc_recorded_by_id", None)
    same_person = (recorded_by is not None and operator is not None
                   and operator.id == recorded_by)
    return Check.of("four_eyes",
                     "Contrôle à quatre yeux : le valideur n'a pas saisi le N° de justificatif "
                     "d'identité",
                     "Contrôle à quatre yeux : l'opérateur qui a saisi le N° de justificatif "
                     "d'identité ne peut pas valider la commande." if same_person else None)


def dossier_open_check(order) -> Check:
    problem = None
    if is_validated(order):
        problem = "La commande a été validée : le dossier est en lecture seule."
    elif is_read_only(order):
        problem = (f"La commande est en phase « {label(PHASES, order.phase)} » : le dossier "
                   f"est en lecture seule.")
    return Check.of("dossier_open", "Dossier modifiable (commande pas encore validée)", problem)


DRAFT_PROBLEM = ("La commande est en cours de saisie par le demandeur : elle ne peut être "
                 "traitée qu'une fois envoyée.")


def submitted_check(order) -> Check:
    """Operators see drafts (« Saisie des informations ») but act only on sent orders."""
    return Check.of("submitted", "Commande envoyée par le demandeur",
                     DRAFT_PROBLEM if order.phase == PHASE_ENTRY else None)


def not_on_hold_check(order) -> Check:
    on_hold = getattr(order, "on_hold_at", None) is not None
    return Check.of("not_on_hold", "Commande pas en attente",
                     "La commande est en attente : reprenez son traitement d'abord." if on_hold
                     else None)
