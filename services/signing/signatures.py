"""« Envoyer pour signature » and the signers' side (SPEC §4 steps 2–3, issue 6).

Sending: the contractual documents are generated from the order (services.signing.contracts) and
imported as new versions (services.dossiers.documents.import_document, so older versions stay); then,
in one transaction, the order moves to « en signature », one ``SignatureRequest`` per signer is
created with the documents they sign (``workflow.signers_documents``), each signer's e-mail and
the requester's notice are queued in the outbox, and one audit event is written.

Links and codes are made when the e-mail leaves (``compose_signer_message``, registered with
the outbox): a link is a token signed with the app's secret over the request's id and its
``link_nonce`` (a new link, or a cancellation, changes the nonce and voids the old link); a
one-time code is an HMAC of the secret, the request and its ``code_nonce``. Neither is stored.

Signing: after the code and the signer's consent, each document gets a PAdES signature with
the AE's seal (adapters.pades) and is imported as a new version, in a transaction that also
records the evidence, marks the document « signé » once every signer has signed it, and moves
the order to « à valider » once every contractual document is. Sending and signing of one order
are serialised by a per-order file lock, so two signatures never start from the same version.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import flask_mail
from flask import Flask
from itsdangerous import BadData, URLSafeSerializer
from markupsafe import Markup, escape
from peewee import JOIN

import workflow
from formatting import paris_date, paris_datetime
from models import (AE, Company, Document, Notification, Operator, Order, Person,
                    SignatureItem, SignatureMessage, SignatureRequest, db, utcnow)
from services import audit
from services.signing import contracts
from services.dossiers import documents
from services.messaging import notifications
from adapters import pades
from adapters.document_store import RefusedDocument
from adapters.sms import SmsError, gateway

SALT = "radesk-signature-v1"
CODE_TTL = dt.timedelta(minutes=10)
CODE_MAX_TRIES = 5
CODE_MAX_SENT = 6
CODE_INTERVAL = dt.timedelta(seconds=60)
SYSTEM = "Système"
GENERATOR = "RA Desk (génération)"

# Outbox notification types of this module.
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


class InvalidLink(Exception):
    """A token that is not ours (tampered, truncated, another app's): answered with a 404."""


class StaleLink(Exception):
    """A genuine link replaced by a newer one, or voided by a cancellation."""

    def __init__(self, request: SignatureRequest):
        super().__init__("stale signing link")
        self.request = request


# --- Settings -------------------------------------------------------------------------------

def link_lifetime(app: Flask) -> dt.timedelta:
    return dt.timedelta(days=int(app.config.get("RADESK_SIGNATURE_LINK_DAYS", 14)))


def reminder_delay(app: Flask) -> dt.timedelta:
    return dt.timedelta(hours=float(app.config.get("RADESK_SIGNATURE_REMINDER_HOURS", 72)))


def max_reminders(app: Flask) -> int:
    return int(app.config.get("RADESK_SIGNATURE_MAX_REMINDERS", 3))


def code_channel(app: Flask) -> str:
    return "sms" if app.config.get("RADESK_SIGNATURE_CODE_CHANNEL") == "sms" else "email"


# --- Links and codes --------------------------------------------------------------------------

def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def make_token(secret: str, request: SignatureRequest) -> str:
    return _serializer(secret).dumps({"r": request.id, "n": request.link_nonce})


def link_for(app: Flask, request: SignatureRequest) -> str:
    token = make_token(app.config["SECRET_KEY"], request)
    return f"{app.config['RADESK_PUBLIC_URL'].rstrip('/')}/signature/{token}"


def request_for_token(secret: str, token: str) -> SignatureRequest:
    """The request a link is for; InvalidLink when not authentic, StaleLink when replaced."""
    try:
        payload = _serializer(secret).loads(token)
    except BadData:
        raise InvalidLink() from None
    if not (isinstance(payload, dict) and isinstance(payload.get("r"), int)
            and isinstance(payload.get("n"), str)):
        raise InvalidLink()
    request = SignatureRequest.get_or_none(SignatureRequest.id == payload["r"])
    if request is None:
        raise InvalidLink()
    if not hmac.compare_digest(request.link_nonce, payload["n"]):
        raise StaleLink(request)
    return request


def _code(secret: str, request_id: int, code_nonce: str) -> str:
    digest = hmac.new(secret.encode("utf-8"),
                      f"radesk-signature-code-v1:{request_id}:{code_nonce}".encode("utf-8"),
                      hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


# --- Reading an order for its documents and requests -------------------------------------------

def order_with_people(order_id: int) -> Order:
    """The order with its AE, company, holder, legal representative and mandataire: one query."""
    holder, legal, mandataire = Person.alias(), Person.alias(), Person.alias()
    return (Order
            .select(Order, AE, Company, holder, legal, mandataire)
            .join(AE, on=(Order.ae == AE.id), attr="ae")
            .switch(Order)
            .join(Company, on=(Order.company == Company.id), attr="company")
            .switch(Order)
            .join(holder, on=(Order.holder == holder.id), attr="holder")
            .switch(Order)
            .join(legal, on=(Order.legal_representative == legal.id), attr="legal_representative")
            .switch(Order)
            .join(mandataire, JOIN.LEFT_OUTER, on=(Order.mandataire == mandataire.id),
                  attr="mandataire")
            .where(Order.id == order_id)
            .get())


def with_people(order: Order) -> Order:
    """``order`` itself when its AE, company and people came with it (the order file reads
    them in one query), else the order read again with them."""
    if {"ae", "company", "holder", "legal_representative"} <= order.__rel__.keys():
        return order
    return order_with_people(order.id)


def current_documents(order_id: int) -> list[Document]:
    return list(Document
                .select()
                .where((Document.order == order_id) & (Document.is_current == True))  # noqa: E712
                .order_by(Document.id))


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
                 for kind in workflow.contractual_kinds(order)})


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


