"""The signer's side, behind their personal link: what their page shows, the first opening,
signing with the one-time code and their consent, or declining with a reason.

Signing: each of the signer's documents gets a PAdES signature with the AE's seal
(adapters.pades) and is imported as a new version, in a transaction that also records the
evidence, marks the document « signé » once every signer has signed it, and moves the order to
« à valider » once every contractual document is. The per-order lock serialises signing and
sending, so two signatures never start from the same version.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from flask import Flask

import workflow
from formatting import paris_datetime
from models import Document, Operator, Order, SignatureItem, SignatureRequest, db, utcnow
from services import audit, public_links
from services.dossiers import documents
from services.signing import contracts
from services.signing.codes import spend_code
from services.messaging import outbox
from services.webhooks import events as webhooks
from services.signing.signatures import (ACTION_DECLINED, ACTION_OPENED, ACTION_SIGNED,
                                         TYPE_OPERATOR_DECLINED, current_documents, lock_order,
                                         order_lock, order_with_people, queue, signer_detail)
from adapters import pades
from adapters.document_store import RefusedDocument


@dataclass
class SigningPage:
    request: SignatureRequest
    order: Order
    items: list[SignatureItem]             # with ``current`` (the version to sign or signed)
    state: str                             # workflow.SIGNATURE_STATES code
    blockers: list[str]
    now: dt.datetime
    code_sent: bool = False
    masked_contact: str = ""

    @property
    def can_sign(self) -> bool:
        return not self.blockers


def page(request: SignatureRequest, now: dt.datetime | None = None) -> SigningPage:
    now = now or utcnow()
    order = order_with_people(request.order_id)
    items = list(SignatureItem
                 .select(SignatureItem, Document)
                 .join(Document, on=(SignatureItem.document == Document.id))
                 .where(SignatureItem.request == request.id)
                 .order_by(SignatureItem.id))
    signed_ids = [item.signed_document_id for item in items if item.signed_document_id]
    signed = {d.id: d for d in Document.select().where(Document.id.in_(signed_ids or [-1]))}
    for item in items:
        item.current = signed.get(item.signed_document_id) or item.document
    code_sent = (request.code_nonce is not None and request.code_expires_at is not None
                 and request.code_expires_at > now)
    contact = request.phone if request.code_channel == "sms" else request.email
    return SigningPage(request, order, items, workflow.signature_state(request, now),
                       workflow.signing_blockers(order, request, now), now, code_sent,
                       public_links.mask_contact(contact or ""))


def refreshed(request: SignatureRequest) -> SignatureRequest:
    return SignatureRequest.get_by_id(request.id)


def item_of(request: SignatureRequest, item_id: int) -> SignatureItem | None:
    """A document of this signer's request (never another signer's or order's), or None."""
    return (SignatureItem
            .select()
            .where((SignatureItem.id == item_id) & (SignatureItem.request == request.id))
            .first())


def preview_document(item: SignatureItem) -> Document:
    """What the signer sees of an item: the version with their signature once signed."""
    return Document.get_by_id(item.signed_document_id or item.document_id)


def record_opened(request: SignatureRequest, ip: str = "", user_agent: str = "") -> bool:
    """The first opening of the link (« ouvert »), with its time."""
    now = utcnow()
    with db.atomic():
        opened = (SignatureRequest
                  .update(state=workflow.SIGNATURE_OPENED, opened_at=now)
                  .where((SignatureRequest.id == request.id)
                         & (SignatureRequest.state == workflow.SIGNATURE_SENT)
                         & (SignatureRequest.expires_at > now))
                  .execute())
        if opened:
            audit.record(ACTION_OPENED, order=Order.get_by_id(request.order_id), ip=ip,
                         actor=f"{request.name} (signataire)",
                         details={"signataire": request.name, "navigateur": user_agent[:200]})
    return bool(opened)


def sign(app: Flask, request: SignatureRequest, code: str, consent: bool, ip: str = "",
         user_agent: str = "") -> SignatureRequest:
    """The signer confirms with the code and their consent: each of their documents gets a
    PAdES signature. Raises workflow.Refused with the French reason."""
    if not consent:
        raise workflow.Refused("Cochez la case « J'ai lu les documents et j'accepte de les signer "
                               "électroniquement » pour signer.")
    with order_lock(app, request.order_id):
        request = SignatureRequest.get_by_id(request.id)
        order = order_with_people(request.order_id)
        reasons = workflow.signing_blockers(order, request, utcnow())
        if reasons:
            raise workflow.Refused(" ".join(reasons))
        spend_code(app, request, code)
        request = SignatureRequest.get_by_id(request.id)
        seal = pades.ae_seal(app, order.ae)
        pending = [item for item in SignatureItem.select().where(SignatureItem.request == request.id)
                   .order_by(SignatureItem.id) if item.signed_at is None]
        for item in pending:
            _sign_item(app, order, request, item, seal, ip, user_agent)
    return SignatureRequest.get_by_id(request.id)


def _chain_ids(order_id: int, kind: str) -> set[int]:
    """The versions of ``kind`` this round may sign: the one sent and the signed ones."""
    rows = (SignatureItem
            .select(SignatureItem.document, SignatureItem.signed_document)
            .join(SignatureRequest)
            .where((SignatureRequest.order == order_id) & (SignatureItem.kind == kind)
                   & (SignatureRequest.state != workflow.SIGNATURE_CANCELLED)))
    ids = set()
    for row in rows:
        ids.add(row.document_id)
        if row.signed_document_id:
            ids.add(row.signed_document_id)
    return ids


