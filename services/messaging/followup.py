"""The requester's follow-up page (« page de suivi »): its link, and the changes made on it.

The link carries a token signed with the app's secret key (services.public_links): it names
one order and the time it was made, plus a random part, so it cannot be guessed, forged, or
turned to another order; it expires after ``RADESK_FOLLOWUP_LINK_DAYS``. An expired link whose
signature is good still tells which order it was for, so the page can offer a new one, sent to
the order's own address (never to an address typed on the page). The token also carries the
order's link generation: « Révoquer le lien de suivi » (services.messaging.link_revocation)
adds one to it, and every link made before opens only a page saying it was revoked.

Changes made by the requester (their information, a piece) are audited, mark the order
« modifié par le demandeur », and take a dossier already sent for signature back to
« à vérifier » (``workflow.after_requester_change``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping

from flask import Flask

import workflow
from formatting import PARIS
from models import Notification, Order, Person, Portal, db, phone_key, utcnow
from services import audit, portals, public_links
from services.certificates import activation_messages
from services.dossiers.documents import REQUESTER, import_document
from services.messaging import drafts, notifications, wordings

TOKENS = public_links.TokenKind("radesk-suivi-v1", timed=True)
RENEWAL_COOLDOWN = dt.timedelta(minutes=10)
# Not the requester's messages: a new link they asked for, the holder's activation link and code.
HIDDEN_FROM_REQUESTER = (wordings.TYPE_LINK_RENEWAL, *activation_messages.TYPES)


# --- The link ------------------------------------------------------------------------------

class InvalidLink(Exception):
    message = ("Ce lien de suivi n'est pas valide : il a été modifié ou recopié "
               "incomplètement. Utilisez le lien exact reçu par e-mail.")


class RevokedLink(Exception):
    message = ("Ce lien de suivi a été révoqué par l'Autorité d'Enregistrement : il ne donne "
               "plus accès à la commande. Utilisez le lien le plus récent reçu par e-mail, ou "
               "adressez-vous à l'Autorité d'Enregistrement.")


@dataclass(frozen=True)
class LinkCheck:
    order_id: int
    expired: bool
    generation: int = 0  # tokens made before link generations count as the first one


def make_token(secret: str, order_id: int, generation: int = 0) -> str:
    payload = {"o": order_id, "n": public_links.nonce(9)}
    if generation:
        payload["g"] = generation
    return TOKENS.make(secret, payload)


def read_token(secret: str, token: str, max_age_seconds: int) -> LinkCheck:
    """Which order the token is for, and whether it expired; InvalidLink when not authentic."""
    try:
        opened = TOKENS.open(secret, token, max_age_seconds)
    except public_links.BadToken:
        raise InvalidLink() from None
    payload = opened.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("o"), int) \
            or not isinstance(payload.get("g", 0), int):
        raise InvalidLink()
    return LinkCheck(payload["o"], opened.expired, payload.get("g", 0))


def link_lifetime(app: Flask) -> dt.timedelta:
    return dt.timedelta(days=app.config["RADESK_FOLLOWUP_LINK_DAYS"])


def check_link(app: Flask, token: str) -> LinkCheck:
    return read_token(app.config["SECRET_KEY"], token,
                      int(link_lifetime(app).total_seconds()))


def make_link(app: Flask, order_id: int) -> tuple[str, dt.date]:
    """A new link to the order's follow-up page, and the last day (Paris) it works."""
    generation = Order.select(Order.link_generation).where(Order.id == order_id).scalar() or 0
    token = make_token(app.config["SECRET_KEY"], order_id, generation)
    path = app.url_map.bind("localhost").build("followup.show", {"token": token})
    expires = (dt.datetime.now(PARIS) + link_lifetime(app)).date() - dt.timedelta(days=1)
    return app.config["RADESK_PUBLIC_URL"].rstrip("/") + path, expires


def order_of(check: LinkCheck) -> Order:
    """The order a checked link is for; InvalidLink when it no longer exists, RevokedLink
    when its links were revoked after this one was made."""
    order = Order.get_or_none(Order.id == check.order_id)
    if order is None:
        raise InvalidLink()
    if check.generation < order.link_generation:
        raise RevokedLink()
    return order


