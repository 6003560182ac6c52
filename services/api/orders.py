"""Orders through the API: created whole with the ordering page's checks, pieces attached
through ``import_document``, sent through ``workflow.after_submission``, read back, and listed
by change since a cursor. A client sees the orders of its AE on its portals only; any other
order is « introuvable » (404), as in the UI.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json

from flask import Flask

import workflow
from adapters.document_store import RefusedDocument
from formatting import utc_iso
from models import ApiClient, Document, Notification, Order, Portal
from models.prepared import PreparedQuery
from services.api import clients
from services.api.problems import Problem, field_code
from services.intake import drafts, pieces, submission
from services.messaging.notifications import STATE_LABELS, type_label
from workflow import ordering, portals as portal_rules

# The API's field names, per ordering step and answer (errors name the field this way).
FIELD_PATHS = {
    ordering.STEP_COMPANY: {"company_name": "societe.raison_sociale", "siren": "societe.siren",
                            "rcs": "societe.immatriculee_rcs", "requester_name": "demandeur.nom",
                            "requester_email": "demandeur.email"},
    ordering.STEP_PRODUCT: {"offer": "produit.offre", "validity": "produit.validite_annees",
                            "medium": "produit.support"},
}
PERSON_PATHS = {"civility": "civilite", "first_name": "prenom", "last_name": "nom",
                "email": "email", "phone": "telephone", "otp_contact": "contact_otp",
                "has_mandataire": ""}
PERSON_STEPS = {ordering.STEP_HOLDER: "porteur", ordering.STEP_LEGAL: "representant_legal",
                ordering.STEP_MANDATAIRE: "mandataire"}
PAGE_MAX = 100


def actor(client: ApiClient) -> str:
    return f"API « {client.name} »"


def _field_path(step: str, name: str) -> str:
    if step in PERSON_STEPS:
        return ".".join(part for part in (PERSON_STEPS[step], PERSON_PATHS[name]) if part)
    return FIELD_PATHS[step][name]


# --- Creating ------------------------------------------------------------------------------

def _person(values: dict | None) -> dict[str, str]:
    values = values or {}
    return {"civility": values.get("civilite") or "", "first_name": values.get("prenom") or "",
            "last_name": values.get("nom") or "", "email": values.get("email") or "",
            "phone": values.get("telephone") or ""}


def answers_from(payload: dict, offers: list[ordering.OfferChoice]) -> dict[str, dict[str, str]]:
    """The API's order as the ordering page's answers, step by step."""
    company, requester = payload["societe"], payload["demandeur"]
    product = payload["produit"]
    offer = next((offer for offer in offers if offer.name == product["offre"]), None)
    mandataire = payload.get("mandataire")
    return {
        ordering.STEP_COMPANY: {
            "company_name": company["raison_sociale"], "siren": company["siren"],
            "rcs": ordering.YES if company["immatriculee_rcs"] else ordering.NO,
            "requester_name": requester["nom"], "requester_email": requester["email"]},
        ordering.STEP_HOLDER: {**_person(payload["porteur"]),
                               "otp_contact": payload["porteur"].get("contact_otp") or ""},
        ordering.STEP_LEGAL: _person(payload["representant_legal"]),
        ordering.STEP_MANDATAIRE: ({"has_mandataire": ordering.YES, **_person(mandataire)}
                                   if mandataire else {"has_mandataire": ordering.NO}),
        ordering.STEP_PRODUCT: {"offer": str(offer.id) if offer else "",
                                "validity": str(product["validite_annees"]),
                                "medium": product["support"]},
    }


def _portal(client: ApiClient, code: str) -> Portal:
    portal = Portal.by_code(code)
    if portal is None or portal.id not in clients.portal_ids(client):
        raise Problem(422, "commande_invalide",
                      f"Portail inconnu ou non autorisé pour ce client : « {code} ».",
                      [{"code": "portail.invalide", "champ": "portail",
                        "detail": f"Portail inconnu ou non autorisé : « {code} »."}])
    if portal.closed_at is not None:
        reason = portal_rules.closed_reason(portal.name)
        raise Problem(409, "portail_ferme", reason,
                      [{"code": "portail.ferme", "champ": "portail", "detail": reason}])
    return portal


def create(client: ApiClient, payload: dict, ip: str = "") -> Order:
    portal = _portal(client, payload["portail"])
    offers = drafts.offers_for(portal)
    answers = answers_from(payload, offers)
    errors = [{"code": field_code(_field_path(step, name), message),
               "champ": _field_path(step, name), "detail": message}
              for step in ordering.FORM_STEPS
              for name, message in ordering.step_problems(step, answers[step], offers).items()]
    if errors:
        raise Problem(422, "commande_invalide", " ".join(error["detail"] for error in errors),
                      errors)
    return drafts.create(portal, answers, offers, actor=actor(client), ip=ip)


# --- Finding, attaching, sending --------------------------------------------------------------

# An order of the client's AE on one of its portals, by number: read by every call on an order.
_ORDER = PreparedQuery(lambda number, ae_id, client_id: (
    Order.select().where((Order.number == number) & (Order.ae == ae_id)
                         & Order.portal.in_(clients.portals_of(client_id))).limit(1)),
    "number", "ae_id", "client_id")


def find(client: ApiClient, number: int) -> Order:
    """The order alone (its company and people load when asked): compiling the six-table
    ``Order.with_people()`` cost more than the rest of a piece's request."""
    order = _ORDER.first(number=number, ae_id=client.ae_id, client_id=client.id)
    if order is None:
        raise Problem(404, "introuvable", f"Aucune commande N° {number} pour ce client.")
    return order


