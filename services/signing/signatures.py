"""Signature requests of the contractual documents (SPEC §4 steps 2–3): what every part of
signing shares — its settings, notification types and audit words, reading an order with its
signers and current round, the per-order lock, queueing a message tied to a request.

The parts: ``sending`` (« Envoyer pour signature », a new link, cancellation), ``reminders``,
``links`` and ``codes`` (the signer's personal link and one-time codes, services.public_links),
``signer`` (the signer's page: reading, signing, declining), ``messages`` (their e-mails, written
when they leave) and ``status`` (the order file's « Signature des documents »).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
from pathlib import Path

from flask import Flask

import workflow
from models import (Document, Notification, Operator, Order, Person, SignatureItem,
                    SignatureMessage, SignatureRequest, utcnow)
from services import public_links
from services.ae_settings import ae_identity
from services.messaging import notifications
from services.signing import contracts

SYSTEM = "Système"
GENERATOR = "RA Desk (génération)"

# Notification types of signing (create_app names them and gives the signers' to the outbox).
TYPE_SIGNER_LINK = "signature_request"
TYPE_SIGNER_REMINDER = "signature_reminder"
TYPE_SIGNER_CODE = "signature_code"
TYPE_REQUESTER_SENT = "signature_sent"
TYPE_OPERATOR_DECLINED = "signature_declined"
TYPE_LABELS = {
    TYPE_SIGNER_LINK: "Lien de signature (signataire)",
    TYPE_SIGNER_REMINDER: "Relance de signature (signataire)",
    TYPE_SIGNER_CODE: "Code de signature (signataire)",
    TYPE_REQUESTER_SENT: "Documents envoyés pour signature",
    TYPE_OPERATOR_DECLINED: "Refus de signature (opérateur)",
}
SIGNER_TYPES = (TYPE_SIGNER_LINK, TYPE_SIGNER_REMINDER, TYPE_SIGNER_CODE, TYPE_OPERATOR_DECLINED)

ACTION_SENT = "signature_sent"
ACTION_LINK_RESENT = "signature_link_resent"
ACTION_REMINDED = "signature_reminded"
ACTION_CANCELLED = "signature_cancelled"
ACTION_OPENED = "signature_opened"
ACTION_CODE_SENT = "signature_code_sent"
ACTION_CODE_FAILED = "signature_code_failed"
ACTION_SIGNED = "document_signed"
ACTION_DECLINED = "signature_declined"
AUDIT_ACTIONS = {
    ACTION_SENT: "Envoi pour signature",
    ACTION_LINK_RESENT: "Nouveau lien de signature envoyé",
    ACTION_REMINDED: "Relance d'un signataire",
    ACTION_CANCELLED: "Demande de signature annulée",
    ACTION_OPENED: "Lien de signature ouvert",
    ACTION_CODE_SENT: "Code de signature envoyé",
    ACTION_CODE_FAILED: "Code de signature erroné",
    ACTION_SIGNED: "Document signé électroniquement",
    ACTION_DECLINED: "Refus de signer",
}
DETAIL_LABELS = {
    "signataires": "Signataires", "documents": "Documents", "signataire": "Signataire",
    "qualité": "Qualité", "canal": "Canal", "essais": "Essais", "ip": "Adresse IP",
    "navigateur": "Navigateur", "code_vérifié": "Code vérifié le", "sha256_avant": "SHA-256 avant",
    "sha256_après": "SHA-256 après", "statut": "Statut", "expire": "Valable jusqu'au",
    "relance": "Relance n°", "automatique": "Automatique", "motif_refus": "Motif",
}


# --- Settings -------------------------------------------------------------------------------

def link_lifetime(app: Flask) -> dt.timedelta:
    return dt.timedelta(days=int(app.config.get("RADESK_SIGNATURE_LINK_DAYS", 14)))


def reminder_delay(app: Flask) -> dt.timedelta:
    return dt.timedelta(hours=float(app.config.get("RADESK_SIGNATURE_REMINDER_HOURS", 72)))


def max_reminders(app: Flask) -> int:
    return int(app.config.get("RADESK_SIGNATURE_MAX_REMINDERS", 3))


def code_channel(app: Flask) -> str:
    return "sms" if app.config.get("RADESK_SIGNATURE_CODE_CHANNEL") == "sms" else "email"


# --- Reading an order for its documents and requests -------------------------------------------

def order_with_people(order_id: int) -> Order:
    """The order with its AE, company, holder, legal representative and mandataire: one query."""
    return Order.with_people().where(Order.id == order_id).get()


def with_people(order: Order) -> Order:
    """``order`` itself when its AE, company and people came with it (the order file reads
    them in one query), else the order read again with them."""
    if {"ae", "company", "holder", "legal_representative"} <= order.__rel__.keys():
        return order
    return order_with_people(order.id)


def current_documents(order_id: int) -> list[Document]:
    return list(Document.current_of(order_id))


def person_name(person: Person) -> str:
    return " ".join(part for part in (person.civility, person.first_name,
                                      (person.last_name or "").upper()) if part)


def signer_person(order: Order, role: str) -> Person | None:
    return {workflow.SIGNER_HOLDER: order.holder,
            workflow.SIGNER_LEGAL_REPRESENTATIVE: order.legal_representative,
            workflow.SIGNER_MANDATAIRE: order.mandataire}[role]


def contract_data(order: Order) -> contracts.ContractData:
    def party(role: str) -> contracts.Party:
        person = signer_person(order, role)
        return contracts.Party(role, person_name(person), person.email)
    id_document = (f"{workflow.label(workflow.ID_DOC_TYPES, order.id_doc_type)} {order.id_doc_number}"
                   if order.id_doc_number else "")
    return contracts.ContractData(
        ae_name=order.ae.name, number=order.number, created_on=contracts.created_on(order),
        company=order.company.name, siren=order.company.siren,
        holder=party(workflow.SIGNER_HOLDER),
        legal_representative=party(workflow.SIGNER_LEGAL_REPRESENTATIVE),
        mandataire=party(workflow.SIGNER_MANDATAIRE) if order.mandataire_id else None,
        product=order.product, validity_years=order.validity_years,
        otp_contact=order.otp_contact, id_document=id_document,
        signers={kind: workflow.document_signers(order, kind)
                 for kind in workflow.contractual_kinds(order)},
        ae_contact=tuple(ae_identity(order.ae).contact_lines))


def active_requests(order_id: int) -> list[SignatureRequest]:
    """The current round's requests (every one not cancelled), with their items."""
    requests = list(SignatureRequest
                    .select()
                    .where((SignatureRequest.order == order_id)
                           & (SignatureRequest.state != workflow.SIGNATURE_CANCELLED))
                    .order_by(SignatureRequest.id))
    items = (SignatureItem
             .select()
             .where(SignatureItem.request.in_([r.id for r in requests] or [-1]))
             .order_by(SignatureItem.id))
    by_request: dict[int, list[SignatureItem]] = {}
    for item in items:
        by_request.setdefault(item.request_id, []).append(item)
    for request in requests:
        request.loaded_items = by_request.get(request.id, [])
    return requests


