"""« Lu sur la pièce »: the stored readings of an order's current pieces compared with the order
(workflow.piece_comparison), for the order file's « Ce qui manque » panel, the Visionneuse and
« Valider »; and « Reprendre le numéro lu », which records the holder's ID document number read
on the piece through the order file's own path (services.orders.order_file).

Reading a file's checks costs two queries whatever the number of pieces: the readings of its
current documents, and the holder certificate's start (the date an ID document must still be
valid at; today while no certificate is issued).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import workflow
from adapters.piece_reader import PieceReading
from formatting import PARIS
from models import Document, DocumentReading, HolderCertificate, Operator, Order
from models import readings as states
from services import audit
from workflow import piece_comparison
from workflow.piece_comparison import FieldCheck

PENDING_TEXT = "lecture en cours…"
UNREADABLE_TEXT = "lecture automatique impossible"
NOT_READ_TEXT = "pièce non lue"
NOTHING_TO_TAKE = ("Aucun numéro lu sur la pièce d'identité du porteur à reprendre : le N° de "
                   "justificatif d'identité est déjà renseigné, ou la pièce n'a pas été lue.")
TAKEN_ORIGIN = "lu sur la pièce d'identité du porteur"

ACTION_DIFFERENCES_CONFIRMED = "piece_differences_confirmed"
AUDIT_ACTIONS = {ACTION_DIFFERENCES_CONFIRMED:
                 "Écarts signalés par la lecture des pièces vérifiés avant validation"}
DETAIL_LABELS = {"confirmation": "Confirmation"}


@dataclass(frozen=True)
class PieceCheck:
    """One current piece: its reading's state and, once read, each field against the order."""
    document: Document
    state: str | None                 # models.readings state; None: never asked (older import)
    checks: list[FieldCheck] = field(default_factory=list)
    read_at: dt.datetime | None = None

    @property
    def label(self) -> str:
        return workflow.document_kind_label(self.document.kind)

    @property
    def pending(self) -> bool:
        return self.state == states.PENDING

    @property
    def state_text(self) -> str:
        """What the block says instead of fields: « lecture en cours… » and the like."""
        if self.state == states.PENDING:
            return PENDING_TEXT
        if self.state in (states.UNREADABLE, states.FAILED) or (
                self.state == states.DONE and not self.checks):
            return UNREADABLE_TEXT
        return NOT_READ_TEXT if self.state is None else ""

    @property
    def differences(self) -> list[FieldCheck]:
        return piece_comparison.differences(self.checks)


@dataclass(frozen=True)
class PieceChecks:
    pieces: list[PieceCheck]
    number_to_fill: str | None      # « Reprendre le numéro lu » offers it

    @property
    def pending(self) -> bool:
        return any(piece.pending for piece in self.pieces)

    @property
    def differences(self) -> list[tuple[PieceCheck, FieldCheck]]:
        return [(piece, check) for piece in self.pieces for check in piece.differences]

    def of(self, document_id: int) -> PieceCheck | None:
        return next((p for p in self.pieces if p.document.id == document_id), None)


def order_with_people(order_id: int) -> Order:
    return Order.with_people().where(Order.id == order_id).get()


def _has_people(order: Order) -> bool:
    return {"company", "holder", "legal_representative"} <= order.__rel__.keys()


def today() -> dt.date:
    return dt.datetime.now(PARIS).date()


def sent_on(order: Order) -> dt.date:
    """The day the order reached the AE (« Envoyer la commande »), in Paris; today before."""
    if order.submitted_at is None:
        return today()
    return order.submitted_at.replace(tzinfo=dt.timezone.utc).astimezone(PARIS).date()


def certificate_start(order: Order) -> dt.date:
    """When the certificate starts: its ``not_before`` once issued, else today (Paris)."""
    start = (HolderCertificate
             .select(HolderCertificate.not_before)
             .where(HolderCertificate.order == order.id)
             .order_by(HolderCertificate.id.desc())
             .scalar())
    if start is None:
        return today()
    return start.replace(tzinfo=dt.timezone.utc).astimezone(PARIS).date()


