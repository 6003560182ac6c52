"""/api/v1/docs: the OpenAPI document made readable, on the server (no script, nothing from a
CDN): each operation with its parameters, body and answers, the models, the problem codes."""
from __future__ import annotations

from flask import jsonify, render_template

from blueprints.api import bp, spec
from services.api.clients import SCOPES
from services.api.problems import TITLES

METHODS = ("get", "post", "put", "patch", "delete")


def _schema_name(reference: str) -> str:
    return reference.rsplit("/", 1)[-1]


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document, written by spectree from the routes and their models."""
    return jsonify(spec.spec)


@bp.get("/docs")
def docs():
    document = spec.spec
    operations = [(path, method, operation)
                  for path, item in document["paths"].items()
                  for method, operation in item.items() if method in METHODS]
    return render_template("api/docs.html", document=document, operations=operations,
                           schemas=document.get("components", {}).get("schemas", {}),
                           schema_name=_schema_name, scopes=SCOPES, problems=TITLES)
