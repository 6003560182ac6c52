"""Public PKI files of the embedded CA: the URLs its certificates name (CRL distribution
points and CA issuers), served to anyone, without login."""
from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding
from flask import Blueprint, Response, abort, current_app, render_template

from adapters.ca import get_ca

bp = Blueprint("pki", __name__, url_prefix="/pki")

CRL_TYPE = "application/pkix-crl"
CERT_TYPE = "application/pkix-cert"


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
