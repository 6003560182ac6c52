"""The certificates an AE's operators log in with, as its admins manage them: « Associer un
certificat » from an uploaded file (checked as login checks it), « Retirer », « Révoquer » one
the embedded CA issued (CRL republished at once, its sessions ended, login refused), and the
certificates about to expire that the admins' activity digest announces.
"""
from __future__ import annotations

import datetime as dt

from cryptography import x509
from flask import Flask

import workflow
from adapters.ca import fingerprint_sha256, get_ca
from formatting import paris_date
from models import Operator, OperatorCertificate, db, utcnow
from services import audit
from services.admin.operators import EXPIRY_NOTICE, STATE_REVOKED, operator_line
from services.operator_auth import sessions
from services.operator_auth.login import (CertificateAlreadyBound, bind_certificate,
                                          check_against_ae_trust, unbind_certificate)
from workflow import operators as rules

MAX_FILE_BYTES = 64 * 1024   # a certificate with its chain is a few kilobytes
MAX_CHAIN = 4                # as at login

REVOCATION_REASONS = {  # what an admin may choose, in French (RFC 5280 names)
    "keyCompromise": "Compromission de la clé (clé USB perdue ou volée, code PIN divulgué)",
    "affiliationChanged": "Départ ou changement de fonction de l'opérateur",
    "superseded": "Certificat remplacé",
    "cessationOfOperation": "Cessation d'activité",
    "privilegeWithdrawn": "Retrait du droit d'usage",
    "unspecified": "Non précisé",
}

ACTION_BOUND = "operator_certificate_bound"
ACTION_REVOKED = "operator_certificate_revoked"
AUDIT_ACTIONS = {
    ACTION_BOUND: "Certificat associé à un opérateur",
    "certificate_unbound": "Certificat retiré à un opérateur",
    ACTION_REVOKED: "Certificat d'opérateur révoqué",
}


def certificate_of(operator: Operator, certificate_id: int) -> OperatorCertificate | None:
    """A certificate bound to ``operator`` (any other id gives None, hence a 404)."""
    return OperatorCertificate.get_or_none((OperatorCertificate.id == certificate_id)
                                           & (OperatorCertificate.operator == operator.id))


