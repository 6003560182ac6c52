"""Génération du certificat, hand-over and revocation, from the order file; the AET's list of
orders to generate; the public key the token bridge checks the server's instructions with.

The generation itself is a dialogue between generation.js, the token bridge on the AET's
workstation and the JSON endpoints here, each one step of services.certificates.generation. Hand-over and
revocation are plain forms (they work without JavaScript).
"""
from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import Encoding
from flask import (Blueprint, Response, abort, current_app, flash, jsonify, redirect,
                   render_template, request, url_for)

import workflow
from blueprints.common import current_operator, current_scope, order_or_404, role_required
from extensions import client_ip
from models import Order
from services.certificates import activation, generation
from adapters.ca import fingerprint_sha256

bp = Blueprint("generation", __name__)

LIST_LIMIT = 200
DELIVERED = ("Clé remise : le lien d'activation a été envoyé au porteur et le code d'activation "
             "au Contact OTP ({}).")
RESENT = "Nouveau lien et nouveau code d'activation envoyés ({})."
REVOKED = "Certificat n° {} révoqué ({}). La liste de révocation a été republiée."


def _order_or_404(order_id: int) -> Order:
    """The order, within the operator's scope; an id outside it is audited, then 404."""
    order = current_scope().order_or_none(order_id)
    if order is None:
        generation.record_unknown_order(current_operator(), order_id, request.endpoint, client_ip())
        abort(404)
    return order


def _payload() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _refused(error) -> tuple[Response, int]:
    return jsonify(message=error.message, reasons=error.reasons, code=error.code), 409


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

@bp.post("/commandes/<int:order_id>/generation/instruction")
@role_required(workflow.ROLE_AET)
def start(order_id: int):
    order, data = _order_or_404(order_id), _payload()
    try:
        signed = generation.start(current_app, order, current_operator(),
                                  token_serial=data.get("serial"), token_label=data.get("label"),
                                  key_type=data.get("key_type"),
                                  origin=request.headers.get("Origin"), ip=client_ip())
    except workflow.Refused as refused:
        return _refused(refused)
    return jsonify(signed.as_json())


@bp.post("/commandes/<int:order_id>/generation/demande")
@role_required(workflow.ROLE_AET)
def submit_request(order_id: int):
    order, data = _order_or_404(order_id), _payload()
    try:
        issued = generation.accept_request(current_app, order, current_operator(),
                                           nonce=data.get("nonce"),
                                           instruction_text=data.get("instruction"),
                                           csr_pem=data.get("csr_pem"), ip=client_ip())
    except workflow.Refused as refused:
        return _refused(refused)
    return jsonify(certificate_pem=_pem(issued.certificate),
                   chain_pem=[_pem(c) for c in issued.chain],
                   certificate_sha256=fingerprint_sha256(issued.certificate),
                   finalization=issued.finalization.as_json())


@bp.post("/commandes/<int:order_id>/generation/inscrit")
@role_required(workflow.ROLE_AET)
def written(order_id: int):
    order, data = _order_or_404(order_id), _payload()
    try:
        row = generation.confirm_written(current_app, order, current_operator(),
                                         nonce=data.get("nonce"),
                                         certificate_sha256=data.get("certificate_sha256"),
                                         ip=client_ip())
    except workflow.Refused as refused:
        return _refused(refused)
    flash(f"Certificat n° {row.serial_hex} généré et inscrit sur la clé USB : la commande "
          f"passe en phase « {workflow.PHASES[workflow.PHASE_HANDOVER]} ».", "success")
    return jsonify(redirect=url_for("order_file.show", order_id=order.id, _anchor="certificat"))


@bp.post("/commandes/<int:order_id>/generation/echec")
@role_required(workflow.ROLE_AET)
def failed(order_id: int):
    order, data = _order_or_404(order_id), _payload()
    reason = generation.report_failure(current_app, order, current_operator(),
                                       nonce=data.get("nonce"), stage=data.get("stage"),
                                       code=data.get("code"), message=data.get("message"),
                                       ip=client_ip())
    return jsonify(message=reason)


# --- hand-over and revocation (forms) --------------------------------------------------------

@bp.post("/commandes/<int:order_id>/remise")
@role_required(workflow.ROLE_AET)
def hand_over(order_id: int):
    order = order_or_404(order_id)
    try:
        done = activation.hand_over(current_app, order, current_operator(), ip=client_ip())
        flash(DELIVERED.format(done.recipient), "success")
    except workflow.Refused as refused:
        flash(refused.message, "error")
    return redirect(url_for("order_file.show", order_id=order.id, _anchor="certificat"), 303)


@bp.post("/commandes/<int:order_id>/remise/renvoi")
@role_required(workflow.ROLE_AET)
def resend(order_id: int):
    order = order_or_404(order_id)
    try:
        done = activation.resend(current_app, order, current_operator(), ip=client_ip())
        flash(RESENT.format(done.recipient), "success")
    except workflow.Refused as refused:
        flash(refused.message, "error")
    return redirect(url_for("order_file.show", order_id=order.id, _anchor="certificat"), 303)


@bp.post("/commandes/<int:order_id>/revocation")
@role_required(workflow.ROLE_AEA)
def revoke(order_id: int):
    order = order_or_404(order_id)
    try:
        state = generation.revoke(current_app, order, current_operator(),
                                  reason=request.form.get("reason"),
                                  confirmed=request.form.get("confirm") == "1", ip=client_ip())
        flash(REVOKED.format(state.row.serial_hex, state.revocation_label), "success")
    except workflow.Refused as refused:
        flash(refused.message, "error")
    return redirect(url_for("order_file.show", order_id=order.id, _anchor="certificat"), 303)


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
    key_types: dict
    default_key_type: str
    revocation_reasons: dict


def panel_for(order: Order) -> Panel | None:
    """Shown from « Génération du certificat » on; None before (nothing to show)."""
    if order.phase not in (workflow.PHASE_GENERATION, workflow.PHASE_HANDOVER,
                           workflow.PHASE_DONE) and not generation.has_certificates(order):
        return None
    operator = current_operator()
    states = generation.certificates_of(order)
    current = next((s for s in states if s.revoked_at is None), states[0] if states else None)
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
        key_types=generation.KEY_TYPES, default_key_type=generation.DEFAULT_KEY_TYPE,
        revocation_reasons=generation.REVOCATION_REASONS,
    )


@bp.app_context_processor
def inject_panel():
    return {"generation_panel": panel_for}


def _pem(certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode("ascii")