def _sign_item(app: Flask, order: Order, request: SignatureRequest, item: SignatureItem,
               seal: pades.Seal, ip: str, user_agent: str) -> None:
    current = next((d for d in current_documents(order.id) if d.kind == item.kind), None)
    if current is None or current.id not in _chain_ids(order.id, item.kind):
        raise workflow.Refused(f"Le document « {workflow.document_kind_label(item.kind)} » a été "
                               f"remplacé depuis l'envoi : l'Autorité d'Enregistrement doit "
                               f"vous l'envoyer à nouveau.")
    store = documents.document_store(app)
    before = store.path_for(current.sha256).read_bytes()
    role = workflow.label(workflow.SIGNER_ROLES, request.role)
    signed = pades.sign(
        before, seal, field_name=f"Signature-{request.id}-{item.id}",
        signer_name=request.name,
        reason=(f"Signé électroniquement par {request.name} ({role}), code à usage unique "
                f"vérifié le {paris_datetime(request.code_verified_at)}"),
        location=f"{order.ae.name} — RA Desk")
    sha_after = hashlib.sha256(signed).hexdigest()

    def record(document: Document) -> None:
        replaced = (Document
                    .select(Document.id)
                    .where((Document.order == order.id) & (Document.kind == item.kind)
                           & (Document.id != document.id))
                    .order_by(Document.id.desc())
                    .first())
        if replaced is None or replaced.id != current.id:
            raise workflow.Refused("Le document a changé pendant la signature : recommencez.")
        now = utcnow()
        (SignatureItem
         .update(signed_at=now, sha256_before=current.sha256, sha256_after=sha_after,
                 signed_document=document.id)
         .where(SignatureItem.id == item.id)
         .execute())
        fully = workflow.document_fully_signed(order, item.kind, _signed_roles(order.id, item.kind))
        if fully:
            Document.update(status=workflow.STATUS_SIGNED).where(Document.id == document.id).execute()
        # The signed copy is the same text: it keeps the version the contract was made from.
        (Document
         .update(text_version=current.text_version_id)
         .where(Document.id == document.id)
         .execute())
        last = not (SignatureItem.select()
                    .where((SignatureItem.request == request.id) & SignatureItem.signed_at.is_null())
                    .exists())
        if last:
            (SignatureRequest
             .update(state=workflow.SIGNATURE_SIGNED, signed_at=now, ip=ip,
                     user_agent=user_agent[:250])
             .where(SignatureRequest.id == request.id)
             .execute())
        locked = Order.get_by_id(order.id)
        substate = workflow.compute_substate(locked, current_documents(order.id))
        if substate != locked.substate:
            Order.update(substate=substate).where(Order.id == order.id).execute()
            if substate == workflow.SUBSTATE_TO_VALIDATE:
                webhooks.emit(locked, webhooks.ORDER_SIGNED)
        audit.record(ACTION_SIGNED, order=locked, ip=ip, actor=f"{request.name} (signataire)",
                     details={"document": workflow.document_kind_label(item.kind),
                              "signataire": signer_detail(request),
                              "qualité": role, "navigateur": user_agent[:200],
                              "code_vérifié": paris_datetime(request.code_verified_at),
                              "sha256_avant": current.sha256, "sha256_après": sha_after,
                              "statut": "signé" if fully else "en attente d'autres signataires"})

    try:
        documents.import_document(order, item.kind, current.filename or contracts.filename(
            item.kind, order.number), signed, actor_label=f"{request.name} (signature électronique)",
            ip=ip, within=record)
    except RefusedDocument as refused:
        raise workflow.Refused(refused.message) from None


def _signed_roles(order_id: int, kind: str) -> set[str]:
    rows = (SignatureRequest
            .select(SignatureRequest.role)
            .join(SignatureItem)
            .where((SignatureRequest.order == order_id) & (SignatureItem.kind == kind)
                   & SignatureItem.signed_at.is_null(False)
                   & (SignatureRequest.state != workflow.SIGNATURE_CANCELLED)))
    return {row.role for row in rows}


def decline(app: Flask, request: SignatureRequest, reason: str, ip: str = "",
            user_agent: str = "") -> None:
    """The signer refuses to sign, with a reason; the operator who sent is told."""
    reason = workflow.checked_comment(reason, "Le motif du refus")
    now = utcnow()
    with db.atomic():
        order = lock_order(request.order_id)
        request = SignatureRequest.get_by_id(request.id)
        reasons = workflow.signing_blockers(order, request, now)
        if reasons:
            raise workflow.Refused(" ".join(reasons))
        (SignatureRequest
         .update(state=workflow.SIGNATURE_DECLINED, declined_at=now, decline_reason=reason,
                 ip=ip, user_agent=user_agent[:250])
         .where(SignatureRequest.id == request.id)
         .execute())
        sender = Operator.get_or_none(Operator.id == request.sent_by_id)
        if sender is not None and sender.email:
            queue(app, order, TYPE_OPERATOR_DECLINED, sender.email,
                  f"Commande N° {order.number} : {request.name} refuse de signer", reason, None,
                  request)
        audit.record(ACTION_DECLINED, order=order, ip=ip, actor=f"{request.name} (signataire)",
                     details={"signataire": signer_detail(request),
                              "qualité": workflow.label(workflow.SIGNER_ROLES, request.role),
                              "motif_refus": reason, "navigateur": user_agent[:200]})
    outbox.wake(app)