# --- Locks, queueing ---------------------------------------------------------------------------

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


def _lock_order(order_id: int) -> Order:
    """Inside a transaction: take the order's row lock (SQLite: the write lock) first, so its
    state read next cannot change before commit."""
    Order.update(updated_at=Order.updated_at).where(Order.id == order_id).execute()
    return order_with_people(order_id)


def _queue(app: Flask, order: Order, type_: str, recipient: str, subject: str, body: str,
           operator: Operator | None, request: SignatureRequest | None = None) -> Notification:
    now = utcnow()
    notification = Notification.create(
        ae=order.ae_id, order=order.id, type=type_, recipient=recipient, subject=subject,
        body=body, sent_by=operator.id if operator else None, created_at=now, next_try_at=now,
        state="queued", tries=0,
        message_id=notifications.new_message_id(app.config.get("MAIL_DEFAULT_SENDER")))
    if request is not None:
        SignatureMessage.create(notification=notification.id, request=request.id)
    return notification


def wake_outbox(app: Flask) -> None:
    import scheduler
    scheduler.wake(app)


def _labels(kinds) -> list[str]:
    return [workflow.document_kind_label(kind) for kind in kinds]


# --- « Envoyer pour signature » ----------------------------------------------------------------

def send_for_signature(app: Flask, order: Order, operator: Operator, ip: str = "") -> list[SignatureRequest]:
    """Generate the contractual documents, then send them to their signers. Raises
    ``workflow.Refused`` (French reasons) when refused; nothing is sent then."""
    with order_lock(app, order.id):
        full = order_with_people(order.id)
        _check_sendable(full, current_documents(order.id), operator)
        generated = {}
        data = contract_data(full)
        for kind in workflow.contractual_kinds(full):
            try:
                document = documents.import_document(
                    full, kind, contracts.filename(kind, full.number), contracts.generate(kind, data),
                    actor_label=GENERATOR, ip=ip)
            except RefusedDocument as refused:
                raise workflow.Refused([refused.message]) from None
            generated[kind] = document.id
        with db.atomic():
            current = _lock_order(order.id)
            docs = current_documents(order.id)
            _check_sendable(current, docs, operator)
            by_kind = {d.kind: d for d in docs}
            if any(by_kind[kind].id != document_id for kind, document_id in generated.items()):
                raise workflow.Refused(["Le dossier a changé pendant l'envoi : "
                                              "recommencez."])
            requests = _start_round(app, current, by_kind, operator, ip)
    wake_outbox(app)
    return requests