def attach(client: ApiClient, order: Order, kind: str, filename: str, data: bytes,
           ip: str = "") -> Document:
    try:
        return pieces.upload(order, kind, filename, data, ip=ip)
    except workflow.Refused as refusal:
        raise Problem(422, "piece_refusee", refusal.message,
                      [{"code": "type.invalide", "champ": "type", "detail": refusal.message}])
    except RefusedDocument as refusal:
        raise Problem(422, "piece_refusee", refusal.message,
                      [{"code": "fichier.invalide", "champ": "fichier", "detail": refusal.message}])


def submit(app: Flask, client: ApiClient, order: Order, ip: str = "") -> Order:
    """The API client speaks for the AE's own shop: no code to prove the address. The checks
    run once, under the order's lock; each failed one is named by its code."""
    try:
        return submission.submit(app, order, address_proven=True, via=actor(client), ip=ip,
                                 actor=actor(client))
    except submission.SubmissionRefused as refusal:
        raise Problem(422, "envoi_refuse", refusal.message,
                      [{"code": check.code, "detail": check.reason} for check in refusal.checks])


def piece(document: Document) -> dict:
    return {"type": document.kind, "intitule": workflow.document_kind_label(document.kind),
            "fichier": document.filename, "sha256": document.sha256, "taille": document.size,
            "importe_le": utc_iso(document.imported_at)}


# --- Reading -----------------------------------------------------------------------------------

def view(order: Order) -> dict:
    """What a client reads of an order: where it stands, what it misses, its documents and the
    notifications sent to its requester."""
    documents = list(Document.current_of(order.id))
    rows = workflow.document_rows(order, documents)
    notifications = (Notification
                     .select()
                     .where(Notification.order == order.id)
                     .order_by(Notification.created_at, Notification.id))
    return {
        **summary(order),
        "pieces_manquantes": [{"type": row.kind, "intitule": row.label} for row in rows
                              if row.category == workflow.CATEGORY_SUPPORTING and not row.complete],
        "documents": [{"type": row.kind, "intitule": row.label, "categorie": row.category,
                       "statut": row.status, "statut_libelle": row.status_label,
                       "importe_le": utc_iso(row.document.imported_at) if row.document else None}
                      for row in rows],
        "notifications": [{"type": n.type, "libelle": type_label(n.type),
                           "etat": n.state, "etat_libelle": STATE_LABELS.get(n.state, n.state),
                           "creee_le": utc_iso(n.created_at), "envoyee_le": utc_iso(n.sent_at)}
                          for n in notifications],
    }


def summary(order: Order) -> dict:
    return {
        "numero": order.number, "portail": order.portal.code, "processus": order.process,
        "phase": order.phase, "phase_libelle": workflow.label(workflow.PHASES, order.phase),
        "sous_etat": order.substate,
        "sous_etat_libelle": workflow.label(workflow.SUBSTATES, order.substate) or None,
        "creee_le": utc_iso(order.created_at), "modifiee_le": utc_iso(order.updated_at),
        "envoyee_le": utc_iso(order.submitted_at),
    }


# --- Listing by change -------------------------------------------------------------------------

def _cursor(order: Order) -> str:
    raw = json.dumps([order.updated_at.isoformat(), order.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, order_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return dt.datetime.fromisoformat(moment), int(order_id)
    except (ValueError, TypeError, binascii.Error):
        raise Problem(400, "requete_invalide", "Le curseur « depuis » n'est pas valide : "
                                               "reprenez celui de la réponse précédente.",
                      [{"code": "depuis.invalide", "champ": "depuis",
                        "detail": "Curseur illisible."}]) from None


def changed_since(client: ApiClient, cursor: str | None, limit: int) -> dict:
    """Orders by time of change then id, after ``cursor``: a page, and the cursor of its last
    order (the next call starts after it; an order changed again comes back later)."""
    query = (Order
             .select(Order, Portal)
             .join(Portal)
             .where((Order.ae == client.ae_id) & Order.portal.in_(clients.portal_ids(client))))
    if cursor:
        moment, order_id = _read_cursor(cursor)
        query = query.where((Order.updated_at > moment)
                            | ((Order.updated_at == moment) & (Order.id > order_id)))
    page = list(query.order_by(Order.updated_at, Order.id).limit(min(limit, PAGE_MAX)))
    return {"commandes": [summary(order) for order in page],
            "suivant": _cursor(page[-1]) if page else cursor}
