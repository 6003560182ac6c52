"""The holder certificates of an order: reading them with their revocation, the identity
they certify, the CA that issues them, and revoking them.
"""
from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass

from flask import Flask

import workflow
from adapters.ca import HolderCA, HolderIdentity, get_ca
from models import (AE, Company, HolderCertificate, IssuedCertificate, Operator, Order, Person,
                    db)
from services.key_stock import assignment as key_assignment
from services.webhooks import events as webhooks

REVOCATION_REASONS = {  # what an AEA may choose, in French (RFC 5280 names)
    "keyCompromise": "Compromission de la clé",
    "affiliationChanged": "Changement d'affiliation du porteur",
    "superseded": "Certificat remplacé",
    "cessationOfOperation": "Cessation d'activité",
    "privilegeWithdrawn": "Retrait du droit d'usage",
    "unspecified": "Non précisé",
}
UNWRITTEN_REVOCATION_REASON = "cessationOfOperation"  # issued, never written onto a key
HOLD = "certificateHold"  # a suspension: revoked until made final or lifted
REASON_LABELS = {**REVOCATION_REASONS, HOLD: "Suspension (certificat suspendu)"}


def get_holder_ca(app: Flask) -> HolderCA:
    """The CA issuing holder certificates: the embedded one, or RADESK_HOLDER_CA's."""
    factory_path = app.config.get("RADESK_HOLDER_CA")
    if not factory_path:
        return get_ca(app)
    ca = app.extensions.get("radesk_holder_ca")
    if ca is None:
        module_name, _, attribute = factory_path.partition(":")
        ca = getattr(importlib.import_module(module_name), attribute)(app)
        app.extensions["radesk_holder_ca"] = ca
    return ca


@dataclass(frozen=True)
class CertificateState:
    """A holder certificate with its revocation (from the CA's register), ready to show."""
    row: HolderCertificate
    revoked_at: dt.datetime | None
    revocation_reason: str | None

    @property
    def written_at(self):
        return self.row.written_at

    @property
    def revocation_label(self) -> str:
        return REASON_LABELS.get(self.revocation_reason or "", self.revocation_reason or "")

    @property
    def suspended(self) -> bool:
        """On hold: listed on the CRL, but an AEA may still lift the hold or make it final."""
        return self.revoked_at is not None and self.revocation_reason == HOLD

    @property
    def revoked(self) -> bool:
        """Revoked for good (not merely on hold)."""
        return self.revoked_at is not None and not self.suspended

    @property
    def status(self) -> str:
        if self.suspended:
            return "suspendu"
        if self.revoked_at is not None:
            return "révoqué"
        if self.row.written_at is None:
            return "émis, non inscrit sur la clé"
        return "valide"


def certificates_of(order: Order) -> list[CertificateState]:
    """Every holder certificate of the order, newest first (one query)."""
    rows = (HolderCertificate
            .select(HolderCertificate, IssuedCertificate)
            .join(IssuedCertificate, on=(HolderCertificate.issued == IssuedCertificate.id))
            .where(HolderCertificate.order == order.id)
            .order_by(HolderCertificate.issued_at.desc(), HolderCertificate.id.desc()))
    return [CertificateState(row, row.issued.revoked_at, row.issued.revocation_reason)
            for row in rows]


def has_certificates(order: Order) -> bool:
    return HolderCertificate.select().where(HolderCertificate.order == order.id).exists()


def current_certificate(order: Order) -> CertificateState | None:
    """The certificate the order stands on: the newest one not revoked for good (a suspended
    one still is), else the newest."""
    return current_of(certificates_of(order))


def current_of(states: list[CertificateState]) -> CertificateState | None:
    return next((s for s in states if not s.revoked), states[0] if states else None)


def holder_identity(order: Order, valid_from: dt.datetime | None = None) -> HolderIdentity:
    """The certificate's subject, from the validated order (never from the request);
    ``valid_from`` back-dates its start (the demo's only)."""
    company = Company.get_by_id(order.company_id)
    holder = Person.get_by_id(order.holder_id)
    ae = AE.get_by_id(order.ae_id)
    return HolderIdentity(
        given_name=holder.first_name.strip(), surname=holder.last_name.strip(),
        organization=company.name.strip(), siren=company.siren,
        id_document_type=order.id_doc_type or "", id_document_number=order.id_doc_number or "",
        validity_years=order.validity_years, policy_oid=ae.holder_policy_oid or None,
        valid_from=valid_from)


def revoke_unwritten(app: Flask, order: Order, operator: Operator | None, *,
                     ip: str = "") -> list[str]:
    """Revoke the order's certificates that were issued but never confirmed written."""
    pending = [state for state in certificates_of(order)
               if state.row.written_at is None and state.revoked_at is None]
    ca = get_holder_ca(app)
    for state in pending:
        ca.revoke(state.row.serial_hex, UNWRITTEN_REVOCATION_REASON, operator=operator, ip=ip,
                  order=order)
        report_revoked(order, state.row, UNWRITTEN_REVOCATION_REASON)
    return [state.row.serial_hex for state in pending]


def revoke(app: Flask, order: Order, operator: Operator, *, reason: object, confirmed: bool,
           ip: str = "") -> CertificateState:
    """Revoke the order's current holder certificate; the CRL is republished at once."""
    state = current_certificate(order)
    problems = workflow.holder_revocation_blockers(order, operator, state)
    if reason not in REVOCATION_REASONS:
        problems.append("Choisissez le motif de la révocation.")
    if not confirmed:
        problems.append("Cochez la case qui confirme la révocation : elle est irréversible.")
    if problems:
        raise workflow.Refused(problems)
    get_holder_ca(app).revoke(state.row.serial_hex, reason, operator=operator, ip=ip, order=order)
    report_revoked(order, state.row, reason, operator, ip)
    from services.certificates import revocation_orders  # it builds on this module
    revocation_orders.close_after_direct_revocation(state.row.serial_hex, operator, ip)
    return next(s for s in certificates_of(order) if s.row.id == state.row.id)


def report_revoked(order: Order, row: HolderCertificate, reason: str,
                   operator: Operator | None = None, ip: str = "") -> None:
    """The CA revokes outside any transaction of ours (it publishes its CRL once the revocation
    is committed, and may be a remote CA): the event is written once it has answered, and the
    key the certificate was written onto becomes « révoquée » in the AE's stock."""
    data = webhooks.certificate_data(row, motif_revocation=reason)
    with db.atomic():
        webhooks.emit(order, webhooks.CERTIFICATE_REVOKED, data)
        if row.written_at is not None:
            key_assignment.revoked(order, row, operator, ip=ip)


def revoke_superseded(app: Flask, renewal: Order, *, ip: str = "") -> HolderCertificate | None:
    """Once a renewal's new certificate is activated, the one it replaces is revoked
    (superseded), not before: the holder keeps signing meanwhile. Nothing when it is already
    revoked or the order renews nothing."""
    if renewal.process != workflow.PROCESS_RENEWAL or not renewal.target_serial:
        return None
    row = (HolderCertificate.select(HolderCertificate, IssuedCertificate)
           .join(IssuedCertificate, on=(HolderCertificate.issued == IssuedCertificate.id))
           .where(HolderCertificate.serial_hex == renewal.target_serial).first())
    if row is None or row.issued.revoked_at is not None:
        return None
    previous = Order.get_by_id(row.order_id)
    get_holder_ca(app).revoke(row.serial_hex, "superseded", ip=ip, order=previous)
    report_revoked(previous, row, "superseded", None, ip)
    return row
