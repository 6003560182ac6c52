"""Composing a message to the requester (SPEC §6): the AE's wording of a type filled from the
order (``{numero}``, ``{porteur}``, ``{pieces_manquantes}``…), the draft the operator edits, its
checks, and the preview of the e-mail. ``{lien}`` is kept for the outbox to fill at sending.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Iterable, Mapping

from email_validator import EmailNotValidError, validate_email

import workflow
from formatting import PARIS
from models import Document, Order, utcnow
from services.ae_settings import mail_signature
from services.messaging.wordings import (BODY_MAX, DEFAULT_TEMPLATES, MESSAGE_TYPES, TO_COMPLETE,
                                         TYPE_LINK_RENEWAL, VARIABLE_PATTERN, normalize_text,
                                         one_line, subject_problems, too_long, wording)

RECIPIENT_MAX = 254  # RFC 5321 path limit


# --- Reading the order ---------------------------------------------------------------------

def order_for_message(order_id: int) -> Order:
    """The order with what the wordings need (company, holder, AE), in one query."""
    return Order.with_people().where(Order.id == order_id).get()


def current_documents(order: Order):
    return Document.current_of(order.id)


# --- Filling a wording from the order -------------------------------------------------------

def _bullets(labels: list[str], empty: str) -> str:
    return "\n".join(f"  • {label}" for label in labels) if labels else f"  • {empty}"


def order_variables(order: Order, documents: Iterable, today: dt.date | None = None) -> dict:
    """The values of the variables for ``order`` (with its company, holder and AE loaded)."""
    documents = list(documents)
    today = today or dt.datetime.now(PARIS).date()
    holder = order.holder
    return {
        "numero": str(order.number),
        "porteur": " ".join(part for part in (holder.civility, holder.first_name,
                                              holder.last_name) if part),
        "societe": order.company.name,
        "ae": order.ae.name,
        "pieces_manquantes": _bullets(workflow.missing_documents(order, documents),
                                      "[à compléter : aucune pièce ne manque à ce jour]"),
        "pieces_refusees": _bullets(workflow.refused_documents(order, documents, today),
                                    "[à compléter : indiquez la pièce concernée]"),
        "documents_a_signer": _bullets(workflow.unsigned_documents(order, documents),
                                       "[à compléter : aucun document n'attend de signature]"),
        "contact_otp": order.otp_contact or "non renseigné",
    }


def fill(text: str, variables: Mapping[str, str]) -> str:
    """Every known variable replaced; ``{lien}`` is kept for the outbox to fill at sending."""
    def replace(match: re.Match) -> str:
        name = match.group(1)
        return variables[name] if name in variables and name != "lien" else match.group(0)
    return VARIABLE_PATTERN.sub(replace, text)


@dataclass(frozen=True)
class Draft:
    """The message as the operator's form shows it."""
    type: str
    recipient: str
    subject: str
    body: str


def requester_address(order: Order) -> str:
    """Who is told: the person who placed the order, else the holder."""
    return order.requester_email or order.holder.email or ""


def draft(order: Order, documents: Iterable, code: str, recipient: str | None = None) -> Draft:
    """The type's wording filled in for ``order`` (an unknown type falls back to the first)."""
    code = code if code in MESSAGE_TYPES else next(iter(MESSAGE_TYPES))
    variables = order_variables(order, documents)
    template = wording(order.ae_id, code)
    return Draft(code, recipient if recipient is not None else requester_address(order),
                 fill(template.subject, variables), fill(template.body, variables))


def link_renewal_message(order: Order) -> Draft:
    variables = order_variables(order, current_documents(order))
    template = DEFAULT_TEMPLATES[TYPE_LINK_RENEWAL]
    return Draft(TYPE_LINK_RENEWAL, requester_address(order), fill(template.subject, variables),
                 fill(template.body, variables))


# --- Checking what the operator wrote ------------------------------------------------------

def recipient_problem(recipient: str) -> str | None:
    if not recipient:
        return "Indiquez l'adresse e-mail du destinataire."
    refused = f"L'adresse du destinataire « {recipient[:80]} » n'est pas valide : une seule " \
              f"adresse e-mail, sans nom, sans virgule ni retour à la ligne."
    if (len(recipient) > RECIPIENT_MAX or any(c in recipient for c in "\r\n,;<>\"()")
            or not recipient.isprintable() or parseaddr(recipient)[1] != recipient):
        return refused
    try:
        validate_email(recipient, check_deliverability=False)
    except EmailNotValidError:
        return refused
    return None


def message_problems(draft_: Draft) -> list[str]:
    problems = []
    if draft_.type not in MESSAGE_TYPES:
        problems.append("Type de message inconnu : choisissez un type dans la liste.")
    problem = recipient_problem(draft_.recipient)
    if problem:
        problems.append(problem)
    problems += subject_problems(draft_.subject)
    if not draft_.body.strip():
        problems.append("Le message est vide : écrivez le texte à envoyer.")
    elif len(draft_.body) > BODY_MAX:
        problems.append(too_long("Le message", len(draft_.body), BODY_MAX))
    unfinished = re.search(re.escape(TO_COMPLETE) + r"[^\]]*\]", draft_.subject + draft_.body)
    if unfinished:
        problems.append(f"Le message contient encore un passage à compléter : "
                        f"« {unfinished.group(0)} ».")
    return problems


def draft_from_form(form: Mapping[str, str]) -> Draft:
    return Draft(
        type=(form.get("type") or "").strip(),
        recipient=(form.get("recipient") or "").strip(),
        subject=one_line(form.get("subject")),
        body=normalize_text(form.get("message")),
    )


# --- Preview -------------------------------------------------------------------------------

PREVIEW_LINK = "[lien personnel vers la page de suivi, créé à l'envoi]"


def preview_text(app, order: Order, draft_: Draft) -> str:
    """The e-mail's text part as the requester will read it; the link is made at sending."""
    from adapters.mail import Letter, text_part

    days = app.config["RADESK_FOLLOWUP_LINK_DAYS"]
    expires = dt.datetime.now(PARIS).date() + dt.timedelta(days=days - 1)
    letter = Letter(message_id="", queued_at=utcnow(), recipient=draft_.recipient,
                    subject=draft_.subject, body=draft_.body, order_number=order.number,
                    ae_name=order.ae.name, link=PREVIEW_LINK, link_expires_on=expires,
                    signature=mail_signature(order.ae))
    return text_part(app, letter)
