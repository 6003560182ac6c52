"""« Valider » (SPEC §4 step 4), « Mettre en attente » and « Refuser la commande ».

Validation is irreversible and must happen exactly once however many requests arrive together:
one transaction first takes the order's row lock with a conditional UPDATE (``validated_at IS
NULL``), re-reads the order and its documents, checks the page's dossier version and every
guard (workflow.after_validation), then moves the order with a second conditional UPDATE whose
row count must be 1, and writes the audit event. A concurrent request waits for the lock and
then finds the order validated: nothing changes for it.

The page carries a *dossier version*: a hash of what the operator saw (the order's last change,
the requester's, the current documents and their statuses). A dossier changed since the page
was loaded is refused rather than validated blind.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from flask import Flask

import workflow
from formatting import paris_datetime
from models import AuditEvent, Document, Operator, Order, db, utcnow
from services import audit
from services.dossiers import piece_checks
from services.messaging import outbox
from services.signing import signatures
from services.webhooks import events as webhooks

ACTION_FLAGS = "validation_flags_updated"
ACTION_VALIDATED = "order_validated"
ACTION_ON_HOLD = "order_on_hold"
ACTION_RESUMED = "order_resumed"
ACTION_REFUSED = "order_refused"
AUDIT_ACTIONS = {
    ACTION_FLAGS: "Cases de validation modifiées",
    ACTION_VALIDATED: "Commande validée (passage en « Génération du certificat »)",
    ACTION_ON_HOLD: "Commande mise en attente",
    ACTION_RESUMED: "Reprise du traitement de la commande",
    ACTION_REFUSED: "Commande refusée",
}
DETAIL_LABELS = {"reglement": "Règlement (OK)", "dossier_complet": "Dossier complet (OK)",
                 "certificat": "Certificat de l'opérateur (SHA-256)", "commentaire": "Commentaire",
                 "phase": "Phase"}

TYPE_ON_HOLD = "order_on_hold"
TYPE_REFUSED = "order_refused"
TYPE_LABELS = {TYPE_ON_HOLD: "Commande mise en attente", TYPE_REFUSED: "Commande refusée"}

STALE = ("Le dossier a été modifié depuis l'ouverture de la page (document, information ou "
         "statut) : vérifiez-le à nouveau avant de valider.")
CONFIRMATION = (
    "Cette action est irréversible. En validant la commande N° {number}, vous certifiez avoir "
    "vérifié l'identité du porteur et des représentants de la société au vu des pièces "
    "justificatives, la conformité des informations du dossier à ces pièces, le règlement de "
    "la commande et la signature électronique de tous les documents contractuels. La commande "
    "passera en phase « Génération du certificat » et le dossier ne pourra plus être modifié.")


def _yes(value: bool) -> str:
    return "oui" if value else "non"


def dossier_version(order: Order, docs: list[Document]) -> str:
    """What the page showed: any change to the order or its documents changes it."""
    parts = [order.updated_at.isoformat(timespec="microseconds") if order.updated_at else "",
             order.requester_modified_at.isoformat() if order.requester_modified_at else "",
             order.phase, order.substate or "", str(bool(order.payment_ok)),
             str(bool(order.dossier_complete_ok)), str(order.on_hold_at or "")]
    parts += [f"{d.id}:{d.status}:{d.sha256}" for d in sorted(docs, key=lambda d: d.id)]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:32]


def _lock(order_id: int, *, unvalidated: bool = False) -> Order | None:
    """Inside a transaction: the order's row lock taken by a write, then the order as it is.
    ``unvalidated``: only while it is not validated (None then)."""
    query = Order.update(updated_at=Order.updated_at).where(Order.id == order_id)
    if unvalidated:
        query = query.where(Order.validated_at.is_null())
    if not query.execute():
        return None
    return signatures.order_with_people(order_id)


# --- The two boxes and « Valider » ------------------------------------------------------------

def set_flags(order: Order, operator: Operator, payment_ok: bool, dossier_complete_ok: bool,
              version: str, ip: str = "") -> str:
    """Record « Règlement (OK) » and « Dossier complet (OK) »; returns the new dossier version.
    Raises Refused when the dossier changed since ``version`` or may not change."""
    with db.atomic() as transaction:
        current = _lock(order.id)
        docs = signatures.current_documents(order.id)
        if version != dossier_version(current, docs):
            raise workflow.Refused([STALE])
        reasons = workflow.validation_flags_blockers(current, operator)
        if reasons:
            raise workflow.Refused(reasons)
        if (bool(current.payment_ok), bool(current.dossier_complete_ok)) == (payment_ok,
                                                                             dossier_complete_ok):
            transaction.rollback()
            return version
        (Order
         .update(payment_ok=payment_ok, dossier_complete_ok=dossier_complete_ok,
                 updated_at=utcnow())
         .where(Order.id == order.id)
         .execute())
        audit.record(ACTION_FLAGS, operator=operator, order=current, ip=ip,
                     details={"reglement": _yes(payment_ok),
                              "dossier_complet": _yes(dossier_complete_ok)})
        updated = Order.get_by_id(order.id)
    return dossier_version(updated, signatures.current_documents(order.id))


def validate(order: Order, operator: Operator, certificate_fingerprint: str, version: str,
             ip: str = "", *, differences_checked: bool = False) -> None:
    """Validate the order, exactly once. Raises Refused with the French reasons.
    ``differences_checked``: the AEA ticked that they checked the differences the reading of
    the pieces points at (asked only when there are some)."""
    with db.atomic():
        current = _lock(order.id, unvalidated=True)
        if current is None:
            raise workflow.Refused(["La commande a déjà été validée."])
        docs = signatures.current_documents(order.id)
        if version != dossier_version(current, docs):
            raise workflow.Refused([STALE])
        phase, substate = workflow.after_validation(current, docs, operator, current.ae)
        piece_checks.confirm_differences(current, docs, operator, differences_checked, ip=ip)
        now = utcnow()
        moved = (Order
                 .update(phase=phase, substate=substate, validated_at=now,
                         validated_by=operator.id,
                         validated_cert_fingerprint=certificate_fingerprint, updated_at=now)
                 .where((Order.id == order.id) & Order.validated_at.is_null()
                        & (Order.phase == workflow.PHASE_VALIDATION)
                        & (Order.substate == workflow.SUBSTATE_TO_VALIDATE))
                 .execute())
        if moved != 1:
            raise workflow.Refused(["La commande a déjà été validée."])
        audit.record(ACTION_VALIDATED, operator=operator, order=current, ip=ip,
                     details={"reglement": "oui", "dossier_complet": "oui",
                              "certificat": certificate_fingerprint,
                              "phase": workflow.PHASES[phase]})
        webhooks.emit(current, webhooks.ORDER_VALIDATED)


# --- « Mettre en attente », « Reprendre », « Refuser la commande » --------------------------------

def _notify_requester(app: Flask, order: Order, type_: str, subject: str, text: str,
                      operator: Operator) -> None:
    from services.messaging import drafts

    recipient = drafts.requester_address(order)
    if recipient:
        signatures.queue(app, order, type_, recipient, subject, text, operator)


def hold(app: Flask, order: Order, operator: Operator, comment: str, ip: str = "") -> None:
    comment = workflow.checked_comment(comment, "Le commentaire")
    with db.atomic():
        current = _lock(order.id)
        reasons = workflow.hold_blockers(current, operator)
        if reasons:
            raise workflow.Refused(reasons)
        now = utcnow()
        (Order
         .update(on_hold_at=now, hold_comment=comment, substate=workflow.SUBSTATE_ON_HOLD,
                 held_substate=current.substate, updated_at=now)
         .where(Order.id == order.id)
         .execute())
        _notify_requester(app, current, TYPE_ON_HOLD,
                          f"Commande N° {current.number} : commande mise en attente",
                          f"Bonjour,\n\nLa commande N° {current.number} ({current.company.name}) "
                          f"est mise en attente par l'Autorité d'Enregistrement :\n\n{comment}\n\n"
                          f"Vous pouvez compléter ou corriger votre dossier depuis sa page de "
                          f"suivi : {{lien}}\n\nCordialement,\nL'Autorité d'Enregistrement "
                          f"{current.ae.name}", operator)
        audit.record(ACTION_ON_HOLD, operator=operator, order=current, ip=ip,
                     details={"commentaire": comment})
    outbox.wake(app)


def resume(order: Order, operator: Operator, ip: str = "") -> None:
    with db.atomic():
        current = _lock(order.id)
        reasons = workflow.resume_blockers(current, operator)
        if reasons:
            raise workflow.Refused(reasons)
        since, held = current.on_hold_at, current.held_substate
        current.on_hold_at = None
        substate = workflow.compute_substate(current, Document.current_of(current.id))
        (Order
         .update(on_hold_at=None, hold_comment=None, substate=substate, held_substate=None,
                 updated_at=utcnow())
         .where(Order.id == order.id)
         .execute())
        if held == workflow.SUBSTATE_IN_SIGNATURE and substate == workflow.SUBSTATE_TO_VALIDATE:
            webhooks.emit(current, webhooks.ORDER_SIGNED)  # the last signature came meanwhile
        audit.record(ACTION_RESUMED, operator=operator, order=current, ip=ip,
                     details={"commentaire": f"en attente depuis le {paris_datetime(since)}",
                              "sous-état": workflow.label(workflow.SUBSTATES, substate)})


def refuse(app: Flask, order: Order, operator: Operator, comment: str, ip: str = "") -> None:
    """The order is refused: « Annulée », every open signing link voided, the requester told."""
    comment = workflow.checked_comment(comment, "Le commentaire")
    with db.atomic():
        current = _lock(order.id)
        phase, substate = workflow.after_refusal(current, operator)
        _notify_requester(app, current, TYPE_REFUSED,
                          f"Commande N° {current.number} : commande refusée",
                          f"Bonjour,\n\nL'Autorité d'Enregistrement {current.ae.name} a refusé la "
                          f"commande N° {current.number} ({current.company.name}) :\n\n{comment}\n\n"
                          f"La commande est annulée. Sa page de suivi reste consultable : {{lien}}"
                          f"\n\nCordialement,\nL'Autorité d'Enregistrement {current.ae.name}",
                          operator)
        signatures.cancel_open_requests(order.id)
        now = utcnow()
        (Order
         .update(phase=phase, substate=substate, on_hold_at=None, held_substate=None,
                 updated_at=now)
         .where(Order.id == order.id)
         .execute())
        audit.record(ACTION_REFUSED, operator=operator, order=current, ip=ip,
                     details={"commentaire": comment, "phase": workflow.PHASES[phase]})
        webhooks.emit(current, webhooks.ORDER_REFUSED, {"commentaire": comment})
    outbox.wake(app)


def refusal_comment(order: Order) -> str | None:
    """Why a cancelled order was refused (the comment the requester received), or None."""
    if order.phase != workflow.PHASE_CANCELLED:
        return None
    event = (AuditEvent
             .select(AuditEvent.details)
             .where((AuditEvent.order == order.id) & (AuditEvent.action == ACTION_REFUSED))
             .order_by(AuditEvent.id.desc())
             .first())
    return json.loads(event.details or "{}").get("commentaire") if event else None


# --- The order file's validation block ------------------------------------------------------------

@dataclass(frozen=True)
class ValidationPanel:
    order: Order
    version: str
    can_edit: bool                # the boxes and « Valider »
    blockers: list[str]           # what « Valider » still lacks (boxes included)
    can_hold: bool
    can_resume: bool
    can_refuse: bool

    @property
    def confirmation_text(self) -> str:
        return CONFIRMATION.format(number=self.order.number)


def panel(order: Order, operator: Operator,
          documents: list[Document] | None = None) -> ValidationPanel | None:
    """None for an order outside the validation phase that was never validated. The file
    passes the current documents it has already read."""
    full = signatures.with_people(order)
    if full.phase != workflow.PHASE_VALIDATION and not workflow.is_validated(full):
        if full.phase != workflow.PHASE_ENTRY:
            return None
    docs = signatures.current_documents(order.id) if documents is None else documents
    can_edit = (operator.has_role(workflow.ROLE_AEA) and full.phase == workflow.PHASE_VALIDATION
                and not workflow.is_read_only(full))
    return ValidationPanel(
        full, dossier_version(full, docs), can_edit,
        workflow.validation_blockers(full, docs, operator, full.ae) if can_edit else [],
        can_hold=not workflow.hold_blockers(full, operator),
        can_resume=not workflow.resume_blockers(full, operator),
        can_refuse=not workflow.failed_reasons(workflow.refusal_checks(full, operator)))
