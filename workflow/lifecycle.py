"""Where an order stands: its sub-state as the documents make it, whether its dossier is
frozen, and the operator step it waits for.
"""
from __future__ import annotations

from typing import Iterable

from workflow.documents import document_rows
from workflow.vocabulary import (CATEGORY_CONTRACTUAL, PHASE_CANCELLED, PHASE_DONE, PHASE_ENTRY, PHASE_GENERATION,
                                 PHASE_HANDOVER, PHASE_VALIDATION, PROCESS_REVOCATION,
                                 SENT_FOR_SIGNATURE_SUBSTATES, STEP_GENERATE, STEP_HAND_OVER,
                                 STEP_REVOKE, STEP_SEND_FOR_SIGNATURE, STEP_VALIDATE,
                                 SUBSTATE_IN_SIGNATURE, SUBSTATE_ON_HOLD, SUBSTATE_TO_CHECK,
                                 SUBSTATE_TO_REVOKE, SUBSTATE_TO_VALIDATE)


def progress_substate(order) -> str | None:
    """The sub-state the order's progress gave it, also while it is on hold."""
    if order.substate == SUBSTATE_ON_HOLD:
        return getattr(order, "held_substate", None)
    return order.substate


def sent_for_signature(order) -> bool:
    return progress_substate(order) in SENT_FOR_SIGNATURE_SUBSTATES


def state_columns(order, state: tuple[str, str | None]) -> dict:
    """The columns to write for a transition to ``state``: an order on hold that stays in the
    validation phase keeps « en attente », the transition's sub-state kept under the hold."""
    phase, substate = state
    if phase == PHASE_VALIDATION and getattr(order, "on_hold_at", None) is not None:
        return {"phase": phase, "substate": SUBSTATE_ON_HOLD, "held_substate": substate}
    return {"phase": phase, "substate": substate, "held_substate": None}


def compute_substate(order, documents: Iterable) -> str | None:
    """The sub-state the order should have; None outside the validation phase, « en attente »
    while on hold, else the one its progress gives (progress_of)."""
    if order.phase != PHASE_VALIDATION:
        return None
    if getattr(order, "on_hold_at", None) is not None:
        return SUBSTATE_ON_HOLD
    return progress_of(order, documents)


def progress_of(order, documents: Iterable) -> str | None:
    """The sub-state the order's progress gives, whether or not it is on hold.

    Whether the dossier was sent for signature is not visible in the documents (contractual
    documents are « non signé » before and after sending), so it is read from the stored
    sub-state, which only ``after_send_for_signature`` moves past « à vérifier ». Once sent,
    the documents decide between « en signature » and « à valider », so a contractual
    document replaced by an unsigned version takes the order back to « en signature ».
    """
    if order.phase != PHASE_VALIDATION:
        return None
    if getattr(order, "process", None) == PROCESS_REVOCATION:
        return SUBSTATE_TO_REVOKE  # no dossier to review: an AEA revokes, or not
    if not sent_for_signature(order):
        return SUBSTATE_TO_CHECK
    contractual = [row for row in document_rows(order, documents)
                   if row.category == CATEGORY_CONTRACTUAL]
    if all(row.complete for row in contractual):
        return SUBSTATE_TO_VALIDATE
    return SUBSTATE_IN_SIGNATURE


def is_validated(order) -> bool:
    return order.validated_at is not None or getattr(order, "validated_by_id", None) is not None


def is_read_only(order) -> bool:
    """Validation is irreversible: from then on, and once cancelled, the dossier is frozen."""
    return is_validated(order) or order.phase not in (PHASE_ENTRY, PHASE_VALIDATION)


def shows_requester_change(order) -> bool:
    """« Modifié par le demandeur » asks the operators to look again: a finished or cancelled
    order has nothing left to look at. ``order`` may be a model or a listing row (a dict)."""
    phase, modified = ((order.get("phase"), order.get("requester_modified_at"))
                       if isinstance(order, dict) else (order.phase, order.requester_modified_at))
    return modified is not None and phase not in (PHASE_DONE, PHASE_CANCELLED)


def next_step(order, documents: Iterable) -> str | None:
    """The operator action the order waits for (a ``STEPS`` code), None once finished."""
    if getattr(order, "process", None) == PROCESS_REVOCATION:
        return STEP_REVOKE if order.phase == PHASE_VALIDATION else None
    if order.phase in (PHASE_ENTRY, PHASE_VALIDATION):
        # Entry leads to the first operator step; its checklist then says the phase is wrong.
        if progress_of(order, documents) in SENT_FOR_SIGNATURE_SUBSTATES:
            return STEP_VALIDATE
        return STEP_SEND_FOR_SIGNATURE
    return {PHASE_GENERATION: STEP_GENERATE, PHASE_HANDOVER: STEP_HAND_OVER}.get(order.phase)