def _check_sendable(order: Order, docs: list[Document], operator: Operator) -> None:
    reasons = workflow.send_for_signature_blockers(order, docs, operator)
    reasons += workflow.signer_contact_problems(
        (role, person_name(signer_person(order, role)), signer_person(order, role).email)
        for role in workflow.signers_documents(order))
    if reasons:
        raise workflow.Refused(reasons)


def _start_round(app: Flask, order: Order, by_kind: dict, operator: Operator,
                 ip: str) -> list[SignatureRequest]:
    now = utcnow()
    expires = now + link_lifetime(app)
    _cancel_open_requests(order.id, now)  # leftovers of a round the requester's change ended
    phase, substate = workflow.after_send_for_signature(order, list(by_kind.values()), operator)
    Order.update(phase=phase, substate=substate, updated_at=now).where(Order.id == order.id).execute()
    requests, listed = [], []
    for role, kinds in workflow.signers_documents(order).items():
        person = signer_person(order, role)
        request = SignatureRequest.create(
            order=order.id, role=role, person=person.id, name=person_name(person),
            email=person.email.strip(), phone=person.phone or "", state=workflow.SIGNATURE_SENT,
            link_nonce=secrets.token_urlsafe(16), created_at=now, sent_by=operator.id,
            last_sent_at=now, expires_at=expires, code_channel=code_channel(app))
        for kind in kinds:
            SignatureItem.create(request=request.id, document=by_kind[kind].id, kind=kind)
        _queue(app, order, TYPE_SIGNER_LINK, request.email,
               f"Commande N° {order.number} : documents à signer électroniquement",
               ", ".join(_labels(kinds)), operator, request)
        requests.append(request)
        listed.append(f"{workflow.label(workflow.SIGNER_ROLES, role)} {request.name} "
                      f"<{request.email}>")
    requester = notifications.requester_address(order)
    if requester:
        _queue(app, order, TYPE_REQUESTER_SENT, requester,
               f"Commande N° {order.number} : documents envoyés pour signature",
               _requester_text(order, requests), operator)
    audit.record(ACTION_SENT, operator=operator, order=order, ip=ip,
                 details={"documents": _labels(workflow.contractual_kinds(order)),
                          "signataires": listed, "expire": paris_date(expires)})
    return requests


def _requester_text(order: Order, requests: list[SignatureRequest]) -> str:
    lines = "\n".join(f"  • {workflow.label(workflow.SIGNER_ROLES, r.role)} : {r.name}"
                      for r in requests)
    documents_ = "\n".join(f"  • {label}" for label in _labels(workflow.contractual_kinds(order)))
    return (f"Bonjour,\n\nLes documents contractuels de la commande N° {order.number} "
            f"({order.company.name}) ont été envoyés pour signature électronique :\n{documents_}"
            f"\n\nChaque signataire a reçu par e-mail son lien personnel de signature :\n{lines}"
            f"\n\nVous pouvez suivre l'état de la commande sur sa page de suivi : {{lien}}"
            f"\n\nCordialement,\nL'Autorité d'Enregistrement {order.ae.name}")


def _cancel_open_requests(order_id: int, now: dt.datetime) -> int:
    return (SignatureRequest
            .update(state=workflow.SIGNATURE_CANCELLED, cancelled_at=now,
                    link_nonce=secrets.token_urlsafe(16))
            .where((SignatureRequest.order == order_id)
                   & SignatureRequest.state.in_(workflow.OPEN_SIGNATURE_STATES))
            .execute())


def cancel_open_requests(order_id: int) -> int:
    """Inside the caller's transaction (the order refused): every open link voided."""
    return _cancel_open_requests(order_id, utcnow())


# --- The operator's follow-up: new link, reminder, cancellation ---------------------------------

def request_of(order: Order, request_id: int) -> SignatureRequest | None:
    """A request of ``order`` (which must come from a scoped lookup), or None."""
    return (SignatureRequest
            .select()
            .where((SignatureRequest.id == request_id) & (SignatureRequest.order == order.id))
            .first())


