"""An AE's portals as its admins manage them (« Portails »): add one (its ordering code made from
its name, or typed), rename it, close and reopen it, and give its contact details, which its
ordering pages and its orders' follow-up pages show requesters (``contact_of``). Each change is
one transaction with its audit event, {"avant": …, "après": …}. Lookups take the AE: another
AE's ids find nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

from peewee import IntegrityError, fn

import workflow
from models import Offer, Operator, Portal, db, utcnow
from models.portal_codes import unique_code
from services import audit
from workflow import portals as rules

ACTION_CREATED = "portal_created"
ACTION_RENAMED = "portal_renamed"
ACTION_CLOSED = "portal_closed"
ACTION_REOPENED = "portal_reopened"
ACTION_CONTACT = "portal_contact_changed"
AUDIT_ACTIONS = {
    ACTION_CREATED: "Portail ajouté",
    ACTION_RENAMED: "Portail renommé",
    ACTION_CLOSED: "Portail fermé",
    ACTION_REOPENED: "Portail rouvert",
    ACTION_CONTACT: "Coordonnées d'un portail modifiées",
}
DETAIL_LABELS = {"portail": "Portail", "avant": "Avant", "après": "Après"}
OPEN, CLOSED = "ouvert", "fermé"


class FormRefused(workflow.Refused):
    """A form refused: ``problems`` maps each field to its French reason (the page shows the
    form again with what was typed)."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(list(problems.values()), code="form")
        self.problems = problems


@dataclass(frozen=True)
class PortalForm:
    name: str
    code: str  # empty: made from the name


@dataclass(frozen=True)
class ContactForm:
    contact_email: str
    contact_phone: str
    contact_address: str
    contact_hours: str


@dataclass(frozen=True)
class PortalContact:
    """What a requester reads to reach the portal's team."""
    portal_name: str
    address_lines: tuple[str, ...]
    email: str
    phone: str
    hours: str


@dataclass(frozen=True)
class PortalLine:
    portal: Portal
    offers: int  # active offers sold on it (the AE's own for every portal included)


# --- Reading -----------------------------------------------------------------------------------

def portal_of_ae(ae_id: int, portal_id: int) -> Portal | None:
    return Portal.get_or_none((Portal.id == portal_id) & (Portal.ae == ae_id))


def listing(ae_id: int) -> list[PortalLine]:
    """The AE's portals by name, open ones first, with how many offers each sells (2 queries)."""
    portals = list(Portal.select().where(Portal.ae == ae_id)
                   .order_by(Portal.closed_at.is_null(False), Portal.name))
    counts = dict(Offer.select(Offer.portal, fn.COUNT(Offer.id))
                  .where((Offer.ae == ae_id) & Offer.active)
                  .group_by(Offer.portal)
                  .tuples())
    everywhere = counts.pop(None, 0)
    return [PortalLine(portal, everywhere + counts.get(portal.id, 0)) for portal in portals]


def contact_of(portal: Portal) -> PortalContact | None:
    """The portal's contact details for its requesters; None when none are given."""
    contact = PortalContact(portal.name, tuple(rules.lines_of(portal.contact_address or "")),
                            portal.contact_email or "", portal.contact_phone or "",
                            portal.contact_hours or "")
    if not (contact.address_lines or contact.email or contact.phone or contact.hours):
        return None
    return contact


def suggested_code(name: str, *, keep: Portal | None = None) -> str:
    """The code the name gives, numbered when another portal (of any AE) has it."""
    taken = {code for (code,) in Portal.select(Portal.code)
             .where(Portal.code.is_null(False)).tuples()}
    if keep is not None:
        taken.discard(keep.code)
    return unique_code(name, taken)


# --- Adding and renaming -----------------------------------------------------------------------

def _checked(ae_id: int, form: PortalForm, portal: Portal | None = None) -> tuple[str, str]:
    """The name and code to store, or FormRefused with every problem."""
    name, code = form.name.strip(), form.code.strip()
    problems = {"name": rules.portal_name_problem(name)}
    if not problems["name"]:
        if not code:
            code = suggested_code(name, keep=portal)
        same_name = Portal.select().where((Portal.ae == ae_id) & (Portal.name == name))
        if portal is not None:
            same_name = same_name.where(Portal.id != portal.id)
        if same_name.exists():
            problems["name"] = f"L'AE a déjà un portail nommé « {name} »."
    if code or not problems["name"]:
        problems["code"] = rules.code_problem(code)
        if not problems["code"]:
            same_code = Portal.select().where(Portal.code == code)
            if portal is not None:
                same_code = same_code.where(Portal.id != portal.id)
            if same_code.exists():
                problems["code"] = (f"Le code « {code} » est déjà celui d'un autre portail : "
                                    f"choisissez-en un autre (par exemple « {suggested_code(code)} »).")
    problems = {field: problem for field, problem in problems.items() if problem}
    if problems:
        raise FormRefused(problems)
    return name, code


