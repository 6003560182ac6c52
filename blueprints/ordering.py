"""The public ordering page of a portal, /commander/<code> (« Commander un certificat »): the
steps Société → Porteur → Représentant légal → Mandataire → Produit → Pièces justificatives →
Récapitulatif, then « Envoyer la commande ». No login: the first step creates the draft, whose
signed link (services.intake.drafts) opens the next ones. Plain forms (POST, then the next
step); htmx only swaps the pieces' block, with an upload progress bar.
"""
from __future__ import annotations

import logging

from flask import (Blueprint, abort, current_app, flash, make_response, redirect,
                   render_template, request, url_for)
from jinja2_fragments.flask import render_block

import workflow
from adapters.document_store import RefusedDocument
from blueprints.link_pages import protect_link_pages
from blueprints.request_guards import accepts_upload
from extensions import client_ip, htmx, limiter
from models import Portal
from models.portal_codes import CODE_MAX, CODE_PATTERN
from services import portals
from services.intake import address, drafts, page, pieces, submission
from services.messaging import followup, outbox
from workflow import ordering, portals as portal_rules

log = logging.getLogger(__name__)
bp = Blueprint("ordering", __name__, url_prefix="/commander")

PAGE = "ordering/step.html"
MESSAGE = "ordering/message.html"
CLOSED = "ordering/closed.html"
HONEYPOT = "site_web"
UPLOAD_MARGIN = 64 * 1024  # the multipart envelope around the file

protect_link_pages(bp, MESSAGE, "quelques minutes")


def _per_portal() -> str:
    return f"portail:{request.view_args.get('code', '')}"


# New drafts, per address and per portal (settings); changes and codes, per address.
new_orders_per_address = limiter.limit(
    lambda: current_app.config["RADESK_ORDERING_LIMIT_PER_ADDRESS"], key_func=client_ip)
new_orders_per_portal = limiter.limit(
    lambda: current_app.config["RADESK_ORDERING_LIMIT_PER_PORTAL"], key_func=_per_portal)
changes_limit = limiter.limit("240 per hour", key_func=client_ip)
codes_limit = limiter.limit("20 per hour", key_func=client_ip)


def _portal(code: str) -> Portal:
    """The open portal of this code; a closed one answers the page that says so (its drafts'
    steps too), an unknown one 404."""
    plausible = len(code) <= CODE_MAX and CODE_PATTERN.fullmatch(code)
    portal = Portal.by_code(code) if plausible else None
    if portal is None:
        abort(404)
    if portal.closed_at is not None:
        abort(make_response(render_template(CLOSED, portal=portal, public_ae=portal.ae,
                                            contact=portals.contact_of(portal),
                                            reason=portal_rules.closed_reason(portal.name)), 410))
    return portal


def _draft(portal: Portal, token: str):
    """The draft the link opens on this portal; the page that says why otherwise (404)."""
    try:
        order, intake = drafts.draft_of(current_app, token)
    except drafts.InvalidDraftLink as problem:
        abort(make_response(render_template(MESSAGE, portal=portal, public_ae=portal.ae,
                                            title="Lien de commande invalide",
                                            message=problem.message), 404))
    if order.portal_id != portal.id:
        abort(404)
    return order, intake


# Where a refusal is said: the summary's code form or its « Envoi » block.
SUMMARY_REFUSALS = {"ordering.send_code": "code", "ordering.confirm_address": "code",
                    "ordering.submit": "submit"}


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """A refused change, said on the page it came from, with what was typed."""
    code, token = request.view_args["code"], request.view_args["token"]
    portal = _portal(code)
    order, intake = _draft(portal, token)
    if request.endpoint == "ordering.save":
        step = request.view_args["step"]
        return _render(portal, step, order, intake, token,
                       submitted=ordering.clean(step, request.form), problems={"": refusal.message})
    key = SUMMARY_REFUSALS[request.endpoint]
    return _render(portal, ordering.STEP_SUMMARY, order, intake, token,
                   problems={key: refusal.reasons if key == "submit" else refusal.message})


def _render(portal, step: str, order=None, intake=None, token: str = "", **extra):
    context = page.step_context(current_app, portal, step, order, intake, token, **extra)
    status = 422 if extra.get("problems") else 200
    return render_template(PAGE, **context), status


# --- The first step: the draft is created ----------------------------------------------------

@bp.get("/<code>")
def start(code: str):
    return _render(_portal(code), ordering.STEP_COMPANY)