def _items_labels(request: SignatureRequest) -> list[str]:
    return _labels(item.kind for item in
                   SignatureItem.select().where(SignatureItem.request == request.id)
                   .order_by(SignatureItem.id))


def resend_link(app: Flask, order: Order, request: SignatureRequest, operator: Operator,
                ip: str = "") -> None:
    """A new personal link (the old one stops working), valid for a new period."""
    now = utcnow()
    with db.atomic():
        current = _lock_order(order.id)
        request = SignatureRequest.get_by_id(request.id)
        reasons = workflow.signature_followup_blockers(current, operator, request, now)
        if reasons:
            raise workflow.Refused(reasons)
        expires = now + link_lifetime(app)
        (SignatureRequest
         .update(link_nonce=secrets.token_urlsafe(16), last_sent_at=now, expires_at=expires)
         .where(SignatureRequest.id == request.id)
         .execute())
        _queue(app, current, TYPE_SIGNER_LINK, request.email,
               f"Commande N° {current.number} : nouveau lien de signature",
               ", ".join(_items_labels(request)), operator, request)
        audit.record(ACTION_LINK_RESENT, operator=operator, order=current, ip=ip,
                     details={"signataire": f"{request.name} <{request.email}>",
                              "qualité": workflow.label(workflow.SIGNER_ROLES, request.role),
                              "expire": paris_date(expires)})
    wake_outbox(app)


def remind(app: Flask, order: Order, request: SignatureRequest, operator: Operator | None,
           ip: str = "", now: dt.datetime | None = None) -> bool:
    """A reminder with the same link. ``operator`` None: the automatic reminder (which only
    goes when still due, so two job runs never remind twice). True when one was queued."""
    now = now or utcnow()
    with db.atomic():
        current = _lock_order(order.id)
        request = SignatureRequest.get_by_id(request.id)
        if operator is None:
            if not _reminder_due(app, request, now) or workflow.signing_blockers(current, request, now):
                return False
        else:
            reasons = workflow.signature_followup_blockers(current, operator, request, now)
            if request.state in workflow.OPEN_SIGNATURE_STATES and request.expires_at <= now:
                reasons.append("Ce lien de signature a expiré : envoyez un nouveau lien plutôt "
                               "qu'une relance.")
            if reasons:
                raise workflow.Refused(reasons)
        (SignatureRequest
         .update(reminders=SignatureRequest.reminders + 1, reminded_at=now)
         .where(SignatureRequest.id == request.id)
         .execute())
        _queue(app, current, TYPE_SIGNER_REMINDER, request.email,
               f"Rappel — commande N° {current.number} : documents à signer",
               ", ".join(_items_labels(request)), operator, request)
        audit.record(ACTION_REMINDED, operator=operator, order=current, ip=ip,
                     actor=None if operator else SYSTEM,
                     details={"signataire": f"{request.name} <{request.email}>",
                              "relance": request.reminders + 1,
                              "automatique": "non" if operator else "oui"})
    if operator is not None:
        wake_outbox(app)
    return True


def _reminder_due(app: Flask, request: SignatureRequest, now: dt.datetime) -> bool:
    last = max(filter(None, (request.last_sent_at, request.reminded_at)))
    return (request.state in workflow.OPEN_SIGNATURE_STATES and request.expires_at > now
            and request.reminders < max_reminders(app) and last <= now - reminder_delay(app))


def send_due_reminders(app: Flask, now: dt.datetime | None = None) -> int:
    """The scheduler's job: remind every signer whose delay has passed. Returns how many."""
    now = now or utcnow()
    candidates = (SignatureRequest
                  .select()
                  .where(SignatureRequest.state.in_(workflow.OPEN_SIGNATURE_STATES)
                         & (SignatureRequest.expires_at > now)
                         & (SignatureRequest.reminders < max_reminders(app))
                         & (SignatureRequest.last_sent_at <= now - reminder_delay(app)))
                  .order_by(SignatureRequest.id))
    sent = 0
    for request in candidates:
        if _reminder_due(app, request, now):
            sent += remind(app, Order.get_by_id(request.order_id), request, None, now=now)
    if sent:
        wake_outbox(app)
    return sent


