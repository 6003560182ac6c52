"""The bridge's local HTTP API, called by the extranet's login page in the operator's browser.

Any web page can make the browser call 127.0.0.1, so every request must come from an
allowed extranet Origin (exact match), be addressed to our own Host name (against DNS
rebinding), and the only thing ever signed is the bridge's own login message for that Origin.
"""
import base64
from pathlib import Path

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from bridge_protocol import (API_VERSION, INSTRUCTION_ACTIVATION, INSTRUCTION_FINALIZATION,
                             INSTRUCTION_GENERATION, build_login_message, is_valid_nonce,
                             is_valid_serial)
from token_bridge import enrolment_api, generation
from token_bridge.tokens import (
    DEFAULT_MAX_PIN_TRIES,
    BridgeError,
    PinAttempts,
    list_tokens,
    sign_login_challenge,
)

DEFAULT_PORT = 8765
MAX_REQUEST_BYTES = 4096
MAX_GENERATION_REQUEST_BYTES = 65536  # instructions, a certificate and its chain
MAX_PIN_CHARS = 64
PREFLIGHT_MAX_AGE = "600"

STATUS_BY_CODE = {
    "bad_request": 400,
    "pin_empty": 400,
    "pin_incorrect": 401,
    "origin_refused": 403,
    "host_refused": 403,
    "no_token": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "no_certificate": 409,
    "not_blank": 409,
    "wrong_key": 409,
    "already_activated": 409,
    "instruction_refused": 403,
    "instruction_expired": 410,
    "pin_invalid": 400,
    "server_unreachable": 502,
    "too_large": 413,
    "pin_locked": 423,
    "token_error": 502,
    "module_unavailable": 503,
}


def create_bridge_app(
    module_path: str,
    allowed_origins: list[str],
    state_dir: Path | str,
    max_pin_tries: int = DEFAULT_MAX_PIN_TRIES,
    port: int = DEFAULT_PORT,
    instruction_keys: generation.InstructionKeys | None = None,
) -> Flask:
    app = Flask("token_bridge")
    app.json.ensure_ascii = False
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        BRIDGE_MODULE=module_path,
        BRIDGE_ORIGINS=frozenset(allowed_origins),
        BRIDGE_PORT=port,  # read per request: `serve` sets it once the socket is bound
        BRIDGE_ATTEMPTS=PinAttempts(state_dir, max_pin_tries),
        BRIDGE_INSTRUCTION_KEYS=instruction_keys or generation.InstructionKeys(),
    )
    app.before_request(_check_caller)
    app.after_request(_add_headers)
    app.register_error_handler(BridgeError, _bridge_error)
    app.register_error_handler(HTTPException, _http_error)
    app.add_url_rule("/v1/status", view_func=status, methods=["GET"])
    app.add_url_rule("/v1/tokens", view_func=tokens, methods=["GET"])
    app.add_url_rule("/v1/login-signature", view_func=login_signature, methods=["POST"])
    app.add_url_rule("/v1/generation/preview", view_func=generation_preview, methods=["POST"])
    app.add_url_rule("/v1/generation/key-pair", view_func=generation_key_pair, methods=["POST"])
    app.add_url_rule("/v1/generation/certificate", view_func=generation_certificate,
                     methods=["POST"])
    app.add_url_rule("/v1/generation/abandon", view_func=generation_abandon, methods=["POST"])
    app.add_url_rule("/v1/activation", view_func=activation, methods=["POST"])
    app.register_blueprint(enrolment_api.bp)  # operators' keys: enrolment, renewal, first PIN
    return app


def status():
    return jsonify(ok=True, version=API_VERSION)


def tokens():
    config = current_app.config
    return jsonify(tokens=list_tokens(config["BRIDGE_MODULE"], config["BRIDGE_ATTEMPTS"]))


def login_signature():
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        raise BridgeError("bad_request", "Requête invalide : JSON attendu.")
    serial, pin, nonce = data.get("serial"), data.get("pin"), data.get("nonce")
    if not is_valid_serial(serial):
        raise BridgeError("bad_request", "Clé USB non précisée.")
    if not isinstance(pin, str) or len(pin) > MAX_PIN_CHARS:
        raise BridgeError("bad_request", "Code PIN invalide.")
    if not is_valid_nonce(nonce):
        raise BridgeError("bad_request", "Défi de connexion invalide : rechargez la page.")
    # The Origin was checked against the allowed list in _check_caller.
    message = build_login_message(request.headers["Origin"], nonce)
    config = current_app.config
    signature, algorithm, certificate_pem, chain_pem = sign_login_challenge(
        config["BRIDGE_MODULE"], serial, pin, message, config["BRIDGE_ATTEMPTS"]
    )
    return jsonify(
        certificate_pem=certificate_pem,
        chain_pem=chain_pem,
        signature=base64.b64encode(signature).decode("ascii"),
        algorithm=algorithm,
    )


