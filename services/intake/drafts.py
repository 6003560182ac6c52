"""An order being typed on a portal's ordering page: created at the first step (« Saisie des
informations », a follow-up link e-mailed at once), each later step saved as it is answered.

The page's own link carries a token signed with the app's secret over the order and the
intake's ``link_nonce``; it opens the draft only while it is « Saisie des informations ».
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

import workflow
from models import (Company, Offer, Order, OrderIntake, Person, Portal, db,
                    holder_search_fields, next_order_number, phone_key, search_key, utcnow)
from services import audit, public_links
from services.dossiers.documents import REQUESTER
from services.intake import messages
from services.messaging import notifications
from workflow import ordering

TOKENS = public_links.TokenKind("radesk-commande-v1")
ACTION_DRAFT_STARTED = "order_draft_started"
ACTION_STEP_SAVED = "order_draft_saved"

# When an AE has not set its offers yet, its ordering pages sell this one.
DEFAULT_OFFER = ordering.OfferChoice(0, "Certificat qualifié eIDAS (RGS**) de signature",
                                     (1, 2, 3), tuple(ordering.MEDIA))


class InvalidDraftLink(Exception):
    message = ("Ce lien de commande n'est pas valide ou la commande a déjà été envoyée. "
               "Utilisez le lien de suivi reçu par e-mail.")


# --- The portal's offers -------------------------------------------------------------------

def offers_for(portal: Portal) -> list[ordering.OfferChoice]:
    offers = [ordering.OfferChoice(offer.id, offer.name, tuple(offer.duration_list),
                                   tuple(m for m in offer.media_list if m in ordering.MEDIA))
              for offer in Offer.on_sale(portal)]
    return offers or [DEFAULT_OFFER]


# --- The page's link -------------------------------------------------------------------------

def make_token(app: Flask, intake: OrderIntake) -> str:
    return TOKENS.make(app.config["SECRET_KEY"], {"o": intake.order_id, "n": intake.link_nonce})


def draft_of(app: Flask, token: str) -> tuple[Order, OrderIntake]:
    """The draft the token opens, with its intake; InvalidDraftLink otherwise (forged, voided,
    or the order no longer a draft)."""
    try:
        payload = TOKENS.open(app.config["SECRET_KEY"], token).payload
    except public_links.BadToken:
        raise InvalidDraftLink() from None
    if not isinstance(payload, dict) or not isinstance(payload.get("o"), int):
        raise InvalidDraftLink()
    intake = OrderIntake.get_or_none(OrderIntake.order == payload["o"])
    if intake is None or not public_links.same(str(payload.get("n", "")), intake.link_nonce):
        raise InvalidDraftLink()
    order = Order.with_people().where(Order.id == payload["o"]).first()
    if order is None or order.phase != workflow.PHASE_ENTRY:
        raise InvalidDraftLink()
    return order, intake


def intake_for(order: Order) -> OrderIntake:
    """The order's intake row, made for an order that did not come from the ordering page (a
    demo draft resumed from its follow-up link)."""
    intake = OrderIntake.get_or_none(OrderIntake.order == order.id)
    if intake is None:
        OrderIntake.insert(order=order.id, link_nonce=public_links.nonce(16),
                           steps_done=",".join(ordering.FORM_STEPS)).on_conflict_ignore().execute()
        intake = OrderIntake.get(OrderIntake.order == order.id)
    return intake


# --- The answers, as stored -------------------------------------------------------------------

def _person_answers(person: Person | None) -> dict[str, str]:
    if person is None:
        return {}
    return {"civility": person.civility, "first_name": person.first_name,
            "last_name": person.last_name, "email": person.email, "phone": person.phone}


def answers_of(order: Order, intake: OrderIntake | None) -> dict[str, dict[str, str]]:
    """{step: answers} read back from the order (loaded with ``Order.with_people``). A step
    the requester has not saved yet answers nothing, so the summary asks for it. The product
    is named by its offer's name (``offer_id`` finds it among the portal's offers)."""
    done = set(intake.steps_done.split(",")) if intake is not None else set(ordering.FORM_STEPS)
    answers = {
        ordering.STEP_COMPANY: {
            "company_name": order.company.name, "siren": order.company.siren,
            "rcs": ordering.YES if order.company.rcs_registered else ordering.NO,
            "requester_name": order.requester_name, "requester_email": order.requester_email},
        ordering.STEP_HOLDER: {**_person_answers(order.holder), "otp_contact": order.otp_contact},
        ordering.STEP_LEGAL: _person_answers(order.legal_representative),
        ordering.STEP_MANDATAIRE: {"has_mandataire": ordering.mandataire_answer(order),
                                   **_person_answers(order.mandataire)},
        ordering.STEP_PRODUCT: {"offer": order.product, "validity": str(order.validity_years),
                                "medium": order.medium},
    }
    return {step: (values if step in done else {}) for step, values in answers.items()}


def offer_id(order: Order, offers: list[ordering.OfferChoice]) -> str:
    """The id of the portal's offer the order names, for the Produit step's form."""
    return next((str(offer.id) for offer in offers if offer.name == order.product), "")


# --- Saving a step ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Started:
    order: Order
    intake: OrderIntake


def start(app: Flask, portal: Portal, answers: dict[str, str], ip: str = "") -> Started:
    """The first step (« Société ») answered: the order exists, in « Saisie des informations »,
    and its follow-up link is queued to the requester. Refused when an answer is not valid."""
    problems = ordering.step_problems(ordering.STEP_COMPANY, answers)
    if problems:
        raise workflow.Refused(list(problems.values()))
    offer = offers_for(portal)[0]  # read before the transaction: numbering writes first
    with db.atomic():
        order = _new_order(portal, answers, offer)
        intake = OrderIntake.create(order=order, link_nonce=public_links.nonce(16),
                                    steps_done=ordering.STEP_COMPANY, created_at=order.created_at)
        audit.record(ACTION_DRAFT_STARTED, ae=portal.ae_id, order=order, actor=REQUESTER, ip=ip,
                     details={"portal": portal.name, "number": order.number})
        draft = messages.draft_link_message(Order.with_people().where(Order.id == order.id).get())
        notifications.queue(order, draft, operator=None, sender=app.config["MAIL_DEFAULT_SENDER"],
                            ip=ip, actor=REQUESTER, system=True)
    return Started(order, intake)


def create(portal: Portal, answers: dict[str, dict[str, str]],
           offers: list[ordering.OfferChoice], *, actor: str, ip: str = "") -> Order:
    """An order given whole (the API): every step's answers checked as on the ordering page,
    then written in one transaction. Refused with every reason; nothing is written then."""
    problems = [problem for step in ordering.FORM_STEPS
                for problem in ordering.step_problems(step, answers[step], offers).values()]
    if problems:
        raise workflow.Refused(problems)
    with db.atomic():
        order = _new_order(portal, answers[ordering.STEP_COMPANY], offers[0])
        current = Order.with_people().where(Order.id == order.id).get()
        for step in ordering.FORM_STEPS[1:]:
            _write_step(current, step, answers[step], offers)
        audit.record(ACTION_DRAFT_STARTED, ae=portal.ae_id, order=order, actor=actor, ip=ip,
                     details={"portal": portal.name, "number": order.number})
    return Order.with_people().where(Order.id == order.id).get()


def _new_order(portal: Portal, company: dict[str, str], offer: ordering.OfferChoice) -> Order:
    """Inside the caller's transaction, as its first statement: a numbered draft with its
    company, its people still to be named, and the portal's first offer."""
    number = next_order_number()  # first statement: it serialises numbering
    now = utcnow()
    company_row = Company.create(ae=portal.ae_id, name=company["company_name"],
                                 siren=workflow.normalize_siren(company["siren"]),
                                 rcs_registered=company["rcs"] == ordering.YES)
    holder = Person.create(ae=portal.ae_id, first_name="", last_name="")
    legal = Person.create(ae=portal.ae_id, first_name="", last_name="")
    return Order.create(
        number=number, ae=portal.ae_id, portal=portal.id, created_at=now, updated_at=now,
        company=company_row, holder=holder, legal_representative=legal,
        requester_name=company["requester_name"],
        requester_email=workflow.normalize_email(company["requester_email"]),
        product=offer.name, validity_years=max(offer.durations), medium=offer.media[0],
        phase=workflow.PHASE_ENTRY, substate=None, order_type=workflow.ORDER_TYPE_DEMATERIALISED)


