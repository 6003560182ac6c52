"""The certificate request the bridge made on the key, and the certificate issued for it.

The request must carry the instruction's digest (challengePassword), verify (proof of
possession) and hold a key never certified before. The CA then issues the certificate for the
subject rebuilt from the validated order, registered with the try, and a signed finalization
tells the bridge to write it and set the activation PIN.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AttributeOID
from flask import Flask

import workflow
from adapters import metrics
from adapters.ca import (HolderRequestRefused, check_holder_request, fingerprint_sha256,
                         serial_to_hex)
from bridge_protocol import (INSTRUCTION_FINALIZATION, INSTRUCTION_VERSION, KEY_EC_P256,
                             KEY_RSA_3072, KEY_TYPES, csr_binding)
from formatting import DN_SHORT_NAMES
from models import (GenerationAttempt, HolderCertificate, IssuedCertificate, Operator, Order, db,
                    utcnow)
from services import audit
from services.certificates.attempts import attempt_of, fail, refuse
from services.certificates.events import ACTION_ISSUED, certificate_details
from services.certificates.holder_certificates import (UNWRITTEN_REVOCATION_REASON,
                                                       get_holder_ca, holder_identity)
from services.certificates.instructions import (SignedInstruction, activation_pin, expires_at,
                                                sign_instruction)
from services.webhooks import events as webhooks

MAX_CSR_CHARS = 16_384


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    chain: list[x509.Certificate]
    finalization: SignedInstruction


def accept_request(app: Flask, order: Order, operator: Operator, *, nonce: object,
                   instruction_text: object, csr_pem: object, ip: str = "",
                   valid_from: dt.datetime | None = None) -> Issued:
    """Check the bridge's request against the try, issue, register, and sign the finalization.
    ``valid_from`` back-dates the certificate (the demo's « last year »; views never pass it)."""
    attempt = _open_attempt(order, nonce, instruction_text, operator, ip)
    try:
        csr = _checked_request(attempt, csr_pem)
        identity = holder_identity(order, valid_from)
        problems = workflow.generation_start_blockers(order, operator)
        if problems:
            raise workflow.Refused(problems, "state")
        certificate = get_holder_ca(app).issue_holder_certificate(csr, identity)
    except HolderRequestRefused as refused:
        fail(attempt, order, operator, ip, "request", "ca_refused",
             f"L'AC a refusé la demande de certificat : {refused.message}")
        raise workflow.Refused(f"L'AC a refusé la demande de certificat : {refused.message} "
                               f"Aucun certificat n'a été émis.", "ca_refused") from None
    except workflow.Refused as refused:
        fail(attempt, order, operator, ip, "request", refused.code, refused.message)
        raise
    try:
        row = _record_issued(attempt, order, operator, certificate, ip)
    except Exception:
        # Issued but not recorded: it must not stay valid anywhere.
        metrics.GENERATION_FAILURES.labels("request").inc()
        get_holder_ca(app).revoke(serial_to_hex(certificate.serial_number),
                                  UNWRITTEN_REVOCATION_REASON, operator=operator, ip=ip,
                                  order=order)
        raise
    instruction = json.loads(attempt.instruction)
    finalization = sign_instruction(app, {
        "v": INSTRUCTION_VERSION, "kind": INSTRUCTION_FINALIZATION,
        "origin": instruction["origin"], "nonce": attempt.nonce,
        "expires_at": expires_at(utcnow()), "order_number": order.number,
        "token": instruction["token"], "key": {"id": instruction["key"]["id"]},
        "certificate_sha256": row.fingerprint_sha256,
        "activation_pin": activation_pin(app, row),
    })
    # The key carries the certificates between the holder's and the root, not the root itself:
    # relying parties have it as their trust anchor, and every object written costs time.
    chain = [c for c in get_holder_ca(app).chain() if c.subject != c.issuer]
    return Issued(certificate, chain, finalization)


def _open_attempt(order: Order, nonce: object, instruction_text: object, operator,
                  ip) -> GenerationAttempt:
    attempt = attempt_of(order, nonce)
    if attempt is None or attempt.state != "open":
        refuse(order, operator, ip, "request",
               ["Cette génération n'est plus en cours (instruction inconnue, déjà utilisée ou "
                "remplacée par une autre) : recommencez."], code="nonce")
    if attempt.expires_at < utcnow():
        fail(attempt, order, operator, ip, "request", "expired",
             "L'instruction de génération a expiré : recommencez.")
        raise workflow.Refused("L'instruction de génération a expiré : recommencez.", "expired")
    if instruction_text != attempt.instruction:
        fail(attempt, order, operator, ip, "request", "tampered",
             "L'instruction renvoyée par la page ne correspond pas à celle du serveur : "
             "demande refusée, aucun certificat émis.")
        raise workflow.Refused("L'instruction renvoyée par la page ne correspond pas à celle "
                               "du serveur : demande refusée, aucun certificat émis.", "tampered")
    return attempt


def _checked_request(attempt: GenerationAttempt,
                     csr_pem: object) -> x509.CertificateSigningRequest:
    csr = checked_request(csr_pem, attempt.instruction, attempt.key_type)
    if HolderCertificate.select().where(
            HolderCertificate.public_key_sha256 == _key_digest(csr.public_key())).exists():
        raise workflow.Refused("Cette paire de clés a déjà été certifiée : une nouvelle paire "
                               "doit être générée sur une clé vierge.", "tampered")
    return csr


def checked_request(csr_pem: object, instruction: str,
                    key_type: str) -> x509.CertificateSigningRequest:
    """A certificate request the bridge made on a key for ``instruction``: readable, signed by
    its key (proof of possession), bound to the instruction, of the key type asked. Raises
    Refused (« tampered »)."""
    if not isinstance(csr_pem, str) or len(csr_pem) > MAX_CSR_CHARS:
        raise workflow.Refused("Demande de certificat absente ou illisible.", "tampered")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise workflow.Refused("Demande de certificat illisible.", "tampered") from None
    try:
        check_holder_request(csr)  # signature: the key signed this very request
    except HolderRequestRefused as refused:
        raise workflow.Refused(refused.message, "tampered") from None
    if _challenge_password(csr) != csr_binding(instruction):
        raise workflow.Refused("La demande de certificat n'a pas été faite pour cette "
                               "instruction : refusée, aucun certificat émis.", "tampered")
    public_key = csr.public_key()
    if (key_type == KEY_RSA_3072 and not (isinstance(public_key, rsa.RSAPublicKey)
                                          and public_key.key_size == 3072)) \
            or (key_type == KEY_EC_P256
                and not isinstance(public_key, ec.EllipticCurvePublicKey)):
        raise workflow.Refused(f"La clé de la demande n'est pas du type demandé "
                               f"({KEY_TYPES[key_type]}).", "tampered")
    return csr


def _challenge_password(csr: x509.CertificateSigningRequest) -> str | None:
    try:
        value = csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value
    except x509.AttributeNotFound:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _record_issued(attempt, order, operator, certificate: x509.Certificate,
                   ip) -> HolderCertificate:
    serial_hex = serial_to_hex(certificate.serial_number)
    with db.atomic():
        claimed = (GenerationAttempt
                   .update(state="issued")
                   .where((GenerationAttempt.id == attempt.id)
                          & (GenerationAttempt.state == "open"))
                   .execute())
        if claimed != 1:
            raise workflow.Refused("Cette génération a été reprise ailleurs entre-temps.", "nonce")
        issued = IssuedCertificate.get(IssuedCertificate.serial_hex == serial_hex)
        row = HolderCertificate.create(
            order=order.id, attempt=attempt.id, issued=issued.id, serial_hex=serial_hex,
            fingerprint_sha256=fingerprint_sha256(certificate),
            public_key_sha256=_key_digest(certificate.public_key()),
            subject=certificate.subject.rfc4514_string(DN_SHORT_NAMES), key_type=attempt.key_type,
            token_serial=attempt.token_serial, token_label=attempt.token_label,
            not_before=_naive(certificate.not_valid_before_utc),
            not_after=_naive(certificate.not_valid_after_utc),
            pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            issued_by=operator.id)
        audit.record(ACTION_ISSUED, operator=operator, order=order, ip=ip,
                     details=certificate_details(row))
        webhooks.emit(order, webhooks.CERTIFICATE_ISSUED, webhooks.certificate_data(row))
    return row


def _key_digest(public_key) -> str:
    return hashlib.sha256(public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
