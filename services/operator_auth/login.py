"""The server side of an operator's login by certificate, one function per path.

Bridge path: the token bridge signed a message naming our origin and a nonce we issued;
we consume the nonce once, check the signature against the certificate, map the
certificate to an operator and check the certificate itself. Proxy path: a trusted
reverse proxy did the TLS handshake; we still re-check the certificate and the mapping.

Every attempt leaves one audit event ("login" or "login_refused"), committed in the same
transaction as the nonce it used, so a refused attempt can neither vanish nor be replayed.
No Flask ``request`` here: callers pass what they read from it.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import current_app
from peewee import IntegrityError

import workflow
from formatting import paris_date
from models import AE, LoginChallenge, Operator, OperatorCertificate, TrustedCA, db, utcnow
from services import audit
from adapters.ca import EmbeddedCA, fingerprint_sha256, get_ca, serial_to_hex
from services.operator_auth.certcheck import (check_login_certificate, crl_lookup, load_certificate,
                                               load_certificates)
from services.operator_auth.login_proof import InvalidProof, verify_login_proof
from services.operator_auth.sessions import CERTIFICATE_UNBOUND, end_operator_sessions

METHOD_BRIDGE, METHOD_PROXY = "bridge", "proxy"
EXPIRED_CHALLENGES_KEPT = dt.timedelta(hours=1)
MAX_CHAIN_CERTIFICATES = 4  # chain building costs grow with what a client may pile up

MESSAGES = {
    "origin": "Connexion refusée : cette page n'est pas une origine autorisée de RA Desk.",
    "nonce": "Défi de connexion expiré ou déjà utilisé. Recommencez.",
    "bad_signature": "Signature de connexion illisible.",
    "unknown_certificate": "Certificat inconnu : il n'est associé à aucun opérateur.",
    "inactive_operator": "Ce compte opérateur est désactivé. Adressez-vous à l'administrateur "
                         "de votre AE.",
}


class LoginRefused(workflow.Refused):
    """``code`` names the reason in the audit trail; the message is shown to the operator."""

    def __init__(self, code: str, message: str):
        super().__init__(message, code)


class CertificateAlreadyBound(workflow.Refused):
    def __init__(self):
        super().__init__("Ce certificat est déjà associé à un opérateur.")


@dataclass(frozen=True)
class LoginResult:
    operator: Operator
    fingerprint: str


@dataclass
class _Attempt:
    """What is known about an attempt so far, for its audit event."""
    method: str
    ip: str
    certificate: x509.Certificate | None = None
    operator: Operator | None = None

    def details(self) -> dict:
        details = {"method": self.method}
        if self.certificate is not None:
            details["subject"] = self.certificate.subject.rfc4514_string()
            details["fingerprint"] = fingerprint_sha256(self.certificate)
        return details


def _refuse(code: str) -> LoginRefused:
    return LoginRefused(code, MESSAGES[code])


# --- nonces -----------------------------------------------------------------------

def issue_login_nonce() -> str:
    """A fresh single-use challenge, valid LOGIN_NONCE_SECONDS."""
    now = utcnow()
    nonce = secrets.token_urlsafe(32)
    with db.atomic():
        # Keep the table small: expired challenges are of no use after a while.
        (LoginChallenge
         .delete()
         .where(LoginChallenge.expires_at < now - EXPIRED_CHALLENGES_KEPT)
         .execute())
        LoginChallenge.create(
            nonce=nonce, created_at=now,
            expires_at=now + dt.timedelta(seconds=current_app.config["LOGIN_NONCE_SECONDS"]))
    return nonce


def _consume_nonce(nonce: str) -> None:
    # One guarded UPDATE: of two concurrent uses, the database lets exactly one match.
    now = utcnow()
    used = (LoginChallenge
            .update(used_at=now)
            .where((LoginChallenge.nonce == nonce)
                   & LoginChallenge.used_at.is_null()
                   & (LoginChallenge.expires_at > now))
            .execute())
    if used != 1:
        raise _refuse("nonce")


# --- the two login paths ----------------------------------------------------------------

def login_with_bridge_proof(*, nonce: str, origin: str, certificate_pem: str,
                            chain_pem: str | list[str] | None, signature_b64: str,
                            algorithm: str, ip: str = "") -> LoginResult:
    """Log in with a challenge signed on the operator's key by the token bridge."""
    attempt = _Attempt(METHOD_BRIDGE, ip)

    def checks() -> LoginResult:
        if origin not in current_app.config["RADESK_LOGIN_ORIGINS"]:
            raise _refuse("origin")
        _consume_nonce(nonce)
        attempt.certificate = load_certificate(certificate_pem)
        _check_proof(attempt.certificate, origin, nonce, signature_b64, algorithm)
        return _verify_and_map(attempt, _chain(chain_pem))

    return _run(attempt, checks, db.atomic())


def login_with_proxy_certificate(*, certificate_pem: str, ip: str = "") -> LoginResult:
    """Log in with the client certificate a trusted TLS proxy verified and forwarded."""
    attempt = _Attempt(METHOD_PROXY, ip)

    def checks() -> LoginResult:
        attempt.certificate = load_certificate(certificate_pem)
        return _verify_and_map(attempt, [])

    # Nothing to consume: no transaction is held across the checks' reads (on SQLite a read
    # transaction that later writes can fail outright), and the audit event is atomic alone.
    return _run(attempt, checks, contextlib.nullcontext())


