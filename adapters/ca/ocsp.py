"""The issuing CA's OCSP responder (RFC 6960, with RFC 5019's lightweight profile): good,
revoked or unknown for a certificate the issuing CA signed, read from the register, signed by
a delegated OCSP signing certificate that the issuing CA issues itself.

The delegated signer's key is ``<instance>/ca/ocsp.key`` and its certificate ``ocsp.crt``,
each published whole (adapters.atomic_files): processes starting together adopt one file. A
process loads them once; when its copy nears its end it reads the file again (another process
may have renewed it) and renews it under a file lock otherwise, so the CA keys stay off the
request path and every answer costs one indexed query and one signature.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from adapters.atomic_files import load_or_create_key, publish_new, replace_file
from adapters.ca import authority
from adapters.ca.authority import (CLOCK_SKEW, REVOCATION_REASONS, Authority, aware_utc,
                                   key_usage, register, serial_to_hex)
from models import IssuedCertificate, db

log = logging.getLogger("radesk.pki")

SIGNER_NAME = "RA Desk Issuing CA OCSP Responder"
SIGNER_VALIDITY = dt.timedelta(days=30)
SIGNER_RENEWAL = dt.timedelta(days=10)     # renewed when less than this remains
RESPONSE_VALIDITY = dt.timedelta(minutes=10)  # nextUpdate = thisUpdate + this
MAX_REQUEST_BYTES = 16 * 1024


def load_or_create_signer_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The signer's EC key in ``path`` (PEM, mode 0600), generated on first use and published
    as the CA keys are (adapters.atomic_files: of two processes, one file wins). P-256, not
    the CAs' P-384: it signs every answer, and P-256 signs and verifies several times faster."""
    return load_or_create_key(path, ec.SECP256R1())


def make_signer_certificate(issuing: Authority, public_key, now: dt.datetime) -> x509.Certificate:
    """A delegated OCSP signing certificate (RFC 6960 §4.2.2.2): OCSPSigning, no revocation
    check of its own (id-pkix-ocsp-nocheck: short-lived instead), digitalSignature only."""
    not_after = min(now + SIGNER_VALIDITY, issuing.certificate.not_valid_after_utc)
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "RA Desk"),
        x509.NameAttribute(NameOID.COMMON_NAME, SIGNER_NAME),
    ])
    builder = (issuing.leaf(subject, public_key, now - CLOCK_SKEW, not_after)
               .add_extension(key_usage(digital_signature=True), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]),
                              critical=False)
               .add_extension(x509.OCSPNoCheck(), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuing.key.public_key()), critical=False))
    return issuing.sign(builder)


class OcspSigner:
    """The delegated signer's key and certificate, loaded once per process, renewed before
    the certificate's end."""

    def __init__(self, issuing: Authority, directory: Path):
        self._issuing = issuing
        self._certificate_path = directory / "ocsp.crt"
        self._lock_path = directory / ".ocsp.crt.lock"
        self._lock = threading.Lock()
        self.key = load_or_create_signer_key(directory / "ocsp.key")
        self.certificate: x509.Certificate | None = None
        self._renew_at = dt.datetime.min.replace(tzinfo=dt.timezone.utc)

    def current(self, now: dt.datetime) -> tuple[object, x509.Certificate]:
        """The key and certificate to sign with at ``now``."""
        if now >= self._renew_at:
            with self._lock:
                if now >= self._renew_at:
                    self._load(now)
        return self.key, self.certificate

    def refresh(self, now: dt.datetime) -> bool:
        """Renew the certificate on disk if it is due (the scheduled job); True when this
        call renewed it."""
        with self._lock:
            return self._load(now)

    def _load(self, now: dt.datetime) -> bool:
        path = self._certificate_path
        if not path.exists():
            publish_new(path, self._make(now), 0o644)
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        renewed = False
        if self._is_due(certificate, now):
            with authority._file_lock(self._lock_path):
                certificate = x509.load_pem_x509_certificate(path.read_bytes())
                if self._is_due(certificate, now):
                    replace_file(path, self._make(now), 0o644)
                    renewed = True
                    certificate = x509.load_pem_x509_certificate(path.read_bytes())
                    log.info("Certificat du répondeur OCSP renouvelé (n° %s, jusqu'au %s)",
                             serial_to_hex(certificate.serial_number),
                             certificate.not_valid_after_utc.isoformat())
        register(certificate, "ocsp")
        self.certificate = certificate
        self._renew_at = certificate.not_valid_after_utc - SIGNER_RENEWAL
        return renewed

    def _make(self, now: dt.datetime) -> bytes:
        certificate = make_signer_certificate(self._issuing, self.key.public_key(), now)
        return certificate.public_bytes(serialization.Encoding.PEM)

    def _is_due(self, certificate: x509.Certificate, now: dt.datetime) -> bool:
        """Near its end (unless the issuing CA ends first: a new one would end no later), or
        not this key's, or not signed by the issuing CA (a file from another CA)."""
        end = certificate.not_valid_after_utc
        if end - now < SIGNER_RENEWAL and end < self._issuing.certificate.not_valid_after_utc:
            return True
        if certificate.public_key() != self.key.public_key():
            return True
        try:
            certificate.verify_directly_issued_by(self._issuing.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return True
        return False


@dataclass(frozen=True)
class OcspAnswer:
    """An encoded OCSPResponse, with the times an HTTP cache needs (None when unsuccessful)."""
    der: bytes
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None


def _failure(status: ocsp.OCSPResponseStatus) -> OcspAnswer:
    return OcspAnswer(ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER))


