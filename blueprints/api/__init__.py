"""/api/v1: the machine interface (OpenAPI 3.1 at /api/v1/openapi.json, written by spectree from
the pydantic models of blueprints.api.schemas; readable at /api/v1/docs). Bearer credentials
of an API client, scopes per route, a rate limit per client, every call audited with the
client as actor, RFC 9457 problem details, ``Idempotency-Key`` on every POST."""
from __future__ import annotations

import functools
import json

from flask import Blueprint, current_app, g, make_response, request
from spectree import Response, SecurityScheme, SpecTree
from spectree.models import SecureType, SecuritySchemeData

from extensions import client_ip, limiter
from models import ApiClient
from services import audit
from services.api import clients, idempotency
from services.api.problems import MEDIA_TYPE, Problem
from blueprints.api import schemas

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PUBLIC_ENDPOINTS = {"api.docs", "api.openapi"}


def _reject_invalid_request(req, resp, req_validation_error, instance, *_):
    """spectree's hook: a request that does not match its model is a problem, in French."""
    if req_validation_error is None:
        return
    errors = [{"code": f"{'.'.join(str(part) for part in error['loc'])}.invalide",
               "champ": ".".join(str(part) for part in error["loc"]),
               "detail": f"Champ « {'.'.join(str(part) for part in error['loc'])} » : "
                         f"{error['msg']}"}
              for error in req_validation_error.errors()]
    raise Problem(400 if req_validation_error.title == "query" else 422, "requete_invalide",
                  "La requête ne correspond pas au schéma publié : " +
                  " ; ".join(error["detail"] for error in errors), errors)


spec = SpecTree(
    # ``path`` is only where spectree would serve its own pages; /api/v1/openapi.json is ours.
    "flask", title="RA Desk — API de commande", version="1", path="spectree", page_templates={},
    mode="strict", annotations=False, validation_error_status=422,
    validation_error_model=schemas.Problem, before=_reject_invalid_request,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda parent, child: child,
    description="Créer des commandes de certificats, y joindre les pièces justificatives, les "
                "envoyer à l'Autorité d'Enregistrement et suivre leur état. Authentification : "
                "`Authorization: Bearer rad_…` (client d'API de l'AE). Erreurs : RFC 9457.",
    security_schemes=[SecurityScheme(name="jeton", data=SecuritySchemeData(
        type=SecureType.HTTP, scheme="bearer", bearer_format="rad_<identifiant>_<secret>"))],
    security={"jeton": []})


class Answers(Response):
    """spectree's responses, the refusals documented as ``application/problem+json``."""

    def generate_spec(self, *args, **kwargs):
        responses = super().generate_spec(*args, **kwargs)
        for status, response in responses.items():
            if int(status) >= 400 and "application/json" in response.get("content", {}):
                response["content"] = {MEDIA_TYPE: response["content"]["application/json"]}
        return responses


# --- Who calls ------------------------------------------------------------------------------

def current_client() -> ApiClient | None:
    if "api_client" not in g:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        g.api_client = clients.authenticate(token)
    return g.api_client


def _rate_key() -> str:
    client = current_client()
    return f"api-client:{client.id}" if client is not None else f"api-anonyme:{client_ip()}"


limiter.limit(lambda: current_app.config["RADESK_API_RATE_LIMIT"], key_func=_rate_key)(bp)


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if current_client() is None:
        raise Problem(401, "authentification_requise",
                      "Jeton d'accès absent, invalide, expiré ou révoqué : envoyez "
                      "« Authorization: Bearer rad_… ».",
                      headers={"WWW-Authenticate": 'Bearer realm="RA Desk"'})
    if request.mimetype == "multipart/form-data" and not all(
            isinstance(name, str) and name.isprintable() and name
            for name in [*request.form.keys(), *request.files.keys()]):
        # Unnamed or unreadable parts: refused here, before a model ever reads them.
        raise Problem(422, "requete_invalide", "Formulaire illisible : chaque partie doit "
                                               "porter un nom (« type », « fichier »).")
    return None


