"""Shared by the revocation tests: an order « Terminée » whose holder certificate was issued
by the app's embedded CA and written onto a key, and reading the CRL back."""
from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.ca import get_ca
from models import HolderCertificate, utcnow
from services.certificates.holder_certificates import holder_identity


def certified_order(app, make_order, ae, **fields):
    """An order « Terminée » with a valid certificate written onto the holder's key."""
    values = dict(phase="done", substate=None, validated_at=utcnow(), id_doc_type="CNI",
                  id_doc_number="123456789012", otp_contact="sandra.boileau@exemple.fr",
                  payment_ok=True, dossier_complete_ok=True, validity_years=2,
                  requester_email="demandeur@example.org", requester_name="Marc Demandeur")
    values.update(fields)
    order = make_order(ae, **values)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "porteur")]))
           .sign(key, hashes.SHA256()))
    certificate = get_ca(app).issue_holder_certificate(csr, holder_identity(order))
    serial = format(certificate.serial_number, "x")
    public = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    from models import IssuedCertificate
    HolderCertificate.create(
        order=order, issued=IssuedCertificate.get(IssuedCertificate.serial_hex == serial),
        serial_hex=serial, fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex(),
        public_key_sha256=hashlib.sha256(public).hexdigest(),
        subject=certificate.subject.rfc4514_string(), key_type="EC-P256",
        token_serial="cle-porteur", not_before=certificate.not_valid_before_utc.replace(tzinfo=None),
        not_after=certificate.not_valid_after_utc.replace(tzinfo=None),
        pem=certificate.public_bytes(serialization.Encoding.PEM).decode(), written_at=utcnow())
    return order, certificate


def crl_reason(crl_bytes: bytes, certificate) -> str | None:
    """The reason the CRL gives for ``certificate`` ("unspecified" without one), None when it
    is not listed."""
    crl = x509.load_der_x509_crl(crl_bytes)
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    if entry is None:
        return None
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    except x509.ExtensionNotFound:
        return "unspecified"


def revocation_code(messages) -> str:
    """The code of the latest revocation-code e-mail."""
    from tests.text import mail_text
    mail = [m for m in messages if m["Subject"].startswith("Code de demande de révocation")][-1]
    return re.search(r"^\s*(\d{6})\s*$", mail_text(mail), re.M).group(1)


def path_of(url: str) -> str:
    return urlsplit(url).path
