"""Génération du certificat, hand-over and revocation, from the order file; the AET's list of
orders to generate; the public key the token bridge checks the server's instructions with.

The generation itself is a dialogue between generation.js, the token bridge on the AET's
workstation and the JSON endpoints here, each one step of services.certificates.generation.
Hand-over and revocation are plain forms (they work without JavaScript).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import Encoding
from flask import (Blueprint, Response, current_app, flash, jsonify, render_template, request,
                   url_for)
from werkzeug.exceptions import NotFound

import workflow
from blueprints import refusals
from blueprints.common import current_operator, current_scope, order_or_404, role_required
from extensions import client_ip
from models import HolderCertificate, Order
from services.certificates import activation, face_to_face, generation
from adapters.ca import fingerprint_sha256

bp = Blueprint("generation", __name__)

LIST_LIMIT = 200
DELIVERED = ("Clé remise : le lien d'activation part vers le porteur et le code d'activation "
             "vers le Contact OTP ({}) ; leur envoi est suivi dans l'historique des "
             "notifications.")
RESENT = ("Nouveau lien et nouveau code d'activation envoyés ({}) : leur envoi est suivi dans "
          "l'historique des notifications.")
REVOKED = "Certificat n° {} révoqué ({}). La liste de révocation a été republiée."
JSON_STEPS: set[str] = set()  # endpoints that answer generation.js in JSON, refusals included


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """generation.js reads a refused step's reasons as JSON; the forms show them in the file."""
    if request.endpoint in JSON_STEPS:
        return jsonify(message=refusal.message, reasons=refusal.reasons, code=refusal.code), 409
    return refusals.show_refusal(refusal, "certificat")


def _step(name: str):
    """Registers a generation step, called by generation.js: POST …/generation/<name>, AET only,
    ``view(order, data)`` with the order from order_or_404 and the JSON body, JSON answers
    (refusals too). A step aimed outside the operator's scope is audited before its 404: a
    forged request leaves a trace."""
    def register(view):
        @functools.wraps(view)
        def step(order_id: int):
            try:
                order = order_or_404(order_id)
            except NotFound:
                generation.record_unknown_order(current_operator(), order_id, request.endpoint,
                                                client_ip())
                raise
            data = request.get_json(silent=True)
            return view(order, data if isinstance(data, dict) else {})

        bp.add_url_rule(f"/commandes/<int:order_id>/generation/{name}", view.__name__,
                        role_required(workflow.ROLE_AET)(step), methods=["POST"])
        JSON_STEPS.add(f"{bp.name}.{view.__name__}")
        return view
    return register


def _act(action, order: Order, **fields):
    """``action(app, order, operator, …, ip=…)`` done by the logged-in operator, from their
    address: how every certificate service is called from here."""
    return action(current_app, order, current_operator(), ip=client_ip(), **fields)


# --- pages ----------------------------------------------------------------------------------

@bp.get("/generation")
@role_required(workflow.ROLE_AET)
def to_generate():
    """« Certificats à générer »: the orders of the AET's portals waiting for their certificate."""
    orders = generation.orders_to_generate(current_scope(), LIST_LIMIT + 1)
    return render_template("generation/list.html", orders=orders[:LIST_LIMIT],
                           truncated=len(orders) > LIST_LIMIT)


@bp.get("/pont/instructions.pem")
def instruction_key():
    """Public: the token bridge verifies the server's instructions with this key."""
    response = Response(generation.instruction_public_pem(current_app),
                        mimetype="application/x-pem-file")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# --- generation steps (JSON, called by generation.js) -----------------------------------------

@_step("instruction")
def start(order: Order, data: dict):
    signed = _act(generation.start, order, token_serial=data.get("serial"),
                  token_label=data.get("label"), key_type=data.get("key_type"),
                  origin=request.headers.get("Origin"))
    return jsonify(signed.as_json())


@_step("demande")
def submit_request(order: Order, data: dict):
    issued = _act(generation.accept_request, order, nonce=data.get("nonce"),
                  instruction_text=data.get("instruction"), csr_pem=data.get("csr_pem"))
    return jsonify(certificate_pem=_pem(issued.certificate),
                   chain_pem=[_pem(c) for c in issued.chain],
                   certificate_sha256=fingerprint_sha256(issued.certificate),
                   finalization=issued.finalization.as_json())


@_step("inscrit")
def written(order: Order, data: dict):
    row = _act(generation.confirm_written, order, nonce=data.get("nonce"),
               certificate_sha256=data.get("certificate_sha256"))
    flash(f"Certificat n° {row.serial_hex} généré et inscrit sur la clé USB : la commande "
          f"passe en phase « {workflow.PHASES[workflow.PHASE_HANDOVER]} ».", "success")
    return jsonify(redirect=url_for("order_file.show", order_id=order.id, _anchor="certificat"))


@_step("echec")
def failed(order: Order, data: dict):
    reason = _act(generation.report_failure, order, nonce=data.get("nonce"),
                  stage=data.get("stage"), code=data.get("code"), message=data.get("message"))
    return jsonify(message=reason)