def _taken_meanwhile(name: str, code: str) -> FormRefused:
    """The database's unique indexes caught what another admin did between check and write."""
    return FormRefused({"code": f"Le nom « {name} » ou le code « {code} » vient d'être pris "
                                f"par un autre portail : choisissez-en un autre."})


def create(ae_id: int, form: PortalForm, *, by: Operator | None = None, ip: str = "") -> Portal:
    name, code = _checked(ae_id, form)
    try:
        with db.atomic():
            portal = Portal.create(ae=ae_id, name=name, code=code)
            audit.record(ACTION_CREATED, operator=by, ae=ae_id, ip=ip,
                         details={"portail": name, "avant": None,
                                  "après": {"nom": name, "code": code, "état": OPEN}})
    except IntegrityError:
        raise _taken_meanwhile(name, code) from None
    return portal


def rename(portal: Portal, form: PortalForm, *, by: Operator | None = None,
           ip: str = "") -> bool:
    """A new name and/or code; False when both are unchanged (nothing written)."""
    name, code = _checked(portal.ae_id, form, portal)
    if (name, code) == (portal.name, portal.code):
        return False
    try:
        with db.atomic():
            Portal.update(name=name, code=code).where(Portal.id == portal.id).execute()
            audit.record(ACTION_RENAMED, operator=by, ae=portal.ae_id, ip=ip,
                         details={"portail": name,
                                  "avant": {"nom": portal.name, "code": portal.code},
                                  "après": {"nom": name, "code": code}})
    except IntegrityError:
        raise _taken_meanwhile(name, code) from None
    return True


# --- Closing and reopening ---------------------------------------------------------------------

def close(portal: Portal, *, by: Operator | None = None, ip: str = "") -> None:
    """Its ordering page says « portail fermé », the API refuses orders on it, and its drafts
    cannot be sent until it reopens; the orders already sent go on as before."""
    _set_closed(portal, utcnow(), ACTION_CLOSED, "Ce portail est déjà fermé.", by, ip)


def reopen(portal: Portal, *, by: Operator | None = None, ip: str = "") -> None:
    _set_closed(portal, None, ACTION_REOPENED, "Ce portail est déjà ouvert.", by, ip)


def _set_closed(portal: Portal, closed_at, action: str, already: str, by, ip: str) -> None:
    with db.atomic():
        changed = (Portal
                   .update(closed_at=closed_at)
                   .where((Portal.id == portal.id)
                          & (Portal.closed_at.is_null() if closed_at else
                             Portal.closed_at.is_null(False)))
                   .execute())
        if not changed:
            raise workflow.Refused([already])
        audit.record(action, operator=by, ae=portal.ae_id, ip=ip,
                     details={"portail": portal.name,
                              "avant": {"état": CLOSED if closed_at is None else OPEN},
                              "après": {"état": OPEN if closed_at is None else CLOSED}})


# --- Contact details ---------------------------------------------------------------------------

def _contact_values(portal: Portal) -> dict[str, str]:
    return {"contact_email": portal.contact_email or "", "contact_phone": portal.contact_phone or "",
            "contact_address": portal.contact_address or "",
            "contact_hours": portal.contact_hours or ""}


def contact_values(portal: Portal) -> ContactForm:
    """The portal's contact details as its form shows them."""
    return ContactForm(**_contact_values(portal))


CONTACT_WORDS = {"contact_email": "e-mail", "contact_phone": "téléphone",
                 "contact_address": "adresse", "contact_hours": "horaires"}


def set_contact(portal: Portal, form: ContactForm, *, by: Operator | None = None,
                ip: str = "") -> bool:
    """Store the contact details; False when unchanged. FormRefused when one is not valid."""
    typed = {name: value.strip() for name, value in form.__dict__.items()}
    problems = rules.contact_problems(typed)
    if problems:
        raise FormRefused(problems)
    new = {**typed, "contact_email": workflow.normalize_email(typed["contact_email"]),
           "contact_address": "\n".join(rules.lines_of(typed["contact_address"]))}
    with db.atomic():
        old = _contact_values(Portal.get_by_id(portal.id))
        changed = [name for name in new if new[name] != old[name]]
        if not changed:
            return False
        Portal.update(**{name: new[name] or None for name in new}).where(
            Portal.id == portal.id).execute()
        audit.record(ACTION_CONTACT, operator=by, ae=portal.ae_id, ip=ip,
                     details={"portail": portal.name,
                              "avant": {CONTACT_WORDS[name]: old[name] for name in changed},
                              "après": {CONTACT_WORDS[name]: new[name] for name in changed}})
    return True
