"""The embedded CA: a root, an issuing CA under it, and the certificates the issuing CA signs
(operators' logins, AEs' seals, holders' qualified certificates), each registered; revoking
one (or putting it on hold, or lifting the hold) republishes the CRLs, which a scheduled job
also re-issues before they go stale; the issuing CA's OCSP responder answers for what it
signed. One CA per app, opened on first use.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path

from cryptography import x509

from adapters.atomic_files import load_or_create_key
from adapters.ca.authority import (REVOCATION_REASONS, Authority, load_or_create_certificate,
                                   make_issuing, make_root, register)
from adapters.ca import authority
from adapters.ca.holder import HolderIdentity, holder_certificate
from adapters.ca.ocsp import OcspResponder, OcspSigner
from adapters.ca.operators import operator_certificate, seal_certificate
from models import IssuedCertificate, db, utcnow
from services import audit

log = logging.getLogger("radesk.pki")


class UnknownCertificate(LookupError):
    def __init__(self, serial_hex: str):
        self.message = (f"Aucun certificat émis par l'AC intégrée ne porte le numéro de série "
                        f"{serial_hex}.")
        super().__init__(self.message)


class EmbeddedCA:
    def __init__(self, directory: Path, public_url: str, root: Authority, issuing: Authority,
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
        self.holder_ocsp_url = f"{_with_scheme(pki_url, 'http')}/pki/ocsp"
        self._ocsp_responder: OcspResponder | None = None
        self._ocsp_lock = threading.Lock()
        self.pds_urls = {language: f"{_with_scheme(pki_url, 'https')}/pki/pds/{language}"
                         for language in ("en", "fr")}

    @classmethod
    def open(cls, instance_path: Path, public_url: str,
             pki_url: str | None = None) -> "EmbeddedCA":
        """Load the CA from ``<instance>/ca/``, creating it on first use, its certificates
        registered."""
        ca = cls.load(instance_path, public_url, pki_url)
        ca.register_authorities()
        return ca

    @classmethod
    def load(cls, instance_path: Path, public_url: str,
             pki_url: str | None = None) -> "EmbeddedCA":
        """The CA's files in ``<instance>/ca/`` (made on first use); the database untouched."""
        public_url = public_url.rstrip("/")
        directory = Path(instance_path) / "ca"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        root_key = load_or_create_key(directory / "root.key")
        root = load_or_create_certificate(directory / "root.crt", lambda: make_root(root_key))
        issuing_key = load_or_create_key(directory / "issuing.key")
        issuing = load_or_create_certificate(
            directory / "issuing.crt",
            lambda: make_issuing(issuing_key, root_key, root, public_url))
        return cls(directory, public_url,
                   Authority(root_key, root, directory / "root.crl"),
                   Authority(issuing_key, issuing, directory / "issuing.crl"), pki_url)

    def register_authorities(self) -> None:
        """The root and issuing certificates in the register (again: nothing changes)."""
        with db.atomic():
            register(self.root_certificate, "ca")
            register(self.issuing_certificate, "ca")

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
        certificate = operator_certificate(
            self._issuing, public_key, given_name=given_name, surname=surname, email=email,
            organization=organization, not_before=not_before, not_after=not_after,
            client_auth=client_auth, validity_days=validity_days, crl_url=self.crl_url,
            issuer_url=self.issuer_url)
        register(certificate, "operator")
        return certificate

    def issue_holder_certificate(self, csr: x509.CertificateSigningRequest,
                                 identity: HolderIdentity) -> x509.Certificate:
        """The holder's qualified signing certificate for ``identity``, registered; raises
        HolderRequestRefused when the request does not qualify."""
        certificate = holder_certificate(self._issuing, csr, identity,
                                         crl_url=self.holder_crl_url,
                                         issuer_url=self.holder_issuer_url,
                                         pds_urls=self.pds_urls,
                                         ocsp_url=self.holder_ocsp_url)
        register(certificate, "holder")
        return certificate

    def issue_seal_certificate(self, public_key, *, organization: str,
                               validity_days: int = 3 * 365) -> x509.Certificate:
        """An AE's electronic seal for the contractual documents its signers sign, registered
        as kind « seal »."""
        certificate = seal_certificate(self._issuing, public_key, organization=organization,
                                       validity_days=validity_days, crl_url=self.crl_url,
                                       issuer_url=self.issuer_url)
        register(certificate, "seal")
        return certificate

    def revoke(self, serial_hex: str, reason: str = "unspecified", *, operator=None,
               ip: str = "", order=None) -> IssuedCertificate:
        """Revoke a certificate this CA issued and republish the CRLs.

        Call it outside any transaction of the caller's: the CRL is published once the
        revocation is committed. A certificate on hold (``suspend``) takes the final reason,
        keeping the hold's date (relying parties then distrust what was signed since the
        hold); revoking a finally revoked one again keeps the first date and reason."""
        serial_hex = _register_serial(serial_hex)
        flag = _reason_flag(reason)
        if flag is x509.ReasonFlags.certificate_hold:
            return self.suspend(serial_hex, operator=operator, ip=ip, order=order)
        on_hold = IssuedCertificate.revocation_reason == x509.ReasonFlags.certificate_hold.value
        with db.atomic():
            # The guarded UPDATE decides who revokes when two operators click together.
            this = IssuedCertificate.serial_hex == serial_hex
            revoked_now = (IssuedCertificate
                           .update(revoked_at=utcnow(), revocation_reason=flag.value)
                           .where(this & IssuedCertificate.revoked_at.is_null())
                           .execute()
                           or IssuedCertificate
                           .update(revocation_reason=flag.value)
                           .where(this & on_hold)
                           .execute())
            row = self._registered(serial_hex)
            if revoked_now:
                self._audit("certificate_revoked", row, operator, ip, order, reason=flag.value)
        return self._published(row)

    def suspend(self, serial_hex: str, *, operator=None, ip: str = "",
                order=None) -> IssuedCertificate:
        """Put a certificate on hold (revoked with reason certificateHold, listed on the CRL)
        until ``revoke`` makes it final or ``release`` lifts the hold. A certificate already
        revoked or on hold is left as it is."""
        serial_hex = _register_serial(serial_hex)
        hold = x509.ReasonFlags.certificate_hold.value
        with db.atomic():
            held_now = (IssuedCertificate
                        .update(revoked_at=utcnow(), revocation_reason=hold)
                        .where((IssuedCertificate.serial_hex == serial_hex)
                               & IssuedCertificate.revoked_at.is_null())
                        .execute())
            row = self._registered(serial_hex)
            if held_now:
                self._audit("certificate_suspended", row, operator, ip, order, reason=hold)
        return self._published(row)

    def release(self, serial_hex: str, *, operator=None, ip: str = "",
                order=None) -> IssuedCertificate:
        """Lift a hold: the certificate is valid again and the next CRL omits it (a complete
        CRL may, RFC 5280 §5.2.7 / §5.3.1). A final revocation is never lifted."""
        serial_hex = _register_serial(serial_hex)
        hold = x509.ReasonFlags.certificate_hold.value
        with db.atomic():
            released_now = (IssuedCertificate
                            .update(revoked_at=None, revocation_reason=None)
                            .where((IssuedCertificate.serial_hex == serial_hex)
                                   & (IssuedCertificate.revocation_reason == hold))
                            .execute())
            row = self._registered(serial_hex)
            if released_now:
                self._audit("certificate_released", row, operator, ip, order)
        return self._published(row)

    def _registered(self, serial_hex: str) -> IssuedCertificate:
        row = IssuedCertificate.get_or_none(IssuedCertificate.serial_hex == serial_hex)
        if row is None:
            raise UnknownCertificate(serial_hex)
        return row

    @staticmethod
    def _audit(action: str, row: IssuedCertificate, operator, ip: str, order, **details) -> None:
        audit.record(action, operator=operator, ip=ip, order=order,
                     actor=None if operator else "AC intégrée",
                     details={"serial": row.serial_hex, "kind": row.kind,
                              "subject": row.subject, **details})

    def _published(self, row: IssuedCertificate) -> IssuedCertificate:
        """Republish the CRL(s) a change of ``row`` shows in, once it is committed."""
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

    @property
    def ocsp_responder(self) -> OcspResponder:
        """The issuing CA's OCSP responder, its delegated signer loaded once per process
        (created on first use: call it with the database connected)."""
        if self._ocsp_responder is None:
            with self._ocsp_lock:
                if self._ocsp_responder is None:
                    signer = OcspSigner(self._issuing, self.directory)
                    signer.current(authority.now_utc())
                    self._ocsp_responder = OcspResponder(self._issuing, signer)
        return self._ocsp_responder

    def refresh(self) -> list[str]:
        """Re-issue each CRL that is missing, a day old or near its nextUpdate, and renew the
        OCSP signer's certificate near its end; returns what was renewed (logged, not
        audited: nothing changed but the dates)."""
        renewed = [name for name, authority_ in (("issuing.crl", self._issuing),
                                                  ("root.crl", self._root))
                   if authority_.publish_if_due()]
        if self.ocsp_responder.signer.refresh(authority.now_utc()):
            renewed.append("ocsp.crt")
        for name in renewed:
            log.info("AC intégrée : %s renouvelé", name)
        return renewed

    def crl_for(self, issuer: x509.Certificate) -> x509.CertificateRevocationList | None:
        """The CRL signed by ``issuer`` when it is one of this CA's two certificates."""
        for signer in (self._issuing, self._root):
            if issuer == signer.certificate:
                return signer.current_crl()
        return None