def _lock(order_id: int) -> Order:
    """Inside a transaction: the order, locked (its row written first), with its people."""
    Order.update(updated_at=utcnow()).where(Order.id == order_id).execute()
    return Order.with_people().where(Order.id == order_id).get()


def _person_fields(answers: dict[str, str]) -> dict:
    return {"civility": answers["civility"], "first_name": answers["first_name"],
            "last_name": answers["last_name"], "email": workflow.normalize_email(answers["email"]),
            "phone": answers["phone"], "phone_search": phone_key(answers["phone"])}


def save_step(order: Order, intake: OrderIntake, step: str, answers: dict[str, str],
              offers: list[ordering.OfferChoice], ip: str = "") -> None:
    """Store one step's answers. Refused (nothing written) when an answer is not valid or the
    order is no longer a draft."""
    problems = ordering.step_problems(step, answers, offers)
    if problems:
        raise workflow.Refused(list(problems.values()))
    with db.atomic():
        current = _lock(order.id)
        if current.phase != workflow.PHASE_ENTRY:
            raise workflow.Refused(["La commande a déjà été envoyée : elle ne peut plus être "
                                    "modifiée ici. Suivez-la depuis le lien reçu par e-mail."])
        _write_step(current, step, answers, offers)
        intake = OrderIntake.get_by_id(intake.id)  # as it is now, under the order's lock
        done = set(filter(None, intake.steps_done.split(","))) | {step}
        OrderIntake.update(steps_done=",".join(s for s in ordering.STEPS if s in done)).where(
            OrderIntake.id == intake.id).execute()
        audit.record(ACTION_STEP_SAVED, order=current, actor=REQUESTER, ip=ip,
                     details={"étape": ordering.STEPS[step]})


