"""The holder's qualified signing certificate (ETSI EN 319 412-2 / -5): its qcStatements,
the identity the RA certifies, the checks of the key's request, and ``HolderCA``, what
certificate generation needs from a CA.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from asn1crypto import core as asn1
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from adapters.ca.authority import CLOCK_SKEW, Authority, aware_utc, key_usage, now_utc

QCP_N_QSCD = "0.4.0.194112.1.2"        # EN 319 411-2: qualified, natural person, key on a QSCD
QC_STATEMENTS_OID = "1.3.6.1.5.5.7.1.3"
QC_SYNTAX_V2 = "1.3.6.1.5.5.7.11.2"    # RFC 3739 pkixQCSyntax-v2
SEMANTICS_NATURAL = "0.4.0.194121.1.1"  # EN 319 412-1 id-etsi-qcs-semanticsId-Natural
QC_COMPLIANCE = "0.4.0.1862.1.1"
QC_SSCD = "0.4.0.1862.1.4"
QC_PDS = "0.4.0.1862.1.5"
QC_TYPE = "0.4.0.1862.1.6"
QC_TYPE_ESIGN = "0.4.0.1862.1.6.1"
HOLDER_RSA_MIN_BITS = 3072
# Identity document types of the order, as EN 319 412-1 natural person identifier schemes.
ID_DOCUMENT_SCHEMES = {"CNI": "IDC", "TITRE_SEJOUR": "IDC", "PASSEPORT": "PAS"}


class _SemanticsInformation(asn1.Sequence):
    _fields = [("semantics_identifier", asn1.ObjectIdentifier, {"optional": True})]


class _QcTypes(asn1.SequenceOf):
    _child_spec = asn1.ObjectIdentifier


class _PdsLocation(asn1.Sequence):
    _fields = [("url", asn1.IA5String), ("language", asn1.PrintableString)]


class _PdsLocations(asn1.SequenceOf):
    _child_spec = _PdsLocation


class _QcStatement(asn1.Sequence):
    _fields = [("statement_id", asn1.ObjectIdentifier),
               ("statement_info", asn1.Any, {"optional": True})]


class _QcStatements(asn1.SequenceOf):
    _child_spec = _QcStatement


def qc_statements(pds_urls: dict[str, str]) -> x509.UnrecognizedExtension:
    """qcStatements of a qualified e-signature certificate of a natural person on a QSCD.
    ``cryptography`` has no class for it: encoded with asn1crypto (RFC 3739, EN 319 412-5)."""
    statements = _QcStatements([
        {"statement_id": QC_SYNTAX_V2,
         "statement_info": _SemanticsInformation({"semantics_identifier": SEMANTICS_NATURAL})},
        {"statement_id": QC_COMPLIANCE},
        {"statement_id": QC_SSCD},
        {"statement_id": QC_TYPE, "statement_info": _QcTypes([QC_TYPE_ESIGN])},
        {"statement_id": QC_PDS, "statement_info": _PdsLocations(
            [{"url": url, "language": language} for language, url in pds_urls.items()])},
    ])
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(QC_STATEMENTS_OID), statements.dump())


@dataclass(frozen=True)
class HolderIdentity:
    """Who the certificate names, rebuilt by the RA from the validated order (never from the
    request): the company, the holder, the holder's identity document, the validity."""
    given_name: str
    surname: str
    organization: str
    siren: str
    id_document_type: str    # CNI | PASSEPORT | TITRE_SEJOUR (workflow.ID_DOC_TYPES)
    id_document_number: str
    validity_years: int
    policy_oid: str | None = None   # the AE's own certificate policy, next to QCP-n-qscd
    # A back-dated start (naive or aware UTC): the demo's certificates issued « last year ».
    # None, as in production: the certificate starts now.
    valid_from: dt.datetime | None = None

    @property
    def common_name(self) -> str:
        return f"{self.given_name} {self.surname.upper()}"

    @property
    def serial_number(self) -> str:
        """EN 319 412-1 natural person identifier, e.g. ``IDCFR-123456789012``: unique to the
        holder, stable across their certificates."""
        scheme = ID_DOCUMENT_SCHEMES.get(self.id_document_type)
        if scheme is None or not self.id_document_number:
            raise HolderRequestRefused("Le N° de justificatif d'identité du porteur manque : "
                                       "il identifie le porteur dans le certificat.")
        return f"{scheme}FR-{self.id_document_number}"

    def subject(self) -> x509.Name:
        return x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organization),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRFR-{self.siren}"),
            x509.NameAttribute(NameOID.GIVEN_NAME, self.given_name),
            x509.NameAttribute(NameOID.SURNAME, self.surname),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, self.serial_number),
            x509.NameAttribute(NameOID.COMMON_NAME, self.common_name),
        ])