# --- A new link ----------------------------------------------------------------------------

def renew_link(order: Order, *, sender: str | None, ip: str = "") -> Notification:
    """Queue an e-mail with a new link to the order's own address. Refused (Refused)
    when one was asked for a moment ago or when the order has no address."""
    order = drafts.order_for_message(order.id)
    message = drafts.link_renewal_message(order)
    if not message.recipient:
        raise workflow.Refused(["Aucune adresse e-mail n'est enregistrée pour cette "
                                "commande : contactez l'Autorité d'Enregistrement."])
    recent = (Notification
              .select()
              .where((Notification.order == order.id)
                     & (Notification.type == wordings.TYPE_LINK_RENEWAL)
                     & (Notification.created_at > utcnow() - RENEWAL_COOLDOWN))
              .exists())
    if recent:
        raise workflow.Refused([
            f"Un nouveau lien a déjà été envoyé à {public_links.mask_contact(message.recipient)} "
            f"il y a moins de 10 minutes : consultez votre messagerie (et le dossier des "
            f"indésirables)."])
    return notifications.queue(order, message, operator=None, sender=sender, ip=ip,
                               actor=REQUESTER)


# --- Changes made by the requester -------------------------------------------------------------

INFORMATION_FIELDS = {  # form field: (label, where it is stored)
    "email": "E-mail du porteur",
    "phone": "Téléphone du porteur",
    "contact_otp": "Contact OTP",
}
MAX_FIELD = 254


def information_problems(values: Mapping[str, str]) -> dict[str, str]:
    """{field: French problem} for the requester's form."""
    problems = {}
    for name in INFORMATION_FIELDS:
        value = values.get(name, "")
        if len(value) > MAX_FIELD or not value.isprintable():
            problems[name] = f"{INFORMATION_FIELDS[name]} : valeur trop longue ou illisible."
    problems.setdefault("email", workflow.email_problem(values.get("email"), "L'e-mail du porteur"))
    problems.setdefault("phone", workflow.phone_problem(values.get("phone"),
                                                        "Le téléphone du porteur"))
    problems.setdefault("contact_otp", workflow.otp_contact_problem(values.get("contact_otp")))
    return {name: problem for name, problem in problems.items() if problem}


def clean_information(form: Mapping[str, str]) -> dict[str, str]:
    return {name: (form.get(name) or "").strip() for name in INFORMATION_FIELDS}


def update_information(order: Order, values: Mapping[str, str], ip: str = "") -> bool:
    """Store the requester's corrections; True when something changed, False when unchanged.
    Raises Refused (reasons) when refused; nothing is written then."""
    problems = information_problems(values)
    if problems:
        raise workflow.Refused(list(problems.values()))
    new = {"email": workflow.normalize_email(values["email"]),
           "phone": values["phone"],
           "contact_otp": workflow.normalize_otp_contact(values["contact_otp"])}
    with db.atomic() as transaction:
        now = utcnow()
        # Writing first locks the row, so the state read next cannot change before commit.
        Order.update(updated_at=Order.updated_at).where(Order.id == order.id).execute()
        current = Order.get_by_id(order.id)
        holder = Person.get_by_id(current.holder_id)
        old = {"email": holder.email, "phone": holder.phone, "contact_otp": current.otp_contact}
        changes = {INFORMATION_FIELDS[name]: {"avant": old[name], "après": new[name]}
                   for name in INFORMATION_FIELDS if old[name] != new[name]}
        if not changes:
            transaction.rollback()
            return False
        state = workflow.after_requester_change(current)
        Person.update(email=new["email"], phone=new["phone"],
                      phone_search=phone_key(new["phone"])).where(
            Person.id == holder.id).execute()
        (Order
         .update(otp_contact=new["contact_otp"], **workflow.state_columns(current, state),
                 requester_modified_at=_modified_mark(current, now), updated_at=now)
         .where(Order.id == current.id)
         .execute())
        audit.record("requester_information_updated", order=current, actor=REQUESTER, ip=ip,
                     details={"modifications": changes, **_progress_change(current)})
    return True


def _modified_mark(order: Order, now):
    """« Modifié par le demandeur » tells operators a dossier changed under them: a draft is
    the requester's own until sent, so it keeps no mark."""
    return order.requester_modified_at if order.phase == workflow.PHASE_ENTRY else now


