"""« Prise en charge »: who handles an order while it waits for the AE. An order is handled in
the phases where an operator acts on it, by an operator holding that phase's role; anyone with
the role may take it, give it to a colleague who holds the role too, or release it.
"""
from __future__ import annotations

from workflow.checks import Check, failed_reasons
from workflow.conditions import role_check, submitted_check
from workflow.vocabulary import (PHASE_GENERATION, PHASE_HANDOVER, PHASE_VALIDATION, PHASES,
                                 ROLE_AEA, ROLE_AET, label)

HANDLING_ROLES = {PHASE_VALIDATION: ROLE_AEA, PHASE_GENERATION: ROLE_AET,
                  PHASE_HANDOVER: ROLE_AET}


def handling_role(order) -> str | None:
    """The role that handles the order in its phase; None when nobody acts on it any more."""
    return HANDLING_ROLES.get(order.phase)


def _open_check(order) -> Check:
    problem = None
    if handling_role(order) is None:
        problem = (f"La commande est en phase « {label(PHASES, order.phase)} » : plus personne "
                   f"ne la prend en charge.")
    return Check.of("phase", "Commande en cours de traitement par l'AE", problem)


def _role_checks(order, operator) -> list[Check]:
    role = handling_role(order)
    return [role_check(operator, role)] if role else []


def take_checks(order, operator) -> list[Check]:
    """« Prendre en charge »: an open order, taken by someone holding the phase's role."""
    mine = getattr(order, "handled_by_id", None) == operator.id
    return [submitted_check(order), _open_check(order), *_role_checks(order, operator),
            Check.of("not_mine", "Pas déjà prise en charge par vous",
                     "Vous prenez déjà en charge cette commande." if mine else None)]


def assign_checks(order, operator, target, target_sees_portal: bool) -> list[Check]:
    """« Attribuer à »: by someone holding the phase's role, to an active colleague of the same
    AE who holds it too and sees the order's portal (``target_sees_portal``)."""
    checks = [submitted_check(order), _open_check(order), *_role_checks(order, operator)]
    role = handling_role(order)
    problem = None
    if target is None or target.ae_id != order.ae_id or not target.active:
        problem = "Choisissez un opérateur actif de l'AE."
    elif role and not target.has_role(role):
        problem = f"{target.display_name} n'a pas le rôle {role} que demande cette phase."
    elif not target_sees_portal:
        problem = f"{target.display_name} n'a pas accès au portail de cette commande."
    elif getattr(order, "handled_by_id", None) == target.id:
        problem = f"{target.display_name} prend déjà en charge cette commande."
    checks.append(Check.of("target", "Opérateur qui peut la traiter", problem))
    return checks


def release_checks(order, operator) -> list[Check]:
    """« Libérer »: an order someone handles, by someone holding the phase's role."""
    handled = getattr(order, "handled_by_id", None) is not None
    return [_open_check(order), *_role_checks(order, operator),
            Check.of("handled", "Commande prise en charge",
                     None if handled else "Personne ne prend en charge cette commande.")]


def take_blockers(order, operator) -> list[str]:
    return failed_reasons(take_checks(order, operator))


def assign_blockers(order, operator, target, target_sees_portal: bool) -> list[str]:
    return failed_reasons(assign_checks(order, operator, target, target_sees_portal))


def release_blockers(order, operator) -> list[str]:
    return failed_reasons(release_checks(order, operator))
