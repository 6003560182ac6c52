"""Certificate generation onto the holder's USB key (SPEC §8), server side.

The AET's page drives the token bridge on the AET's workstation; this module decides and
records every step, each in one transaction with its audit event:

    start            guards; a signed instruction for the chosen blank key, bound to the order
                     and a single-use nonce (a ``GenerationAttempt``); the key attributed to the
                     order in the AE's stock (services.key_stock.assignment); certificates issued
                     by an earlier try but never written onto a key are revoked first, and said so
    accept_request   the certificate request the bridge made on the key: it must carry the
                     instruction's digest (challengePassword), verify (proof of possession) and
                     hold a key never certified before. The CA then issues the certificate for
                     the subject rebuilt from the validated order, registered with the try,
                     and a signed finalization tells the bridge to write it and set the
                     activation PIN
    confirm_written  the bridge wrote it: the order moves to « Remise »
    report_failure   a step failed (key removed, PIN locked, CA refusal…): the order stays in
                     « Génération du certificat » with the reason; a certificate issued but not
                     written is revoked, and the reason says so

Nothing here reads ``request``: views pass the page's origin, the operator and the address.
The steps live here and in issuance (the request), attempts (failures), holder_certificates
(reading, revocation), instructions (signing) and events (the audit trail's words); this
module re-exports what the views, the activation and the demo use.
"""
from __future__ import annotations

import secrets

from flask import Flask

import workflow
from bridge_protocol import (INSTRUCTION_GENERATION, INSTRUCTION_VERSION, KEY_RSA_3072, KEY_TYPES,
                             is_valid_origin, is_valid_serial)
from models import (Company, GenerationAttempt, HolderCertificate, Operator, Order, Person,
                    Portal, db, utcnow)
from services import audit
from services.certificates.attempts import (attempt_of, last_failure, record_unknown_order,
                                            refuse, report_failure)
from services.certificates.events import (ACTION_GENERATED, ACTION_STARTED, AUDIT_ACTIONS,
                                          DETAIL_FORMATTERS, DETAIL_LABELS,
                                          certificate_details)
from services.certificates.holder_certificates import (
    REVOCATION_REASONS, CertificateState, certificates_of, current_certificate, current_of,
    has_certificates, holder_identity, revoke, revoke_unwritten)
from services.certificates.instructions import (
    INSTRUCTION_TTL, SignedInstruction, activation_pin, expires_at, instruction_key,
    instruction_public_pem, sign_instruction)
from services.certificates.issuance import accept_request
from services.key_stock import assignment as key_assignment

DEFAULT_KEY_TYPE = KEY_RSA_3072

__all__ = [  # what the views, the activation, the demo and the tests use as generation.X
    "AUDIT_ACTIONS", "DEFAULT_KEY_TYPE", "DETAIL_FORMATTERS", "DETAIL_LABELS", "KEY_TYPES",
    "REVOCATION_REASONS", "CertificateState", "SignedInstruction", "accept_request",
    "activation_pin", "certificates_of", "confirm_written", "current_certificate", "current_of",
    "has_certificates", "instruction_key", "instruction_public_pem", "last_failure",
    "orders_to_generate", "record_unknown_order", "report_failure", "revoke",
    "sign_instruction", "start",
]


def orders_to_generate(scope, limit: int) -> list[Order]:
    """The AET's list: validated orders of the operator's portals waiting for their certificate,
    the longest waiting first (one query)."""
    return list(Order
                .select(Order, Company, Person, Portal)
                .join(Company, on=(Order.company == Company.id))
                .switch(Order)
                .join(Person, on=(Order.holder == Person.id))
                .switch(Order)
                .join(Portal, on=(Order.portal == Portal.id))
                .where(scope.order_condition() & (Order.phase == workflow.PHASE_GENERATION))
                .order_by(Order.validated_at, Order.number)
                .limit(limit))


# --- 1. start: the signed instruction (2. the request: issuance.accept_request) ---------------

