"""The embedded CA: a root, an issuing CA under it, the operators' authentication
certificates, and the CRLs that revoke them.

Keys and certificates live as PEM files under ``<instance>/ca/``. Each file is written
whole to a private temporary file and then hard-linked to its final name: ``link`` fails
when the name exists, like ``O_EXCL``, but a reader never sees a half-written file. Two
processes starting together therefore both generate, one wins each file, and the loser
throws its own away and re-reads the winner's.

Each CA publishes its own CRL (the root's lists revoked CA certificates), so every
non-root certificate of a chain has a CRL to be checked against.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from asn1crypto import core as asn1
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from models import IssuedCertificate, db, utcnow
from services import audit

ROOT_NAME = "RA Desk Root CA"
ISSUING_NAME = "RA Desk Issuing CA"
ROOT_YEARS = 20
ISSUING_YEARS = 8
CRL_VALIDITY = dt.timedelta(days=7)
CRL_REFRESH_MARGIN = dt.timedelta(days=1)
CLOCK_SKEW = dt.timedelta(minutes=5)  # backdating so a slightly late client clock still accepts

# RFC 5280 reason codes, by their ASN.1 name ("keyCompromise") or Python name ("key_compromise");
# removeFromCRL belongs to delta CRLs, not to a revocation.
_REASON_FLAGS = [flag for flag in x509.ReasonFlags if flag is not x509.ReasonFlags.remove_from_crl]
REVOCATION_REASONS = {flag.value: flag for flag in _REASON_FLAGS}
REVOCATION_REASONS.update({flag.name: flag for flag in _REASON_FLAGS})


class UnknownCertificate(LookupError):
    def __init__(self, serial_hex: str):
        self.message = (f"Aucun certificat émis par l'AC intégrée ne porte le numéro de série "
                        f"{serial_hex}.")
        super().__init__(self.message)


def serial_to_hex(serial: int) -> str:
    """The register's spelling of a serial number: lowercase hex, no leading zeros."""
    return format(serial, "x")


