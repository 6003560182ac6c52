"""Renouvellement: the page an expiry reminder's link opens (``/renouveler/<token>``, no login:
the signed link is the key), and the operators' « Renouveler le certificat » on a « Terminée »
order's file. Both start the renewal draft (services.renewal.orders), or find it again."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, url_for

import workflow
from blueprints import refusals
from blueprints.common import current_operator, order_or_404, role_required
from blueprints.link_pages import protect_link_pages
from extensions import client_ip, limiter
from models import HolderCertificate, Order, Portal
from services import public_links
from services.intake import drafts
from services.renewal import links, orders as renewals
from workflow import ordering

bp = Blueprint("renewal", __name__)
PAGE = "renewal/page.html"
MESSAGE = "followup/message.html"
ANCHOR = "certificat"
public_limit = limiter.limit("30 per hour", key_func=client_ip)

protect_link_pages(bp, MESSAGE, "quelques minutes")
refusals.register(bp, ANCHOR)



@bp.app_context_processor
def renewal_helpers():
    def renewal_panel(order):
        operator = current_operator()
        return renewals.panel(order, operator) if operator else None
    return {"renewal_panel": renewal_panel}


UNUSABLE = "Ce lien de renouvellement n'est pas valide. Utilisez le lien reçu par e-mail."


def _message(title: str, message: str, status: int = 200):
    return render_template(MESSAGE, title=title, message=message), status


REVOKED = ("Ce lien de renouvellement a été révoqué par l'Autorité d'Enregistrement. "
           "Utilisez le lien le plus récent reçu par e-mail, ou adressez-vous à l'Autorité "
           "d'Enregistrement.")


def _certificate(token: str) -> tuple[HolderCertificate, Order] | None:
    """The certificate and order a valid link is for; None for a link that is not ours. A
    revoked link ends the request with the page that says so (nothing of the order)."""
    try:
        link = links.read_renewal_link(current_app, token)
    except public_links.BadToken:
        return None
    certificate = HolderCertificate.get_or_none(HolderCertificate.serial_hex == link.serial)
    if certificate is None:
        return None
    order = Order.with_people().where(Order.id == certificate.order_id).get()
    if link.generation < order.link_generation:
        abort(make_response(render_template(MESSAGE, title="Lien de renouvellement révoqué",
                                            message=REVOKED), 410))
    return certificate, order


def _draft_page(renewal: Order):
    """The renewal draft's summary on its portal's ordering page, else its follow-up page."""
    portal = Portal.get_by_id(renewal.portal_id)
    if renewal.phase == workflow.PHASE_ENTRY and portal.code and portal.closed_at is None:
        intake = drafts.intake_for(renewal)
        return redirect(url_for("ordering.step", code=portal.code,
                                token=drafts.make_token(current_app, intake),
                                step=ordering.STEP_SUMMARY), 303)
    return _message("Renouvellement en cours",
                    f"Le renouvellement de ce certificat est déjà en cours (commande N° "
                    f"{renewal.number}) : suivez-le depuis le lien reçu par e-mail.")


@bp.get("/renouveler/<token>")
@public_limit
def page(token: str):
    found = _certificate(token)
    if found is None:
        return _message("Lien non valide", UNUSABLE, 404)
    certificate, previous = found
    renewal = renewals.open_renewal(certificate.serial_hex)
    if renewal is not None:
        return _draft_page(renewal)
    problems = renewals.start_problems(previous, renewals.renewable_certificate(previous))
    return render_template(PAGE, token=token, certificate=certificate, previous=previous,
                           problems=problems)


@bp.post("/renouveler/<token>")
@public_limit
def start(token: str):
    found = _certificate(token)
    if found is None:
        return _message("Lien non valide", UNUSABLE, 404)
    certificate, previous = found
    try:
        renewal = renewals.start(current_app, previous, actor="Demandeur", ip=client_ip())
    except workflow.Refused as refusal:
        return render_template(PAGE, token=token, certificate=certificate, previous=previous,
                               problems=refusal.reasons), 422
    return _draft_page(renewal.order)


@bp.post("/commandes/<int:order_id>/renouveler")
@role_required(workflow.ROLE_AEA)
def start_by_operator(order_id: int):
    """Prepared by the AE for the requester, who confirms it from the e-mailed link."""
    previous = order_or_404(order_id)
    renewal = renewals.start(current_app, previous, actor=None, operator=current_operator(),
                             ip=client_ip())
    message = (f"Renouvellement préparé : commande N° {renewal.order.number}. Le demandeur a "
               f"reçu le lien pour confirmer ses informations et l'envoyer."
               if renewal.created else
               f"Le renouvellement de ce certificat est déjà en cours : commande N° "
               f"{renewal.order.number}.")
    return refusals.back_to_order_file(renewal.order.id, "", message)