def requires(scope: str):
    def decorate(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            if scope not in current_client().scope_set:
                raise Problem(403, "portee_insuffisante",
                              f"Ce client n'a pas la portée « {scope} » "
                              f"({clients.SCOPES[scope]}).")
            return view(*args, **kwargs)
        return checked
    return decorate


@bp.after_request
def audited(response):
    client = g.get("api_client")
    if client is not None:
        audit.record(clients.ACTION_CALL, ae=client.ae_id, order=g.get("api_order"),
                     actor=f"API « {client.name} »", ip=client_ip(),
                     details={"méthode": request.method, "chemin": request.path,
                              "statut": response.status_code})
    return response


# --- Answers -------------------------------------------------------------------------------------

def problem_response(problem: Problem):
    response = make_response(json.dumps(problem.body(), ensure_ascii=False), problem.status)
    response.mimetype = MEDIA_TYPE
    response.headers.update(problem.headers)
    return response


@bp.errorhandler(Problem)
def problem(problem_: Problem):
    return problem_response(problem_)


@bp.errorhandler(429)
def too_many(error):
    return problem_response(Problem(429, "trop_de_requetes",
                                    f"Trop de requêtes pour ce client ({error.description}) : "
                                    f"patientez avant de réessayer."))


API_ERRORS = {404: ("introuvable", "Cette adresse n'existe pas dans l'API."),
              405: ("methode_non_autorisee", "Cette méthode n'est pas possible sur cette adresse."),
              413: ("trop_volumineux", "Le corps de la requête dépasse la taille acceptée "
                                       "(RADESK_DOCUMENT_MAX_MB pour une pièce)."),
              500: ("erreur_interne", "Une erreur inattendue est survenue ; elle a été "
                                      "journalisée.")}


def api_error(status: int):
    """The app's error pages, for a path under /api/: a problem, not HTML."""
    code, detail = API_ERRORS.get(status, ("requete_invalide", "Requête refusée."))
    return problem_response(Problem(status, code, detail))


def json_response(body: dict, status: int = 200, location: str | None = None):
    response = make_response(json.dumps(body, ensure_ascii=False), status)
    response.mimetype = "application/json"
    if location:
        response.headers["Location"] = location
    return response


def idempotent(view):
    """A POST with ``Idempotency-Key``: its first answer is kept and replayed for retries."""
    @functools.wraps(view)
    def once(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        problem_text = idempotency.key_problem(key)
        if problem_text:
            raise Problem(400, "cle_idempotence_invalide", problem_text)
        client = current_client()
        kept = idempotency.reserve(client, key, idempotency.fingerprint(
            request.method, request.path, request.get_data(cache=True)))
        if kept is not None:
            return _replay(kept)
        try:
            response = view(*args, **kwargs)
        except Problem as refusal:
            response = problem_response(refusal)
        except Exception:
            idempotency.release(client, key)
            raise
        idempotency.keep(client, key, response.status_code, response.get_data(as_text=True),
                         response.headers.get("Location"))
        return response
    return once


def _replay(kept: idempotency.Kept):
    if not kept.same_request:
        raise Problem(422, "cle_idempotence_reutilisee",
                      "Cette clé d'idempotence a déjà servi pour une autre requête : utilisez "
                      "une nouvelle clé pour chaque nouvelle requête.")
    if kept.status is None:
        raise Problem(409, "requete_en_cours", "La même requête est en cours de traitement : "
                                               "réessayez dans un instant.",
                      headers={"Retry-After": "1"})
    response = make_response(kept.body, kept.status)
    response.mimetype = MEDIA_TYPE if kept.status >= 400 else "application/json"
    if kept.location:
        response.headers["Location"] = kept.location
    response.headers["Idempotent-Replayed"] = "true"
    return response


from blueprints.api import docs, orders, webhooks  # noqa: E402,F401  (the routes, on ``bp``)
