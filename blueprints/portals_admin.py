"""« Portails » (Administration): an AE's admins list its portals, add one (« Ajouter un
portail »), rename it, give its contact details, set the products it sells, and close it
(« Fermer le portail ») or reopen it (« Rouvrir »). Plain forms, POST then back to the page; a
refused form comes back with what was typed and why (422). Another AE's portal or offer ids
answer 404.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

import workflow
from blueprints.common import current_operator, role_required
from extensions import client_ip
from models import Offer, Portal
from services import offers, portals
from services.intake.drafts import DEFAULT_OFFER
from workflow.ordering import MEDIA
from workflow.portals import DURATIONS

bp = Blueprint("portals_admin", __name__, url_prefix="/parametres/portails")

LIST = "admin/portals.html"
DETAIL = "admin/portal.html"
OFFER = "admin/offer.html"
# The form each endpoint answers, as the pages name it (where a refusal is shown).
FORMS = {"portals_admin.create": "add", "portals_admin.rename": "rename",
         "portals_admin.save_contact": "contact", "portals_admin.add_offer": "offer",
         "portals_admin.save_offer": "offer"}


def portal_or_404(portal_id: int) -> Portal:
    """A portal of the logged-in operator's AE."""
    portal = portals.portal_of_ae(current_operator().ae_id, portal_id)
    if portal is None:
        abort(404)
    return portal


def offer_or_404(portal: Portal, offer_id: int) -> Offer:
    """An offer ``portal`` sells (which must come from portal_or_404)."""
    offer = offers.offer_of_portal(portal, offer_id)
    if offer is None:
        abort(404)
    return offer


# --- The list, and « Ajouter un portail » -----------------------------------------------------

@bp.get("")
@role_required("admin")
def index():
    return _list_page()


@bp.post("")
@role_required("admin")
def create():
    form = portals.PortalForm(request.form.get("name", ""), request.form.get("code", ""))
    portal = portals.create(current_operator().ae_id, form, by=current_operator(),
                            ip=client_ip())
    flash(f"Portail « {portal.name} » ajouté : sa page de commande est "
          f"{url_for('ordering.start', code=portal.code, _external=True)}.", "success")
    return redirect(url_for(".show", portal_id=portal.id), 303)


def _list_page(submitted: portals.PortalForm | None = None, problems: dict | None = None):
    return render_template(LIST, lines=portals.listing(current_operator().ae_id),
                           submitted=submitted, problems=problems or {})


# --- One portal --------------------------------------------------------------------------------

@bp.get("/<int:portal_id>")
@role_required("admin")
def show(portal_id: int):
    return _detail(portal_or_404(portal_id))


@bp.post("/<int:portal_id>/nom")
@role_required("admin")
def rename(portal_id: int):
    portal = portal_or_404(portal_id)
    form = portals.PortalForm(request.form.get("name", ""), request.form.get("code", ""))
    changed = portals.rename(portal, form, by=current_operator(), ip=client_ip())
    portal = Portal.get_by_id(portal.id)
    return _back(portal, f"Portail renommé : « {portal.name} », code « {portal.code} »."
                 if changed else "Aucune modification : le nom et le code sont inchangés.",
                 "nom")


@bp.post("/<int:portal_id>/coordonnees")
@role_required("admin")
def save_contact(portal_id: int):
    portal = portal_or_404(portal_id)
    changed = portals.set_contact(portal, _contact_form(), by=current_operator(), ip=client_ip())
    return _back(portal, "Coordonnées de contact enregistrées : elles sont affichées sur la page "
                         "de commande et la page de suivi des commandes du portail."
                 if changed else "Aucune modification : les coordonnées sont inchangées.",
                 "coordonnees")


@bp.post("/<int:portal_id>/fermeture")
@role_required("admin")
def close(portal_id: int):
    portal = portal_or_404(portal_id)
    portals.close(portal, by=current_operator(), ip=client_ip())
    return _back(portal, f"Portail « {portal.name} » fermé : sa page de commande indique "
                         f"« portail fermé » et il ne prend plus de commandes.", "etat")


@bp.post("/<int:portal_id>/reouverture")
@role_required("admin")
def reopen(portal_id: int):
    portal = portal_or_404(portal_id)
    portals.reopen(portal, by=current_operator(), ip=client_ip())
    return _back(portal, f"Portail « {portal.name} » rouvert : il prend de nouveau les "
                         f"commandes.", "etat")


# --- Its offers --------------------------------------------------------------------------------

