"""« Envoyer pour signature » and the operator's follow-up of a round: a new personal link,
cancelling the round.

Sending: the contractual documents are generated from the order (services.signing.contracts)
with the AE's texts in force that day (services.signing.text_versions; each document keeps
the version it used, which the audit event names) and imported as new versions (services.dossiers.documents.import_document, so older versions
stay); then, in one transaction, the order moves to « en signature », one ``SignatureRequest``
per signer is created with the documents they sign (``workflow.signers_documents``), each
signer's e-mail and the requester's notice are queued in the outbox, and one audit event is
written. Sending and signing of one order are serialised by the per-order lock.
"""
from __future__ import annotations

from flask import Flask

import workflow
from formatting import paris_date
from models import Document, Operator, Order, SignatureItem, SignatureRequest, db, utcnow
from services import audit, public_links
from services.dossiers import documents
from services.messaging import drafts, outbox
from services.signing import contracts, text_versions
from services.webhooks import events as webhooks
from services.signing.signatures import (ACTION_CANCELLED, ACTION_LINK_RESENT, ACTION_SENT,
                                         GENERATOR, TYPE_REQUESTER_SENT, TYPE_SIGNER_LINK,
                                         cancel_open_requests, code_channel, contract_data,
                                         current_documents, labels, link_lifetime, lock_order,
                                         order_lock, order_with_people, person_name, queue,
                                         queue_to_signer, signer_detail, signer_person)
from adapters.document_store import RefusedDocument


def send_for_signature(app: Flask, order: Order, operator: Operator, ip: str = "") -> list[SignatureRequest]:
    """Generate the contractual documents, then send them to their signers. Raises
    ``workflow.Refused`` (French reasons) when refused; nothing is sent then."""
    with order_lock(app, order.id):
        full = order_with_people(order.id)
        _check_sendable(full, current_documents(order.id), operator)
        generated = {}
        data = contract_data(full)
        texts = text_versions.in_force_texts(full.ae_id, workflow.contractual_kinds(full))
        for kind in workflow.contractual_kinds(full):
            version = texts[kind]
            try:
                document = documents.import_document(
                    full, kind, contracts.filename(kind, full.number),
                    contracts.generate(kind, data, text_versions.clause_text(version)),
                    actor_label=GENERATOR, ip=ip, within=_made_from(version))
            except RefusedDocument as refused:
                raise workflow.Refused([refused.message]) from None
            generated[kind] = document.id
        with db.atomic():
            current = lock_order(order.id)
            docs = current_documents(order.id)
            _check_sendable(current, docs, operator)
            by_kind = {d.kind: d for d in docs}
            if any(by_kind[kind].id != document_id for kind, document_id in generated.items()):
                raise workflow.Refused(["Le dossier a changé pendant l'envoi : "
                                        "recommencez."])
            requests = _start_round(app, current, by_kind, operator, ip, texts)
    outbox.wake(app)
    return requests


def _made_from(version):
    """Inside the import's transaction: the generated document names its text's version."""
    def record(document: Document) -> None:
        Document.update(text_version=version.id).where(Document.id == document.id).execute()
    return record


def _check_sendable(order: Order, docs: list[Document], operator: Operator) -> None:
    reasons = workflow.send_for_signature_blockers(order, docs, operator)
    reasons += workflow.signer_contact_problems(
        (role, person_name(signer_person(order, role)), signer_person(order, role).email)
        for role in workflow.signers_documents(order))
    if reasons:
        raise workflow.Refused(reasons)