def _run(attempt: _Attempt, checks, transaction) -> LoginResult:
    """Run the checks and record their outcome inside ``transaction``, then answer."""
    refusal = None
    with transaction:
        try:
            result = checks()
        except workflow.Refused as error:  # the login's own, or the certificate check's
            refusal = error if isinstance(error, LoginRefused) else LoginRefused(error.code,
                                                                                 error.message)
            audit.record("login_refused", operator=attempt.operator,
                         actor=_actor(attempt), ip=attempt.ip,
                         details={**attempt.details(), "code": error.code})
        else:
            audit.record("login", operator=result.operator, ip=attempt.ip,
                         details=attempt.details())
    if refusal is not None:
        raise refusal
    return result


def _actor(attempt: _Attempt) -> str:
    if attempt.operator is not None:
        return attempt.operator.display_name
    if attempt.certificate is not None:
        return attempt.certificate.subject.rfc4514_string()[:255]
    return ""


def _chain(chain_pem: str | list[str] | None) -> list[x509.Certificate]:
    if isinstance(chain_pem, (list, tuple)):
        chain_pem = "\n".join(chain_pem)
    chain = load_certificates(chain_pem)
    if len(chain) > MAX_CHAIN_CERTIFICATES:
        raise LoginRefused("malformed", "Chaîne de certificats trop longue.")
    return chain


def _check_proof(certificate, origin, nonce, signature_b64, algorithm) -> None:
    try:
        signature = base64.b64decode(signature_b64 or "", validate=True)
    except (binascii.Error, ValueError):
        raise _refuse("bad_signature") from None
    try:
        verify_login_proof(certificate, origin, nonce, signature, algorithm)
    except InvalidProof as error:
        raise LoginRefused("bad_proof", error.message) from None


def _verify_and_map(attempt: _Attempt, chain: list[x509.Certificate]) -> LoginResult:
    """Map the certificate to an active operator, then check it against that AE's trust."""
    certificate = attempt.certificate
    fingerprint = fingerprint_sha256(certificate)
    bound = (OperatorCertificate
             .select(OperatorCertificate, Operator)
             .join(Operator)
             .where(OperatorCertificate.fingerprint_sha256 == fingerprint)
             .first())
    if bound is None:
        raise _refuse("unknown_certificate")
    operator = attempt.operator = bound.operator
    if not operator.active:
        raise _refuse("inactive_operator")
    if bound.revoked_at is not None:
        # Revoked from the administration: refused even before (or without) a CRL saying so.
        raise LoginRefused("revoked", f"Certificat révoqué le {paris_date(bound.revoked_at)}.")
    check_against_ae_trust(operator.ae_id, certificate, chain)
    return LoginResult(operator, fingerprint)


def check_against_ae_trust(ae_id: int, certificate: x509.Certificate,
                           chain: list[x509.Certificate] = ()) -> None:
    """What login checks of a certificate (dates, clientAuth, chain to one of the AE's trusted
    CAs, revocation): raises certcheck.CertificateRefused with the French reason."""
    ca = get_ca(current_app)
    roots, trusted_intermediates = _trusted_cas(ae_id)
    intermediates = list(chain) + trusted_intermediates + [ca.issuing_certificate]
    check_login_certificate(certificate, intermediates, roots, crl_lookup(ca))


def _trusted_cas(ae_id: int) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """The AE's trust anchors, and the intermediates it registered to help build chains."""
    roots, intermediates = [], []
    for row in TrustedCA.select().where(TrustedCA.ae == ae_id).order_by(TrustedCA.id):
        try:
            certificate = x509.load_pem_x509_certificate(row.pem.encode("ascii"))
        except ValueError:
            continue  # an unreadable entry trusts nothing
        (roots if row.is_root else intermediates).append(certificate)
    return roots, intermediates


# --- binding and trust -------------------------------------------------------------------

def bind_certificate(operator: Operator, certificate: x509.Certificate) -> OperatorCertificate:
    """Associate a login certificate with an operator (the caller records the audit event)."""
    try:
        with db.atomic():
            return OperatorCertificate.create(
                operator=operator,
                fingerprint_sha256=fingerprint_sha256(certificate),
                subject=certificate.subject.rfc4514_string(),
                issuer=certificate.issuer.rfc4514_string(),
                serial_hex=serial_to_hex(certificate.serial_number),
                not_after=certificate.not_valid_after_utc.replace(tzinfo=None),
                pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            )
    except IntegrityError:
        raise CertificateAlreadyBound() from None


def unbind_certificate(certificate: OperatorCertificate, *, by: Operator | None = None,
                       actor: str | None = None, ip: str = "",
                       details: dict | None = None) -> int:
    """Take a login certificate away from its operator, with its audit event (``details``
    added to it); the sessions it opened end in the same transaction. Returns how many were
    ended."""
    operator = certificate.operator
    with db.atomic():
        certificate.delete_instance()
        ended = end_operator_sessions(operator, CERTIFICATE_UNBOUND,
                                      fingerprint=certificate.fingerprint_sha256)
        audit.record("certificate_unbound", operator=by, ae=operator.ae_id, actor=actor, ip=ip,
                     details={"operator": operator.display_name, "operator_id": operator.id,
                              "fingerprint": certificate.fingerprint_sha256,
                              "subject": certificate.subject, "sessions_ended": ended,
                              **(details or {})})
    return ended


def trust_embedded_ca(ae: AE, ca: EmbeddedCA) -> TrustedCA:
    """Make the embedded root a trust anchor of ``ae`` (idempotent)."""
    root = ca.root_certificate
    fingerprint = fingerprint_sha256(root)
    (TrustedCA
     .insert(ae=ae, name=root.subject.rfc4514_string(), fingerprint_sha256=fingerprint,
             pem=root.public_bytes(serialization.Encoding.PEM).decode("ascii"), is_root=True)
     .on_conflict_ignore()
     .execute())
    return TrustedCA.get((TrustedCA.ae == ae) & (TrustedCA.fingerprint_sha256 == fingerprint))
