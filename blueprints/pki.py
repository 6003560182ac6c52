"""Public PKI files of the embedded CA: the URLs its certificates name (CRL distribution
points, CA issuers, OCSP responder), served to anyone, without login."""
from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.hazmat.primitives.serialization import Encoding
from flask import Blueprint, Response, abort, current_app, render_template, request

from adapters.ca import get_ca
from adapters.ca.ocsp import MAX_REQUEST_BYTES
from extensions import client_ip, limiter

bp = Blueprint("pki", __name__, url_prefix="/pki")
# Relying parties ask often, and many may share one address: a generous rate, its own.
ocsp_limit = limiter.limit(lambda: current_app.config["RADESK_OCSP_RATE_LIMIT"],
                           key_func=client_ip, scope="ocsp")

CRL_TYPE = "application/pkix-crl"
CERT_TYPE = "application/pkix-cert"
OCSP_RESPONSE_TYPE = "application/ocsp-response"
OCSP_MAX_AGE = 300  # RFC 5019 §6.2: below nextUpdate - thisUpdate (adapters.ca.ocsp)


def _der(data: bytes, media_type: str, filename: str, max_age: int) -> Response:
    response = Response(data, mimetype=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Short for the CRL so relying parties see a revocation soon; CA certificates rarely change.
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


@bp.get("/issuing.crl")
def issuing_crl():
    crl = get_ca(current_app).current_crl()
    return _der(crl.public_bytes(Encoding.DER), CRL_TYPE, "issuing.crl", 300)


@bp.get("/root.crl")
def root_crl():
    crl = get_ca(current_app).current_root_crl()
    return _der(crl.public_bytes(Encoding.DER), CRL_TYPE, "root.crl", 300)


@bp.get("/root.crt")
def root_certificate():
    certificate = get_ca(current_app).root_certificate
    return _der(certificate.public_bytes(Encoding.DER), CERT_TYPE, "root.crt", 86400)


@bp.get("/issuing.crt")
def issuing_certificate():
    certificate = get_ca(current_app).issuing_certificate
    return _der(certificate.public_bytes(Encoding.DER), CERT_TYPE, "issuing.crt", 86400)


@bp.get("/pds/<language>")
def disclosure_statement(language: str):
    """The PKI Disclosure Statement that holder certificates name (qcStatements, QcPDS)."""
    if language not in ("en", "fr"):
        abort(404)
    return render_template("pki/pds.html", language=language,
                           crl_url=get_ca(current_app).holder_crl_url)


@bp.post("/ocsp")
@ocsp_limit
def ocsp_post():
    """RFC 6960 over HTTP POST: the DER request as body (application/ocsp-request)."""
    # Read no more than a request may hold: a larger body is malformed, not kept in memory.
    body = request.stream.read(MAX_REQUEST_BYTES + 1)
    answer = get_ca(current_app).ocsp_responder.respond(body)
    response = Response(answer.der, mimetype=OCSP_RESPONSE_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


# merge_slashes off: base64 may hold "//", which routing would otherwise redirect away.
@bp.get("/ocsp/<path:encoded>", merge_slashes=False)
@ocsp_limit
def ocsp_get(encoded: str):
    """RFC 6960 appendix A.1: GET {url}/{url-encoding of base-64 encoding of the DER request},
    cacheable as RFC 5019 §6 says."""
    answer = get_ca(current_app).ocsp_responder.respond(_base64(encoded))
    response = Response(answer.der, mimetype=OCSP_RESPONSE_TYPE)
    if answer.this_update is None:
        response.headers["Cache-Control"] = "no-store"
        return response
    max_age = min(OCSP_MAX_AGE, int((answer.next_update - answer.this_update).total_seconds()))
    response.headers["Cache-Control"] = f"max-age={max_age}, public, no-transform, must-revalidate"
    response.last_modified = answer.this_update
    response.expires = answer.next_update
    response.set_etag(hashlib.sha1(answer.der).hexdigest())
    return response


def _base64(encoded: str) -> bytes:
    """The request's DER (werkzeug has undone the URL encoding); b"" when it is not base64.
    The URL-safe alphabet and missing padding are accepted too, as some clients send them."""
    text = encoded.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return b""