def _start_round(app: Flask, order: Order, by_kind: dict, operator: Operator,
                 ip: str, texts: dict) -> list[SignatureRequest]:
    now = utcnow()
    expires = now + link_lifetime(app)
    cancel_open_requests(order.id, now)  # leftovers of a round the requester's change ended
    phase, substate = workflow.after_send_for_signature(order, list(by_kind.values()), operator)
    Order.update(phase=phase, substate=substate, updated_at=now).where(Order.id == order.id).execute()
    requests, listed = [], []
    for role, kinds in workflow.signers_documents(order).items():
        person = signer_person(order, role)
        request = SignatureRequest.create(
            order=order.id, role=role, person=person.id, name=person_name(person),
            email=person.email.strip(), phone=person.phone or "", state=workflow.SIGNATURE_SENT,
            link_nonce=public_links.nonce(16), created_at=now, sent_by=operator.id,
            last_sent_at=now, expires_at=expires, code_channel=code_channel(app))
        for kind in kinds:
            SignatureItem.create(request=request.id, document=by_kind[kind].id, kind=kind)
        queue(app, order, TYPE_SIGNER_LINK, request.email,
              f"Commande N° {order.number} : documents à signer électroniquement",
              ", ".join(labels(kinds)), operator, request)
        requests.append(request)
        listed.append(f"{workflow.label(workflow.SIGNER_ROLES, role)} {request.name} "
                      f"<{request.email}>")
    requester = drafts.requester_address(order)
    if requester:
        queue(app, order, TYPE_REQUESTER_SENT, requester,
              f"Commande N° {order.number} : documents envoyés pour signature",
              _requester_text(order, requests), operator)
    audit.record(ACTION_SENT, operator=operator, order=order, ip=ip,
                 details={"documents": labels(workflow.contractual_kinds(order)),
                          "signataires": listed, "expire": paris_date(expires),
                          "textes": [f"{workflow.document_kind_label(kind)} : "
                                     f"{text_versions.label(texts[kind])}"
                                     for kind in workflow.contractual_kinds(order)]})
    webhooks.emit(order, webhooks.ORDER_SENT_FOR_SIGNATURE)
    return requests


def _requester_text(order: Order, requests: list[SignatureRequest]) -> str:
    lines = "\n".join(f"  • {workflow.label(workflow.SIGNER_ROLES, r.role)} : {r.name}"
                      for r in requests)
    documents_ = "\n".join(f"  • {label}" for label in labels(workflow.contractual_kinds(order)))
    return (f"Bonjour,\n\nLes documents contractuels de la commande N° {order.number} "
            f"({order.company.name}) ont été envoyés pour signature électronique :\n{documents_}"
            f"\n\nChaque signataire a reçu par e-mail son lien personnel de signature :\n{lines}"
            f"\n\nVous pouvez suivre l'état de la commande sur sa page de suivi : {{lien}}"
            f"\n\nCordialement,\nL'Autorité d'Enregistrement {order.ae.name}")


def resend_link(app: Flask, order: Order, request: SignatureRequest, operator: Operator,
                ip: str = "") -> None:
    """A new personal link (the old one stops working), valid for a new period."""
    now = utcnow()
    with db.atomic():
        current = lock_order(order.id)
        request = SignatureRequest.get_by_id(request.id)
        reasons = workflow.signature_followup_blockers(current, operator, request, now)
        if reasons:
            raise workflow.Refused(reasons)
        expires = now + link_lifetime(app)
        (SignatureRequest
         .update(link_nonce=public_links.nonce(16), last_sent_at=now, expires_at=expires)
         .where(SignatureRequest.id == request.id)
         .execute())
        queue_to_signer(app, current, request, TYPE_SIGNER_LINK,
                        f"Commande N° {current.number} : nouveau lien de signature", operator)
        audit.record(ACTION_LINK_RESENT, operator=operator, order=current, ip=ip,
                     details={"signataire": signer_detail(request),
                              "qualité": workflow.label(workflow.SIGNER_ROLES, request.role),
                              "expire": paris_date(expires)})
    outbox.wake(app)


def cancel(app: Flask, order: Order, operator: Operator, ip: str = "") -> int:
    """« Annuler la demande de signature »: every open link voided, the order back to
    « à vérifier » (to be sent again once corrected). Returns how many requests were open."""
    with order_lock(app, order.id), db.atomic():
        current = lock_order(order.id)
        state = workflow.after_signature_cancelled(current, operator)
        now = utcnow()
        count = cancel_open_requests(order.id, now)
        (Order.update(**workflow.state_columns(current, state), updated_at=now)
         .where(Order.id == order.id).execute())
        audit.record(ACTION_CANCELLED, operator=operator, order=current, ip=ip,
                     details={"signataires": count})
    return count
