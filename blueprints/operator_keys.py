"""« Enrôler sur une clé »: an admin puts an operator's login certificate on a USB key through
the token bridge of the admin's workstation — enrolment on a blank key, « Renouveler » on the
operator's key, « Associer le certificat d'une clé » — and the login page's first-PIN step.

enrolment.js talks to the bridge and to the JSON endpoints here, each one step of
services.operator_enrolment; the page itself is plain HTML (the bridge needs JavaScript, so
the forms say so without it). Another AE's operator answers 404, a non-admin 403.
"""
from __future__ import annotations

import functools
import json

from cryptography.hazmat.primitives.serialization import Encoding
from flask import (Blueprint, current_app, flash, jsonify, render_template, request, session,
                   url_for)
from werkzeug.exceptions import NotFound

import workflow
from adapters.ca import fingerprint_sha256
from blueprints.auth import _next_url, login_rate_limit
from blueprints.common import current_operator, role_required, start_operator_session
from blueprints.lookups import operator_or_404
from bridge_protocol import KEY_TYPES
from extensions import client_ip
from formatting import of_name
from models import Operator
from services.operator_auth.login import METHOD_BRIDGE, issue_login_nonce
from services.operator_enrolment import first_pin, issuance, key_binding, overview, steps

bp = Blueprint("operator_keys", __name__)

PAGE = "admin/enrolment.html"
BASE = "/parametres/operateurs/<int:operator_id>"
JSON_ENDPOINTS: set[str] = set()  # endpoints answering enrolment.js / login.js in JSON
FIRST_PIN_ASKED = ("Première connexion avec cette clé : choisissez votre code PIN personnel. "
                   "Il remplacera le code PIN initial.")


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """The scripts read a refused step's reasons as JSON (nothing changed: 422)."""
    return jsonify(message=refusal.message, reasons=refusal.reasons, code=refusal.code), 422


def _json_step(path: str, *, admin: bool = True):
    """Registers ``view(operator, data)`` at POST ``BASE + path``: admin only, the operator from
    operator_or_404 (another AE's: 404), the JSON body as a dict."""
    def register(view):
        @functools.wraps(view)
        def step(operator_id: int):
            data = request.get_json(silent=True)
            return view(operator_or_404(operator_id), data if isinstance(data, dict) else {})

        bp.add_url_rule(BASE + path, view.__name__, role_required("admin")(step),
                        methods=["POST"])
        JSON_ENDPOINTS.add(f"{bp.name}.{view.__name__}")
        return view
    return register


def _act(action, *arguments, **fields):
    """``action(app, admin, …, ip=…)``: done by the logged-in admin, from their address."""
    return action(current_app, current_operator(), *arguments, ip=client_ip(), **fields)


# --- the page ---------------------------------------------------------------------------------

@bp.get(BASE + "/enrolement")
@role_required("admin")
def page(operator_id: int):
    operator = operator_or_404(operator_id)
    return render_template(PAGE, target=operator, overview=overview.overview(operator),
                           blockers=steps.operator_blockers(current_operator(), operator),
                           key_types=KEY_TYPES, default_key_type=steps.DEFAULT_KEY_TYPE)


# --- enrolment and renewal (JSON, called by enrolment.js) ------------------------------------

@_json_step("/enrolement/instruction")
def start(operator: Operator, data: dict):
    fields = dict(token_serial=data.get("serial"), token_label=data.get("label"),
                  key_type=data.get("key_type"), origin=request.headers.get("Origin"))
    renews = data.get("renews")
    if renews is None:
        signed = _act(steps.start_enrolment, operator, **fields)
    else:
        certificate = next((c.row for c in overview.overview(operator).certificates
                            if c.row.id == renews), None)
        if certificate is None:
            raise NotFound()
        signed = _act(steps.start_renewal, operator, certificate, **fields)
    return jsonify(signed.as_json())


@_json_step("/enrolement/demande")
def submit_request(operator: Operator, data: dict):
    issued = _act(issuance.accept_request, operator, nonce=data.get("nonce"),
                  instruction_text=data.get("instruction"), csr_pem=data.get("csr_pem"))
    return jsonify(certificate_pem=_pem(issued.certificate),
                   chain_pem=[_pem(c) for c in issued.chain],
                   certificate_sha256=fingerprint_sha256(issued.certificate),
                   finalization=issued.finalization.as_json())


