"""The operator's own PIN, at the first login on a key still carrying its initial PIN.

The login proves the certificate as any login does; when the key was enrolled here and its
operator has not yet replaced the initial PIN, no session opens: the login page gets a signed
instruction (``operator_pin``: the certificate, a single-use nonce, 15 minutes) for the bridge,
which changes the key's PIN to the one the operator chooses and then signs PIN_SET ‖ origin ‖
nonce with the key. That signature, checked against the bound certificate, records the change
and opens the session. The PINs go to the bridge only, never here.
"""
from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

from cryptography import x509
from flask import Flask

import workflow
from bridge_protocol import (INSTRUCTION_OPERATOR_PIN, INSTRUCTION_VERSION,
                             build_pin_set_message)
from models import Operator, OperatorCertificate, OperatorEnrolment, db, utcnow
from services import audit
from services.certificates.instructions import (INSTRUCTION_TTL, SignedInstruction, expires_at,
                                                sign_instruction)
from services.operator_auth.login_proof import InvalidProof, verify_signature
from services.operator_enrolment.events import ACTION_PIN_REQUIRED, ACTION_PIN_SET

EXPIRED = "Le délai pour choisir votre code PIN est dépassé : reconnectez-vous."


@dataclass(frozen=True)
class PinSet:
    operator: Operator
    fingerprint: str


def pending(fingerprint: str) -> OperatorEnrolment | None:
    """The enrolment (or the renewal of a key never used since) of this certificate when its
    key still carries the initial PIN."""
    return (OperatorEnrolment
            .select()
            .where((OperatorEnrolment.fingerprint_sha256 == fingerprint)
                   & (OperatorEnrolment.state == "written")
                   & OperatorEnrolment.pin_set_at.is_null())
            .first())


def ask_for_pin(app: Flask, row: OperatorEnrolment, *, origin: str,
                ip: str = "") -> SignedInstruction:
    """The instruction that has the bridge replace the initial PIN (a new nonce each login)."""
    now = utcnow()
    nonce = secrets.token_urlsafe(32)
    signed = sign_instruction(app, {
        "v": INSTRUCTION_VERSION, "kind": INSTRUCTION_OPERATOR_PIN, "origin": origin,
        "nonce": nonce, "expires_at": expires_at(now),
        "certificate_sha256": row.fingerprint_sha256,
    })
    with db.atomic():
        (OperatorEnrolment
         .update(pin_nonce=nonce, pin_nonce_expires_at=now + INSTRUCTION_TTL)
         .where(OperatorEnrolment.id == row.id)
         .execute())
        audit.record(ACTION_PIN_REQUIRED, operator=row.operator, ip=ip,
                     details={"fingerprint_sha256": row.fingerprint_sha256})
    return signed


def record_pin_set(*, nonce: object, origin: str, signature_b64: object, algorithm: object,
                   ip: str = "") -> PinSet:
    """The bridge changed the PIN and signed the PIN_SET message: checked, recorded once."""
    row = (OperatorEnrolment.get_or_none(OperatorEnrolment.pin_nonce == nonce)
           if isinstance(nonce, str) and nonce else None)
    if row is None or row.pin_set_at is not None or row.pin_nonce_expires_at < utcnow():
        raise workflow.Refused(EXPIRED, "nonce")
    certificate = x509.load_pem_x509_certificate(row.pem.encode("ascii"))
    try:
        signature = base64.b64decode(signature_b64 if isinstance(signature_b64, str) else "",
                                     validate=True)
        verify_signature(certificate, build_pin_set_message(origin, nonce), signature,
                         algorithm)
    except (binascii.Error, ValueError):
        raise workflow.Refused("Réponse de la clé USB illisible : reconnectez-vous.",
                               "bad_proof") from None
    except InvalidProof as error:
        raise workflow.Refused(error.message, "bad_proof") from None
    bound = OperatorCertificate.get_or_none(
        OperatorCertificate.fingerprint_sha256 == row.fingerprint_sha256)
    operator = Operator.get_by_id(row.operator_id)
    if bound is None or bound.operator_id != operator.id or not operator.active:
        raise workflow.Refused("Ce certificat n'ouvre plus de session : adressez-vous à "
                               "l'administrateur de votre AE.", "unbound")
    with db.atomic():
        done = (OperatorEnrolment
                .update(pin_set_at=utcnow(), pin_nonce=None, pin_nonce_expires_at=None)
                .where((OperatorEnrolment.id == row.id) & (OperatorEnrolment.pin_nonce == nonce)
                       & OperatorEnrolment.pin_set_at.is_null())
                .execute())
        if done != 1:
            raise workflow.Refused(EXPIRED, "nonce")
        audit.record(ACTION_PIN_SET, operator=operator, ip=ip,
                     details={"fingerprint_sha256": row.fingerprint_sha256})
    return PinSet(operator, row.fingerprint_sha256)