def _progress_change(order: Order) -> dict:
    """How the requester's change moved the order's progress (under a hold too)."""
    before = workflow.progress_substate(order)
    after = workflow.SUBSTATE_TO_CHECK if order.phase == workflow.PHASE_VALIDATION else before
    if before == after:
        return {}
    return {"sous-état": {"avant": workflow.label(workflow.SUBSTATES, before),
                          "après": workflow.label(workflow.SUBSTATES, after)}}


def uploadable_kinds(order: Order) -> list[str]:
    """The pieces the requester may send: the order's required justificatifs."""
    return [kind for kind in workflow.required_document_kinds(order)
            if workflow.DOCUMENT_KINDS[kind].category == workflow.CATEGORY_SUPPORTING]


def upload_document(order: Order, kind: str, filename: str, data: bytes, ip: str = ""):
    """The requester's new or replacement piece, through the document store. Raises
    Refused (not allowed) or RefusedDocument (the store's French refusal).

    services.dossiers.documents.import_document commits the piece with its audit event in its own
    crash-safe steps; the order is then marked « modifié par le demandeur » (and, if it had
    been sent for signature, taken back to « à vérifier ») in one more transaction."""
    problem = workflow.requester_change_problem(order)
    if problem is not None:
        raise workflow.Refused([problem])
    if kind not in uploadable_kinds(order):
        raise workflow.Refused(["Choisissez une des pièces justificatives demandées."])
    document = import_document(order, kind, filename, data, operator=None,
                               actor_label=REQUESTER, ip=ip)
    _mark_changed(order, f"Pièce déposée par le demandeur : {workflow.document_kind_label(kind)}",
                  ip)
    return document


def _mark_changed(order: Order, reason: str, ip: str) -> None:
    with db.atomic():
        now = utcnow()
        Order.update(updated_at=now).where(Order.id == order.id).execute()  # lock the row
        current = Order.get_by_id(order.id)
        if workflow.requester_change_problem(current) is not None:
            return  # validated meanwhile: the piece was refused or archived, nothing to reopen
        state = workflow.after_requester_change(current)
        (Order
         .update(**workflow.state_columns(current, state),
                 requester_modified_at=_modified_mark(current, now))
         .where(Order.id == current.id)
         .execute())
        change = _progress_change(current)
        if change:
            audit.record("order_back_to_check", order=current, actor=REQUESTER, ip=ip,
                         details={"motif": reason, **change})


# --- What the page shows ---------------------------------------------------------------------

def messages_for(order: Order, limit: int = 10) -> list[Notification]:
    """The messages the AE sent the requester about this order, newest first."""
    return list(Notification
                .select()
                .where((Notification.order == order.id) & (Notification.state == "sent")
                       & Notification.type.not_in(HIDDEN_FROM_REQUESTER))
                .order_by(Notification.sent_at.desc())
                .limit(limit))


def page(order: Order, token: str, **extra) -> dict:
    """Everything the follow-up page shows for ``order`` (from a checked link)."""
    from services.dossiers.documents import document_store

    order = drafts.order_for_message(order.id)
    documents = list(drafts.current_documents(order))
    today = dt.datetime.now(PARIS).date()
    rows = [row for row in workflow.document_rows(order, documents)
            if row.category == workflow.CATEGORY_SUPPORTING]
    missing = [row.kind for row in rows if not row.complete
               or workflow.document_expired(row.document, today)]
    information = {"email": order.holder.email, "phone": order.holder.phone,
                   "contact_otp": order.otp_contact}
    return dict(
        order=order, token=token, state_text=workflow.requester_state_text(order),
        tasks=workflow.requester_tasks(order, documents, today),
        change_problem=workflow.requester_change_problem(order), rows=rows, today=today,
        default_kind=missing[0] if missing else (rows[0].kind if rows else ""),
        received=[(n, n.body.replace(wordings.LINK_VARIABLE, "cette page"))
                  for n in messages_for(order)],
        information=information, labels=INFORMATION_FIELDS,
        max_bytes=document_store().max_bytes,
        contact=portals.contact_of(Portal.get_by_id(order.portal_id)), **extra)