def _register_serial(serial_hex: str) -> str:
    """The register's spelling: lowercase hex, no leading zeros."""
    return serial_hex.lower().lstrip("0") or "0"


def _reason_flag(reason: str) -> x509.ReasonFlags:
    flag = REVOCATION_REASONS.get(reason)
    if flag is None:
        raise ValueError(f"Motif de révocation inconnu : {reason}.")
    return flag


def _with_scheme(url: str, scheme: str) -> str:
    return f"{scheme}://{url.split('://', 1)[-1]}"


def refresh_job(app) -> list[str]:
    """The scheduled job: the embedded CA's CRLs and OCSP signer kept fresh."""
    return get_ca(app).refresh()


def published_crls(instance_path: Path) -> dict[str, x509.CertificateRevocationList | None] | None:
    """The CRLs as published in ``<instance>/ca/`` (None for one missing or unreadable), read
    without opening the CA; None when the CA was never created."""
    directory = Path(instance_path) / "ca"
    if not (directory / "issuing.crt").exists():
        return None
    crls = {}
    for name in ("issuing.crl", "root.crl"):
        try:
            crls[name] = x509.load_der_x509_crl((directory / name).read_bytes())
        except (OSError, ValueError):
            crls[name] = None
    return crls


# --- one CA per app -------------------------------------------------------------

_open_lock = threading.Lock()


def get_ca(app) -> EmbeddedCA:
    """The app's embedded CA, opened once (the database must be connected)."""
    ca = app.extensions.get("radesk_ca")
    if ca is not None:
        return ca
    with _open_lock:  # the files, made once
        ca = app.extensions.get("radesk_ca_files")
        if ca is None:
            ca = EmbeddedCA.load(Path(app.config["INSTANCE_PATH"]),
                                 app.config["RADESK_PUBLIC_URL"],
                                 app.config.get("RADESK_PKI_URL"))
            app.extensions["radesk_ca_files"] = ca
    # Registered outside the lock: a thread waiting there for the database's write lock would
    # hold up a request that has the write lock and wants the CA, both until the busy timeout.
    ca.register_authorities()
    app.extensions["radesk_ca"] = ca
    return ca