def cancel(app: Flask, order: Order, operator: Operator, ip: str = "") -> int:
    """« Annuler la demande de signature »: every open link voided, the order back to
    « à vérifier » (to be sent again once corrected). Returns how many requests were open."""
    with order_lock(app, order.id), db.atomic():
        current = _lock_order(order.id)
        phase, substate = workflow.after_signature_cancelled(current, operator)
        now = utcnow()
        count = _cancel_open_requests(order.id, now)
        Order.update(phase=phase, substate=substate, updated_at=now).where(Order.id == order.id).execute()
        audit.record(ACTION_CANCELLED, operator=operator, order=current, ip=ip,
                     details={"signataires": count})
    return count


# --- The signer's page -----------------------------------------------------------------------

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


def mask(contact: str) -> str:
    """« s•••••@exemple.fr », « +33 6•• ••• •78 »: enough to recognise, not to harvest."""
    if "@" in contact:
        local, _, domain = contact.partition("@")
        return f"{local[:1]}{'•' * max(len(local) - 1, 3)}@{domain}"
    digits = contact.strip()
    return digits[:4] + "•" * max(len(digits) - 6, 3) + digits[-2:]


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
                       mask(contact or ""))


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




def send_code(app: Flask, request: SignatureRequest, ip: str = "") -> str:
    """A new one-time code to the signer; returns where it went (masked)."""
    now = utcnow()
    with db.atomic():
        order = _lock_order(request.order_id)
        request = SignatureRequest.get_by_id(request.id)
        reasons = workflow.signing_blockers(order, request, now)
        if reasons:
            raise workflow.Refused(" ".join(reasons))
        if request.code_sent_at is not None and now - request.code_sent_at < CODE_INTERVAL:
            wait = int((CODE_INTERVAL - (now - request.code_sent_at)).total_seconds()) + 1
            raise workflow.Refused(f"Un code vient de vous être envoyé : patientez {wait} secondes "
                                 f"avant d'en demander un autre.")
        if request.codes_sent >= CODE_MAX_SENT:
            raise workflow.Refused(f"Vous avez demandé {CODE_MAX_SENT} codes : contactez "
                                 f"l'Autorité d'Enregistrement pour recevoir un nouveau lien.")
        nonce = secrets.token_urlsafe(12)
        (SignatureRequest
         .update(code_nonce=nonce, code_sent_at=now, code_expires_at=now + CODE_TTL,
                 code_tries=0, codes_sent=SignatureRequest.codes_sent + 1)
         .where(SignatureRequest.id == request.id)
         .execute())
        channel = request.code_channel
        contact = request.phone if channel == "sms" else request.email
        if channel == "email":
            _queue(app, order, TYPE_SIGNER_CODE, request.email,
                   f"Commande N° {order.number} : votre code de signature", "", None, request)
        audit.record(ACTION_CODE_SENT, order=order, ip=ip, actor=f"{request.name} (signataire)",
                     details={"signataire": request.name,
                              "canal": "SMS" if channel == "sms" else "e-mail"})
    if channel == "sms":
        _send_sms_code(app, order, request.id, nonce, contact)
    else:
        wake_outbox(app)
    return mask(contact or "")


def _send_sms_code(app: Flask, order: Order, request_id: int, nonce: str, phone: str) -> None:
    code = _code(app.config["SECRET_KEY"], request_id, nonce)
    text = (f"{order.ae.name} : votre code de signature (commande N° {order.number}) est {code}. "
            f"Valable {int(CODE_TTL.total_seconds() // 60)} minutes.")
    try:
        gateway(app).send(workflow.normalize_otp_contact(phone), text)
    except SmsError as error:
        raise workflow.Refused(f"Le SMS n'a pas pu être envoyé : {error.reason}") from None