@bp.post("/<code>")
@new_orders_per_address
@new_orders_per_portal
def create(code: str):
    portal = _portal(code)
    answers = ordering.clean(ordering.STEP_COMPANY, request.form)
    if request.form.get(HONEYPOT):
        log.warning("commande refusée (champ piège rempli) depuis %s", client_ip())
        return render_template(MESSAGE, portal=portal, public_ae=portal.ae,
                               title="Commande enregistrée",
                               message="Votre commande est enregistrée : un e-mail vient de vous "
                                       "être envoyé avec le lien pour la poursuivre.")
    problems = ordering.step_problems(ordering.STEP_COMPANY, answers)
    if problems:
        return _render(portal, ordering.STEP_COMPANY, submitted=answers, problems=problems)
    started = drafts.start(current_app, portal, answers, ip=client_ip())
    outbox.wake(current_app)
    flash(f"Votre commande N° {started.order.number} est commencée. Le lien pour la reprendre "
          f"plus tard vient de vous être envoyé par e-mail.", "success")
    token = drafts.make_token(current_app, started.intake)
    return redirect(url_for(".step", code=code, token=token, step=ordering.STEP_HOLDER), 303)


# --- The next steps --------------------------------------------------------------------------

@bp.get("/<code>/<token>/<step>")
def step(code: str, token: str, step: str):
    portal = _portal(code)
    if step not in ordering.STEPS:
        abort(404)
    order, intake = _draft(portal, token)
    return _render(portal, step, order, intake, token)


@bp.post("/<code>/<token>/<step>")
@changes_limit
def save(code: str, token: str, step: str):
    portal = _portal(code)
    if step not in ordering.FORM_STEPS:
        abort(404)
    order, intake = _draft(portal, token)
    answers = ordering.clean(step, request.form)
    offers = drafts.offers_for(portal)
    problems = ordering.step_problems(step, answers, offers)
    if problems:
        return _render(portal, step, order, intake, token, submitted=answers, problems=problems)
    drafts.save_step(order, intake, step, answers, offers, ip=client_ip())
    return redirect(url_for(".step", code=code, token=token, step=page.next_step(step)), 303)


@bp.post("/<code>/<token>/pieces/depot")
@accepts_upload
@changes_limit
def upload(code: str, token: str):
    portal = _portal(code)
    order, intake = _draft(portal, token)
    kind, upload_file = request.form.get("kind", ""), request.files.get("file")
    store = pieces.store()
    message, problems = None, {}
    if (request.content_length or 0) > store.max_bytes + UPLOAD_MARGIN:  # the body stays unread
        problems[kind] = f"Fichier trop volumineux (maximum {store.max_bytes // (1024 * 1024)} Mo)."
    elif not upload_file or not upload_file.filename:
        problems[kind] = "Choisissez un fichier à déposer."
    else:
        try:
            document = pieces.upload(order, kind, upload_file.filename,
                                     upload_file.read(store.max_bytes + 1), ip=client_ip())
            message = (f"Pièce reçue : {workflow.document_kind_label(kind)} "
                       f"(« {document.filename} »).")
        except (workflow.Refused, RefusedDocument) as refusal:
            problems[kind] = refusal.message
    if htmx:
        context = page.step_context(current_app, portal, ordering.STEP_PIECES, order, intake,
                                      token, message=message, problems=problems)
        return render_block(PAGE, "pieces", **context), (422 if problems else 200)
    if problems:
        return _render(portal, ordering.STEP_PIECES, order, intake, token, problems=problems)
    flash(message, "success")
    return redirect(url_for(".step", code=code, token=token, step=ordering.STEP_PIECES,
                            _anchor=f"piece-{kind}"), 303)


# --- The requester's address, and « Envoyer la commande » -----------------------------------------

@bp.post("/<code>/<token>/code")
@codes_limit
def send_code(code: str, token: str):
    portal = _portal(code)
    order, intake = _draft(portal, token)
    masked = address.send_code(current_app, order, intake, ip=client_ip())
    outbox.wake(current_app)
    flash(f"Un code de confirmation vient d'être envoyé à {masked}. Il est valable "
          f"{address.CODES.minutes} minutes.", "success")
    return redirect(url_for(".step", code=code, token=token, step=ordering.STEP_SUMMARY,
                            _anchor="confirmation-adresse"), 303)


@bp.post("/<code>/<token>/confirmation")
@changes_limit
def confirm_address(code: str, token: str):
    portal = _portal(code)
    order, intake = _draft(portal, token)
    address.check_code(current_app, order, intake, request.form.get("code", ""), ip=client_ip())
    flash("Votre adresse e-mail est confirmée.", "success")
    return redirect(url_for(".step", code=code, token=token, step=ordering.STEP_SUMMARY,
                            _anchor="envoi"), 303)


@bp.post("/<code>/<token>/envoi")
@changes_limit
def submit(code: str, token: str):
    portal = _portal(code)
    order, intake = _draft(portal, token)
    sent = submission.submit(current_app, order, address_proven=False,
                             via=submission.VIA_ORDERING_PAGE, ip=client_ip())
    flash(f"Votre commande N° {sent.number} est envoyée à l'Autorité d'Enregistrement "
          f"{portal.ae.name}. Un accusé de réception vient de vous être envoyé par e-mail.",
          "success")
    followup_token = followup.make_token(current_app.config["SECRET_KEY"], sent.id,
                                         sent.link_generation)
    return redirect(url_for("followup.show", token=followup_token), 303)
