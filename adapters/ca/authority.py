"""One CA of the embedded pair (the root, the issuing CA): its key and certificate files, the
register of what it issued, and the CRL it signs.

Keys and certificates live as PEM files under ``<instance>/ca/``, each published whole
(adapters.atomic_files): two processes starting together both generate, one wins each file,
and the loser adopts the winner's. Each CA publishes its own CRL (the root's lists revoked CA
certificates), so every non-root certificate of a chain has a CRL to be checked against.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.atomic_files import publish_new, replace_file
from models import IssuedCertificate, db

ROOT_NAME = "RA Desk Root CA"
ISSUING_NAME = "RA Desk Issuing CA"
ROOT_YEARS = 20
ISSUING_YEARS = 8
CRL_VALIDITY = dt.timedelta(days=7)
CRL_REFRESH_MARGIN = dt.timedelta(days=1)
CRL_MAX_AGE = dt.timedelta(days=1)  # re-issued at least daily (the scheduled job)
CLOCK_SKEW = dt.timedelta(minutes=5)  # backdating so a slightly late client clock still accepts

# RFC 5280 reason codes, by their ASN.1 name ("keyCompromise") or Python name ("key_compromise");
# removeFromCRL belongs to delta CRLs, not to a revocation.
_REASON_FLAGS = [flag for flag in x509.ReasonFlags if flag is not x509.ReasonFlags.remove_from_crl]
REVOCATION_REASONS = {flag.value: flag for flag in _REASON_FLAGS}
REVOCATION_REASONS.update({flag.name: flag for flag in _REASON_FLAGS})


def serial_to_hex(serial: int) -> str:
    """The register's spelling of a serial number: lowercase hex, no leading zeros."""
    return format(serial, "x")


def fingerprint_sha256(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def aware_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def key_usage(*, digital_signature: bool = False, content_commitment: bool = False,
              key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    """The KeyUsage extension with only the named bits set."""
    return x509.KeyUsage(digital_signature=digital_signature,
                         content_commitment=content_commitment, key_encipherment=False,
                         data_encipherment=False, key_agreement=False,
                         key_cert_sign=key_cert_sign, crl_sign=crl_sign, encipher_only=False,
                         decipher_only=False)


def register(certificate: x509.Certificate, kind: str) -> None:
    """Record an issued certificate in the register (a second time changes nothing)."""
    key_id = _authority_key_id(certificate)
    IssuedCertificate.insert(
        serial_hex=serial_to_hex(certificate.serial_number),
        kind=kind,
        subject=certificate.subject.rfc4514_string(),
        not_before=_naive_utc(certificate.not_valid_before_utc),
        not_after=_naive_utc(certificate.not_valid_after_utc),
        pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        issuer_key_id=key_id.hex() if key_id else None,
    ).on_conflict_ignore().execute()


def issuer_key_id_of(pem: str) -> str | None:
    """The authority key id (hex) of a PEM certificate, None when it names none or is not
    a certificate."""
    try:
        key_id = _authority_key_id(x509.load_pem_x509_certificate(pem.encode("ascii")))
    except ValueError:
        return None
    return key_id.hex() if key_id else None


# --- the CA certificates ----------------------------------------------------------------------

def load_or_create_certificate(path: Path, make) -> x509.Certificate:
    if not path.exists():
        publish_new(path, make().public_bytes(serialization.Encoding.PEM), 0o644)
    return x509.load_pem_x509_certificate(path.read_bytes())


def _ca_name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "RA Desk"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def make_root(key) -> x509.Certificate:
    now = now_utc()
    return (x509.CertificateBuilder()
            .subject_name(_ca_name(ROOT_NAME))
            .issuer_name(_ca_name(ROOT_NAME))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + dt.timedelta(days=365 * ROOT_YEARS + 5))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA384()))


def make_issuing(key, root_key, root: x509.Certificate, public_url: str) -> x509.Certificate:
    now = now_utc()
    not_after = min(now + dt.timedelta(days=365 * ISSUING_YEARS + 2), root.not_valid_after_utc)
    return (x509.CertificateBuilder()
            .subject_name(_ca_name(ISSUING_NAME))
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
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


def _ca_issuers(url: str, ocsp_url: str | None = None) -> x509.AuthorityInformationAccess:
    """Where the issuer's certificate is (caIssuers) and, when given, its OCSP responder."""
    access = [x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS,
                                     x509.UniformResourceIdentifier(url))]
    if ocsp_url:
        access.append(x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP,
                                             x509.UniformResourceIdentifier(ocsp_url)))
    return x509.AuthorityInformationAccess(access)


# --- one CA: what it signs, its CRL -------------------------------------------------------------

