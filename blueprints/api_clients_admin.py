"""« Clients de l'API » under Administration: an AE's admins create a client bound to portals
with scopes (its credential shown once), give it a new secret with an overlap, revoke it.
Another AE's client ids answer 404; every change is audited (services.api.clients)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for

import workflow
from blueprints.common import current_operator, role_required
from blueprints.lookups import api_client_or_404
from extensions import client_ip
from services import administration
from services.api import clients

bp = Blueprint("api_admin", __name__, url_prefix="/parametres/api")
PAGE = "admin/api_clients.html"
OVERLAPS = {"0": "aucun (l'ancien jeton cesse tout de suite)", "24": "24 heures",
            "72": "3 jours", "168": "7 jours"}


def _page(status: int = 200, **extra):
    ae = current_operator().ae
    response = make_response(render_template(
        PAGE, ae=ae, lines=clients.lines(ae.id), portals=administration.portals(ae.id),
        scopes=clients.SCOPES, overlaps=OVERLAPS, **extra), status)
    response.headers["Cache-Control"] = "no-store"  # a credential may be on it
    return response


@bp.get("")
@role_required("admin")
def list_clients():
    return _page()


@bp.post("")
@role_required("admin")
def create():
    operator = current_operator()
    submitted = {"name": request.form.get("name", ""),
                 "portals": request.form.getlist("portal"),
                 "scopes": request.form.getlist("scope")}
    try:
        issued = clients.create(operator.ae, submitted["name"], submitted["portals"],
                                submitted["scopes"], created_by=operator,
                                ip=client_ip())
    except workflow.Refused as refusal:
        return _page(422, problems=refusal.reasons, submitted=submitted)
    return _page(201, issued_for=issued.client, credential=issued.credential)


@bp.post("/<int:client_id>/secret")
@role_required("admin")
def rotate(client_id: int):
    client = api_client_or_404(client_id)
    hours = request.form.get("overlap", "24")
    if hours not in OVERLAPS or client.revoked_at is not None:
        return _page(422, problems=["Choisissez une durée de recouvrement proposée, pour un "
                                    "client qui n'est pas révoqué."])
    credential = clients.rotate(client, dt.timedelta(hours=int(hours)),
                                by=current_operator(), ip=client_ip())
    return _page(200, issued_for=client, credential=credential)


@bp.post("/<int:client_id>/revocation")
@role_required("admin")
def revoke(client_id: int):
    client = api_client_or_404(client_id)
    clients.revoke(client, by=current_operator(), ip=client_ip())
    flash(f"Client d'API « {client.name} » révoqué : ses jetons sont refusés dès maintenant.",
          "success")
    return redirect(url_for(".list_clients"), 303)
