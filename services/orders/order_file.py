"""The order file (« Fiche de commande »): what it shows, and the state changes made from it.

Reading a file takes a constant number of queries whatever the number of documents and audit
events: the order with every related row in one query, the current documents with their
operators in one, the audit trail's newest page with its operators in one
(services.orders.audit_history).

State changes here: recording the holder's ID document number (one transaction, one audit
event) and « En cours de traitement par … » (``OrderReview``: one row per order, taken over by
the latest opener, kept alive by the page's heartbeat, ignored once idle).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, NamedTuple

from peewee import JOIN, Case

import workflow
from models import (Document, Operator, OperatorScope, Order, OrderReview, Portal, db,
                    utcnow)
from models.prepared import PreparedQuery, one_of
from services import audit
from services.dossiers import piece_checks
from services.dossiers.documents import current_documents_with_operators
from services.dossiers.piece_checks import PieceChecks
from services.audit_words import ACTION_ID_DOCUMENT_RECORDED, ACTION_ORDER_VIEWED
from services.orders import audit_history
from services.orders.audit_history import HistoryPage

REVIEW_TIMEOUT = dt.timedelta(minutes=5)
HEARTBEAT_SECONDS = 30  # well under REVIEW_TIMEOUT, so one lost heartbeat does not expire it


# --- Reading the file ----------------------------------------------------------

@dataclass(frozen=True)
class OrderFile:
    order: Order                  # with ae, portal, company, people and operators loaded
    rows: list[workflow.DocumentRow]  # documents with their importing and verifying operators
    next_step: str                # French label of the step the checklist is about, or ""
    checklist: list[workflow.Check]
    otp_problem: str | None
    history: HistoryPage          # the audit trail's newest page
    can_edit_id_document: bool
    documents: list[Document]     # the current ones, for the signature and validation panels
    pieces: PieceChecks           # « Lu sur la pièce »


def load_file(order: Order, operator: Operator) -> OrderFile:
    """Everything the page shows. ``order`` must come from a scoped lookup: ``full_order``
    (used as it is) or order_or_404 (read again with its relations)."""
    full = order if _has_relations(order) else _order_with_relations(order.id)
    # workflow.current_documents keeps the last one of a kind: oldest first
    documents = current_documents_with_operators(order.id)
    step = workflow.next_step(full, documents)
    return OrderFile(
        order=full,
        rows=workflow.document_rows(full, documents),
        next_step=workflow.label(workflow.STEPS, step),
        checklist=workflow.next_step_checklist(full, documents, operator, full.ae),
        otp_problem=workflow.otp_contact_problem(full.otp_contact),
        history=audit_history.page(full),
        can_edit_id_document=can_edit_id_document(full, operator),
        documents=documents,
        pieces=piece_checks.for_order(full, documents),
    )


def can_edit_id_document(order: Order, operator: Operator) -> bool:
    return (operator.has_role(workflow.ROLE_AEA) and read_only_problem(order) is None
            and order.process != workflow.PROCESS_REVOCATION)  # no dossier to complete


def full_order(scope: OperatorScope, order_id: int) -> Order | None:
    """The order with every related row the file shows, if the operator may see it: one
    query, where a scoped lookup then a second read cost two."""
    return _FULL_ORDER.first(order_id=order_id, ae_id=scope.ae_id, portal_ids=scope.portal_ids)


def _has_relations(order: Order) -> bool:
    return {"ae", "portal", "company", "holder", "legal_representative"} <= order.__rel__.keys()


# A join of nine tables: planned once per connection (models.prepared), not on every view. The
# scope's condition (OperatorScope.order_condition) with the portals always listed: an operator
# who sees them all has every portal of the AE among them.
_FULL_ORDER = PreparedQuery(
    lambda order_id, ae_id, portal_ids: _with_relations().where(
        (Order.id == order_id) & (Order.ae == ae_id) & one_of(Order.portal, portal_ids)
    ).limit(1),
    "order_id", "ae_id", "portal_ids")


def _order_with_relations(order_id: int) -> Order:
    return _with_relations().where(Order.id == order_id).get()


def _with_relations():
    """Orders with their AE, portal, company, people and recording/validating operators."""
    recorder, validator = Operator.alias(), Operator.alias()
    return (Order
            .with_people()
            .select_extend(Portal, recorder, validator)
            .switch(Order)
            .join(Portal, on=(Order.portal == Portal.id), attr="portal")
            .switch(Order)
            .join(recorder, JOIN.LEFT_OUTER, on=(Order.id_doc_recorded_by == recorder.id),
                  attr="id_doc_recorded_by")
            .switch(Order)
            .join(validator, JOIN.LEFT_OUTER, on=(Order.validated_by == validator.id),
                  attr="validated_by"))


# --- N° de justificatif d'identité ----------------------------------------------

def read_only_problem(order: Order) -> str | None:
    """Why the ID document cannot be changed now, or None."""
    if order.phase == workflow.PHASE_ENTRY:
        return workflow.DRAFT_PROBLEM
    if not workflow.is_read_only(order):
        return None
    if workflow.is_validated(order):
        return ("La commande a été validée : le dossier est en lecture seule et le N° de "
                "justificatif d'identité ne peut plus être modifié.")
    return (f"La commande est en phase « {workflow.label(workflow.PHASES, order.phase)} » : "
            f"le N° de justificatif d'identité ne peut plus être modifié.")


ID_NUMBER_ALREADY_RECORDED = ("Le N° de justificatif d'identité a été saisi entre-temps : "
                              "vérifiez-le avant de le remplacer par « Modifier ».")


def record_id_document(order: Order, operator: Operator, doc_type: str | None,
                       number: str | None, ip: str = "", *, only_if_empty: bool = False,
                       origin: str = "") -> bool:
    """Record the holder's ID document; True when saved, False when it was already that.

    Raises ``workflow.Refused`` with the French reason when refused: malformed number,
    operator without the AEA role, or a read-only dossier. Nothing is written then.
    ``only_if_empty``: refused when the order records a number already (« Reprendre le numéro
    lu » fills an empty one, never replaces one typed meanwhile); ``origin``: where the number
    came from, in the audit event.
    """
    if not operator.has_role(workflow.ROLE_AEA):
        raise workflow.Refused([f"Rôle {workflow.ROLE_AEA} requis."])
    problem = workflow.id_document_problem(doc_type, number)
    if problem is not None:
        raise workflow.Refused([problem])
    new = {"type": doc_type, "number": workflow.normalize_id_number(number)}
    now = utcnow()
    with db.atomic() as transaction:
        # Writing first takes the row lock (PostgreSQL) or the write lock (SQLite), so the
        # state read just after cannot change before commit: a concurrent validation either
        # already happened, and is seen, or waits for this transaction.
        Order.update(updated_at=now).where(Order.id == order.id).execute()
        current = Order.get_by_id(order.id)
        problem = read_only_problem(current)
        if problem is not None:
            raise workflow.Refused([problem])
        old = {"type": current.id_doc_type, "number": current.id_doc_number}
        if only_if_empty and workflow.normalize_id_number(current.id_doc_number):
            raise workflow.Refused([ID_NUMBER_ALREADY_RECORDED])
        if old == new:
            transaction.rollback()  # a no-op is not a state change: no event, no new updated_at
            return False
        (Order
         .update(id_doc_type=new["type"], id_doc_number=new["number"],
                 id_doc_recorded_by=operator.id, updated_at=now)
         .where(Order.id == order.id)
         .execute())
        details = {"old": old, "new": new}
        if origin:
            details["origine"] = origin
        audit.record(ACTION_ID_DOCUMENT_RECORDED, operator=operator, order=order, ip=ip,
                     details=details)
    return True


# --- « En cours de traitement par … » -------------------------------------------

class Review(NamedTuple):
    """Who is reviewing an order file, and since when they opened it."""
    name: str
    since: dt.datetime

    @property
    def key(self) -> str:
        """Identifies what a page shows, so a heartbeat can tell whether anything changed."""
        return f"{self.name}|{self.since.isoformat(timespec='seconds')}"


def review_key(review: Review | None) -> str:
    return review.key if review is not None else ""


def active_reviews(order_ids: Iterable[int], excluding: Operator | None = None,
                   now: dt.datetime | None = None) -> dict[int, Review]:
    """Orders being reviewed right now: {order_id: (operator display name, since)}, one query.
    ``order_ids`` must come from a scoped query."""
    order_ids = list(order_ids)
    if not order_ids:
        return {}
    cutoff = (now or utcnow()) - REVIEW_TIMEOUT
    query = (OrderReview
             .select(OrderReview.order, OrderReview.since, Operator.display_name)
             .join(Operator, on=(OrderReview.operator == Operator.id))
             .where(OrderReview.order.in_(order_ids) & (OrderReview.last_seen >= cutoff)))
    if excluding is not None:
        query = query.where(OrderReview.operator != excluding.id)
    return {order_id: Review(name, since) for order_id, since, name in query.tuples()}


def _join_reviewer(query, excluding_id, cutoff):
    """The Commandes list's rows (``Order.listing``) with, in each, who else is reviewing that
    order right now (``reviewer``, ``reviewing_since``): joined, not a query of its own."""
    reviewer = Operator.alias()
    return (query
            .select_extend(reviewer.display_name.alias("reviewer"),
                           OrderReview.since.alias("reviewing_since"))
            .switch(Order)
            .join(OrderReview, JOIN.LEFT_OUTER,
                  on=((OrderReview.order == Order.id) & (OrderReview.last_seen >= cutoff)
                      & (OrderReview.operator != excluding_id)))
            .join(reviewer, JOIN.LEFT_OUTER, on=(OrderReview.operator == reviewer.id)))


# A join of seven tables: planned once per connection (models.prepared), not on every page.
# Named tuples: the template reads a dict's keys only after its attribute lookup failed.
_LIST_ROWS = PreparedQuery(
    lambda ids, ae_id, cutoff, excluding_id: _join_reviewer(Order.listing_rows(ids, ae_id),
                                                            excluding_id, cutoff).namedtuples(),
    "ids", "ae_id", "cutoff", "excluding_id")


def list_rows(ids: list[int], scope: OperatorScope, excluding: Operator,
              now: dt.datetime | None = None) -> list[tuple]:
    """The Commandes list's rows of the orders ``ids`` (chosen and sorted in scope by
    order_search.page_ids), in that order, each saying who else is reviewing it."""
    if not ids:
        return []
    rows = {row.id: row for row in _LIST_ROWS.execute(
        ids=list(ids), ae_id=scope.ae_id, cutoff=(now or utcnow()) - REVIEW_TIMEOUT,
        excluding_id=excluding.id)}
    return [rows[order_id] for order_id in ids if order_id in rows]


def open_file(order: Order, operator: Operator, ip: str = "") -> Review | None:
    """Audit the view and take the review over; returns who else was reviewing it until now."""
    previous = active_reviews([order.id], excluding=operator).get(order.id)
    now = utcnow()
    with db.atomic():
        audit.record(ACTION_ORDER_VIEWED, operator=operator, order=order, ip=ip)
        (OrderReview
         .insert(order=order.id, operator=operator.id, since=now, last_seen=now)
         .on_conflict(conflict_target=[OrderReview.order],
                      update={OrderReview.operator: operator.id, OrderReview.since: now,
                              OrderReview.last_seen: now})
         .execute())
    return previous


def keep_reviewing(order: Order, operator: Operator) -> Review | None:
    """The page's heartbeat; returns who else reviews the file now, if anyone.

    The operator keeps their review alive, or takes back one nobody keeps alive any more,
    but never takes it from someone who opened the file later and is still on it.
    """
    now = utcnow()
    # Keeping one's own review keeps its start; taking back an idle one starts it anew.
    since = Case(None, [(OrderReview.operator == operator.id, OrderReview.since)], now)
    kept = (OrderReview
            .update(operator=operator.id, since=since, last_seen=now)
            .where((OrderReview.order == order.id)
                   & ((OrderReview.operator == operator.id)
                      | (OrderReview.last_seen < now - REVIEW_TIMEOUT)))
            .execute())
    if kept:
        return None
    return active_reviews([order.id], excluding=operator, now=now).get(order.id)