# --- a holder's key: generation (AET) and activation (holder), on signed instructions ----------

def _generation_request(kind: str, prefix: str = "") -> tuple[dict, dict]:
    """The JSON body and its verified instruction (fields ``{prefix}instruction`` and
    ``{prefix}signature``)."""
    request.max_content_length = MAX_GENERATION_REQUEST_BYTES
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        raise BridgeError("bad_request", "Requête invalide : JSON attendu.")
    instruction = generation.verify_instruction(
        data.get(f"{prefix}instruction"), data.get(f"{prefix}signature"), kind=kind,
        origin=request.headers["Origin"], keys=current_app.config["BRIDGE_INSTRUCTION_KEYS"])
    return data, instruction


def _pin(data: dict, name: str = "pin") -> str:
    pin = data.get(name)
    if not isinstance(pin, str) or len(pin) > MAX_PIN_CHARS:
        raise BridgeError("bad_request", "Code PIN invalide.")
    return pin


def generation_preview():
    """What the bridge will do for this instruction, before it does anything."""
    _, instruction = _generation_request(INSTRUCTION_GENERATION)
    description = generation.describe_generation(instruction)
    current_app.logger.warning("Instruction de génération reçue : %s", " ".join(description))
    return jsonify(description=description, token=instruction["token"])


def generation_key_pair():
    data, instruction = _generation_request(INSTRUCTION_GENERATION)
    config = current_app.config
    result = generation.generate_key_pair(config["BRIDGE_MODULE"], data["instruction"],
                                          instruction, _pin(data), config["BRIDGE_ATTEMPTS"])
    return jsonify(result)


def generation_certificate():
    data, finalization = _generation_request(INSTRUCTION_FINALIZATION)
    config = current_app.config
    result = generation.write_certificate(config["BRIDGE_MODULE"], finalization, _pin(data),
                                          data.get("certificate_pem"), data.get("chain_pem"),
                                          config["BRIDGE_ATTEMPTS"])
    return jsonify(result)


def generation_abandon():
    data, instruction = _generation_request(INSTRUCTION_GENERATION)
    config = current_app.config
    removed = generation.abandon_generation(config["BRIDGE_MODULE"], instruction, _pin(data),
                                            config["BRIDGE_ATTEMPTS"])
    return jsonify(removed=removed)


def activation():
    data, instruction = _generation_request(INSTRUCTION_ACTIVATION)
    serial = data.get("serial")
    if not is_valid_serial(serial):
        raise BridgeError("bad_request", "Clé USB non précisée.")
    config = current_app.config
    result = generation.activate(config["BRIDGE_MODULE"], serial, instruction,
                                 _pin(data, "new_pin"), config["BRIDGE_ATTEMPTS"])
    return jsonify(result)


def _check_caller():
    port = current_app.config["BRIDGE_PORT"]
    if request.headers.get("Host") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
        return _error_response("host_refused", "Adresse du pont de clés USB inattendue.")
    if request.headers.get("Origin") not in current_app.config["BRIDGE_ORIGINS"]:
        return _error_response("origin_refused", "Site non autorisé à utiliser les clés USB.")
    if request.method == "OPTIONS":
        return _preflight()
    return None


def _preflight():
    response = current_app.response_class(status=204)
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    # Chrome's Private Network Access: a public page calling 127.0.0.1 asks first.
    if request.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
        response.headers["Access-Control-Allow-Private-Network"] = "true"
    return response


def _add_headers(response):
    origin = request.headers.get("Origin")
    if origin in current_app.config["BRIDGE_ORIGINS"] and response.status_code != 403:
        response.headers["Access-Control-Allow-Origin"] = origin
    response.vary.add("Origin")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _bridge_error(error: BridgeError):
    return _error_response(error.code, error.message, error.tries_left)


def _http_error(error: HTTPException):
    code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(error.code, "bad_request")
    messages = {
        "not_found": "Adresse inconnue du pont de clés USB.",
        "method_not_allowed": "Méthode non autorisée.",
        "too_large": "Requête trop volumineuse.",
        "bad_request": "Requête invalide.",
    }
    return _error_response(code, messages[code])


def _error_response(code: str, message: str, tries_left: int | None = None):
    response = jsonify(error=code, message=message, tries_left=tries_left)
    response.status_code = STATUS_BY_CODE.get(code, 400)
    return response
