"""The bridge's HTTP API for operators' login keys (/v1/operator/…), called by the admin's
« Enrôler sur une clé » page and, for the first PIN, by the login page. The app's checks of
the caller (Origin, Host) and its error handlers apply to these routes as to the others."""
from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request

from bridge_protocol import (INSTRUCTION_OPERATOR_CLEANUP, INSTRUCTION_OPERATOR_ENROLMENT,
                             INSTRUCTION_OPERATOR_FINALIZATION, INSTRUCTION_OPERATOR_PIN,
                             INSTRUCTION_OPERATOR_RENEWAL, is_valid_serial)
from token_bridge import enrolment
from token_bridge.tokens import BridgeError

bp = Blueprint("operator_keys", __name__, url_prefix="/v1/operator")

MAX_REQUEST_BYTES = 65536  # instructions, a certificate and its chain
MAX_PIN_CHARS = 64
KEY_PAIR_KINDS = (INSTRUCTION_OPERATOR_ENROLMENT, INSTRUCTION_OPERATOR_RENEWAL)


def _body() -> dict:
    request.max_content_length = MAX_REQUEST_BYTES
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        raise BridgeError("bad_request", "Requête invalide : JSON attendu.")
    return data


def _verified(data: dict, kind: str) -> dict:
    return enrolment.verify_instruction(
        data.get("instruction"), data.get("signature"), kind=kind,
        origin=request.headers["Origin"], keys=current_app.config["BRIDGE_INSTRUCTION_KEYS"])


def _key_pair_instruction(data: dict) -> dict:
    """An enrolment's or a renewal's instruction: its own text says which (then signed)."""
    try:
        kind = json.loads(data.get("instruction") or "").get("kind")
    except (TypeError, ValueError, AttributeError):
        kind = None
    if kind not in KEY_PAIR_KINDS:
        raise BridgeError("instruction_refused",
                          "Cette instruction n'est pas destinée à cette opération.")
    return _verified(data, kind)


def _pin(data: dict, name: str = "pin") -> str:
    pin = data.get(name)
    if not isinstance(pin, str) or len(pin) > MAX_PIN_CHARS:
        raise BridgeError("bad_request", "Code PIN invalide.")
    return pin


def _module_and_attempts():
    config = current_app.config
    return config["BRIDGE_MODULE"], config["BRIDGE_ATTEMPTS"]


@bp.post("/preview")
def preview():
    """What the bridge will do for this enrolment or renewal, before it does anything."""
    instruction = _key_pair_instruction(_body())
    description = enrolment.describe(instruction)
    current_app.logger.warning("Instruction pour une clé d'opérateur reçue : %s",
                               " ".join(description))
    return jsonify(description=description, token=instruction["token"])


@bp.post("/key-pair")
def key_pair():
    data = _body()
    instruction = _key_pair_instruction(data)
    module, attempts = _module_and_attempts()
    return jsonify(enrolment.generate_key_pair(module, data["instruction"], instruction,
                                               _pin(data), attempts))


@bp.post("/certificate")
def certificate():
    data = _body()
    finalization = _verified(data, INSTRUCTION_OPERATOR_FINALIZATION)
    module, attempts = _module_and_attempts()
    return jsonify(enrolment.write_certificate(module, finalization, _pin(data),
                                               data.get("certificate_pem"),
                                               data.get("chain_pem"), attempts))


@bp.post("/abandon")
def abandon():
    data = _body()
    instruction = _key_pair_instruction(data)
    restore = data.get("restore_pin")
    module, attempts = _module_and_attempts()
    return jsonify(enrolment.abandon(module, instruction, _pin(data),
                                     _pin(data, "restore_pin") if restore is not None else None,
                                     attempts))


@bp.post("/cleanup")
def cleanup():
    data = _body()
    instruction = _verified(data, INSTRUCTION_OPERATOR_CLEANUP)
    module, attempts = _module_and_attempts()
    return jsonify(enrolment.clean_up(module, instruction, _pin(data), attempts))


@bp.post("/pin")
def first_pin():
    data = _body()
    instruction = _verified(data, INSTRUCTION_OPERATOR_PIN)
    serial = data.get("serial")
    if not is_valid_serial(serial):
        raise BridgeError("bad_request", "Clé USB non précisée.")
    module, attempts = _module_and_attempts()
    return jsonify(enrolment.set_first_pin(module, serial, instruction, request.headers["Origin"],
                                           _pin(data), _pin(data, "new_pin"), attempts))