# --- hand-over and revocation (forms) --------------------------------------------------------

def _back(order_id: int, message: str):
    return refusals.back_to_order_file(order_id, "certificat", message)


def _deliver(order_id: int, action, message: str):
    """Hand-over, or sending its link and code again: ``action(app, order, operator)``."""
    order = order_or_404(order_id)
    return _back(order.id, message.format(_act(action, order).recipient))


@bp.get("/commandes/<int:order_id>/remise")
@role_required(workflow.ROLE_AET)
def hand_over_form(order_id: int):
    """« Remise en face à face » on a page of its own (the order file shows the same form)."""
    return _hand_over_page(order_or_404(order_id), face_to_face.FaceToFaceForm.blank())


@bp.post("/commandes/<int:order_id>/remise")
@role_required(workflow.ROLE_AET)
def hand_over(order_id: int):
    order = order_or_404(order_id)
    form = face_to_face.FaceToFaceForm.cleaned(
        request.form.get("id_doc_type"), request.form.get("id_doc_number"),
        request.form.get("handed_on"))
    try:
        delivered = _act(activation.hand_over, order, face_to_face=form)
    except workflow.Refused as refusal:
        if refusal.code != face_to_face.REFUSAL_CODE:
            raise
        return _hand_over_page(order, form, refusal.reasons), 422
    return _back(order.id, DELIVERED.format(delivered.recipient))


def _hand_over_page(order: Order, form, problems: list[str] | None = None):
    return render_template("generation/hand_over.html", order=order, form=form,
                           problems=problems or [], id_doc_types=workflow.ID_DOC_TYPES)


@bp.post("/commandes/<int:order_id>/remise/renvoi")
@role_required(workflow.ROLE_AET)
def resend(order_id: int):
    return _deliver(order_id, activation.resend, RESENT)


@bp.post("/commandes/<int:order_id>/revocation")
@role_required(workflow.ROLE_AEA)
def revoke(order_id: int):
    order = order_or_404(order_id)
    state = _act(generation.revoke, order, reason=request.form.get("reason"),
                 confirmed=request.form.get("confirm") == "1")
    return _back(order.id, REVOKED.format(state.row.serial_hex, state.revocation_label))


# --- the order file's « Certificat du porteur » panel ------------------------------------------

@dataclass(frozen=True)
class Panel:
    """What templates/generation/_order_file.html shows for one order and operator."""
    order: Order
    certificate: generation.CertificateState | None
    history: list
    failure: object
    activation: object
    can_generate: bool
    generation_blockers: list[str]
    can_deliver: bool
    delivery_blockers: list[str]
    can_revoke: bool
    face_to_face: object        # the latest « Remise en face à face » record, or None
    face_to_face_form: object   # the blank form (today's date)
    id_doc_types: dict
    key_types: dict
    default_key_type: str
    revocation_reasons: dict
    renewal_key: str | None     # a renewal: the holder's key, which may receive it too


def panel_for(order: Order) -> Panel | None:
    """Shown from « Génération du certificat » on; None before (nothing to show)."""
    if order.process == workflow.PROCESS_REVOCATION:
        return None  # the request's own panel shows the certificate it is about
    if order.phase not in (workflow.PHASE_GENERATION, workflow.PHASE_HANDOVER,
                           workflow.PHASE_DONE) and not generation.has_certificates(order):
        return None
    operator = current_operator()
    states = generation.certificates_of(order)
    current = generation.current_of(states)
    in_generation = order.phase == workflow.PHASE_GENERATION
    start_blockers = workflow.generation_start_blockers(order, operator) if in_generation else []
    delivery = workflow.delivery_blockers(order, operator, current)
    return Panel(
        order=order, certificate=current, history=states,
        failure=generation.last_failure(order) if in_generation else None,
        activation=activation.of_order(order),
        can_generate=in_generation and not start_blockers,
        generation_blockers=start_blockers,
        can_deliver=order.phase == workflow.PHASE_HANDOVER and operator.has_role(workflow.ROLE_AET),
        delivery_blockers=delivery,
        can_revoke=not workflow.holder_revocation_blockers(order, operator, current),
        face_to_face=next(iter(face_to_face.records_of(order)), None),
        face_to_face_form=face_to_face.FaceToFaceForm.blank(), id_doc_types=workflow.ID_DOC_TYPES,
        key_types=generation.KEY_TYPES, default_key_type=generation.DEFAULT_KEY_TYPE,
        revocation_reasons=generation.REVOCATION_REASONS,
        renewal_key=_renewal_key(order) if in_generation else None,
    )


def _renewal_key(order: Order) -> str | None:
    if order.process != workflow.PROCESS_RENEWAL or not order.target_serial:
        return None
    old = HolderCertificate.get_or_none(HolderCertificate.serial_hex == order.target_serial)
    return old.token_serial if old is not None else None


@bp.app_context_processor
def inject_panel():
    return {"generation_panel": panel_for}


def _pem(certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode("ascii")
