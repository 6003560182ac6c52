"""The certification authorities an AE trusts for its operators' login certificates
(services.operator_auth.login reads them): listed with their subject and expiry, added from an
uploaded PEM file — a CA certificate only, valid today, once — and removed, except the one an
active admin's login certificate depends on: removing it would leave nobody able to log in and
put it back. Each change is one transaction with its audit event.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

import workflow
from adapters.ca import fingerprint_sha256
from formatting import paris_date
from models import Operator, OperatorCertificate, TrustedCA, db, utcnow
from services import audit

ACTION_ADDED = "trusted_ca_added"
ACTION_REMOVED = "trusted_ca_removed"
AUDIT_ACTIONS = {
    ACTION_ADDED: "Autorité de confiance ajoutée (connexion des opérateurs)",
    ACTION_REMOVED: "Autorité de confiance retirée (connexion des opérateurs)",
}
MAX_PEM_BYTES = 64 * 1024
MAX_CHAIN = 4  # a login chain is short: leaf, intermediates, root
ROOT, INTERMEDIATE = "Racine", "Intermédiaire"


@dataclass(frozen=True)
class CALine:
    row: TrustedCA
    subject: str
    not_after: dt.datetime | None  # None: the stored PEM cannot be read
    expired: bool
    kind: str


def _load(pem: str) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def listing(ae_id: int) -> list[CALine]:
    now = utcnow()
    lines = []
    for row in TrustedCA.select().where(TrustedCA.ae == ae_id).order_by(TrustedCA.id):
        certificate = _load(row.pem)
        not_after = _naive(certificate.not_valid_after_utc) if certificate else None
        lines.append(CALine(row, certificate.subject.rfc4514_string() if certificate else row.name,
                            not_after, not_after is None or not_after < now,
                            ROOT if row.is_root else INTERMEDIATE))
    return lines


def trusted_ca_of_ae(ae_id: int, ca_id: int) -> TrustedCA | None:
    return TrustedCA.get_or_none((TrustedCA.id == ca_id) & (TrustedCA.ae == ae_id))


# --- Adding ------------------------------------------------------------------------------------

def _is_self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject and _issued_by(certificate, certificate)


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _extension(certificate: x509.Certificate, kind):
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def ca_certificate(data: bytes, now: dt.datetime | None = None) -> x509.Certificate:
    """The one CA certificate of an uploaded PEM file, or Refused saying why not."""
    if not data or not data.strip():
        raise workflow.Refused(["Choisissez le fichier PEM du certificat de l'autorité."])
    if len(data) > MAX_PEM_BYTES:
        raise workflow.Refused([f"Fichier trop volumineux pour un certificat "
                                f"({MAX_PEM_BYTES // 1024} Ko au plus)."])
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise workflow.Refused(["Ce fichier n'est pas un certificat au format PEM (texte "
                                "commençant par « -----BEGIN CERTIFICATE----- »)."]) from None
    if len(certificates) != 1:
        raise workflow.Refused(["Le fichier doit contenir un seul certificat : ajoutez les "
                                "autorités une par une."])
    certificate = certificates[0]
    try:
        constraints = _extension(certificate, x509.BasicConstraints)
        usage = _extension(certificate, x509.KeyUsage)
    except ValueError:  # cryptography reads extensions lazily: a broken one surfaces here
        raise workflow.Refused(["Certificat illisible ou mal formé."]) from None
    if constraints is None or not constraints.ca:
        raise workflow.Refused(["Ce certificat n'est pas celui d'une autorité de certification "
                                "(extension « Basic Constraints » sans « CA:TRUE ») : c'est "
                                "sans doute le certificat d'une personne ou d'un serveur."])
    if usage is not None and not usage.key_cert_sign:
        raise workflow.Refused(["Ce certificat d'autorité ne permet pas de signer des "
                                "certificats (usage « keyCertSign » absent)."])
    now = now or utcnow()
    if _naive(certificate.not_valid_after_utc) < now:
        raise workflow.Refused([f"Ce certificat d'autorité a expiré le "
                                f"{paris_date(certificate.not_valid_after_utc)}."])
    if _naive(certificate.not_valid_before_utc) > now:
        raise workflow.Refused([f"Ce certificat d'autorité n'est valide qu'à partir du "
                                f"{paris_date(certificate.not_valid_before_utc)}."])
    return certificate


def add(ae_id: int, data: bytes, *, by: Operator | None = None, ip: str = "") -> TrustedCA:
    """Trust the CA of the uploaded PEM file for the AE's operators' login: a self-signed one
    as a root, another as an intermediate that helps build chains up to a trusted root."""
    certificate = ca_certificate(data)
    fingerprint = fingerprint_sha256(certificate)
    subject = certificate.subject.rfc4514_string()
    with db.atomic():
        existing = TrustedCA.get_or_none((TrustedCA.ae == ae_id)
                                         & (TrustedCA.fingerprint_sha256 == fingerprint))
        if existing is not None:
            raise workflow.Refused([f"Cette autorité est déjà dans la liste (« {subject} »)."])
        root = _is_self_signed(certificate)
        row = TrustedCA.create(
            ae=ae_id, name=subject, fingerprint_sha256=fingerprint, is_root=root,
            pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"))
        audit.record(ACTION_ADDED, operator=by, ae=ae_id, ip=ip,
                     details={"avant": None, "après": _details(certificate, root)})
    return row


def _details(certificate: x509.Certificate, root: bool) -> dict:
    return {"sujet": certificate.subject.rfc4514_string(),
            "empreinte_sha256": fingerprint_sha256(certificate),
            "expire_le": paris_date(certificate.not_valid_after_utc),
            "type": ROOT if root else INTERMEDIATE}


# --- Removing ----------------------------------------------------------------------------------

def _chain_contains(leaf: x509.Certificate, candidates: list[x509.Certificate],
                    target: str) -> bool:
    """Whether the chain from ``leaf`` up through ``candidates`` passes the CA whose SHA-256
    fingerprint is ``target``."""
    current = leaf
    for _ in range(MAX_CHAIN):
        issuer = next((ca for ca in candidates if ca.subject == current.issuer
                       and _issued_by(current, ca)), None)
        if issuer is None:
            return False
        if fingerprint_sha256(issuer) == target:
            return True
        if _is_self_signed(issuer):
            return False
        current = issuer
    return False


def admins_depending_on(row: TrustedCA, extra_intermediates: Iterable[x509.Certificate] = ()
                        ) -> list[str]:
    """The active admins of the AE whose valid login certificate chains through ``row``."""
    candidates = [cert for cert in (_load(ca.pem) for ca in
                                    TrustedCA.select().where(TrustedCA.ae == row.ae_id))
                  if cert is not None] + list(extra_intermediates)
    now = utcnow()
    bound = (OperatorCertificate
             .select(OperatorCertificate, Operator)
             .join(Operator)
             .where((Operator.ae == row.ae_id) & Operator.active
                    & (OperatorCertificate.not_after > now)))
    names = []
    for certificate in bound:
        leaf = _load(certificate.pem) if certificate.pem else None
        if (leaf is not None and certificate.operator.has_role("admin")
                and _chain_contains(leaf, candidates, row.fingerprint_sha256)
                and certificate.operator.display_name not in names):
            names.append(certificate.operator.display_name)
    return names


def remove(row: TrustedCA, *, extra_intermediates: Iterable[x509.Certificate] = (),
           by: Operator | None = None, ip: str = "") -> None:
    """Stop trusting ``row``. Refused when an active admin logs in with a certificate it
    issued (directly or through an intermediate): nobody could log in to put it back.
    ``extra_intermediates``: CAs the login also builds chains with (the embedded CA's)."""
    with db.atomic():
        TrustedCA.update(name=TrustedCA.name).where(TrustedCA.id == row.id).execute()  # lock
        current = TrustedCA.get_or_none(TrustedCA.id == row.id)
        if current is None:
            raise workflow.Refused(["Cette autorité n'est déjà plus dans la liste."])
        admins = admins_depending_on(current, extra_intermediates)
        if admins:
            raise workflow.Refused([
                f"Impossible de retirer cette autorité : elle a émis le certificat de connexion "
                f"de {', '.join(admins)} (administrateur actif de l'AE). Sans elle, plus "
                f"personne ne pourrait se connecter pour administrer l'AE."])
        certificate = _load(current.pem)
        details = (_details(certificate, current.is_root) if certificate is not None
                   else {"sujet": current.name, "empreinte_sha256": current.fingerprint_sha256})
        current.delete_instance()
        audit.record(ACTION_REMOVED, operator=by, ae=current.ae_id, ip=ip,
                     details={"avant": details, "après": None})
