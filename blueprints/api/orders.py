"""/api/v1/commandes: create an order, attach its pieces, send it, read it, list what changed."""
from __future__ import annotations

from flask import current_app, g, request

from blueprints.api import Answers, bp, current_client, idempotent, json_response, requires, spec
from blueprints.request_guards import accepts_upload
from blueprints.api.schemas import (ChangedSince, OrderCreate, OrderPage, OrderView, PieceForm,
                                    PieceOut, Problem as ProblemModel)
from extensions import client_ip
from services.api import orders
from services.intake import pieces
from services.api.clients import SCOPE_READ_ORDERS, SCOPE_WRITE_ORDERS
from services.api.problems import Problem

REFUSALS = dict(HTTP_401=ProblemModel, HTTP_403=ProblemModel, HTTP_429=ProblemModel)
TAGS = ["Commandes"]


def body_of(part: str, expected: str):
    """The request's checked body; spectree leaves it empty when it came as another media type."""
    body = getattr(request.context, part)
    if body is None:
        raise Problem(422, "requete_invalide", f"Corps de requête attendu : {expected}.",
                      [{"code": "corps.invalide", "detail": f"Corps attendu : {expected}."}])
    return body


def _order(number: int):
    order = orders.find(current_client(), number)
    g.api_order = order
    return order


@bp.post("/commandes")
@spec.validate(json=OrderCreate, resp=Answers(HTTP_201=OrderView, HTTP_409=ProblemModel,
                                               HTTP_422=ProblemModel, **REFUSALS), tags=TAGS)
@requires(SCOPE_WRITE_ORDERS)
@idempotent
def create_order():
    """Créer une commande (« Saisie des informations ») avec les contrôles de la page de
    commande ; elle attend ses pièces puis son envoi."""
    body = body_of("json", "un objet JSON (Content-Type: application/json)")
    order = orders.create(current_client(), body.model_dump(), ip=client_ip())
    g.api_order = order
    return json_response(orders.view(order), 201, f"{bp.url_prefix}/commandes/{order.number}")


@bp.get("/commandes")
@spec.validate(query=ChangedSince, resp=Answers(HTTP_200=OrderPage, HTTP_400=ProblemModel,
                                                **REFUSALS), tags=TAGS)
@requires(SCOPE_READ_ORDERS)
def changed_orders():
    """Les commandes modifiées depuis un curseur, par date de modification puis numéro
    (pagination stable : repasser « suivant » dans « depuis »)."""
    query = request.context.query
    return json_response(orders.changed_since(current_client(), query.depuis, query.limite))


@bp.get("/commandes/<int:number>")
@spec.validate(resp=Answers(HTTP_200=OrderView, HTTP_404=ProblemModel, **REFUSALS), tags=TAGS)
@requires(SCOPE_READ_ORDERS)
def read_order(number: int):
    """Une commande : phase, sous-état, pièces manquantes, documents et notifications."""
    return json_response(orders.view(_order(number)))


@bp.post("/commandes/<int:number>/pieces")
@accepts_upload
@spec.validate(form=PieceForm, resp=Answers(HTTP_201=PieceOut, HTTP_404=ProblemModel,
                                             HTTP_409=ProblemModel, HTTP_422=ProblemModel,
                                             **REFUSALS), tags=TAGS)
@requires(SCOPE_WRITE_ORDERS)
@idempotent
def attach_piece(number: int):
    """Joindre une pièce justificative (multipart : « type » et « fichier » ; PDF, JPEG ou
    PNG) ; une pièce du même type la remplace tant que la commande n'est pas envoyée."""
    order = _order(number)
    form = body_of("form", "un formulaire multipart/form-data avec « type » et « fichier »")
    upload = request.files.get("fichier")
    if upload is None or not upload.filename:
        raise Problem(422, "piece_refusee", "Joignez le fichier dans le champ « fichier ».",
                      [{"code": "fichier.obligatoire", "champ": "fichier",
                        "detail": "Joignez le fichier dans le champ « fichier »."}])
    document = orders.attach(current_client(), order, form.type, upload.filename,
                             upload.read(pieces.store().max_bytes + 1), ip=client_ip())
    return json_response(orders.piece(document), 201)


@bp.post("/commandes/<int:number>/envoi")
@spec.validate(resp=Answers(HTTP_200=OrderView, HTTP_404=ProblemModel, HTTP_409=ProblemModel,
                             HTTP_422=ProblemModel, **REFUSALS), tags=TAGS)
@requires(SCOPE_WRITE_ORDERS)
@idempotent
def submit_order(number: int):
    """Envoyer la commande à l'Autorité d'Enregistrement : elle passe « à vérifier »."""
    return json_response(orders.view(orders.submit(current_app, current_client(), _order(number),
                                                   ip=client_ip())))
