"""Transitions of the order's lifecycle: each re-runs its action's guard and returns the new
``(phase, substate)``, or raises ``Refused`` with the reasons. Writing the new state, in one
transaction with its audit event, is the caller's job.
"""
from __future__ import annotations

from typing import Iterable

from workflow.checks import State, allowed
from workflow.conditions import phase_check
from workflow.guards import (all_signed_checks, cancel_checks, generation_checks,
                             handover_checks, send_for_signature_checks, validation_checks)
from workflow.vocabulary import (PHASE_CANCELLED, PHASE_DONE, PHASE_ENTRY, PHASE_GENERATION,
                                 PHASE_HANDOVER, PHASE_VALIDATION, SUBSTATE_IN_SIGNATURE,
                                 SUBSTATE_TO_CHECK, SUBSTATE_TO_VALIDATE)


def after_submission(order) -> State:
    """The requester finished « Saisie des informations »: the dossier awaits checking."""
    return allowed([phase_check(order, PHASE_ENTRY)], (PHASE_VALIDATION, SUBSTATE_TO_CHECK))


def after_send_for_signature(order, documents: Iterable, operator) -> State:
    return allowed(send_for_signature_checks(order, documents, operator),
                   (PHASE_VALIDATION, SUBSTATE_IN_SIGNATURE))


def after_all_signed(order, documents: Iterable) -> State:
    return allowed(all_signed_checks(order, documents),
                   (PHASE_VALIDATION, SUBSTATE_TO_VALIDATE))


def after_validation(order, documents: Iterable, operator, ae) -> State:
    return allowed(validation_checks(order, documents, operator, ae), (PHASE_GENERATION, None))


def after_generation(order, operator) -> State:
    return allowed(generation_checks(order, operator), (PHASE_HANDOVER, None))


def after_handover_activated(order, operator=None) -> State:
    """The key was activated. ``operator`` None: reported by the system, not by an AET."""
    checks = handover_checks(order, operator)
    if operator is None:
        checks = [check for check in checks if check.code != "role"]
    return allowed(checks, (PHASE_DONE, None))


def cancel(order, operator) -> State:
    return allowed(cancel_checks(order, operator), (PHASE_CANCELLED, None))


def after_refusal(order, operator) -> State:
    return cancel(order, operator)
