"""The AEA's side of a revocation request (processus « Révocation », « à révoquer »): what the
order file shows, « Révoquer » (the reason asked for, replacing a suspension, the CRL
republished at once, the order « Terminée ») and « Rejeter la demande » (a suspension lifted,
the order « Annulée »), each telling the holder and the requester; and the 4-hour target
counted for the activity digest.

The CA acts outside our transactions (it publishes its CRL once its change is committed, and
may be a remote CA); the order then moves with a guarded UPDATE, so of two operators clicking
together one moves it and the other is told the request was just handled.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Flask
from peewee import fn

import workflow
from models import Operator, Order, RevocationRequest, db, utcnow
from services import audit
from services.certificates import revocation_messages
from services.certificates.holder_certificates import (CertificateState, certificates_of,
                                                       get_holder_ca, report_revoked)
from services.messaging import outbox

ACTION_REVOKED = "revocation_request_revoked"
ACTION_REJECTED = "revocation_request_rejected"
ACTION_CLOSED = "revocation_request_closed"
AUDIT_ACTIONS = {
    ACTION_REVOKED: "Demande de révocation traitée : certificat révoqué (« Terminée »)",
    ACTION_REJECTED: "Demande de révocation rejetée (« Annulée »)",
    ACTION_CLOSED: "Demande de révocation close : certificat révoqué depuis sa commande",
}
NOT_CONFIRMED = "Cochez la case qui confirme la révocation : elle est irréversible."
JUST_HANDLED = "La demande de révocation vient d'être traitée par un autre opérateur."


@dataclass(frozen=True)
class RevocationFile:
    """What the order file shows of a revocation order."""
    order: Order
    request: RevocationRequest | None
    previous_order: Order | None
    certificate: CertificateState | None
    deadline: dt.datetime
    late: bool
    revoke_blockers: list[str]
    reject_blockers: list[str]

    @property
    def choice_label(self) -> str:
        return workflow.choice_label(self.request.choice if self.request else None)

    @property
    def asked_by(self) -> str:
        return workflow.REVOCATION_ASKED_VIA.get(self.request.asked_via, "") if self.request else ""

    @property
    def waiting(self) -> bool:
        return self.order.phase == workflow.PHASE_VALIDATION


def request_of(order: Order) -> RevocationRequest | None:
    return RevocationRequest.get_or_none(RevocationRequest.order == order.id)


def target_certificate(order: Order) -> CertificateState | None:
    """The certificate the request is about, with its state at the CA."""
    if order.previous_order_id is None or not order.target_serial:
        return None
    previous = Order.get_or_none(Order.id == order.previous_order_id)
    if previous is None:
        return None
    return next((s for s in certificates_of(previous) if s.row.serial_hex == order.target_serial),
                None)


def file_of(order: Order, operator: Operator, now: dt.datetime | None = None
            ) -> RevocationFile | None:
    """None for an order of another process."""
    if order.process != workflow.PROCESS_REVOCATION:
        return None
    now = now or utcnow()
    request = request_of(order)
    asked_at = request.asked_at if request else order.created_at
    state = target_certificate(order)
    return RevocationFile(
        order=order, request=request,
        previous_order=Order.get_or_none(Order.id == order.previous_order_id)
        if order.previous_order_id else None,
        certificate=state, deadline=workflow.revocation_deadline(asked_at),
        late=order.phase == workflow.PHASE_VALIDATION and workflow.revocation_late(asked_at, now),
        revoke_blockers=workflow.revoke_request_blockers(order, operator, state),
        reject_blockers=workflow.reject_request_blockers(order, operator, state))


def _lock(order_id: int) -> Order:
    """The order, its row locked for the rest of the transaction."""
    Order.update(updated_at=Order.updated_at).where(Order.id == order_id).execute()
    return Order.with_people().where(Order.id == order_id).get()


def _move(order: Order, phase: str) -> None:
    """Out of « à révoquer », once: the guarded UPDATE only one caller gets."""
    moved = (Order
             .update(phase=phase, substate=None, updated_at=utcnow(), on_hold_at=None,
                     held_substate=None)
             .where((Order.id == order.id) & (Order.phase == workflow.PHASE_VALIDATION)
                    & (Order.process == workflow.PROCESS_REVOCATION))
             .execute())
    if moved != 1:
        raise workflow.Refused(JUST_HANDLED)
    (RevocationRequest
     .update(open_serial=None, decided_at=utcnow())
     .where(RevocationRequest.order == order.id)
     .execute())


def revoke(app: Flask, order: Order, operator: Operator, *, confirmed: bool,
           ip: str = "") -> CertificateState:
    """« Révoquer »: the certificate revoked with the reason asked for (a suspension becomes
    final), the CRL republished, the order « Terminée », holder and requester told."""
    request = request_of(order)
    state = target_certificate(order)
    problems = workflow.revoke_request_blockers(order, operator, state)
    if request is None and not problems:
        problems.append("La demande de révocation de cette commande est introuvable.")
    if not confirmed:
        problems.append(NOT_CONFIRMED)
    if problems:
        raise workflow.Refused(problems)
    reason = workflow.choice_reason(request.choice)
    previous = Order.get_by_id(order.previous_order_id)
    get_holder_ca(app).revoke(state.row.serial_hex, reason, operator=operator, ip=ip,
                              order=previous)
    with db.atomic():
        current = _lock(order.id)
        phase, _ = workflow.after_revoke_request(current, operator, state)
        _move(current, phase)
        audit.record(ACTION_REVOKED, operator=operator, order=current, ip=ip,
                     details={"serial": state.row.serial_hex, "reason": reason,
                              "phase": workflow.PHASES[phase]})
        revocation_messages.revoked(app, current, request, operator, ip=ip)
    report_revoked(previous, state.row, reason, operator, ip)
    outbox.wake(app)
    return target_certificate(order)


def reject(app: Flask, order: Order, operator: Operator, *, comment: str, ip: str = "") -> None:
    """« Rejeter la demande » (the key was found…): a suspension is lifted, the order
    « Annulée », the requester and holder told why."""
    comment = workflow.checked_comment(comment, "Le commentaire")
    request = request_of(order)
    state = target_certificate(order)
    problems = workflow.reject_request_blockers(order, operator, state)
    if problems:
        raise workflow.Refused(problems)
    with db.atomic():
        current = _lock(order.id)
        phase, _ = workflow.after_reject_request(current, operator, target_certificate(order))
        _move(current, phase)
        audit.record(ACTION_REJECTED, operator=operator, order=current, ip=ip,
                     details={"serial": state.row.serial_hex, "commentaire": comment,
                              "phase": workflow.PHASES[phase]})
        revocation_messages.rejected(app, current, request, operator, comment,
                                     released=state.suspended, ip=ip)
    if state.suspended:  # lifted once the order is out of « à révoquer », never before
        get_holder_ca(app).release(state.row.serial_hex, operator=operator, ip=ip,
                                   order=Order.get_by_id(order.previous_order_id))
    outbox.wake(app)


def close_after_direct_revocation(serial_hex: str, operator: Operator | None,
                                  ip: str = "") -> None:
    """The certificate was revoked from its own order (« Révoquer le certificat »): a request
    still waiting for it has nothing left to decide, and is closed (« Terminée »)."""
    request = RevocationRequest.get_or_none(RevocationRequest.open_serial == serial_hex)
    if request is None:
        return
    with db.atomic():
        current = _lock(request.order_id)
        try:
            _move(current, workflow.PHASE_DONE)
        except workflow.Refused:
            return
        audit.record(ACTION_CLOSED, operator=operator, order=current, ip=ip,
                     details={"serial": serial_hex})


def late_counts_by_portal(ae_ids, now: dt.datetime) -> dict[int, int]:
    """Revocation requests past their 4-hour target, per portal (the activity digest)."""
    query = (Order
             .select(Order.portal, fn.COUNT(Order.id))
             .where(Order.ae.in_(list(ae_ids)) & (Order.phase == workflow.PHASE_VALIDATION)
                    & (Order.substate == workflow.SUBSTATE_TO_REVOKE)
                    & (Order.created_at < now - workflow.REVOCATION_TARGET))
             .group_by(Order.portal))
    return dict(query.tuples())
