"""PAdES signatures of the contractual documents, made with pyHanko.

Each signer's signature is a PAdES baseline (B-B) signature added to the PDF as an incremental
update, so the signatures already there stay valid. It is made with the AE's electronic seal:
a key kept under ``<instance>/seals/`` and a certificate issued by the embedded CA
(``EmbeddedCA.issue_seal_certificate``), renewed when it nears its end or was revoked. The
signer's name, quality and the verified one-time code are written in the signature (``/Name``,
``/Reason``), and the server keeps the evidence (services.signing.signatures).
"""
from __future__ import annotations

import datetime as dt
import io
import threading
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Flask

from models import AE, IssuedCertificate
from adapters.atomic_files import load_or_create_key, publish_new, replace_file
from adapters.ca import get_ca, serial_to_hex

RENEW_BEFORE = dt.timedelta(days=30)
_lock = threading.Lock()


@dataclass(frozen=True)
class Seal:
    key: object                        # the private key (EC P-384)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # the intermediate CA(s) embedded in each signature


def _usable(certificate: x509.Certificate, now: dt.datetime) -> bool:
    if certificate.not_valid_after_utc - now < RENEW_BEFORE:
        return False
    row = IssuedCertificate.get_or_none(
        IssuedCertificate.serial_hex == serial_to_hex(certificate.serial_number))
    return row is not None and row.revoked_at is None


def ae_seal(app: Flask, ae: AE) -> Seal:
    """The AE's seal, created on first use; the database must be connected."""
    cache = app.extensions.setdefault("radesk_seals", {})
    now = dt.datetime.now(dt.timezone.utc)
    seal = cache.get(ae.id)
    if seal is not None and seal.certificate.not_valid_after_utc - now >= RENEW_BEFORE:
        return seal
    with _lock:
        ca = get_ca(app)
        directory = Path(app.config["INSTANCE_PATH"]) / "seals"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = load_or_create_key(directory / f"ae-{ae.id}.key")
        path = directory / f"ae-{ae.id}.crt"
        certificate = None
        if path.exists():
            certificate = x509.load_pem_x509_certificate(path.read_bytes())
        if certificate is None or not _usable(certificate, now):
            issued = ca.issue_seal_certificate(key.public_key(), organization=ae.name)
            pem = issued.public_bytes(serialization.Encoding.PEM)
            if certificate is None:
                pem = publish_new(path, pem, 0o644)  # another process may have won: adopt it
            else:
                replace_file(path, pem, 0o644)
            certificate = x509.load_pem_x509_certificate(pem)
        # The issuing CA only: a root embedded in the signature makes NSS (pdfsig) reject
        # every signature after the first of a document; relying parties hold the root.
        seal = Seal(key, certificate, tuple(ca.chain()[:-1]))
        cache[ae.id] = seal
        return seal


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def sign(data: bytes, seal: Seal, *, field_name: str, signer_name: str, reason: str,
         location: str) -> bytes:
    """``data`` with one more PAdES signature (an incremental update)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    signer = signers.SimpleSigner(
        signing_cert=_asn1_certificate(seal.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(seal.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())),
        cert_registry=SimpleCertificateStore.from_certs(
            [_asn1_certificate(c) for c in seal.chain]))
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name, name=signer_name, reason=reason, location=location,
        subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256")
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    return signers.sign_pdf(writer, metadata, signer=signer).getvalue()


@dataclass(frozen=True)
class SignatureCheck:
    field_name: str
    signer_name: str
    intact: bool          # the signed bytes are unchanged
    valid: bool           # the cryptographic signature is good
    trusted: bool         # the seal chains up to the given root
    bottom_line: bool     # pyHanko's overall verdict


def verify(data: bytes, trust_roots: list[x509.Certificate]) -> list[SignatureCheck]:
    """Every signature of ``data`` as pyHanko's validation sees it (no network fetching,
    revocation not required: the CRL is the embedded CA's, checked by operators' tools)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    context = ValidationContext(trust_roots=[_asn1_certificate(c) for c in trust_roots],
                                allow_fetching=False, revocation_mode="soft-fail")
    checks = []
    for embedded in reader.embedded_signatures:
        status = validate_pdf_signature(embedded, context)
        name = embedded.sig_object.get("/Name")
        checks.append(SignatureCheck(embedded.field_name, str(name) if name else "",
                                     bool(status.intact), bool(status.valid),
                                     bool(status.trusted), bool(status.bottom_line)))
    return checks