class HolderRequestRefused(Exception):
    """The CA will not certify this request; ``message`` says why, in French."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def check_holder_request(csr: x509.CertificateSigningRequest):
    """Proof of possession and key strength; returns the request's public key."""
    if not csr.is_signature_valid:
        raise HolderRequestRefused("La signature de la demande de certificat est invalide : "
                                   "la clé privée n'a pas signé cette demande.")
    public_key = csr.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < HOLDER_RSA_MIN_BITS:
            raise HolderRequestRefused(f"Clé RSA de {public_key.key_size} bits refusée : "
                                       f"{HOLDER_RSA_MIN_BITS} bits au moins.")
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise HolderRequestRefused("Courbe elliptique refusée : P-256 attendue.")
    else:
        raise HolderRequestRefused("Type de clé refusé : RSA ou EC P-256 attendu.")
    return public_key


def add_years(moment: dt.datetime, years: int) -> dt.datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def holder_certificate(issuing: Authority, csr: x509.CertificateSigningRequest,
                       identity: HolderIdentity, *, crl_url: str, issuer_url: str,
                       pds_urls: dict[str, str], ocsp_url: str | None = None) -> x509.Certificate:
    """The holder's qualified signing certificate (QCP-n-qscd, non-repudiation).

    Only the request's key is taken from it, after its signature (proof of possession)
    verified; the subject is ``identity``'s, rebuilt from the validated order."""
    public_key = check_holder_request(csr)
    if not 1 <= identity.validity_years <= 3:
        raise HolderRequestRefused("La durée de validité doit être de 1 à 3 ans.")
    not_before = (aware_utc(identity.valid_from) if identity.valid_from
                  else now_utc() - CLOCK_SKEW)
    not_after = min(add_years(not_before, identity.validity_years),
                    issuing.certificate.not_valid_after_utc)
    policies = [x509.PolicyInformation(x509.ObjectIdentifier(QCP_N_QSCD), None)]
    if identity.policy_oid:
        policies.append(x509.PolicyInformation(x509.ObjectIdentifier(identity.policy_oid),
                                               [pds_urls["fr"]]))
    builder = (issuing.leaf(identity.subject(), public_key, not_before, not_after)
               .add_extension(key_usage(content_commitment=True), critical=True)
               .add_extension(x509.CertificatePolicies(policies), critical=False))
    builder = issuing.links(builder, public_key, crl_url=crl_url, issuer_url=issuer_url,
                            ocsp_url=ocsp_url)
    return issuing.sign(builder.add_extension(qc_statements(pds_urls), critical=False))


class HolderCA(Protocol):
    """What certificate generation needs from a CA. The embedded CA implements it; a real CA
    is plugged in with ``RADESK_HOLDER_CA`` = "module:factory" (factory(app) -> HolderCA)."""

    crl_url: str

    def issue_holder_certificate(self, csr: x509.CertificateSigningRequest,
                                 identity: HolderIdentity) -> x509.Certificate:
        """Certify the request's key for ``identity``; raise HolderRequestRefused if not."""

    def revoke(self, serial_hex: str, reason: str = "unspecified", *, operator=None,
               ip: str = "", order=None):
        """Revoke and republish the CRL; a certificate on hold takes the final reason."""

    def suspend(self, serial_hex: str, *, operator=None, ip: str = "", order=None):
        """Put on hold (reason certificateHold, listed on the CRL) and republish the CRL."""

    def release(self, serial_hex: str, *, operator=None, ip: str = "", order=None):
        """Lift a hold (the certificate is valid again) and republish the CRL."""

    def chain(self) -> list[x509.Certificate]:
        """The issuing CA first, then up to the root."""
