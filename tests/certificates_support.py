"""Holder certificates for the « Certificats » tests: issued for real by the app's embedded CA
(so the register row exists and the PEM parses), then recorded as generation records them."""
from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.ca import HolderIdentity, fingerprint_sha256, get_ca, serial_to_hex
from models import HolderCertificate, IssuedCertificate, Order, utcnow

_KEY = ec.generate_private_key(ec.SECP256R1())


def issue_for(app, order: Order, *, written: bool = True, issued_at: dt.datetime | None = None,
              not_after: dt.datetime | None = None, revoked: str | None = None,
              key=None) -> HolderCertificate:
    """A certificate of ``order``'s holder; ``not_after`` moves its end (expired ones),
    ``revoked`` names a register reason (RFC 5280, certificateHold for a suspension)."""
    from models import Company, Person
    holder, company = Person.get_by_id(order.holder_id), Company.get_by_id(order.company_id)
    identity = HolderIdentity(given_name=holder.first_name, surname=holder.last_name,
                              organization=company.name, siren=company.siren,
                              id_document_type="CNI", id_document_number="123456789012",
                              validity_years=2, policy_oid=None)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name.from_rfc4514_string("CN=ignored"))
           .sign(key or _KEY, hashes.SHA256()))
    certificate = get_ca(app).issue_holder_certificate(csr, identity)
    serial = serial_to_hex(certificate.serial_number)
    fingerprint = fingerprint_sha256(certificate)
    issued = IssuedCertificate.get(IssuedCertificate.serial_hex == serial)
    when = issued_at or utcnow()
    end = not_after or certificate.not_valid_after_utc.replace(tzinfo=None)
    if revoked:
        IssuedCertificate.update(revoked_at=when, revocation_reason=revoked).where(
            IssuedCertificate.id == issued.id).execute()
    return HolderCertificate.create(
        order=order, issued=issued, serial_hex=serial, fingerprint_sha256=fingerprint,
        public_key_sha256=hashlib.sha256(fingerprint.encode()).hexdigest(),
        subject=certificate.subject.rfc4514_string(), key_type="EC-P256",
        token_serial=f"TOK{serial[:8]}", token_label="cle-porteur",
        not_before=certificate.not_valid_before_utc.replace(tzinfo=None), not_after=end,
        pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        issued_at=when, written_at=when if written else None)