def start(app: Flask, order: Order, operator: Operator, *, token_serial: object,
          token_label: object, key_type: object, origin: str | None,
          ip: str = "") -> SignedInstruction:
    """A fresh instruction for ``token_serial``; any earlier open try of the order ends."""
    problems = workflow.generation_start_blockers(order, operator)
    if key_type not in KEY_TYPES:
        problems.append("Type de clé non pris en charge : RSA 3072 bits ou EC P-256.")
    if not is_valid_serial(token_serial):
        problems.append("Choisissez la clé USB ou la carte à puce vierge sur laquelle générer "
                        "le certificat.")
    if origin not in app.config["RADESK_LOGIN_ORIGINS"] or not is_valid_origin(origin or ""):
        problems.append("Origine de la page inconnue : rechargez la fiche de commande.")
    if problems:
        refuse(order, operator, ip, "start", problems)
    key_problem = key_assignment.assignment_problem(order, token_serial)
    if key_problem:
        refuse(order, operator, ip, "start", [key_problem], code="key_stock")
    label = token_label if isinstance(token_label, str) and len(token_label) <= 64 else ""
    revoked = revoke_unwritten(app, order, operator, ip=ip)
    identity = holder_identity(order)
    now = utcnow()
    nonce = secrets.token_urlsafe(32)
    key_id = secrets.token_hex(8)
    replaced = replaced_on_key(order, token_serial)
    signed = sign_instruction(app, {
        "v": INSTRUCTION_VERSION, "kind": INSTRUCTION_GENERATION, "origin": origin,
        "nonce": nonce, "expires_at": expires_at(now),
        "order_number": order.number,
        "holder": {"name": identity.common_name, "organization": identity.organization},
        "token": {"serial": token_serial, "label": label},
        "key": {"type": key_type, "id": key_id, "label": f"Signature {order.number}"},
        **({"replace": {"certificate_sha256": replaced.fingerprint_sha256,
                        "serial": replaced.serial_hex}} if replaced else {}),
    })
    with db.atomic():
        current = _locked_order(order)
        problems = workflow.generation_start_blockers(current, operator)
        if problems:
            raise workflow.Refused(problems, "state")
        (GenerationAttempt
         .update(state="superseded", finished_at=now)
         .where((GenerationAttempt.order == order.id) & (GenerationAttempt.state == "open"))
         .execute())
        GenerationAttempt.create(order=order.id, operator=operator.id, nonce=nonce,
                                 instruction=signed.text, token_serial=token_serial,
                                 token_label=label, key_type=key_type, created_at=now,
                                 expires_at=now + INSTRUCTION_TTL)
        key_assignment.assign(current, operator, token_serial, ip=ip)
        audit.record(ACTION_STARTED, operator=operator, order=order, ip=ip,
                     details={"token": label or token_serial, "token_serial": token_serial,
                              "key_type": KEY_TYPES[key_type],
                              **({"revoked": revoked} if revoked else {})})
    return signed


def replaced_on_key(order: Order, token_serial: object) -> HolderCertificate | None:
    """A renewal generated onto the holder's own key: the certificate it renews, which the
    bridge removes from that key first (after the AET confirmed)."""
    if order.process != workflow.PROCESS_RENEWAL or not order.target_serial:
        return None
    old = HolderCertificate.get_or_none(HolderCertificate.serial_hex == order.target_serial)
    return old if old is not None and old.token_serial == token_serial else None


# --- 3. written: the order moves to « Remise » -------------------------------------------------

def confirm_written(app: Flask, order: Order, operator: Operator, *, nonce: object,
                    certificate_sha256: object, ip: str = "") -> HolderCertificate:
    """The bridge wrote the issued certificate onto the key: the order moves to « Remise »."""
    attempt = attempt_of(order, nonce)
    row = (HolderCertificate.get_or_none(HolderCertificate.attempt == attempt.id)
           if attempt is not None else None)
    if attempt is None or attempt.state != "issued" or row is None \
            or row.fingerprint_sha256 != certificate_sha256:
        refuse(order, operator, ip, "write",
               ["Aucun certificat de cette génération n'attend d'être inscrit sur une clé."],
               code="nonce")
    now = utcnow()
    with db.atomic():
        current = _locked_order(order)
        phase, substate = workflow.after_generation(current, operator)
        moved = (Order
                 .update(phase=phase, substate=substate, updated_at=now)
                 .where((Order.id == order.id) & (Order.phase == workflow.PHASE_GENERATION))
                 .execute())
        done = (GenerationAttempt
                .update(state="written", finished_at=now)
                .where((GenerationAttempt.id == attempt.id)
                       & (GenerationAttempt.state == "issued"))
                .execute())
        if moved != 1 or done != 1:
            raise workflow.Refused("La commande a changé entre-temps : rechargez la fiche.",
                                   "state")
        HolderCertificate.update(written_at=now).where(HolderCertificate.id == row.id).execute()
        audit.record(ACTION_GENERATED, operator=operator, order=order, ip=ip,
                     details=certificate_details(row))
    return HolderCertificate.get_by_id(row.id)


def _locked_order(order: Order) -> Order:
    """The order as it is now, its row written first so a concurrent change waits (PostgreSQL
    row lock, SQLite write lock) until this transaction ends."""
    Order.update(updated_at=Order.updated_at).where(Order.id == order.id).execute()
    return Order.get_by_id(order.id)
