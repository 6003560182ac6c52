"""Is this certificate acceptable for an operator's login?

Dates first (so the operator reads the precise reason), then the chain up to one of the
AE's trusted roots with clientAuth required, then revocation of every non-root certificate
of that chain against a CRL signed by its issuer. No usable CRL means refusal: a check
that cannot be made is not passed.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable, Iterable

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (Criticality, ExtensionPolicy, PolicyBuilder, Store,
                                            VerificationError)

import workflow
from formatting import paris_date

CrlLookup = Callable[[x509.Certificate], "x509.CertificateRevocationList | None"]

MESSAGES = {
    "untrusted": "Certificat émis par une autorité non reconnue par votre AE.",
    "no_client_auth": "Ce certificat ne permet pas l'authentification (usage « clientAuth » absent).",
    "crl_unavailable": "Impossible de vérifier la révocation du certificat : "
                       "liste de révocation indisponible ou périmée.",
    "malformed": "Certificat illisible ou mal formé.",
}


class CertificateRefused(workflow.Refused):
    """``code`` names the reason in the audit trail; the message is shown to the operator."""

    def __init__(self, code: str, message: str):
        super().__init__(message, code)


def refused(code: str) -> CertificateRefused:
    return CertificateRefused(code, MESSAGES[code])


def load_certificate(pem: str | bytes) -> x509.Certificate:
    """One PEM certificate, or a ``malformed`` refusal."""
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii") if isinstance(pem, str) else pem)
    except (ValueError, UnicodeEncodeError):
        raise refused("malformed") from None


def load_certificates(pem: str | bytes | None) -> list[x509.Certificate]:
    """Zero or more concatenated PEM certificates, or a ``malformed`` refusal."""
    if not pem or not pem.strip():
        return []
    try:
        return x509.load_pem_x509_certificates(pem.encode("ascii") if isinstance(pem, str) else pem)
    except (ValueError, UnicodeEncodeError):
        raise refused("malformed") from None


def _require_client_auth(policy, certificate, eku: x509.ExtendedKeyUsage) -> None:
    if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise ValueError("clientAuth absent de l'usage étendu de la clé")


# The web-PKI defaults accept a leaf without EKU: an operator's key must be meant for login.
_LOGIN_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().require_present(
    x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _require_client_auth)
# Same rules with any EKU, used only to tell "wrong usage" from "unknown CA" after a failure.
_ANY_USAGE_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None)
_CA_POLICY = ExtensionPolicy.webpki_defaults_ca()


def check_login_certificate(leaf: x509.Certificate, intermediates: Iterable[x509.Certificate],
                            trusted_roots: Iterable[x509.Certificate], crl_for: CrlLookup,
                            now: dt.datetime | None = None) -> None:
    """Raise ``CertificateRefused`` unless ``leaf`` may log an operator in at ``now``."""
    now = _aware(now or dt.datetime.now(dt.timezone.utc))
    intermediates, trusted_roots = list(intermediates), list(trusted_roots)
    try:
        _check_dates(leaf, now)
        chain = _verified_chain(leaf, intermediates, trusted_roots, now)
    except ValueError:
        # cryptography parses extensions lazily: a broken one surfaces here.
        raise refused("malformed") from None
    _check_revocation(chain, crl_for, now)


def _check_dates(leaf: x509.Certificate, now: dt.datetime) -> None:
    if now > leaf.not_valid_after_utc:
        raise CertificateRefused(
            "expired", f"Certificat expiré le {paris_date(leaf.not_valid_after_utc)}.")
    if now < leaf.not_valid_before_utc:
        raise CertificateRefused(
            "not_yet_valid",
            f"Certificat pas encore valide : utilisable à partir du "
            f"{paris_date(leaf.not_valid_before_utc)}.")


def _verified_chain(leaf, intermediates, trusted_roots, now) -> list[x509.Certificate]:
    if not trusted_roots:
        raise refused("untrusted")
    try:
        return _verifier(trusted_roots, now, _LOGIN_EE_POLICY).verify(leaf, intermediates).chain
    except VerificationError:
        pass
    try:
        _verifier(trusted_roots, now, _ANY_USAGE_EE_POLICY).verify(leaf, intermediates)
    except VerificationError:
        raise refused("untrusted") from None
    raise refused("no_client_auth")


def _verifier(trusted_roots, now, ee_policy):
    return (PolicyBuilder()
            .store(Store(trusted_roots))
            .time(now)
            .max_chain_depth(2)
            .extension_policies(ca_policy=_CA_POLICY, ee_policy=ee_policy)
            .build_client_verifier())


def _check_revocation(chain: list[x509.Certificate], crl_for: CrlLookup,
                      now: dt.datetime) -> None:
    # chain runs leaf → … → trust anchor; the anchor itself is trusted as configured.
    for position, (certificate, issuer) in enumerate(zip(chain, chain[1:])):
        crl = crl_for(issuer)
        if not _crl_usable(crl, issuer, now):
            raise refused("crl_unavailable")
        entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        if entry is not None:
            date = paris_date(entry.revocation_date_utc)
            if position == 0:
                raise CertificateRefused("revoked", f"Certificat révoqué le {date}.")
            raise CertificateRefused(
                "revoked", f"L'autorité qui a émis ce certificat a été révoquée le {date}.")


def _crl_usable(crl, issuer: x509.Certificate, now: dt.datetime) -> bool:
    return (crl is not None
            and crl.issuer == issuer.subject
            and crl.next_update_utc is not None
            and crl.next_update_utc > now
            and crl.is_signature_valid(issuer.public_key()))


def crl_lookup(ca) -> CrlLookup:
    """The ``crl_for`` of the embedded CA: its CRLs for its own certificates, else None."""
    return ca.crl_for


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value
