"""The certificate request the bridge made on an operator's key, and the login certificate the
embedded CA issues for it.

The request must belong to the open try its nonce names, carry that instruction's digest
(challengePassword), verify (proof of possession), be of the requested key type and hold a key
never certified before. The CA then issues the operator's login certificate (names from the
server's records, digitalSignature + clientAuth), registered with the try, and a signed
finalization tells the bridge to write it (an enrolment's also to set the initial PIN).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Flask

import workflow
from adapters.ca import fingerprint_sha256, get_ca, serial_to_hex
from bridge_protocol import INSTRUCTION_OPERATOR_FINALIZATION, INSTRUCTION_VERSION
from models import (HolderCertificate, IssuedCertificate, Operator, OperatorCertificate,
                    OperatorEnrolment, db, utcnow)
from services import audit
from services.certificates.instructions import SignedInstruction, expires_at, sign_instruction
from services.certificates.issuance import checked_request
from services.operator_enrolment.events import ACTION_ISSUED, attempt_details
from services.operator_enrolment.steps import (ENROLMENT, RENEWAL,
                                               UNWRITTEN_REVOCATION_REASON, attempt_of, fail,
                                               initial_pin, operator_blockers, refuse,
                                               renewal_blockers, renewed_certificate)



@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    chain: list[x509.Certificate]
    finalization: SignedInstruction


def accept_request(app: Flask, admin: Operator, operator: Operator, *, nonce: object,
                   instruction_text: object, csr_pem: object, ip: str = "") -> Issued:
    """Check the bridge's request against the try, issue, register, sign the finalization."""
    row = _open_attempt(admin, operator, nonce, instruction_text, ip)
    operator = Operator.get_by_id(row.operator_id)  # as it is now
    try:
        csr = _checked_request(row, csr_pem)
        problems = operator_blockers(admin, operator)
        if row.kind == RENEWAL:  # revoked or expired since the instruction: nothing issued
            problems += renewal_blockers(renewed_certificate(row))
        if problems:
            raise workflow.Refused(problems, "state")
        given_name, _, surname = operator.display_name.strip().partition(" ")
        ca = get_ca(app)
        certificate = ca.issue_operator_certificate(
            csr.public_key(), given_name=given_name, surname=surname or given_name,
            email=operator.email, organization=operator.ae.name)
    except workflow.Refused as refused:
        fail(row, admin, ip, "request", refused.code, refused.message)
        raise
    try:
        row = _record_issued(row, admin, certificate, ip)
    except Exception:
        # Issued but not recorded: it must not stay valid anywhere.
        ca.revoke(serial_to_hex(certificate.serial_number), UNWRITTEN_REVOCATION_REASON,
                  operator=admin, ip=ip)
        raise
    instruction = json.loads(row.instruction)
    finalization = {
        "v": INSTRUCTION_VERSION, "kind": INSTRUCTION_OPERATOR_FINALIZATION,
        "origin": instruction["origin"], "nonce": row.nonce, "expires_at": expires_at(utcnow()),
        "token": instruction["token"], "key": {"id": instruction["key"]["id"]},
        "certificate_sha256": row.fingerprint_sha256,
    }
    if row.kind == ENROLMENT:
        finalization["initial_pin"] = initial_pin(app, row.serial_hex)
    # The key carries the issuing CA, not the root: relying parties hold the root already.
    return Issued(certificate, [ca.issuing_certificate], sign_instruction(app, finalization))


def _open_attempt(admin: Operator, operator: Operator, nonce: object, instruction_text: object,
                  ip: str) -> OperatorEnrolment:
    row = attempt_of(admin, operator, nonce)
    if row is None or row.state != "open":
        refuse(admin, operator, ip, "request",
               ["Cet enrôlement n'est plus en cours (instruction inconnue, déjà utilisée ou "
                "remplacée par une autre) : recommencez."], code="nonce")
    if row.expires_at < utcnow():
        message = "L'instruction d'enrôlement a expiré : recommencez."
        fail(row, admin, ip, "request", "expired", message)
        raise workflow.Refused(message, "expired")
    if instruction_text != row.instruction:
        message = ("L'instruction renvoyée par la page ne correspond pas à celle du serveur : "
                   "demande refusée, aucun certificat émis.")
        fail(row, admin, ip, "request", "tampered", message)
        raise workflow.Refused(message, "tampered")
    return row


def _checked_request(row: OperatorEnrolment, csr_pem: object) -> x509.CertificateSigningRequest:
    csr = checked_request(csr_pem, row.instruction, row.key_type)
    public_key = csr.public_key()
    if ever_certified(key_digest(public_key)):
        raise workflow.Refused("Cette paire de clés a déjà été certifiée : une nouvelle paire "
                               "doit être générée sur la clé.", "tampered")
    return csr


def ever_certified(public_key_sha256: str) -> bool:
    """Whether a key with this digest was ever certified here: by an enrolment, for a holder,
    by the embedded CA for an operator or a seal, or bound to an operator from elsewhere."""
    if OperatorEnrolment.select().where(
            OperatorEnrolment.public_key_sha256 == public_key_sha256).exists() \
            or HolderCertificate.select().where(
                HolderCertificate.public_key_sha256 == public_key_sha256).exists():
        return True
    # Operators' certificates are few (tens): their keys are read from the certificates.
    pems = [pem for (pem,) in IssuedCertificate.select(IssuedCertificate.pem).where(
        IssuedCertificate.kind.in_(("operator", "seal"))).tuples()]
    pems += [pem for (pem,) in OperatorCertificate.select(OperatorCertificate.pem).tuples()]
    for pem in pems:
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
        except ValueError:
            continue
        if key_digest(certificate.public_key()) == public_key_sha256:
            return True
    return False


def key_digest(public_key) -> str:
    return hashlib.sha256(public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def _record_issued(row: OperatorEnrolment, admin: Operator, certificate: x509.Certificate,
                   ip: str) -> OperatorEnrolment:
    with db.atomic():
        claimed = (OperatorEnrolment
                   .update(state="issued", serial_hex=serial_to_hex(certificate.serial_number),
                           fingerprint_sha256=fingerprint_sha256(certificate),
                           public_key_sha256=key_digest(certificate.public_key()),
                           pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"))
                   .where((OperatorEnrolment.id == row.id) & (OperatorEnrolment.state == "open"))
                   .execute())
        if claimed != 1:
            raise workflow.Refused("Cet enrôlement a été repris ailleurs entre-temps.", "nonce")
        row = OperatorEnrolment.get_by_id(row.id)
        audit.record(ACTION_ISSUED, operator=admin, ip=ip, details=attempt_details(
            row, valid_from=_naive(certificate.not_valid_before_utc),
            valid_until=_naive(certificate.not_valid_after_utc)))
    return row


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
