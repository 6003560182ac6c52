"""What a portal sells (« Produits vendus »): the offers its ordering page and the API propose
(services.intake.drafts.offers_for reads them), each with its validities (1–3 years) and media
(« Clé USB », « Carte à puce »). An offer belongs to one portal, or to the whole AE (every
portal sells it: the demo's are such). Admins add, edit, deactivate, reactivate and reorder
them; each change is one transaction with its audit event, {"avant": …, "après": …}.

A portal that sells nothing configured falls back to the ordering page's default offer: so the
last active offer of an open portal cannot be deactivated, lest that default come back unasked.
"""
from __future__ import annotations

from dataclasses import dataclass

import workflow
from models import Offer, Operator, Portal, db
from services import audit
from services.portals import FormRefused
from workflow import portals as rules
from workflow.ordering import MEDIA

ACTION_CREATED = "offer_created"
ACTION_CHANGED = "offer_changed"
ACTION_DEACTIVATED = "offer_deactivated"
ACTION_REACTIVATED = "offer_reactivated"
ACTION_MOVED = "offer_moved"
AUDIT_ACTIONS = {
    ACTION_CREATED: "Offre ajoutée",
    ACTION_CHANGED: "Offre modifiée",
    ACTION_DEACTIVATED: "Offre désactivée",
    ACTION_REACTIVATED: "Offre réactivée",
    ACTION_MOVED: "Ordre des offres modifié",
}
UP, DOWN = "haut", "bas"


@dataclass(frozen=True)
class OfferForm:
    name: str
    durations: list[str]
    media: list[str]


def sold_on(portal: Portal):
    """Every offer ``portal`` sells or sold (active or not), in display order."""
    return (Offer
            .select()
            .where((Offer.ae == portal.ae_id)
                   & (Offer.portal.is_null() | (Offer.portal == portal.id)))
            .order_by(Offer.position, Offer.id))


def offer_of_portal(portal: Portal, offer_id: int) -> Offer | None:
    """An offer ``portal`` sells (the AE's or its own); another's id finds nothing."""
    return sold_on(portal).where(Offer.id == offer_id).first()


def form_of(offer: Offer) -> OfferForm:
    return OfferForm(offer.name, [str(years) for years in offer.duration_list], offer.media_list)


def describe(offer_or_form) -> dict:
    """An offer's settings in the audit trail's words."""
    if isinstance(offer_or_form, Offer):
        offer_or_form = form_of(offer_or_form)
    return {"nom": offer_or_form.name,
            "validités": ", ".join(f"{years} an{'s' if years != '1' else ''}"
                                   for years in rules.durations_text(offer_or_form.durations)
                                   .split(",") if years),
            "supports": ", ".join(MEDIA[code] for code in rules.media_text(offer_or_form.media)
                                  .split(",") if code)}


def _checked(portal: Portal, form: OfferForm, offer: Offer | None = None) -> str:
    name = form.name.strip()
    problems = rules.offer_problems(name, form.durations, form.media)
    if "name" not in problems:
        # The API names an offer by its name: two offers of one portal cannot share it.
        scope = (Offer.select().where(Offer.ae == portal.ae_id) if offer is not None
                 and offer.portal_id is None else sold_on(portal))
        same = scope.where(Offer.name == name)
        if offer is not None:
            same = same.where(Offer.id != offer.id)
        if same.exists():
            problems["name"] = f"Une offre « {name} » est déjà proposée sur ce portail."
    if problems:
        raise FormRefused(problems)
    return name


def create(portal: Portal, form: OfferForm, *, by: Operator | None = None,
           ip: str = "") -> Offer:
    """A new offer of this portal, last in its list."""
    name = _checked(portal, form)
    with db.atomic():
        last = sold_on(portal).order_by(Offer.position.desc()).first()
        offer = Offer.create(ae=portal.ae_id, portal=portal.id, name=name,
                             durations=rules.durations_text(form.durations),
                             media=rules.media_text(form.media),
                             position=(last.position + 1) if last else 0)
        audit.record(ACTION_CREATED, operator=by, ae=portal.ae_id, ip=ip,
                     details={"portail": portal.name, "avant": None, "après": describe(form)})
    return offer


def update(portal: Portal, offer: Offer, form: OfferForm, *, by: Operator | None = None,
           ip: str = "") -> bool:
    """New name, validities or media; False when unchanged. Orders already placed keep the
    product they were placed with."""
    name = _checked(portal, form, offer)
    durations, media = rules.durations_text(form.durations), rules.media_text(form.media)
    with db.atomic():
        current = Offer.get_by_id(offer.id)
        if (current.name, current.durations, current.media) == (name, durations, media):
            return False
        Offer.update(name=name, durations=durations, media=media).where(
            Offer.id == offer.id).execute()
        audit.record(ACTION_CHANGED, operator=by, ae=portal.ae_id, ip=ip,
                     details={"portail": portal.name, "avant": describe(current),
                              "après": describe(OfferForm(name, form.durations, form.media))})
    return True


def _left_without_offer(offer: Offer) -> list[str]:
    """The open portals ``offer`` is the last active offer of."""
    portals = Portal.select().where((Portal.ae == offer.ae_id) & Portal.closed_at.is_null())
    if offer.portal_id is not None:
        portals = portals.where(Portal.id == offer.portal_id)
    return [portal.name for portal in portals
            if not sold_on(portal).where(Offer.active & (Offer.id != offer.id)).exists()]


def set_active(portal: Portal, offer: Offer, active: bool, *, by: Operator | None = None,
               ip: str = "") -> None:
    with db.atomic():
        Offer.update(active=Offer.active).where(Offer.id == offer.id).execute()  # lock it
        current = Offer.get_by_id(offer.id)
        if current.active == active:
            raise workflow.Refused([f"L'offre « {current.name} » est déjà "
                                    f"{'active' if active else 'désactivée'}."])
        stranded = [] if active else _left_without_offer(current)
        if stranded:
            raise workflow.Refused([
                f"« {current.name} » est la dernière offre proposée sur le portail "
                f"« {', '.join(stranded)} » : ajoutez-en une autre avant de la désactiver, "
                f"ou fermez le portail."])
        Offer.update(active=active).where(Offer.id == offer.id).execute()
        audit.record(ACTION_REACTIVATED if active else ACTION_DEACTIVATED, operator=by,
                     ae=portal.ae_id, ip=ip,
                     details={"portail": portal.name, "offre": current.name,
                              "avant": {"état": "désactivée" if active else "active"},
                              "après": {"état": "active" if active else "désactivée"}})


def move(portal: Portal, offer: Offer, direction: str, *, by: Operator | None = None,
         ip: str = "") -> bool:
    """One place up or down in the portal's list; False at either end (nothing written)."""
    if direction not in (UP, DOWN):
        raise workflow.Refused(["Déplacement inconnu."])
    with db.atomic():
        offers = list(sold_on(portal))
        index = next(i for i, row in enumerate(offers) if row.id == offer.id)
        other = index - 1 if direction == UP else index + 1
        if not 0 <= other < len(offers):
            return False
        before = [row.name for row in offers]
        offers[index], offers[other] = offers[other], offers[index]
        for position, row in enumerate(offers):
            if row.position != position:
                Offer.update(position=position).where(Offer.id == row.id).execute()
        audit.record(ACTION_MOVED, operator=by, ae=portal.ae_id, ip=ip,
                     details={"portail": portal.name, "offre": offer.name,
                              "avant": {"ordre": before},
                              "après": {"ordre": [row.name for row in offers]}})
    return True
