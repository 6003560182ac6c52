"""« Associer le certificat d'une clé »: bind to an operator the login certificate a USB key
already carries — typically from an outside CA the AE trusts.

The admin's page has the bridge sign, on that key (the operator types its PIN), the login
message for a nonce issued here: the same proof of possession as a login, so a certificate is
bound only with the key that holds its private half. The certificate must then chain to the
AE's trusted CAs, be valid now and meant for client authentication (certcheck, as at login),
and be bound to nobody yet. Its revocation is checked wherever a CRL is known (the embedded
CA's); for another CA the binding goes ahead with a warning, since the login itself will
refuse the certificate as long as no CRL of its CA is available.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from flask import Flask

import workflow
from adapters.ca import fingerprint_sha256, get_ca
from models import LoginChallenge, Operator, OperatorCertificate, db, utcnow
from services import audit
from services.operator_auth.certcheck import (CertificateRefused, check_login_certificate,
                                              crl_lookup, load_certificate, load_certificates)
from services.operator_auth.login import _trusted_cas, bind_certificate
from services.operator_auth.login_proof import InvalidProof, verify_login_proof
from services.operator_enrolment.events import ACTION_BINDING_REFUSED, ACTION_BOUND_FROM_KEY

MAX_CHAIN = 4
NO_CRL_WARNING = ("La révocation de ce certificat n'a pas pu être vérifiée : aucune liste de "
                  "révocation de son autorité n'est disponible sur ce serveur. Tant qu'il en "
                  "sera ainsi, la connexion avec ce certificat sera refusée.")


@dataclass(frozen=True)
class Bound:
    certificate: OperatorCertificate
    warning: str | None


def bind_from_key(app: Flask, admin: Operator, operator: Operator, *, nonce: object,
                  origin: str | None, certificate_pem: object, chain_pem: object,
                  signature_b64: object, algorithm: object, ip: str = "") -> Bound:
    """Check the key's proof and its certificate, then bind it to ``operator``."""
    about = {"operator": operator.display_name, "operator_id": operator.id}
    refusal, bound = None, None
    with db.atomic():
        try:
            _consume(nonce)
            bound = _checked_and_bound(app, admin, operator, origin, nonce, certificate_pem,
                                       chain_pem, signature_b64, algorithm, about)
            audit.record(ACTION_BOUND_FROM_KEY, operator=admin, ip=ip,
                         details={**about, **bound[1]})
        except workflow.Refused as error:
            refusal = error
            audit.record(ACTION_BINDING_REFUSED, operator=admin, ip=ip,
                         details={**about, "code": error.code, "reasons": error.reasons})
    if refusal is not None:
        raise refusal
    return bound[0]


def _consume(nonce: object) -> None:
    now = utcnow()
    used = (LoginChallenge
            .update(used_at=now)
            .where((LoginChallenge.nonce == (nonce if isinstance(nonce, str) else ""))
                   & LoginChallenge.used_at.is_null()
                   & (LoginChallenge.expires_at > now))
            .execute())
    if used != 1:
        raise workflow.Refused("Défi expiré ou déjà utilisé : recommencez.", "nonce")


def _checked_and_bound(app, admin, operator, origin, nonce, certificate_pem, chain_pem,
                       signature_b64, algorithm, about) -> tuple[Bound, dict]:
    if not admin.has_role("admin") or admin.ae_id != operator.ae_id:
        raise workflow.Refused("Seul un administrateur de l'AE de cet opérateur peut lui "
                               "associer un certificat.", "forbidden")
    if origin not in app.config["RADESK_LOGIN_ORIGINS"]:
        raise workflow.Refused("Origine de la page inconnue : rechargez la page.", "origin")
    if not isinstance(certificate_pem, str) or not isinstance(chain_pem, list) \
            or len(chain_pem) > MAX_CHAIN or not all(isinstance(p, str) for p in chain_pem):
        raise workflow.Refused("Réponse de la clé USB incomplète ou illisible.", "malformed")
    certificate = load_certificate(certificate_pem)
    chain = load_certificates("\n".join(chain_pem))
    try:
        signature = base64.b64decode(signature_b64 if isinstance(signature_b64, str) else "",
                                     validate=True)
        verify_login_proof(certificate, origin, nonce, signature, algorithm)
    except (binascii.Error, ValueError):
        raise workflow.Refused("Signature de la clé illisible.", "bad_proof") from None
    except InvalidProof as error:
        raise workflow.Refused(error.message, "bad_proof") from None
    warning = _checked_certificate(app, operator, certificate, chain)
    fingerprint = fingerprint_sha256(certificate)
    holder = OperatorCertificate.get_or_none(OperatorCertificate.fingerprint_sha256 == fingerprint)
    if holder is not None:
        whose = "cet opérateur" if holder.operator_id == operator.id else "un autre opérateur"
        raise workflow.Refused(f"Ce certificat est déjà associé à {whose}.", "already_bound")
    row = bind_certificate(operator, certificate)
    details = {"subject": row.subject, "issuer": row.issuer, "serial": row.serial_hex,
               "fingerprint_sha256": fingerprint}
    if warning:
        details["warning"] = warning
    return Bound(row, warning), details


def _checked_certificate(app, operator, certificate, chain) -> str | None:
    """As at login, against the operator's AE; a CA without known CRL gives a warning."""
    ca = get_ca(app)
    roots, trusted_intermediates = _trusted_cas(operator.ae_id)
    intermediates = chain + trusted_intermediates + [ca.issuing_certificate]
    try:
        check_login_certificate(certificate, intermediates, roots, crl_lookup(ca))
    except CertificateRefused as refused:
        # Dates, chain and usage are checked before revocation: only the CRL is missing.
        if refused.code == "crl_unavailable" and certificate.issuer != \
                ca.issuing_certificate.subject:
            return NO_CRL_WARNING
        raise
    return None
