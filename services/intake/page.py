"""What each step of the ordering page shows: the step list, the answers (as stored, or as just
typed when a step was refused), the offers, the pieces, and on the summary what « Envoyer la
commande » still needs and whether the requester's address is proven."""
from __future__ import annotations

from typing import NamedTuple

from flask import Flask, url_for

from models import Document, Order, OrderIntake, Portal, utcnow
from services import portals, public_links
from services.intake import address, drafts, pieces, submission
from workflow import ordering

STEP_CODES = list(ordering.STEPS)


class StepLink(NamedTuple):
    code: str
    title: str
    url: str | None     # None: not reachable yet (no draft before the first step is saved)
    done: bool
    current: bool


def next_step(step: str) -> str:
    index = STEP_CODES.index(step)
    return STEP_CODES[min(index + 1, len(STEP_CODES) - 1)]


def previous_step(step: str) -> str | None:
    index = STEP_CODES.index(step)
    return STEP_CODES[index - 1] if index else None


def _steps(portal: Portal, step: str, intake: OrderIntake | None, token: str) -> list[StepLink]:
    done = set(intake.steps_done.split(",")) if intake is not None else set()
    return [StepLink(code, title,
                     url_for("ordering.step", code=portal.code, token=token, step=code)
                     if token else None,
                     code in done, code == step)
            for code, title in ordering.STEPS.items()]


def _form_values(step: str, order: Order | None, intake: OrderIntake | None,
                 offers: list[ordering.OfferChoice]) -> dict[str, str]:
    if order is None:
        return {}
    values = dict(drafts.answers_of(order, intake).get(step, {}))
    if step == ordering.STEP_PRODUCT and values:
        values["offer"] = drafts.offer_id(order, offers)
    return values


def step_context(app: Flask, portal: Portal, step: str, order: Order | None,
                 intake: OrderIntake | None, token: str, *, submitted: dict | None = None,
                 problems: dict | None = None, message: str | None = None) -> dict:
    offers = drafts.offers_for(portal) if step == ordering.STEP_PRODUCT else []
    context = dict(
        portal=portal, ae=portal.ae, public_ae=portal.ae, step=step, title=ordering.STEPS[step], token=token,
        order=order, intake=intake, steps=_steps(portal, step, intake, token),
        previous=previous_step(step), next=next_step(step), fields=ordering.FIELDS.get(step, ()),
        values=submitted if submitted is not None else _form_values(step, order, intake, offers),
        problems=problems or {}, message=message, offers=offers, media=ordering.MEDIA,
        civilities=ordering.CIVILITIES, yes=ordering.YES, no=ordering.NO,
        max_bytes=pieces.store().max_bytes, contact=portals.contact_of(portal))
    if order is not None and step in (ordering.STEP_PIECES, ordering.STEP_SUMMARY):
        documents = list(Document.current_of(order.id))
        context["rows"] = pieces.rows(order, documents)
        if step == ordering.STEP_SUMMARY:
            context.update(_summary(order, intake, documents))
    return context


def _summary(order: Order, intake: OrderIntake, documents: list[Document]) -> dict:
    answers = drafts.answers_of(order, intake)
    now = utcnow()
    return dict(
        answers=answers,
        blockers=submission.blockers(order, address_proven=False, intake=intake,
                                     documents=documents),
        verified=address.is_verified(order, intake),
        masked_email=public_links.mask_contact(order.requester_email),
        code_pending=(intake.code_nonce is not None and intake.code_email == order.requester_email
                      and intake.code_expires_at is not None and intake.code_expires_at > now),
        medium_label=ordering.MEDIA.get(order.medium, order.medium))