@bp.post("/<int:portal_id>/offres")
@role_required("admin")
def add_offer(portal_id: int):
    portal = portal_or_404(portal_id)
    offer = offers.create(portal, _offer_form(), by=current_operator(), ip=client_ip())
    return _back(portal, f"Offre « {offer.name} » ajoutée.", f"offre-{offer.id}")


@bp.get("/<int:portal_id>/offres/<int:offer_id>")
@role_required("admin")
def edit_offer(portal_id: int, offer_id: int):
    portal = portal_or_404(portal_id)
    offer = offer_or_404(portal, offer_id)
    return _offer_page(portal, offer, offers.form_of(offer))


@bp.post("/<int:portal_id>/offres/<int:offer_id>")
@role_required("admin")
def save_offer(portal_id: int, offer_id: int):
    portal = portal_or_404(portal_id)
    offer = offer_or_404(portal, offer_id)
    changed = offers.update(portal, offer, _offer_form(), by=current_operator(), ip=client_ip())
    offer = Offer.get_by_id(offer.id)
    return _back(portal, f"Offre « {offer.name} » enregistrée." if changed
                 else "Aucune modification : l'offre est inchangée.", f"offre-{offer.id}")


@bp.post("/<int:portal_id>/offres/<int:offer_id>/activation")
@role_required("admin")
def switch_offer(portal_id: int, offer_id: int):
    portal = portal_or_404(portal_id)
    offer = offer_or_404(portal, offer_id)
    active = request.form.get("active") == "1"
    offers.set_active(portal, offer, active, by=current_operator(), ip=client_ip())
    return _back(portal, f"Offre « {offer.name} » {'réactivée' if active else 'désactivée'}.",
                 f"offre-{offer.id}")


@bp.post("/<int:portal_id>/offres/<int:offer_id>/deplacement")
@role_required("admin")
def move_offer(portal_id: int, offer_id: int):
    portal = portal_or_404(portal_id)
    offer = offer_or_404(portal, offer_id)
    offers.move(portal, offer, request.form.get("direction", ""), by=current_operator(),
                ip=client_ip())
    return _back(portal, f"Ordre des offres enregistré (« {offer.name} » déplacée).",
                 f"offre-{offer.id}")


# --- Answers -----------------------------------------------------------------------------------

@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """A refused change, said on the page it came from, with what was typed (422)."""
    form = FORMS.get(request.endpoint)
    problems = getattr(refusal, "problems", None) or {"": refusal.message}
    if form == "add":
        return _list_page(portals.PortalForm(request.form.get("name", ""),
                                             request.form.get("code", "")), problems), 422
    portal = portal_or_404(request.view_args["portal_id"])
    if request.endpoint == "portals_admin.save_offer":
        offer = offer_or_404(portal, request.view_args["offer_id"])
        return _offer_page(portal, offer, _offer_form(), problems), 422
    submitted = {"rename": portals.PortalForm(request.form.get("name", ""),
                                              request.form.get("code", "")),
                 "contact": _contact_form(), "offer": _offer_form()}
    return _detail(portal, form=form or "action", problems=problems,
                   submitted=submitted.get(form)), 422


def _back(portal: Portal, message: str, anchor: str):
    flash(message, "success")
    return redirect(url_for(".show", portal_id=portal.id, _anchor=anchor), 303)


def _contact_form() -> portals.ContactForm:
    return portals.ContactForm(**{name: request.form.get(name, "")
                                  for name in portals.CONTACT_WORDS})


def _offer_form() -> offers.OfferForm:
    return offers.OfferForm(request.form.get("name", ""), request.form.getlist("durations"),
                            request.form.getlist("media"))


def _detail(portal: Portal, *, form: str = "", problems: dict | None = None, submitted=None):
    sold = list(offers.sold_on(portal))
    return render_template(
        DETAIL, portal=portal, offers=sold, default_offer=DEFAULT_OFFER if not any(
            offer.active for offer in sold) else None,
        contact=submitted if form == "contact" else portals.contact_values(portal),
        rename=submitted if form == "rename" else portals.PortalForm(portal.name,
                                                                     portal.code or ""),
        new_offer=submitted if form == "offer" else None, form=form, problems=problems or {},
        media=MEDIA, durations=DURATIONS)


def _offer_page(portal: Portal, offer: Offer, form: offers.OfferForm,
                problems: dict | None = None):
    return render_template(OFFER, portal=portal, offer=offer, form=form,
                           problems=problems or {}, media=MEDIA, durations=DURATIONS)