def _write_step(order: Order, step: str, answers: dict[str, str],
                offers: list[ordering.OfferChoice]) -> None:
    if step == ordering.STEP_COMPANY:
        Company.update(name=answers["company_name"],
                       name_search=search_key(answers["company_name"]),
                       siren=workflow.normalize_siren(answers["siren"]),
                       rcs_registered=answers["rcs"] == ordering.YES).where(
            Company.id == order.company_id).execute()
        Order.update(requester_name=answers["requester_name"],
                     requester_email=workflow.normalize_email(answers["requester_email"])).where(
            Order.id == order.id).execute()
    elif step in (ordering.STEP_HOLDER, ordering.STEP_LEGAL):
        person_id = order.holder_id if step == ordering.STEP_HOLDER else order.legal_representative_id
        Person.update(**_person_fields(answers)).where(Person.id == person_id).execute()
        if step == ordering.STEP_HOLDER:
            Order.update(otp_contact=workflow.normalize_otp_contact(answers["otp_contact"]),
                         **holder_search_fields(answers["first_name"], answers["last_name"])).where(
                Order.id == order.id).execute()
    elif step == ordering.STEP_MANDATAIRE:
        if answers["has_mandataire"] == ordering.YES:
            if order.mandataire_id is None:
                mandataire = Person.create(ae=order.ae_id, **_person_fields(answers))
                Order.update(mandataire=mandataire.id).where(Order.id == order.id).execute()
            else:
                Person.update(**_person_fields(answers)).where(
                    Person.id == order.mandataire_id).execute()
        elif order.mandataire_id is not None:
            Order.update(mandataire=None).where(Order.id == order.id).execute()
            Person.delete().where(Person.id == order.mandataire_id).execute()
    elif step == ordering.STEP_PRODUCT:
        offer = next(offer for offer in offers if str(offer.id) == answers["offer"])
        Order.update(product=offer.name, validity_years=int(answers["validity"]),
                     medium=answers["medium"]).where(Order.id == order.id).execute()