def read_certificate_file(data: bytes) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The certificate of an uploaded PEM or DER file, and the chain that may follow it."""
    if not data:
        raise workflow.Refused("Choisissez le fichier du certificat (PEM ou DER).")
    if len(data) > MAX_FILE_BYTES:
        raise workflow.Refused("Fichier trop volumineux pour un certificat "
                               f"({MAX_FILE_BYTES // 1024} Ko au plus).")
    try:
        if b"-----BEGIN" in data:
            certificates = x509.load_pem_x509_certificates(data)
        else:
            certificates = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise workflow.Refused("Ce fichier n'est pas un certificat lisible : un certificat X.509 "
                               "au format PEM ou DER est attendu.") from None
    if len(certificates) > 1 + MAX_CHAIN:
        raise workflow.Refused("Chaîne de certificats trop longue.")
    return certificates[0], certificates[1:]


def associate(operator: Operator, data: bytes, *, by: Operator,
              ip: str = "") -> OperatorCertificate:
    """Bind the uploaded certificate to ``operator`` once it would log them in: valid now,
    meant for client authentication, chained to one of the AE's trusted CAs, not revoked, and
    bound to nobody else."""
    certificate, chain = read_certificate_file(data)
    _check_not_bound(certificate, operator)
    check_against_ae_trust(operator.ae_id, certificate, chain)
    with db.atomic():
        before = _serials(operator)
        try:
            row = bind_certificate(operator, certificate)
        except CertificateAlreadyBound:  # bound meanwhile, by another admin
            _check_not_bound(certificate, operator)
            raise
        audit.record(ACTION_BOUND, operator=by, ae=operator.ae_id, ip=ip,
                     details={"operator": operator.display_name, "operator_id": operator.id,
                              "subject": row.subject, "serial": row.serial_hex,
                              "fingerprint": row.fingerprint_sha256,
                              "avant": {"certificats": before},
                              "après": {"certificats": _serials(operator)}})
    return row


def _check_not_bound(certificate: x509.Certificate, operator: Operator) -> None:
    bound = (OperatorCertificate
             .select(OperatorCertificate, Operator)
             .join(Operator)
             .where(OperatorCertificate.fingerprint_sha256 == fingerprint_sha256(certificate))
             .first())
    if bound is None:
        return
    if bound.operator_id == operator.id:
        raise workflow.Refused("Ce certificat est déjà associé à cet opérateur.")
    if bound.operator.ae_id == operator.ae_id:  # another AE's operator is not named
        raise workflow.Refused(f"Ce certificat est déjà associé à un autre opérateur, "
                               f"« {bound.operator.display_name} ».")
    raise workflow.Refused("Ce certificat est déjà associé à un autre opérateur.")


IN_USE = ("Vous êtes connecté avec ce certificat : il ne peut être retiré ou révoqué que depuis "
          "une session ouverte avec un autre certificat, ou par un autre administrateur.")


def _not_in_use(certificate: OperatorCertificate, session_fingerprint: str | None) -> None:
    """An admin does not cut off the very session they act from (nor lock the AE out)."""
    if session_fingerprint and certificate.fingerprint_sha256 == session_fingerprint:
        raise workflow.Refused([IN_USE])


def remove(certificate: OperatorCertificate, *, by: Operator, ip: str = "",
           session_fingerprint: str | None = None) -> int:
    """« Retirer »: the certificate no longer logs its operator in; the sessions it opened end
    at once. Returns how many."""
    _not_in_use(certificate, session_fingerprint)
    operator = certificate.operator
    before = _serials(operator)
    return unbind_certificate(certificate, by=by, ip=ip, details={
        "serial": certificate.serial_hex, "avant": {"certificats": before},
        "après": {"certificats": [s for s in before if s != certificate.serial_hex]}})


def revoke(app: Flask, certificate: OperatorCertificate, *, reason: str | None,
           confirmed: bool, by: Operator, ip: str = "",
           session_fingerprint: str | None = None) -> OperatorCertificate:
    """« Révoquer » a certificate the embedded CA issued: revoked in the CA's register and its
    CRL republished, then marked here, the sessions it opened ended and its login refused."""
    _not_in_use(certificate, session_fingerprint)
    line = next(c for c in operator_line(certificate.operator).certificates
                if c.row.id == certificate.id)
    problems = rules.certificate_revocation_problems(
        reason=reason, reasons=REVOCATION_REASONS, confirmed=confirmed,
        revoked=certificate.revoked_at is not None, embedded=line.embedded)
    if problems:
        raise workflow.Refused(problems)
    # The CA revokes outside our transaction: it publishes its CRL once its revocation is
    # committed. A second click finds it revoked there and keeps the first date and reason.
    issued = get_ca(app).revoke(certificate.serial_hex, reason, operator=by, ip=ip)
    operator = certificate.operator
    with db.atomic():
        marked = (OperatorCertificate
                  .update(revoked_at=issued.revoked_at, revocation_reason=issued.revocation_reason)
                  .where((OperatorCertificate.id == certificate.id)
                         & OperatorCertificate.revoked_at.is_null())
                  .execute())
        ended = sessions.end_operator_sessions(operator, sessions.CERTIFICATE_REVOKED,
                                               fingerprint=certificate.fingerprint_sha256)
        if marked:
            audit.record(ACTION_REVOKED, operator=by, ae=operator.ae_id, ip=ip,
                         details={"operator": operator.display_name, "operator_id": operator.id,
                                  "serial": certificate.serial_hex,
                                  "subject": certificate.subject,
                                  "reason": issued.revocation_reason, "sessions_ended": ended,
                                  "avant": {"état": line.state}, "après": {"état": STATE_REVOKED}})
    return OperatorCertificate.get_by_id(certificate.id)


def _serials(operator: Operator) -> list[str]:
    return [serial for (serial,) in OperatorCertificate.select(OperatorCertificate.serial_hex)
            .where(OperatorCertificate.operator == operator.id)
            .order_by(OperatorCertificate.bound_at, OperatorCertificate.id).tuples()]


def expiring(ae_ids, now: dt.datetime | None = None,
             notice: dt.timedelta = EXPIRY_NOTICE) -> dict[int, list[dict]]:
    """By AE, the certificates of its active operators that expire within ``notice`` (not
    revoked, not expired yet), soonest first, as the digest shows them (JSON-able)."""
    now = now or utcnow()
    rows = (OperatorCertificate
            .select(OperatorCertificate, Operator)
            .join(Operator)
            .where(Operator.ae.in_(list(ae_ids)) & Operator.active
                   & OperatorCertificate.revoked_at.is_null()
                   & (OperatorCertificate.not_after > now)
                   & (OperatorCertificate.not_after <= now + notice))
            .order_by(OperatorCertificate.not_after, Operator.display_name))
    found: dict[int, list[dict]] = {}
    for row in rows:
        found.setdefault(row.operator.ae_id, []).append({
            "operator": row.operator.display_name, "serial": row.serial_hex,
            "subject": row.subject, "expires": paris_date(row.not_after)})
    return found

