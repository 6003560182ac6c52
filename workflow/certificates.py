"""Certificate generation, hand-over, activation and revocation: their guards.

``certificate`` is duck-typed like services.certificates.holder_certificates.CertificateState:
``written_at`` (None until confirmed written onto the key) and ``revoked_at`` (None unless
revoked).
"""
from __future__ import annotations

from workflow.checks import Check, State, allowed, failed_reasons
from workflow.conditions import (id_document_check, otp_contact_check, phase_check,
                                 process_check, role_check)
from workflow.guards import generation_checks, handover_checks
from workflow.vocabulary import PHASE_DONE, PHASE_HANDOVER, ROLE_AEA


def _certificate_check(certificate, *, written: bool, hold_ok: bool = False) -> Check:
    """``hold_ok``: a suspended certificate (on hold) passes, as revoking it for good does."""
    problem = None
    if certificate is None:
        problem = "Aucun certificat n'a été généré pour cette commande."
    elif getattr(certificate, "revoked_at", None) is not None and not (
            hold_ok and getattr(certificate, "suspended", False)):
        problem = ("Le certificat de la commande est suspendu."
                   if getattr(certificate, "suspended", False)
                   else "Le certificat de la commande a été révoqué.")
    elif written and getattr(certificate, "written_at", None) is None:
        problem = "Le certificat émis n'a pas été inscrit sur la clé USB."
    return Check.of("certificate", "Certificat du porteur inscrit sur la clé et non révoqué",
                     problem)


def generation_start_checks(order, operator) -> list[Check]:
    """« Générer le certificat »: the validated order, and the holder's identity document
    (it identifies the holder in the certificate)."""
    return generation_checks(order, operator) + [id_document_check(order)]


def generation_start_blockers(order, operator) -> list[str]:
    return failed_reasons(generation_start_checks(order, operator))


def delivery_checks(order, operator, certificate) -> list[Check]:
    """« Clé remise au porteur »: the code goes to the Contact OTP, so it must be valid."""
    return handover_checks(order, operator) + [
        _certificate_check(certificate, written=True),
        otp_contact_check(order),
    ]


def delivery_blockers(order, operator, certificate) -> list[str]:
    return failed_reasons(delivery_checks(order, operator, certificate))


def activation_checks(order, certificate) -> list[Check]:
    """The holder activates the key (no operator: the one-time code stands for them)."""
    return [process_check(order), phase_check(order, PHASE_HANDOVER),
            _certificate_check(certificate, written=True)]


def activation_blockers(order, certificate) -> list[str]:
    return failed_reasons(activation_checks(order, certificate))


def after_activation(order, certificate) -> State:
    return allowed(activation_checks(order, certificate), (PHASE_DONE, None))


def holder_revocation_checks(order, operator, certificate) -> list[Check]:
    """An AEA revokes the holder's certificate (irreversible; the order keeps its phase); a
    suspended one may be revoked for good."""
    return [role_check(operator, ROLE_AEA),
            _certificate_check(certificate, written=False, hold_ok=True)]


def holder_revocation_blockers(order, operator, certificate) -> list[str]:
    return failed_reasons(holder_revocation_checks(order, operator, certificate))
