"""Signature of the contractual documents: who signs what, where each signer stands, and the
guards of signing through a link, following a signer up and cancelling the request.
"""
from __future__ import annotations

from typing import Iterable

from email_validator import EmailNotValidError, validate_email

from workflow.checks import Check, State, allowed, failed_reasons
from workflow.conditions import (dossier_open_check, order_type_check, phase_problem,
                                 process_check, role_check)
from workflow.documents import contractual_kinds, has_mandataire
from workflow.lifecycle import sent_for_signature
from workflow.vocabulary import (PHASE_VALIDATION, ROLE_AEA,
                                 SUBSTATE_IN_SIGNATURE, SUBSTATE_TO_CHECK, SUBSTATES, label)

SIGNER_HOLDER = "holder"
SIGNER_LEGAL_REPRESENTATIVE = "legal_representative"
SIGNER_MANDATAIRE = "mandataire"
SIGNER_ROLES = {  # in the order the order file lists them
    SIGNER_HOLDER: "Porteur",
    SIGNER_LEGAL_REPRESENTATIVE: "Représentant légal",
    SIGNER_MANDATAIRE: "Mandataire",
}

SIGNATURE_SENT = "sent"
SIGNATURE_OPENED = "opened"
SIGNATURE_SIGNED = "signed"
SIGNATURE_DECLINED = "declined"
SIGNATURE_EXPIRED = "expired"      # shown, never stored: a link past its expiry date
SIGNATURE_CANCELLED = "cancelled"
SIGNATURE_STATES = {
    SIGNATURE_SENT: "envoyé",
    SIGNATURE_OPENED: "ouvert",
    SIGNATURE_SIGNED: "signé",
    SIGNATURE_DECLINED: "refusé",
    SIGNATURE_EXPIRED: "expiré",
    SIGNATURE_CANCELLED: "annulé",
}
OPEN_SIGNATURE_STATES = (SIGNATURE_SENT, SIGNATURE_OPENED)  # the signer may still act


def company_signer(order) -> str:
    """Who signs for the company: the mandataire when one acts, else the legal representative."""
    return SIGNER_MANDATAIRE if has_mandataire(order) else SIGNER_LEGAL_REPRESENTATIVE


def document_signers(order, kind: str) -> list[str]:
    """The signers a contractual document needs, in signing-block order: the holder and the
    company's signer for the CGU, the subscription contract and the authorisation letter; the
    legal representative (who gives the power) and the mandataire (who accepts it) for the
    power of attorney."""
    if kind == "power_of_attorney":
        return [SIGNER_LEGAL_REPRESENTATIVE, SIGNER_MANDATAIRE] if has_mandataire(order) else []
    if kind in ("cgu", "subscription_contract", "authorization_letter"):
        return [SIGNER_HOLDER, company_signer(order)]
    return []


def signers_documents(order) -> dict[str, list[str]]:
    """{signer role: the kinds they sign}, signers in ``SIGNER_ROLES`` order: one signature
    request per signer."""
    result: dict[str, list[str]] = {}
    for role in SIGNER_ROLES:
        kinds = [kind for kind in contractual_kinds(order) if role in document_signers(order, kind)]
        if kinds:
            result[role] = kinds
    return result


def document_fully_signed(order, kind: str, signed_roles: Iterable[str]) -> bool:
    """« signé » once every signer the document needs has signed it."""
    needed = document_signers(order, kind)
    return bool(needed) and set(needed) <= set(signed_roles)


def signature_state(request, now) -> str:
    """What the order file shows of a signer: an open request past its expiry is « expiré »."""
    if request.state in OPEN_SIGNATURE_STATES and request.expires_at <= now:
        return SIGNATURE_EXPIRED
    return request.state


def signer_contact_problems(signers: Iterable[tuple[str, str, str]]) -> list[str]:
    """(role, name, e-mail) of each signer: a signing link can only go to a valid address."""
    problems = []
    for role, name, email in signers:
        text = (email or "").strip()
        who = f"{label(SIGNER_ROLES, role)} ({name.strip() or 'sans nom'})"
        if not text:
            problems.append(f"Le signataire {who} n'a pas d'adresse e-mail : le lien de "
                            f"signature ne peut pas lui être envoyé.")
            continue
        try:
            validate_email(text, check_deliverability=False)
        except EmailNotValidError:
            problems.append(f"L'adresse e-mail « {text} » du signataire {who} n'est pas valide.")
    return problems


def _in_signature_check(order) -> Check:
    problem = phase_problem(order, PHASE_VALIDATION)
    if problem is None and not sent_for_signature(order):
        problem = ("Le dossier n'est plus en signature : il a été modifié ou la demande de "
                   "signature a été annulée.")
    return Check.of("state", f"Sous-état « {SUBSTATES[SUBSTATE_IN_SIGNATURE]} »", problem)


def _signature_request_check(request, now) -> Check:
    state = signature_state(request, now)
    problem = {
        SIGNATURE_SIGNED: "Vous avez déjà signé ces documents.",
        SIGNATURE_DECLINED: "Vous avez refusé de signer ces documents.",
        SIGNATURE_CANCELLED: "Cette demande de signature a été annulée.",
        SIGNATURE_EXPIRED: "Ce lien de signature a expiré.",
    }.get(state)
    return Check.of("signature_request", "Demande de signature en cours", problem)


def signing_checks(order, request, now) -> list[Check]:
    """A signer signs (or declines) through their link: the dossier is still out for
    signature, not frozen, and their own request is open and not expired."""
    return [process_check(order), order_type_check(order), dossier_open_check(order),
            _in_signature_check(order), _signature_request_check(request, now)]


def signing_blockers(order, request, now) -> list[str]:
    return failed_reasons(signing_checks(order, request, now))


def signature_followup_checks(order, operator, request, now) -> list[Check]:
    """The operator resends a link or reminds a signer: the request is still open (an expired
    link may be resent, not reminded)."""
    checks = [role_check(operator, ROLE_AEA), dossier_open_check(order),
              _in_signature_check(order)]
    if request.state not in OPEN_SIGNATURE_STATES:
        checks.append(_signature_request_check(request, now))
    return checks


def signature_followup_blockers(order, operator, request, now) -> list[str]:
    return failed_reasons(signature_followup_checks(order, operator, request, now))


def signature_cancel_checks(order, operator) -> list[Check]:
    """« Annuler la demande de signature »: back to « à vérifier », every open link voided."""
    return [role_check(operator, ROLE_AEA), dossier_open_check(order),
            _in_signature_check(order)]


def after_signature_cancelled(order, operator) -> State:
    return allowed(signature_cancel_checks(order, operator), (PHASE_VALIDATION, SUBSTATE_TO_CHECK))