def compare(order: Order, kind: str, reading: PieceReading, *,
            start: dt.date | None = None) -> list[FieldCheck]:
    """``order`` with its company and people loaded (Order.with_people)."""
    return piece_comparison.compare_piece(
        kind, reading, order, start=start or certificate_start(order), as_of=sent_on(order))


def _result(row: DocumentReading) -> PieceReading | None:
    return PieceReading.from_json(json.loads(row.reading)) if row.reading else None


def for_order(order: Order, documents: list[Document] | None = None) -> PieceChecks:
    """The checks of the order's current read pieces. ``order`` comes from a scoped lookup with
    its people (the order file's, or ``order_with_people``); ``documents``: its current ones
    when the caller has them."""
    if documents is None:
        documents = list(Document.current_of(order.id))
    pieces = [d for d in documents
              if d.kind in piece_comparison.READ_KINDS and d.sha256 and d.is_current]
    rows = {row.document_id: row for row in DocumentReading.select().where(
        DocumentReading.document.in_([d.id for d in pieces]))} if pieces else {}
    read = any(row.state == states.DONE for row in rows.values())
    if read and not _has_people(order):
        order = order_with_people(order.id)
    start = certificate_start(order) if read else today()
    found = []
    for document in pieces:
        row = rows.get(document.id)
        checks = []
        if row is not None and row.state == states.DONE:
            checks = compare(order, document.kind, _result(row), start=start)
        found.append(PieceCheck(document, row.state if row else None, checks,
                                row.read_at if row else None))
    holder = next((p for p in found if p.document.kind == "holder_id"), None)
    number = piece_comparison.number_to_fill(order, holder.checks) if holder else None
    return PieceChecks(found, number)


def for_document(order: Order, document: Document | None) -> PieceCheck | None:
    """The Visionneuse's block for the selected document (a current read piece), or None."""
    if (document is None or not document.is_current
            or document.kind not in piece_comparison.READ_KINDS):
        return None
    return for_order(order, [document]).of(document.id)


def read_type(order: Order) -> str | None:
    """The document type read on the holder's ID document, if any."""
    document = (Document.current_of(order.id).where(Document.kind == "holder_id").first())
    row = (DocumentReading.get_or_none(DocumentReading.document == document.id)
           if document is not None else None)
    result = _result(row) if row is not None and row.state == states.DONE else None
    return result.identity.document_type if result and result.identity else None


def take_number(order: Order, operator: Operator, ip: str = "") -> str:
    """« Reprendre le numéro lu »: the number read on the holder's ID document recorded as the
    order's « N° de justificatif d'identité » (with the order's type, else the type read), by
    the same path as « Modifier », only while the order has none. Raises Refused."""
    from services.orders import order_file

    full = order_with_people(order.id)
    number = for_order(full).number_to_fill
    if not number:
        raise workflow.Refused([NOTHING_TO_TAKE])
    order_file.record_id_document(full, operator, full.id_doc_type or read_type(full), number,
                                  ip=ip, only_if_empty=True, origin=TAKEN_ORIGIN)
    return number


def differences_to_confirm(order: Order, documents: list[Document] | None = None) -> list[str]:
    """The outstanding ✗ as « Pièce : champ » lines (« Valider » asks to confirm them)."""
    checks = for_order(order, documents)  # loads the order's people when a piece was read
    return [f"{piece.label} : {check.label} ({check.text})"
            for piece, check in checks.differences]


def confirm_differences(order: Order, documents: list[Document], operator: Operator,
                        confirmed: bool, ip: str = "") -> None:
    """Inside « Valider »'s transaction: refused over outstanding ✗ without the AEA's
    confirmation; with it, the confirmation and the differences are audited."""
    lines = differences_to_confirm(order, documents)
    problem = piece_comparison.validation_confirmation_problem(len(lines), confirmed)
    if problem is not None:
        raise workflow.Refused([problem])
    if lines:
        audit.record(ACTION_DIFFERENCES_CONFIRMED, operator=operator, order=order, ip=ip,
                     details={"confirmation": piece_comparison.CONFIRMATION_LABEL,
                              "écarts": " ; ".join(lines)})