def labels(kinds) -> list[str]:
    return [workflow.document_kind_label(kind) for kind in kinds]


def items_labels(request: SignatureRequest) -> list[str]:
    """The documents a request is for, in French."""
    return labels(item.kind for item in
                  SignatureItem.select().where(SignatureItem.request == request.id)
                  .order_by(SignatureItem.id))


# --- Locks, queueing, cancelling ---------------------------------------------------------------

@contextlib.contextmanager
def order_lock(app: Flask, order_id: int):
    """Sending and signing one order, one at a time across threads and server processes."""
    folder = Path(app.config["INSTANCE_PATH"]) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"signature-{order_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def lock_order(order_id: int) -> Order:
    """Inside a transaction: take the order's row lock (SQLite: the write lock) first, so its
    state read next cannot change before commit."""
    Order.update(updated_at=Order.updated_at).where(Order.id == order_id).execute()
    return order_with_people(order_id)


def queue(app: Flask, order: Order, type_: str, recipient: str, subject: str, body: str,
          operator: Operator | None, request: SignatureRequest | None = None) -> Notification:
    """Inside the caller's transaction: a notification in the outbox, tied to ``request`` when
    its e-mail is written at sending (services.signing.messages)."""
    now = utcnow()
    notification = Notification.create(
        ae=order.ae_id, order=order.id, type=type_, recipient=recipient, subject=subject,
        body=body, sent_by=operator.id if operator else None, created_at=now, next_try_at=now,
        state="queued", tries=0,
        message_id=notifications.new_message_id(app.config.get("MAIL_DEFAULT_SENDER")))
    if request is not None:
        SignatureMessage.create(notification=notification.id, request=request.id)
    return notification


def queue_to_signer(app: Flask, order: Order, request: SignatureRequest, type_: str,
                    subject: str, operator: Operator | None) -> Notification:
    """Inside the caller's transaction: the signer's e-mail (link, reminder), its text written
    when it leaves; the body kept here lists the documents, for the history."""
    return queue(app, order, type_, request.email, subject, ", ".join(items_labels(request)),
                 operator, request)


def signer_detail(request: SignatureRequest) -> str:
    """The signer as the audit trail names them."""
    return f"{request.name} <{request.email}>"



def cancel_open_requests(order_id: int, now: dt.datetime | None = None) -> int:
    """Inside the caller's transaction: every open request of the order cancelled, its link
    voided (a new nonce). Returns how many were open."""
    return (SignatureRequest
            .update(state=workflow.SIGNATURE_CANCELLED, cancelled_at=now or utcnow(),
                    link_nonce=public_links.nonce(16))
            .where((SignatureRequest.order == order_id)
                   & SignatureRequest.state.in_(workflow.OPEN_SIGNATURE_STATES))
            .execute())
