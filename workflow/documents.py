"""The documents an order requires and where each stands (« Liste des documents »).

Reads duck-typed objects with the attribute names of ``models``: an ``Order`` with its
``company``, an iterable of ``Document``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from workflow.vocabulary import (CATEGORY_CONTRACTUAL, COMPLETE_STATUS,
                                 DOCUMENT_KINDS, DOCUMENT_STATUSES, MISSING_STATUS,
                                 ORDER_TYPE_DEMATERIALISED, label)


def has_mandataire(order) -> bool:
    return getattr(order, "mandataire_id", None) is not None


def required_document_kinds(order) -> list[str]:
    """Kinds the dossier must hold, in display order. Paper (P) orders are not reviewed here."""
    if order.order_type != ORDER_TYPE_DEMATERIALISED:
        return []
    required = {"cgu", "subscription_contract", "authorization_letter",
                "holder_id", "legal_rep_id", "payment_proof"}
    if has_mandataire(order):
        required |= {"power_of_attorney", "mandataire_id"}
    if order.company.rcs_registered:
        required.add("kbis")
    return [kind for kind in DOCUMENT_KINDS if kind in required]


def current_documents(documents: Iterable) -> dict[str, Any]:
    """The current version of each kind. Should two claim to be current, the last given wins."""
    current = {}
    for document in documents:
        if document.is_current:
            current[document.kind] = document
    return current


@dataclass(frozen=True)
class DocumentRow:
    """One line of « Liste des documents »: a required kind and where it stands."""
    kind: str
    label: str
    category: str
    status: str
    status_label: str
    document: Any  # the current version, or None when nothing was ever imported

    @property
    def complete(self) -> bool:
        """Imported for a justificatif, signed for a contractual document."""
        return self.status == COMPLETE_STATUS[self.category]

    @property
    def verified(self) -> bool:
        """Checked in the viewer by an operator (informative: not a guard condition)."""
        return self.document is not None and getattr(self.document, "verified_at", None) is not None


def document_rows(order, documents: Iterable) -> list[DocumentRow]:
    current = current_documents(documents)
    rows = []
    for kind in required_document_kinds(order):
        spec = DOCUMENT_KINDS[kind]
        document = current.get(kind)
        status = document.status if document is not None else MISSING_STATUS[spec.category]
        rows.append(DocumentRow(kind, spec.label, spec.category, status,
                                label(DOCUMENT_STATUSES, status), document))
    return rows


def contractual_kinds(order) -> list[str]:
    """The contractual documents the order requires, in « Liste des documents » order."""
    return [kind for kind in required_document_kinds(order)
            if DOCUMENT_KINDS[kind].category == CATEGORY_CONTRACTUAL]


def document_expired(document, today) -> bool:
    """A justificatif whose expiry date, noted by the operator in the viewer, is before
    ``today``."""
    expires_on = getattr(document, "expires_on", None) if document is not None else None
    return expires_on is not None and today is not None and expires_on < today


def expiry_date_problem(value) -> str | None:
    """Why an expiry date typed by the operator is not acceptable, or None."""
    if value is None:
        return None
    if not (1900 <= value.year <= 2200):
        return "Date d'expiration invalide : l'année doit être comprise entre 1900 et 2200."
    return None
