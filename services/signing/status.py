"""The order file's « Signature des documents »: each signer's state with what the operator
may do (remind, send a new link, cancel), and each contractual document's signers.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import workflow
from models import Document, Operator, Order, SignatureRequest, utcnow
from services.signing.signatures import active_requests, current_documents, labels, with_people


@dataclass(frozen=True)
class SignerLine:
    request: SignatureRequest
    role_label: str
    state: str
    state_label: str
    documents: list[str]
    can_remind: bool
    can_resend: bool


@dataclass(frozen=True)
class DocumentSignature:
    kind: str
    label: str
    status_label: str
    complete: bool
    signers: list[tuple[str, SignatureRequest, str, str, dt.datetime | None]]
    # (role label, request, state code, state label, signed at)


@dataclass
class SignaturePanel:
    order: Order
    sent: bool
    signers: list[SignerLine] = field(default_factory=list)
    documents: list[DocumentSignature] = field(default_factory=list)
    can_send: bool = False
    send_blockers: list[str] = field(default_factory=list)
    can_cancel: bool = False
    sent_at: dt.datetime | None = None


def panel(order: Order, operator: Operator, now: dt.datetime | None = None,
          documents: list[Document] | None = None) -> SignaturePanel | None:
    """What the order file shows; None for an order that has nothing to sign (type « P »).
    The file passes the current documents it has already read."""
    now = now or utcnow()
    full = with_people(order)
    if not workflow.contractual_kinds(full):
        return None
    docs = current_documents(order.id) if documents is None else documents
    requests = active_requests(order.id)
    sent = workflow.sent_for_signature(full) or bool(requests)
    result = SignaturePanel(full, sent)
    if full.phase == workflow.PHASE_VALIDATION and not workflow.sent_for_signature(full):
        result.send_blockers = workflow.send_for_signature_blockers(full, docs, operator)
        result.can_send = not result.send_blockers
    result.can_cancel = not workflow.failed_reasons(workflow.signature_cancel_checks(full, operator))
    result.sent_at = min((r.created_at for r in requests), default=None)
    by_kind = {d.kind: d for d in docs}
    for request in requests:
        state = workflow.signature_state(request, now)
        follow = workflow.signature_followup_blockers(full, operator, request, now)
        result.signers.append(SignerLine(
            request, workflow.label(workflow.SIGNER_ROLES, request.role), state,
            workflow.label(workflow.SIGNATURE_STATES, state),
            labels(item.kind for item in request.loaded_items),
            can_remind=not follow and state in workflow.OPEN_SIGNATURE_STATES,
            can_resend=not follow))
    for kind in workflow.contractual_kinds(full):
        document = by_kind.get(kind)
        status = document.status if document else workflow.STATUS_UNSIGNED
        lines = []
        for request in requests:
            item = next((i for i in request.loaded_items if i.kind == kind), None)
            if item is None:
                continue
            state = workflow.SIGNATURE_SIGNED if item.signed_at else workflow.signature_state(request, now)
            lines.append((workflow.label(workflow.SIGNER_ROLES, request.role), request, state,
                          workflow.label(workflow.SIGNATURE_STATES, state), item.signed_at))
        result.documents.append(DocumentSignature(
            kind, workflow.document_kind_label(kind),
            workflow.label(workflow.DOCUMENT_STATUSES, status),
            status == workflow.STATUS_SIGNED, lines))
    return result