class OcspResponder:
    """Answers OCSP requests about the certificates the issuing CA signed."""

    def __init__(self, issuing: Authority, signer: OcspSigner):
        self._issuing = issuing
        self.signer = signer
        self._key_id = issuing.key_id.hex()
        self._issuer_hashes: dict[str, tuple[bytes, bytes]] = {}
        self._compiled: str | None = None

    def respond(self, data: bytes) -> OcspAnswer:
        """The DER OCSPResponse to the DER OCSPRequest ``data``: malformedRequest when it does
        not parse, unauthorized when it names another issuer."""
        if not data or len(data) > MAX_REQUEST_BYTES:
            return _failure(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        try:
            request = ocsp.load_der_ocsp_request(data)
            algorithm = request.hash_algorithm
            asked = (request.issuer_name_hash, request.issuer_key_hash)
            serial = request.serial_number
            nonce = _nonce(request)
        except (ValueError, NotImplementedError, UnsupportedAlgorithm, x509.DuplicateExtension):
            # NotImplementedError: several certificates asked at once (cryptography reads one).
            return _failure(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        try:
            ours = self._hashes(algorithm)
        except ValueError:  # a digest OCSP does not name (RFC 6960 CertID)
            return _failure(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if asked != ours:
            return _failure(ocsp.OCSPResponseStatus.UNAUTHORIZED)

        status, revoked_at, reason = self._status(serial)
        now = authority.now_utc().replace(microsecond=0)
        this_update, next_update = now, now + RESPONSE_VALIDITY
        key, certificate = self.signer.current(now)
        builder = (ocsp.OCSPResponseBuilder()
                   .add_response_by_hash(
                       issuer_name_hash=asked[0], issuer_key_hash=asked[1],
                       serial_number=serial, algorithm=algorithm, cert_status=status,
                       this_update=_naive(this_update), next_update=_naive(next_update),
                       revocation_time=revoked_at, revocation_reason=reason)
                   .responder_id(ocsp.OCSPResponderEncoding.HASH, certificate)
                   .certificates([certificate]))
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        response = builder.sign(key, hashes.SHA256())
        return OcspAnswer(response.public_bytes(serialization.Encoding.DER),
                          this_update, next_update)

    def _status(self, serial: int):
        """(status, revocation time, reason) from the register: one query on the serial's
        unique index; a serial the issuing CA did not sign is unknown."""
        row = db.execute_sql(self._status_sql, (serial_to_hex(serial),)).fetchone()
        if row is None or row[2] != self._key_id:
            return ocsp.OCSPCertStatus.UNKNOWN, None, None
        revoked_at, reason, _ = row
        if revoked_at is None:
            return ocsp.OCSPCertStatus.GOOD, None, None
        flag = REVOCATION_REASONS.get(reason or "unspecified")
        if flag is x509.ReasonFlags.unspecified:
            flag = None  # as in the CRL: unspecified is left out
        return ocsp.OCSPCertStatus.REVOKED, _naive(_register_time(revoked_at)), flag

    @property
    def _status_sql(self) -> str:
        """The lookup's SQL, compiled once: peewee's compilation would cost more than the
        indexed query itself on every answer."""
        if self._compiled is None:
            query = (IssuedCertificate
                     .select(IssuedCertificate.revoked_at, IssuedCertificate.revocation_reason,
                             IssuedCertificate.issuer_key_id)
                     .where(IssuedCertificate.serial_hex == ""))  # unique: one row at most
            sql, params = query.sql()
            assert params == [""]  # the serial is the one parameter
            self._compiled = sql
        return self._compiled

    def _hashes(self, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
        """The issuing CA's name and key hashes with the request's algorithm, computed once
        per algorithm (the key hash by cryptography, from a request about the CA itself)."""
        cached = self._issuer_hashes.get(algorithm.name)
        if cached is None:
            ca = self._issuing.certificate
            probe = ocsp.OCSPRequestBuilder().add_certificate(ca, ca, algorithm).build()
            digest = hashes.Hash(algorithm)
            digest.update(ca.subject.public_bytes())
            cached = (digest.finalize(), probe.issuer_key_hash)
            self._issuer_hashes[algorithm.name] = cached
        return cached


def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def _register_time(value: dt.datetime | str) -> dt.datetime:
    """A register date from the raw cursor (ISO text on SQLite), as aware UTC."""
    return aware_utc(dt.datetime.fromisoformat(value) if isinstance(value, str) else value)


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