@dataclass
class Authority:
    """One CA of the embedded pair, with the CRL it signs."""
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    crl_path: Path

    @property
    def key_id(self) -> bytes:
        return self.certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier).value.digest

    def leaf(self, subject: x509.Name, public_key, not_before: dt.datetime,
             not_after: dt.datetime) -> x509.CertificateBuilder:
        """The start of an end-entity certificate under this CA: names, key, validity, not a
        CA. The profile adds its extensions, then ``links``."""
        return (x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(self.certificate.subject)
                .public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_before)
                .not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))

    def links(self, builder: x509.CertificateBuilder, public_key, *, crl_url: str,
              issuer_url: str, ocsp_url: str | None = None) -> x509.CertificateBuilder:
        """The key identifiers, and where this CA's CRL, certificate and (when given) OCSP
        responder are published."""
        return (builder
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .add_extension(_crl_distribution_point(crl_url), critical=False)
                .add_extension(_ca_issuers(issuer_url, ocsp_url), critical=False))

    def sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return builder.sign(self.key, hashes.SHA384())

    def revoked_entries(self) -> list[x509.RevokedCertificate]:
        """Revoked certificates this CA signed: one indexed query on its key id, only the
        columns the CRL needs, no certificate parsed."""
        query = (IssuedCertificate
                 .select(IssuedCertificate.serial_hex, IssuedCertificate.revoked_at,
                         IssuedCertificate.revocation_reason)
                 .where((IssuedCertificate.issuer_key_id == self.key_id.hex())
                        & IssuedCertificate.revoked_at.is_null(False))
                 .order_by(IssuedCertificate.id))
        reasons = {name: [x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(flag))]
                   for name, flag in REVOCATION_REASONS.items()
                   if flag is not x509.ReasonFlags.unspecified}  # RFC 5280: omit unspecified
        # The raw cursor: peewee's per-value conversion would take longer than the CRL's
        # signature on a long list (SQLite gives the dates as ISO text, PostgreSQL as datetimes).
        return [x509.RevokedCertificateBuilder(int(serial_hex, 16), _crl_time(revoked_at),
                                               reasons.get(reason, [])).build()
                for serial_hex, revoked_at, reason in db.execute_sql(*query.sql())]

    def load_crl(self) -> x509.CertificateRevocationList | None:
        try:
            return x509.load_der_x509_crl(self.crl_path.read_bytes())
        except (FileNotFoundError, ValueError):
            return None

    def publish(self) -> Path:
        # The lock serialises publishers so CRL numbers only go up; revocations are read
        # inside it, after their commit, so the highest-numbered CRL always lists them all.
        with _file_lock(self._lock_path):
            self._write_crl()
        return self.crl_path

    def publish_if_due(self) -> bool:
        """Publish a new CRL when the current one is missing, near its nextUpdate or a day
        old (decided inside the lock, so processes refreshing together publish once)."""
        with _file_lock(self._lock_path):
            if not crl_is_due(self.load_crl(), now_utc()):
                return False
            self._write_crl()
        return True

    @property
    def _lock_path(self) -> Path:
        return self.crl_path.with_name(f".{self.crl_path.name}.lock")

    def _write_crl(self) -> None:
        now = now_utc()
        number = self._next_crl_number(now)
        # The entries go to the constructor at once: add_revoked_certificate copies the
        # list each time, quadratic for a long CRL.
        entries = self.revoked_entries()
        builder = (x509.CertificateRevocationListBuilder(revoked_certificates=entries)
                   .issuer_name(self.certificate.subject)
                   .last_update(now - CLOCK_SKEW)
                   .next_update(now + CRL_VALIDITY)
                   .add_extension(x509.CRLNumber(number), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.key.public_key()), critical=False))
        crl = builder.sign(self.key, hashes.SHA384())
        replace_file(self.crl_path, crl.public_bytes(serialization.Encoding.DER), 0o644)

    def _next_crl_number(self, now: dt.datetime) -> int:
        previous = self.load_crl()
        if previous is not None:
            return _crl_number(previous) + 1
        # An unreadable file lost its number: the clock still gives one that goes up.
        return int(now.timestamp()) if self.crl_path.exists() else 1

    def current_crl(self) -> x509.CertificateRevocationList:
        crl = self.load_crl()
        if crl_is_due(crl, now_utc()):
            self.publish_if_due()
            crl = self.load_crl()
        return crl


def crl_is_due(crl: x509.CertificateRevocationList | None, now: dt.datetime) -> bool:
    """Whether a CRL must be re-issued: missing, less than the refresh margin before its
    nextUpdate, or issued a day ago (relying parties then never hold one older than a day)."""
    if crl is None or crl.next_update_utc is None:
        return True
    issued = crl.last_update_utc + CLOCK_SKEW
    return crl.next_update_utc - now < CRL_REFRESH_MARGIN or now - issued >= CRL_MAX_AGE


def _crl_time(value: dt.datetime | str) -> dt.datetime:
    """A register date as the revoked-entry builder's constructor wants it: naive UTC."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return _naive_utc(value) if value.tzinfo is not None else value


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