def _spend_code(app: Flask, request: SignatureRequest, code: str) -> None:
    """Check the code (one try spent, in its own transaction); consumed when right."""
    now = utcnow()
    code = "".join((code or "").split())
    if request.code_nonce is None:
        raise workflow.Refused("Demandez d'abord un code : cliquez sur « Recevoir un code ».")
    if request.code_expires_at is None or request.code_expires_at <= now:
        raise workflow.Refused("Ce code a expiré : demandez-en un nouveau.")
    with db.atomic():
        spent = (SignatureRequest
                 .update(code_tries=SignatureRequest.code_tries + 1)
                 .where((SignatureRequest.id == request.id)
                        & (SignatureRequest.code_nonce == request.code_nonce)
                        & (SignatureRequest.code_tries < CODE_MAX_TRIES))
                 .execute())
    if not spent:
        raise workflow.Refused("Trop d'essais avec ce code : demandez-en un nouveau.")
    expected = _code(app.config["SECRET_KEY"], request.id, request.code_nonce)
    if not (len(code) == 6 and hmac.compare_digest(code, expected)):
        left = CODE_MAX_TRIES - request.code_tries - 1
        with db.atomic():
            audit.record(ACTION_CODE_FAILED, order=Order.get_by_id(request.order_id),
                         actor=f"{request.name} (signataire)",
                         details={"signataire": request.name, "essais": request.code_tries + 1})
        if left <= 0:
            raise workflow.Refused("Code incorrect. Trop d'essais avec ce code : demandez-en un "
                                 "nouveau.")
        raise workflow.Refused(f"Code incorrect. Il vous reste {left} essai{'s' if left > 1 else ''}.")
    with db.atomic():
        used = (SignatureRequest
                .update(code_nonce=None, code_verified_at=now)
                .where((SignatureRequest.id == request.id)
                       & (SignatureRequest.code_nonce == request.code_nonce))
                .execute())
    if not used:
        raise workflow.Refused("Ce code vient d'être utilisé : demandez-en un nouveau.")


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
        _spend_code(app, request, code)
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
                             f"remplacé depuis l'envoi : l'Autorité d'Enregistrement doit vous "
                             f"l'envoyer à nouveau.")
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
        audit.record(ACTION_SIGNED, order=locked, ip=ip, actor=f"{request.name} (signataire)",
                     details={"document": workflow.document_kind_label(item.kind),
                              "signataire": f"{request.name} <{request.email}>",
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
    problem = workflow.comment_problem(reason, "Le motif du refus")
    if problem:
        raise workflow.Refused(problem)
    reason = reason.strip()
    now = utcnow()
    with db.atomic():
        order = _lock_order(request.order_id)
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
            _queue(app, order, TYPE_OPERATOR_DECLINED, sender.email,
                   f"Commande N° {order.number} : {request.name} refuse de signer", reason, None,
                   request)
        audit.record(ACTION_DECLINED, order=order, ip=ip, actor=f"{request.name} (signataire)",
                     details={"signataire": f"{request.name} <{request.email}>",
                              "qualité": workflow.label(workflow.SIGNER_ROLES, request.role),
                              "motif_refus": reason, "navigateur": user_agent[:200]})
    wake_outbox(app)


# --- E-mails composed when they leave (registered with services.messaging.outbox) --------------------------

def _html(text: str) -> str:
    def line(value: str) -> Markup:
        if value.startswith(("http://", "https://")):
            return Markup('<a href="{0}">{0}</a>').format(value)
        return escape(value)
    return str(Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>\n").join(line(part) for part in paragraph.split("\n")))
        for paragraph in text.split("\n\n")))


def _message(app: Flask, notification: Notification, subject: str, text: str) -> flask_mail.Message:
    message = flask_mail.Message(
        subject=subject, recipients=[notification.recipient], body=text, html=_html(text),
        sender=app.config["MAIL_DEFAULT_SENDER"],
        extra_headers={"Content-Language": "fr", "Auto-Submitted": "auto-generated",
                       "X-RADesk-Commande": str(notification.order.number),
                       "X-RADesk-Type": notification.type})
    message.msgId = notification.message_id
    message.date = notification.created_at.replace(tzinfo=dt.timezone.utc).timestamp()
    return message


def compose_signer_message(app: Flask, notification: Notification) -> flask_mail.Message:
    """The e-mail of a signer (link, reminder, code) or of the operator told of a refusal."""
    from adapters.mail import DeliveryError

    link = SignatureMessage.get_or_none(SignatureMessage.notification == notification.id)
    request = SignatureRequest.get_or_none(SignatureRequest.id == link.request_id) if link else None
    if request is None:
        raise DeliveryError("Demande de signature introuvable : message non envoyé.", permanent=True)
    order = order_with_people(request.order_id)
    ae = order.ae.name
    signature = f"\n\n{ae} — Autorité d'Enregistrement"
    if notification.type == TYPE_OPERATOR_DECLINED:
        url = f"{app.config['RADESK_PUBLIC_URL'].rstrip('/')}/commandes/{order.id}"
        text = (f"Bonjour,\n\n{request.name} ({workflow.label(workflow.SIGNER_ROLES, request.role)})"
                f" a refusé de signer les documents de la commande N° {order.number} "
                f"({order.company.name}) le {paris_datetime(request.declined_at)}.\n\n"
                f"Motif : {request.decline_reason}\n\nFiche de commande :\n{url}" + signature)
        return _message(app, notification, notification.subject, text)
    if request.state not in workflow.OPEN_SIGNATURE_STATES:
        raise DeliveryError("La demande de signature n'est plus en cours (signée, refusée ou "
                            "annulée) : message non envoyé.", permanent=True)
    if notification.type == TYPE_SIGNER_CODE:
        if request.code_nonce is None:
            raise DeliveryError("Le code a déjà été utilisé ou remplacé : message non envoyé.",
                                permanent=True)
        code = _code(app.config["SECRET_KEY"], request.id, request.code_nonce)
        text = (f"Bonjour {request.name},\n\nVotre code de signature pour la commande "
                f"N° {order.number} est :\n\n{code}\n\nIl est valable "
                f"{int(CODE_TTL.total_seconds() // 60)} minutes et ne sert qu'une fois. "
                f"Saisissez-le sur la page de signature. Ne le communiquez à personne : {ae} ne "
                f"vous le demandera jamais." + signature)
        return _message(app, notification, notification.subject, text)
    documents_ = "\n".join(f"  • {label}" for label in _items_labels(request))
    opening = ("Ceci est un rappel : les documents suivants attendent toujours votre signature"
               if notification.type == TYPE_SIGNER_REMINDER else
               f"{ae} vous invite à signer électroniquement les documents suivants")
    channel = "par SMS" if request.code_channel == "sms" else "par e-mail"
    text = (f"Bonjour {request.name},\n\n{opening} de la commande N° {order.number} "
            f"({order.company.name}, porteur : {person_name(order.holder)}), en qualité de "
            f"{workflow.label(workflow.SIGNER_ROLES, request.role).lower()} :\n{documents_}\n\n"
            f"Ouvrez votre lien personnel pour lire les documents et les signer :\n"
            f"{link_for(app, request)}\n\nCe lien est valable jusqu'au "
            f"{paris_date(request.expires_at)}. Un code à usage unique vous sera envoyé "
            f"{channel} pour confirmer votre identité. Vous pouvez aussi y refuser de signer, en "
            f"indiquant pourquoi.\n\nCe lien vous est personnel : ne le transférez pas. Si vous "
            f"ne vous attendiez pas à ce message, ignorez-le." + signature)
    return _message(app, notification, notification.subject, text)


def register(app: Flask) -> None:
    """Wire this module into the outbox, the notification history and the scheduler."""
    from services.messaging import outbox

    for type_ in SIGNER_TYPES:
        outbox.COMPOSERS[type_] = compose_signer_message
    notifications.TYPE_LABELS.update(TYPE_LABELS)


# --- The order file's « Signature des documents » ------------------------------------------------

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
    sent = full.substate in workflow.SENT_FOR_SIGNATURE_SUBSTATES or bool(requests)
    result = SignaturePanel(full, sent)
    if full.phase == workflow.PHASE_VALIDATION and full.substate not in \
            workflow.SENT_FOR_SIGNATURE_SUBSTATES:
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
            _labels(item.kind for item in request.loaded_items),
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