@_json_step("/enrolement/inscrit")
def written(operator: Operator, data: dict):
    done = _act(steps.confirm_written, operator, nonce=data.get("nonce"),
                certificate_sha256=data.get("certificate_sha256"))
    row = done.attempt
    key = f"« {row.token_label or row.token_serial} »"
    if done.initial_pin is not None:
        flash(f"{operator.display_name} est enrôlé sur la clé USB {key} : certificat de "
              f"connexion n° {row.serial_hex}.", "success")
        # Given once, in this answer only: never flashed (the session cookie would keep it).
        return jsonify(initial_pin=done.initial_pin, serial=row.serial_hex,
                       redirect=url_for(".page", operator_id=operator.id))
    flash(f"Certificat {of_name(operator.display_name)} renouvelé sur la clé USB {key} : nouveau "
          f"certificat n° {row.serial_hex} ; l'ancien est révoqué.", "success")
    return jsonify(cleanup=done.cleanup.as_json(), serial=row.serial_hex,
                   redirect=url_for(".page", operator_id=operator.id))


@_json_step("/enrolement/echec")
def failed(operator: Operator, data: dict):
    failure = _act(steps.report_failure, operator, nonce=data.get("nonce"),
                   stage=data.get("stage"), code=data.get("code"), message=data.get("message"))
    return jsonify(message=failure.reason, undo=failure.undo)


# --- « Associer le certificat d'une clé » (JSON) -------------------------------------------------

@_json_step("/association/defi")
def binding_challenge(operator: Operator, data: dict):
    nonce = issue_login_nonce()
    session["key_binding_nonce"] = nonce  # accepted only from this browser session
    return jsonify(nonce=nonce)


@_json_step("/association")
def bind_from_key(operator: Operator, data: dict):
    nonce = data.get("nonce")
    if nonce is None or nonce != session.pop("key_binding_nonce", None):
        raise workflow.Refused("Défi expiré ou inconnu : recommencez.", "nonce")
    bound = _act(key_binding.bind_from_key, operator, nonce=nonce,
                 origin=request.headers.get("Origin"),
                 certificate_pem=data.get("certificate_pem"), chain_pem=data.get("chain_pem"),
                 signature_b64=data.get("signature"), algorithm=data.get("algorithm"))
    flash(f"Certificat « {bound.certificate.subject} » associé à {operator.display_name}.",
          "success")
    if bound.warning:
        flash(bound.warning, "warning")
    return jsonify(redirect=url_for(".page", operator_id=operator.id))


# --- the first login on an enrolled key: the operator's own PIN --------------------------------

def first_pin_answer(fingerprint: str, origin: str, ip: str, next_url: object):
    """For the login: None when the key no longer carries its initial PIN, else the answer that
    has login.js ask for the operator's own PIN (no session opens before)."""
    row = first_pin.pending(fingerprint)
    if row is None:
        return None
    signed = first_pin.ask_for_pin(current_app, row, origin=origin, ip=ip)
    session["first_pin"] = {"nonce": json.loads(signed.text)["nonce"],
                            "next": _next_url(next_url)}
    return jsonify(first_pin=signed.as_json(), message=FIRST_PIN_ASKED)


@bp.post("/connexion/premier-code-pin")
@login_rate_limit
def first_pin_set():
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    expected = session.pop("first_pin", None) or {}
    if not data.get("nonce") or data.get("nonce") != expected.get("nonce"):
        raise workflow.Refused(first_pin.EXPIRED, "nonce")
    done = first_pin.record_pin_set(nonce=data["nonce"], origin=request.headers.get("Origin", ""),
                                    signature_b64=data.get("signature"),
                                    algorithm=data.get("algorithm"), ip=client_ip())
    start_operator_session(done.operator, done.fingerprint, METHOD_BRIDGE)
    return jsonify(redirect=expected.get("next") or url_for("orders.list_orders"))


JSON_ENDPOINTS.add(f"{bp.name}.first_pin_set")


def _pem(certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode("ascii")
