"""The RA's own certificates under the issuing CA: an operator's login certificate and an
AE's electronic seal for the contractual documents its signers sign.
"""
from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from adapters.ca.authority import CLOCK_SKEW, Authority, aware_utc, key_usage, now_utc

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # RFC 9336 id-kp-documentSigning


def _operator_name(given_name: str, surname: str, organization: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.GIVEN_NAME, given_name),
        x509.NameAttribute(NameOID.SURNAME, surname),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{given_name} {surname.upper()}"),
    ])


def operator_certificate(issuing: Authority, public_key, *, given_name: str, surname: str,
                         email: str, organization: str, not_before: dt.datetime | None,
                         not_after: dt.datetime | None, client_auth: bool, validity_days: int,
                         crl_url: str, issuer_url: str) -> x509.Certificate:
    """An operator's login certificate (digitalSignature + clientAuth)."""
    not_before = aware_utc(not_before) if not_before else now_utc() - CLOCK_SKEW
    if not_after is None:
        not_after = min(not_before + dt.timedelta(days=validity_days),
                        issuing.certificate.not_valid_after_utc)
    builder = (issuing.leaf(_operator_name(given_name, surname, organization), public_key,
                            not_before, aware_utc(not_after))
               .add_extension(key_usage(digital_signature=True), critical=True)
               .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]),
                              critical=False))
    builder = issuing.links(builder, public_key, crl_url=crl_url, issuer_url=issuer_url)
    if client_auth:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return issuing.sign(builder)


def seal_certificate(issuing: Authority, public_key, *, organization: str, validity_days: int,
                     crl_url: str, issuer_url: str) -> x509.Certificate:
    """An AE's electronic seal: a legal person's certificate (digitalSignature +
    nonRepudiation, documentSigning and emailProtection)."""
    not_before = now_utc() - CLOCK_SKEW
    not_after = min(not_before + dt.timedelta(days=validity_days),
                    issuing.certificate.not_valid_after_utc)
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME,
                           f"{organization} — Cachet des documents contractuels"),
    ])
    builder = (issuing.leaf(subject, public_key, not_before, not_after)
               .add_extension(key_usage(digital_signature=True, content_commitment=True),
                              critical=True)
               # emailProtection too: NSS (poppler's pdfsig, Firefox) checks a PDF signer as
               # an e-mail signer and refuses a certificate without it.
               .add_extension(x509.ExtendedKeyUsage(
                   [DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False))
    return issuing.sign(issuing.links(builder, public_key, crl_url=crl_url,
                                      issuer_url=issuer_url))
