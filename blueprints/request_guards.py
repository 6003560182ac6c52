"""What every request goes through around its view: the size of its body, the origin of a
request that changes something, and the caches allowed to keep the answer (docs/wiring.md).

- Body: the routes marked ``accepts_upload`` take a document (RADESK_DOCUMENT_MAX_MB plus the
  multipart envelope, the app's MAX_CONTENT_LENGTH), every other one a form (RADESK_FORM_MAX_KB).
  A declared length over it is refused before a byte is read; a chunked body (no length) is cut
  off when the limit is reached, since gunicorn marks its streams ``wsgi.input_terminated``.
- Origin: besides the CSRF token, an unsafe method must come from one of our origins (Origin,
  else Referer); neither header (no browser omits Origin on a cross-site POST) is let through.
- Caches: an operator's answers, every download and the pages opened from an e-mailed link are
  ``no-store``, unless a view chose its own caching; static files keep theirs.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, render_template, request
from flask_login import current_user

from extensions import client_ip
from services import audit
from services.audit_words import ACTION_CROSS_ORIGIN_REFUSED

MIB = 1024 * 1024
MULTIPART_OVERHEAD = MIB  # the envelope and the form's other fields around an uploaded file
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
# Not browser routes: bearer credentials (no cookie to ride on) and relying parties' OCSP.
NO_ORIGIN_CHECK = {"api", "pki"}
# Checks the origin itself, stricter (the bridge signed it; RADESK_LOGIN_ORIGINS), and audits it.
ORIGIN_CHECKED_BY_VIEW = {"auth.key_login"}
# Public pages whose link is a key: never stored (blueprints.link_pages does the same per page).
LINK_PAGES = {"followup", "signing", "activation", "ordering", "renewal", "revocation"}
CROSS_ORIGIN = ("Requête refusée : elle ne vient pas d'une page de RA Desk. Rechargez la page, "
                "puis réessayez.")


def accepts_upload(view):
    """Marks a view that receives a document: its body may reach MAX_CONTENT_LENGTH."""
    view.accepts_upload = True
    return view


def upload_limit(config) -> int:
    return int(float(config["DOCUMENT_MAX_MB"]) * MIB) + MULTIPART_OVERHEAD


def init_app(app: Flask) -> None:
    """Called before CSRFProtect's init_app: these run before it reads the form."""
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = upload_limit(app.config)
    app.before_request(_limit_body)
    app.before_request(_check_origin)
    app.after_request(_not_stored)
    app.register_error_handler(413, _too_large)


def _limit_body():
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, "accepts_upload", False):
        request.max_content_length = min(current_app.config["MAX_CONTENT_LENGTH"],
                                         current_app.config["RADESK_FORM_MAX_KB"] * 1024)
    if (request.content_length or 0) > request.max_content_length:
        return _too_large(None)  # refused on its length alone: not a byte of it is read
    return None


def allowed_origins() -> set[str]:
    config = current_app.config
    return {_origin(config["RADESK_PUBLIC_URL"]), *map(_origin, config["RADESK_LOGIN_ORIGINS"]),
            _origin(request.host_url)}


def _origin(url: str | None) -> str | None:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


def _check_origin():
    if (request.method in SAFE_METHODS or request.blueprint in NO_ORIGIN_CHECK
            or request.endpoint in ORIGIN_CHECKED_BY_VIEW):
        return None
    origin, referer = request.headers.get("Origin"), request.headers.get("Referer")
    if origin is None and referer is None:
        return None  # not a browser, or one so old it sends neither: the CSRF token decides
    # « null » (sandboxed frame, opaque origin) is nobody's origin, ours included.
    claimed = origin if origin is not None else _origin(referer)
    if claimed and claimed.lower() in allowed_origins():
        return None
    operator = current_user.operator if current_user.is_authenticated else None
    if operator is not None:
        audit.record(ACTION_CROSS_ORIGIN_REFUSED, operator=operator, ip=client_ip(),
                     details={"méthode": request.method, "chemin": request.path,
                              "origine": (origin or referer or "")[:200]})
    return render_template("errors/error.html", title="Requête refusée",
                           message=CROSS_ORIGIN), 403


def _not_stored(response):
    if request.endpoint == "static":
        return response
    download = response.headers.get("Content-Disposition", "").startswith("attachment")
    if current_user.is_authenticated or download or request.blueprint in LINK_PAGES:
        response.headers.setdefault("Cache-Control", "no-store")
    if "no-store" in response.headers.get("Cache-Control", ""):
        response.headers["Pragma"] = "no-cache"  # HTTP/1.0 caches
    return response


def _too_large(error):
    if request.path.startswith("/api/"):
        from blueprints.api import api_error
        return api_error(413)
    megabytes = f"{float(current_app.config['DOCUMENT_MAX_MB']):g}".replace(".", ",")
    return render_template(
        "errors/error.html", title="Envoi trop volumineux",
        message=f"Ce que vous avez envoyé dépasse la taille acceptée : {megabytes} Mo au plus "
                f"pour un document, un formulaire bien moins. Revenez à la page précédente "
                f"et choisissez un fichier plus léger."), 413
