"""The pieces a requester uploads while ordering: exactly the justificatifs ``workflow`` requires
for their answers, each through ``import_document`` (same checks, same limits, same refusals);
uploading a kind again replaces the piece before the order is sent."""
from __future__ import annotations

import workflow
from adapters.document_store import DocumentStore
from models import Document, Order
from services.dossiers.documents import REQUESTER, document_store, import_document
from workflow import ordering


def store() -> DocumentStore:
    return document_store()


def rows(order: Order, current: list[Document] | None = None) -> list[workflow.DocumentRow]:
    """The pieces to upload for the answers given so far, with what was received (from the
    order's ``current`` documents when the caller has read them)."""
    if current is None:
        current = list(Document.current_of(order.id))
    return [row for row in workflow.document_rows(order, current)
            if row.category == workflow.CATEGORY_SUPPORTING]


def upload(order: Order, kind: str, filename: str, data: bytes, ip: str = "") -> Document:
    """Raises Refused (not a piece of this order, or no longer a draft) or RefusedDocument (the
    store's French refusal); nothing is stored then."""
    if order.phase != workflow.PHASE_ENTRY:
        raise workflow.Refused(["La commande a déjà été envoyée : déposez vos pièces depuis sa "
                                "page de suivi."])
    if kind not in ordering.supporting_kinds(order):
        raise workflow.Refused(["Choisissez une des pièces justificatives demandées."])
    return import_document(order, kind, filename, data, operator=None, actor_label=REQUESTER,
                           ip=ip)
