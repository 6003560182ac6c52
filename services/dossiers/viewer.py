"""What the viewer (« Visionneuse ») shows: the dossier's documents in the side panel, and the
selected document's page at the zoom and rotation asked for. Pure reading: two queries (the
order with its company, and every document with its operators)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import workflow
from formatting import PARIS
from models import Company, Document, Operator, Order
from services.dossiers import documents as documents_service, piece_checks
from services.dossiers.piece_checks import PieceCheck
from services.orders import order_file
from adapters.previews import THUMBNAIL_WIDTH, WIDTHS, normalize_rotation

ZOOMS = (50, 75, 100, 125, 150, 200, 300, 400)  # % of the main area's width; 100 fits it
FIT = 100


@dataclass(frozen=True)
class PanelItem:
    """One line of the side panel: a required kind, or an extra document, with its versions."""
    kind: str
    label: str
    category: str
    status_label: str
    complete: bool
    document: Document | None          # the current version (None: never imported)
    replaced: list[Document] = field(default_factory=list)  # older versions, newest first

    @property
    def has_file(self) -> bool:
        return self.document is not None and bool(self.document.sha256)


@dataclass(frozen=True)
class ViewerPage:
    order: Order
    items: list[PanelItem]
    selected: Document | None
    page: int
    zoom: int
    rotation: int
    today: dt.date
    can_verify: bool
    verify_blockers: list[str]
    piece: PieceCheck | None = None  # « Lu sur la pièce » of the selected document
    can_reread: bool = False

    @property
    def page_count(self) -> int:
        return (self.selected.page_count or 1) if self.selected is not None else 0

    @property
    def selected_label(self) -> str:
        return workflow.document_kind_label(self.selected.kind) if self.selected else ""

    def expired(self, document: Document | None) -> bool:
        return workflow.document_expired(document, self.today)

    def zoom_in(self) -> int | None:
        return next((z for z in ZOOMS if z > self.zoom), None)

    def zoom_out(self) -> int | None:
        return next((z for z in reversed(ZOOMS) if z < self.zoom), None)

    def sizes(self) -> str:
        """How wide the page is shown, for the browser to pick a resolution from srcset: the
        main area is the window less the side panel (stacked below 60rem)."""
        factor = self.zoom / 100
        return (f"(max-width: 60rem) calc((100vw - 2rem) * {factor}), "
                f"calc((100vw - 25rem) * {factor})")


def widths() -> tuple[int, ...]:
    """The widths a page is offered in (``srcset``, each a preview URL's ``width``)."""
    return tuple(w for w in WIDTHS if w > THUMBNAIL_WIDTH)


def load(order: Order, operator: Operator, document_id: int | None, page: int | None,
         zoom: int | None, rotation: int | None) -> ViewerPage:
    """``order`` must come from a scoped lookup. An unknown document id, page or zoom falls
    back to something shown, never to an error: links get stale as documents are replaced."""
    order = (Order
             .select(Order, Company)
             .join(Company, on=(Order.company == Company.id), attr="company")
             .where(Order.id == order.id)
             .get())
    rows = documents_service.dossier_documents(order)
    items = panel_items(order, rows)
    selected = next((d for d in rows if d.id == document_id and d.sha256), None)
    if selected is None:
        selected = next((item.document for item in items if item.has_file), None)
    page_count = (selected.page_count or 1) if selected is not None else 1
    blockers = workflow.document_verification_blockers(order, selected, operator)
    return ViewerPage(
        order=order, items=items, selected=selected,
        page=min(max(page or 1, 1), page_count),
        zoom=zoom if zoom in ZOOMS else FIT,
        rotation=normalize_rotation(rotation),
        today=dt.datetime.now(PARIS).date(),
        can_verify=not blockers, verify_blockers=blockers,
        piece=piece_checks.for_document(order, selected),
        can_reread=order_file.can_edit_id_document(order, operator),  # as its htmx refresh
    )


def panel_items(order: Order, rows: list[Document]) -> list[PanelItem]:
    """Required kinds in « Liste des documents » order, then any other kind the dossier holds."""
    by_kind: dict[str, list[Document]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    items = []
    required = workflow.document_rows(order, rows)
    for row in required:
        items.append(PanelItem(row.kind, row.label, row.category, row.status_label,
                               row.complete, row.document, _replaced(by_kind.get(row.kind, []))))
    extra = [kind for kind in workflow.DOCUMENT_KINDS
             if kind in by_kind and kind not in {row.kind for row in required}]
    for kind in extra:
        current = workflow.current_documents(by_kind[kind]).get(kind)
        spec = workflow.DOCUMENT_KINDS[kind]
        status = current.status if current else workflow.MISSING_STATUS[spec.category]
        items.append(PanelItem(kind, spec.label, spec.category,
                               workflow.label(workflow.DOCUMENT_STATUSES, status),
                               status == workflow.COMPLETE_STATUS[spec.category], current,
                               _replaced(by_kind[kind])))
    return items


def _replaced(versions: list[Document]) -> list[Document]:
    return sorted((d for d in versions if not d.is_current and d.sha256),
                  key=lambda d: d.id, reverse=True)


def view_args(view: ViewerPage, **changes) -> dict:
    """The viewer's query string for ``view`` with some values changed (links and forms)."""
    args = {"document": view.selected.id if view.selected else None, "page": view.page,
            "zoom": view.zoom, "rotation": view.rotation}
    args.update(changes)
    defaults = {"page": 1, "zoom": FIT, "rotation": 0}
    return {key: value for key, value in args.items()
            if value is not None and defaults.get(key) != value}
