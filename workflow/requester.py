"""What the requester is told, in notifications and on the follow-up page: what is left to
do, where the order stands, and whether it may still be changed.
"""
from __future__ import annotations

from typing import Iterable

from workflow.checks import Refused, State
from workflow.documents import document_expired, document_rows
from workflow.identifiers import otp_contact_problem
from workflow.lifecycle import is_read_only, sent_for_signature
from workflow.vocabulary import (CATEGORY_CONTRACTUAL, CATEGORY_SUPPORTING, PHASE_CANCELLED,
                                 PHASE_DONE, PHASE_ENTRY, PHASE_GENERATION, PHASE_HANDOVER,
                                 PHASE_VALIDATION, PHASES, SUBSTATE_IN_SIGNATURE,
                                 SUBSTATE_ON_HOLD, SUBSTATE_TO_CHECK, SUBSTATE_TO_VALIDATE, label)


def missing_documents(order, documents: Iterable) -> list[str]:
    """Labels of the required justificatifs not imported yet (« Pièce manquante »)."""
    return [row.label for row in document_rows(order, documents)
            if row.category == CATEGORY_SUPPORTING and not row.complete]


def refused_documents(order, documents: Iterable, today=None) -> list[str]:
    """Labels of the imported justificatifs found expired (« Pièce non valide ou expirée »)."""
    return [row.label for row in document_rows(order, documents)
            if row.category == CATEGORY_SUPPORTING and row.complete
            and document_expired(row.document, today)]


def unsigned_documents(order, documents: Iterable) -> list[str]:
    """Labels of the contractual documents not signed yet (« Document en attente de signature »)."""
    return [row.label for row in document_rows(order, documents)
            if row.category == CATEGORY_CONTRACTUAL and not row.complete]


def requester_tasks(order, documents: Iterable, today=None) -> list[str]:
    """What the requester still has to do, in plain French; empty when nothing is expected."""
    documents = list(documents)
    tasks = [f"Déposer la pièce manquante : {name}."
             for name in missing_documents(order, documents)]
    tasks += [f"Remplacer la pièce expirée : {name}."
              for name in refused_documents(order, documents, today)]
    problem = otp_contact_problem(order.otp_contact)
    if problem is not None:
        tasks.append(f"Corriger le Contact OTP : {problem}")
    if sent_for_signature(order):
        tasks += [f"Signer le document : {name} (suivez le lien de signature reçu par e-mail)."
                  for name in unsigned_documents(order, documents)]
    return tasks


REQUESTER_PHASE_TEXT = {  # the order's state, as the requester is told it
    PHASE_ENTRY: "Votre commande est en cours de saisie : complétez-la en déposant les pièces "
                 "demandées.",
    PHASE_VALIDATION: "Votre dossier est en cours de vérification par l'Autorité "
                      "d'Enregistrement.",
    PHASE_GENERATION: "Votre commande a été validée : le certificat va être généré sur la "
                      "clé USB.",
    PHASE_HANDOVER: "Votre certificat a été généré : la clé USB vous est remise.",
    PHASE_DONE: "Votre commande est terminée.",
    PHASE_CANCELLED: "Votre commande a été annulée.",
}
REQUESTER_SUBSTATE_TEXT = {
    SUBSTATE_TO_CHECK: "Vos pièces justificatives sont en cours de vérification.",
    SUBSTATE_IN_SIGNATURE: "Les documents contractuels ont été envoyés pour signature.",
    SUBSTATE_TO_VALIDATE: "Tous les documents sont signés : votre commande attend sa validation.",
    SUBSTATE_ON_HOLD: "Votre commande est en attente : l'Autorité d'Enregistrement vous a écrit "
                      "ce qu'elle attend de vous.",
}


def requester_state_text(order) -> str:
    text = REQUESTER_PHASE_TEXT.get(order.phase, label(PHASES, order.phase))
    if getattr(order, "medium", "usb") == "card":  # the holder's certificate goes on a smart card
        text = text.replace("la clé USB", "la carte à puce")
    if order.phase == PHASE_VALIDATION and order.substate in REQUESTER_SUBSTATE_TEXT:
        text += " " + REQUESTER_SUBSTATE_TEXT[order.substate]
    return text


def requester_change_problem(order) -> str | None:
    """Why the requester may no longer change the order, or None."""
    if order.phase == PHASE_CANCELLED:
        return "Votre commande a été annulée : elle ne peut plus être modifiée."
    if is_read_only(order):
        return "Votre commande a été validée : elle ne peut plus être modifiée."
    return None


def after_requester_change(order) -> State:
    """The requester changed information or a piece: a dossier already sent for signature goes
    back to « à vérifier », so that the operator checks it again before validating (an order
    on hold stays so until « Reprendre »: see state_columns)."""
    problem = requester_change_problem(order)
    if problem is not None:
        raise Refused([problem])
    if order.phase == PHASE_VALIDATION:
        return PHASE_VALIDATION, SUBSTATE_TO_CHECK
    return order.phase, order.substate
