"""Revocation requests (processus « Révocation »): the reasons a holder or requester may give,
the 4-hour target an AEA has to act on them, and the guards of asking, « Révoquer » and
« Rejeter la demande », with their French reasons.

``certificate`` is duck-typed like services.certificates.holder_certificates.CertificateState:
``written_at``, ``revoked_at``, ``suspended`` (on hold) and ``revoked`` (for good);
``not_after`` is read from ``certificate.row``.
"""
from __future__ import annotations

import datetime as dt

from workflow.checks import Check, State, allowed, failed_reasons
from workflow.conditions import role_check
from workflow.identifiers import COMMENT_MAX
from workflow.vocabulary import (PHASE_CANCELLED, PHASE_DONE, PHASE_VALIDATION, PHASES,
                                 PROCESS_REVOCATION, PROCESSES, ROLE_AEA, SUBSTATE_TO_REVOKE,
                                 SUBSTATES)

# What the person asking may choose (exact UI labels), and the RFC 5280 reason each becomes.
CHOICE_LOST = "lost"
REVOCATION_CHOICES = {
    CHOICE_LOST: ("Clé perdue ou volée", "keyCompromise"),
    "compromised": ("Compromission de la clé", "keyCompromise"),
    "changed": ("Changement d'informations", "affiliationChanged"),
    "ceased": ("Cessation d'activité", "cessationOfOperation"),
}
SUSPENDABLE_CHOICES = (CHOICE_LOST,)  # « Suspendre immédiatement mon certificat »
# Who asked, by the link they came from.
ASKED_VIA_FOLLOWUP = "followup"
ASKED_VIA_HOLDER = "holder"
REVOCATION_ASKED_VIA = {
    ASKED_VIA_FOLLOWUP: "le demandeur, depuis la page de suivi de la commande",
    ASKED_VIA_HOLDER: "le porteur, depuis le lien reçu à l'activation de sa clé",
}
# An AEA acts on a revocation request within this delay (« délai cible 4 h »).
REVOCATION_TARGET = dt.timedelta(hours=4)
ALREADY_OPEN = ("Une demande de révocation de ce certificat est déjà en cours de traitement "
                "par l'Autorité d'Enregistrement.")


def choice_label(choice: str | None) -> str:
    return REVOCATION_CHOICES.get(choice or "", (choice or "", ""))[0]


def choice_reason(choice: str) -> str:
    return REVOCATION_CHOICES[choice][1]


def revocation_deadline(asked_at: dt.datetime) -> dt.datetime:
    return asked_at + REVOCATION_TARGET


def revocation_late(asked_at: dt.datetime, now: dt.datetime) -> bool:
    return now > revocation_deadline(asked_at)


# --- asking (no login: the one-time code sent to the Contact OTP stands for the person) -------

def _revocable_check(certificate, now: dt.datetime | None = None) -> Check:
    problem = None
    if certificate is None:
        problem = "Aucun certificat n'a été émis pour cette commande."
    elif getattr(certificate, "revoked", False):
        problem = "Ce certificat est déjà révoqué."
    elif certificate.written_at is None:
        problem = "Le certificat de cette commande n'a pas été inscrit sur une clé USB."
    elif now is not None and certificate.row.not_after < now:
        problem = "Ce certificat a expiré : il n'est plus utilisable, rien à révoquer."
    return Check.of("certificate", "Certificat inscrit sur la clé, ni révoqué ni expiré",
                    problem)


def request_checks(certificate, *, open_request: bool, now: dt.datetime | None = None
                   ) -> list[Check]:
    """Whether a revocation of ``certificate`` may be asked for (the link's page)."""
    return [_revocable_check(certificate, now),
            Check.of("open", "Aucune demande de révocation en cours",
                     ALREADY_OPEN if open_request else None)]


def request_blockers(certificate, *, open_request: bool, now: dt.datetime | None = None
                     ) -> list[str]:
    return failed_reasons(request_checks(certificate, open_request=open_request, now=now))


def request_form_problems(choice: str | None, comment: str, suspend: bool) -> list[str]:
    """The request form: a reason among the four, a bounded comment, the suspension only for
    a lost or stolen key."""
    problems = []
    if choice not in REVOCATION_CHOICES:
        problems.append("Choisissez le motif de la révocation.")
    if len(comment) > COMMENT_MAX:
        problems.append(f"Le commentaire est trop long ({len(comment)} caractères, "
                        f"{COMMENT_MAX} au plus).")
    if suspend and choice not in SUSPENDABLE_CHOICES:
        problems.append(f"La suspension immédiate n'est possible que pour le motif "
                        f"« {REVOCATION_CHOICES[CHOICE_LOST][0]} ».")
    return problems


def after_request() -> State:
    """A new revocation order waits « à révoquer » for an AEA."""
    return PHASE_VALIDATION, SUBSTATE_TO_REVOKE


# --- the AEA: « Révoquer », « Rejeter la demande » ------------------------------------------------

def _waiting_check(order) -> Check:
    problem = None
    if order.process != PROCESS_REVOCATION:
        problem = (f"La commande n'est pas une demande de révocation (processus "
                   f"« {PROCESSES.get(order.process, order.process)} »).")
    elif order.phase != PHASE_VALIDATION:
        problem = (f"La demande de révocation a déjà été traitée : la commande est en phase "
                   f"« {PHASES.get(order.phase, order.phase)} ».")
    return Check.of("state", f"Demande de révocation « {SUBSTATES[SUBSTATE_TO_REVOKE]} »",
                    problem)


def _not_revoked_check(certificate) -> Check:
    problem = None
    if certificate is None:
        problem = "Le certificat visé par la demande est introuvable."
    elif getattr(certificate, "revoked", False):
        problem = ("Le certificat est déjà révoqué : rien à révoquer ni à rétablir. "
                   "Il n'y a plus rien à décider sur cette demande.")
    return Check.of("certificate", "Certificat visé non encore révoqué", problem)


def revoke_request_checks(order, operator, certificate) -> list[Check]:
    """« Révoquer »: an AEA, a request still waiting, a certificate not yet revoked for good
    (a suspended one is: the revocation replaces the hold)."""
    return [role_check(operator, ROLE_AEA), _waiting_check(order), _not_revoked_check(certificate)]


def revoke_request_blockers(order, operator, certificate) -> list[str]:
    return failed_reasons(revoke_request_checks(order, operator, certificate))


def after_revoke_request(order, operator, certificate) -> State:
    return allowed(revoke_request_checks(order, operator, certificate), (PHASE_DONE, None))


def reject_request_checks(order, operator, certificate) -> list[Check]:
    """« Rejeter la demande »: the same conditions (a hold is lifted, a revocation is not)."""
    return revoke_request_checks(order, operator, certificate)


def reject_request_blockers(order, operator, certificate) -> list[str]:
    return failed_reasons(reject_request_checks(order, operator, certificate))


def after_reject_request(order, operator, certificate) -> State:
    return allowed(reject_request_checks(order, operator, certificate), (PHASE_CANCELLED, None))


def revoke_step_checks(order, operator) -> list[Check]:
    """The order file's checklist for « Révoquer » (the certificate is checked by the action)."""
    return [role_check(operator, ROLE_AEA), _waiting_check(order)]