def fingerprint_sha256(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _aware_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


# --- files ------------------------------------------------------------------

def _publish_new(path: Path, data: bytes, mode: int) -> bytes:
    """Create ``path`` holding ``data`` unless it exists; return what the file holds."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # exactly this mode, whatever the umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_bytes()  # another process won: adopt its file
        return data
    finally:
        tmp.unlink(missing_ok=True)


def _replace(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` (readers see the old or the new file, never a mix)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        key = ec.generate_private_key(ec.SECP384R1())
        _publish_new(path, key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()), 0o600)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _load_or_create_certificate(path: Path, make) -> x509.Certificate:
    if not path.exists():
        _publish_new(path, make().public_bytes(serialization.Encoding.PEM), 0o644)
    return x509.load_pem_x509_certificate(path.read_bytes())


# --- certificate building -----------------------------------------------------

def _ca_name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "RA Desk"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=False, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=True, crl_sign=True, encipher_only=False,
                         decipher_only=False)


def _make_root(key) -> x509.Certificate:
    now = _now()
    return (x509.CertificateBuilder()
            .subject_name(_ca_name(ROOT_NAME))
            .issuer_name(_ca_name(ROOT_NAME))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + dt.timedelta(days=365 * ROOT_YEARS + 5))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA384()))


def _make_issuing(key, root_key, root: x509.Certificate, public_url: str) -> x509.Certificate:
    now = _now()
    not_after = min(now + dt.timedelta(days=365 * ISSUING_YEARS + 2), root.not_valid_after_utc)
    return (x509.CertificateBuilder()
            .subject_name(_ca_name(ISSUING_NAME))
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                root_key.public_key()), critical=False)
            .add_extension(_crl_distribution_point(f"{public_url}/pki/root.crl"), critical=False)
            .add_extension(_ca_issuers(f"{public_url}/pki/root.crt"), critical=False)
            .sign(root_key, hashes.SHA384()))


def _crl_distribution_point(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)], relative_name=None, reasons=None,
        crl_issuer=None)])


def _ca_issuers(url: str) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess([x509.AccessDescription(
        x509.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(url))])


def _operator_name(given_name: str, surname: str, organization: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.GIVEN_NAME, given_name),
        x509.NameAttribute(NameOID.SURNAME, surname),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{given_name} {surname.upper()}"),
    ])


def _register(certificate: x509.Certificate, kind: str) -> None:
    IssuedCertificate.insert(
        serial_hex=serial_to_hex(certificate.serial_number),
        kind=kind,
        subject=certificate.subject.rfc4514_string(),
        not_before=_naive_utc(certificate.not_valid_before_utc),
        not_after=_naive_utc(certificate.not_valid_after_utc),
        pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    ).on_conflict_ignore().execute()


# --- CRLs ---------------------------------------------------------------------

@dataclass
class _Authority:
    """One CA of the embedded pair, with the CRL it signs."""
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    crl_path: Path

    @property
    def key_id(self) -> bytes:
        return self.certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier).value.digest

    def revoked_entries(self) -> list[x509.RevokedCertificate]:
        """Revoked certificates this CA signed (told apart by their authority key id)."""
        rows = (IssuedCertificate
                .select()
                .where(IssuedCertificate.revoked_at.is_null(False))
                .order_by(IssuedCertificate.id))
        entries = []
        for row in rows:
            certificate = x509.load_pem_x509_certificate(row.pem.encode("ascii"))
            if _authority_key_id(certificate) != self.key_id:
                continue
            builder = (x509.RevokedCertificateBuilder()
                       .serial_number(certificate.serial_number)
                       .revocation_date(_aware_utc(row.revoked_at)))
            reason = REVOCATION_REASONS.get(row.revocation_reason or "unspecified")
            if reason not in (None, x509.ReasonFlags.unspecified):  # RFC 5280: omit unspecified
                builder = builder.add_extension(x509.CRLReason(reason), critical=False)
            entries.append(builder.build())
        return entries

    def load_crl(self) -> x509.CertificateRevocationList | None:
        try:
            return x509.load_der_x509_crl(self.crl_path.read_bytes())
        except (FileNotFoundError, ValueError):
            return None

    def publish(self) -> Path:
        # The lock serialises publishers so CRL numbers only go up; revocations are read
        # inside it, after their commit, so the highest-numbered CRL always lists them all.
        with _file_lock(self.crl_path.with_name(f".{self.crl_path.name}.lock")):
            now = _now()
            number = self._next_crl_number(now)
            builder = (x509.CertificateRevocationListBuilder()
                       .issuer_name(self.certificate.subject)
                       .last_update(now - CLOCK_SKEW)
                       .next_update(now + CRL_VALIDITY)
                       .add_extension(x509.CRLNumber(number), critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                           self.key.public_key()), critical=False))
            for entry in self.revoked_entries():
                builder = builder.add_revoked_certificate(entry)
            crl = builder.sign(self.key, hashes.SHA384())
            _replace(self.crl_path, crl.public_bytes(serialization.Encoding.DER))
        return self.crl_path

    def _next_crl_number(self, now: dt.datetime) -> int:
        previous = self.load_crl()
        if previous is not None:
            return _crl_number(previous) + 1
        # An unreadable file lost its number: the clock still gives one that goes up.
        return int(now.timestamp()) if self.crl_path.exists() else 1

    def current_crl(self) -> x509.CertificateRevocationList:
        crl = self.load_crl()
        if crl is None or crl.next_update_utc is None or \
                crl.next_update_utc - _now() < CRL_REFRESH_MARGIN:
            self.publish()
            crl = self.load_crl()
        return crl


def _authority_key_id(certificate: x509.Certificate) -> bytes | None:
    try:
        return certificate.extensions.get_extension_for_class(
            x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


@contextlib.contextmanager
def _file_lock(path: Path):
    """An exclusive advisory lock held across processes for the ``with`` block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


# --- the holder's qualified signing certificate (ETSI EN 319 412-2 / -5) -------------------

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
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # RFC 9336 id-kp-documentSigning (issue 6)
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


def _with_scheme(url: str, scheme: str) -> str:
    return f"{scheme}://{url.split('://', 1)[-1]}"


def add_years(moment: dt.datetime, years: int) -> dt.datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


class HolderCA(Protocol):
    """What certificate generation needs from a CA. The embedded CA implements it; a real CA
    is plugged in with ``RADESK_HOLDER_CA`` = "module:factory" (factory(app) -> HolderCA)."""

    crl_url: str

    def issue_holder_certificate(self, csr: x509.CertificateSigningRequest,
                                 identity: HolderIdentity) -> x509.Certificate:
        """Certify the request's key for ``identity``; raise HolderRequestRefused if not."""

    def revoke(self, serial_hex: str, reason: str = "unspecified", *, operator=None,
               ip: str = "", order=None):
        """Revoke and republish the CRL."""

    def chain(self) -> list[x509.Certificate]:
        """The issuing CA first, then up to the root."""


# --- the CA -------------------------------------------------------------------

class EmbeddedCA:
    def __init__(self, directory: Path, public_url: str, root: _Authority, issuing: _Authority,
                 pki_url: str | None = None):
        self.directory = directory
        self.public_url = public_url
        self._root = root
        self._issuing = issuing
        self.crl_url = f"{public_url}/pki/issuing.crl"
        self.issuer_url = f"{public_url}/pki/issuing.crt"
        # Holder certificates name where the PKI files are published (RADESK_PKI_URL, by
        # default the public URL): plain HTTP for the CRL and CA certificate, as EN 319 412-2
        # wants (relying parties fetch them without TLS), HTTPS for the PDS (EN 319 412-5).
        pki_url = (pki_url or public_url).rstrip("/")
        self.holder_crl_url = f"{_with_scheme(pki_url, 'http')}/pki/issuing.crl"
        self.holder_issuer_url = f"{_with_scheme(pki_url, 'http')}/pki/issuing.crt"
        self.pds_urls = {language: f"{_with_scheme(pki_url, 'https')}/pki/pds/{language}"
                         for language in ("en", "fr")}

    @classmethod
    def open(cls, instance_path: Path, public_url: str,
             pki_url: str | None = None) -> "EmbeddedCA":
        """Load the CA from ``<instance>/ca/``, creating it on first use."""
        public_url = public_url.rstrip("/")
        directory = Path(instance_path) / "ca"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        root_key = _load_or_create_key(directory / "root.key")
        root = _load_or_create_certificate(directory / "root.crt", lambda: _make_root(root_key))
        issuing_key = _load_or_create_key(directory / "issuing.key")
        issuing = _load_or_create_certificate(
            directory / "issuing.crt",
            lambda: _make_issuing(issuing_key, root_key, root, public_url))
        with db.atomic():
            _register(root, "ca")
            _register(issuing, "ca")
        return cls(directory, public_url,
                   _Authority(root_key, root, directory / "root.crl"),
                   _Authority(issuing_key, issuing, directory / "issuing.crl"), pki_url)

    @property
    def root_certificate(self) -> x509.Certificate:
        return self._root.certificate

    @property
    def issuing_certificate(self) -> x509.Certificate:
        return self._issuing.certificate

    def chain(self) -> list[x509.Certificate]:
        """Issuing CA first, then the root: what a leaf's holder presents above it."""
        return [self.issuing_certificate, self.root_certificate]

    def issue_operator_certificate(self, public_key, *, given_name: str, surname: str,
                                   email: str, organization: str,
                                   not_before: dt.datetime | None = None,
                                   not_after: dt.datetime | None = None,
                                   client_auth: bool = True,
                                   validity_days: int = 825) -> x509.Certificate:
        """An operator's login certificate (digitalSignature + clientAuth), registered."""
        not_before = _aware_utc(not_before) if not_before else _now() - CLOCK_SKEW
        if not_after is None:
            not_after = min(not_before + dt.timedelta(days=validity_days),
                            self.issuing_certificate.not_valid_after_utc)
        builder = (x509.CertificateBuilder()
                   .subject_name(_operator_name(given_name, surname, organization))
                   .issuer_name(self.issuing_certificate.subject)
                   .public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(not_before)
                   .not_valid_after(_aware_utc(not_after))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=True, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=False,
                       crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]),
                                  critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                                  critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self._issuing.key.public_key()), critical=False)
                   .add_extension(_crl_distribution_point(self.crl_url), critical=False)
                   .add_extension(_ca_issuers(self.issuer_url), critical=False))
        if client_auth:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        certificate = builder.sign(self._issuing.key, hashes.SHA384())
        _register(certificate, "operator")
        return certificate

    def issue_holder_certificate(self, csr: x509.CertificateSigningRequest,
                                 identity: HolderIdentity) -> x509.Certificate:
        """The holder's qualified signing certificate (QCP-n-qscd, non-repudiation), registered.

        Only the request's key is taken from it, after its signature (proof of possession)
        verified; the subject is ``identity``'s, rebuilt from the validated order."""
        public_key = check_holder_request(csr)
        if not 1 <= identity.validity_years <= 3:
            raise HolderRequestRefused("La durée de validité doit être de 1 à 3 ans.")
        not_before = _now() - CLOCK_SKEW
        not_after = min(add_years(not_before, identity.validity_years),
                        self.issuing_certificate.not_valid_after_utc)
        policies = [x509.PolicyInformation(x509.ObjectIdentifier(QCP_N_QSCD), None)]
        if identity.policy_oid:
            policies.append(x509.PolicyInformation(x509.ObjectIdentifier(identity.policy_oid),
                                                   [self.pds_urls["fr"]]))
        certificate = (x509.CertificateBuilder()
                       .subject_name(identity.subject())
                       .issuer_name(self.issuing_certificate.subject)
                       .public_key(public_key)
                       .serial_number(x509.random_serial_number())
                       .not_valid_before(not_before)
                       .not_valid_after(not_after)
                       .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                      critical=True)
                       .add_extension(x509.KeyUsage(
                           digital_signature=False, content_commitment=True,
                           key_encipherment=False, data_encipherment=False, key_agreement=False,
                           key_cert_sign=False, crl_sign=False, encipher_only=False,
                           decipher_only=False), critical=True)
                       .add_extension(x509.CertificatePolicies(policies), critical=False)
                       .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                                      critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                           self._issuing.key.public_key()), critical=False)
                       .add_extension(_crl_distribution_point(self.holder_crl_url),
                                      critical=False)
                       .add_extension(_ca_issuers(self.holder_issuer_url), critical=False)
                       .add_extension(qc_statements(self.pds_urls), critical=False)
                       .sign(self._issuing.key, hashes.SHA384()))
        _register(certificate, "holder")
        return certificate

    def issue_seal_certificate(self, public_key, *, organization: str,
                               validity_days: int = 3 * 365) -> x509.Certificate:
        """An AE's electronic seal for the contractual documents its signers sign (issue 6):
        a legal person's certificate (digitalSignature + nonRepudiation, documentSigning and
        emailProtection),
        registered as kind « seal »."""
        not_before = _now() - CLOCK_SKEW
        not_after = min(not_before + dt.timedelta(days=validity_days),
                        self.issuing_certificate.not_valid_after_utc)
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME,
                               f"{organization} — Cachet des documents contractuels"),
        ])
        certificate = (x509.CertificateBuilder()
                       .subject_name(subject)
                       .issuer_name(self.issuing_certificate.subject)
                       .public_key(public_key)
                       .serial_number(x509.random_serial_number())
                       .not_valid_before(not_before)
                       .not_valid_after(not_after)
                       .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                      critical=True)
                       .add_extension(x509.KeyUsage(
                           digital_signature=True, content_commitment=True,
                           key_encipherment=False, data_encipherment=False, key_agreement=False,
                           key_cert_sign=False, crl_sign=False, encipher_only=False,
                           decipher_only=False), critical=True)
                       # emailProtection too: NSS (poppler's pdfsig, Firefox) checks a PDF
                       # signer as an e-mail signer and refuses a certificate without it.
                       .add_extension(x509.ExtendedKeyUsage(
                           [DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
                       .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                                      critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                           self._issuing.key.public_key()), critical=False)
                       .add_extension(_crl_distribution_point(self.crl_url), critical=False)
                       .add_extension(_ca_issuers(self.issuer_url), critical=False)
                       .sign(self._issuing.key, hashes.SHA384()))
        _register(certificate, "seal")
        return certificate

    def revoke(self, serial_hex: str, reason: str = "unspecified", *, operator=None,
               ip: str = "", order=None) -> IssuedCertificate:
        """Revoke a certificate this CA issued and republish the CRLs.

        Call it outside any transaction of the caller's: the CRL is published once the
        revocation is committed. Revoking twice keeps the first date and reason."""
        serial_hex = serial_hex.lower().lstrip("0") or "0"
        flag = REVOCATION_REASONS.get(reason)
        if flag is None:
            raise ValueError(f"Motif de révocation inconnu : {reason}.")
        with db.atomic():
            # The guarded UPDATE decides who revokes when two operators click together.
            revoked_now = (IssuedCertificate
                           .update(revoked_at=utcnow(), revocation_reason=flag.value)
                           .where((IssuedCertificate.serial_hex == serial_hex)
                                  & IssuedCertificate.revoked_at.is_null())
                           .execute())
            row = IssuedCertificate.get_or_none(IssuedCertificate.serial_hex == serial_hex)
            if row is None:
                raise UnknownCertificate(serial_hex)
            if revoked_now:
                audit.record("certificate_revoked", operator=operator, ip=ip, order=order,
                             actor=None if operator else "AC intégrée",
                             details={"serial": serial_hex, "kind": row.kind,
                                      "subject": row.subject, "reason": flag.value})
        self._issuing.publish()
        if row.kind == "ca":
            self._root.publish()
        return row

    def publish_crl(self) -> Path:
        """Sign and write ``<instance>/ca/issuing.crl`` (DER), valid for 7 days."""
        return self._issuing.publish()

    def current_crl(self) -> x509.CertificateRevocationList:
        """The issuing CA's published CRL, republished when missing or about to go stale."""
        return self._issuing.current_crl()

    def current_root_crl(self) -> x509.CertificateRevocationList:
        """The root's CRL (revoked CA certificates), kept fresh the same way."""
        return self._root.current_crl()

    def crl_for(self, issuer: x509.Certificate) -> x509.CertificateRevocationList | None:
        """The CRL signed by ``issuer`` when it is one of this CA's two certificates."""
        for authority in (self._issuing, self._root):
            if issuer == authority.certificate:
                return authority.current_crl()
        return None


# --- one CA per app -------------------------------------------------------------

_open_lock = threading.Lock()


def get_ca(app) -> EmbeddedCA:
    """The app's embedded CA, opened once (the database must be connected)."""
    ca = app.extensions.get("radesk_ca")
    if ca is None:
        with _open_lock:
            ca = app.extensions.get("radesk_ca")
            if ca is None:
                ca = EmbeddedCA.open(Path(app.config["INSTANCE_PATH"]),
                                     app.config["RADESK_PUBLIC_URL"],
                                     app.config.get("RADESK_PKI_URL"))
                app.extensions["radesk_ca"] = ca
    return ca
