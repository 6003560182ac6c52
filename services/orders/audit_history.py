"""The order file's « Historique »: the audit trail newest first, a page at a time, with the
runs of repeated reads folded into one line.

A file read daily would be mostly its own views and downloads: consecutive reads of the same
thing by the same operator (the file, the Visionneuse, one document, the dossier) make one line
with a count (« 5 fois depuis le … »). Anything else breaks a run, so no state change is ever
hidden; the trail itself keeps every event.

Pages are cut by event id (``before``: the oldest event of the previous page), never by offset,
so a page stays the same while new events arrive; each reads its events in chunks, newest first.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from formatting import paris_date, paris_time
from models import AuditEvent, Order
from services.audit_words import ACTION_ORDER_VIEWED, action_label, describe_details, who
from services.dossiers.documents import (ACTION_DOSSIER_DOWNLOADED, ACTION_DOWNLOADED,
                                         ACTION_VIEWER_OPENED)

PAGE_SIZE = 50
CHUNK = 200  # events read per query; a page of folded views may need more than one
READS = frozenset({ACTION_ORDER_VIEWED, ACTION_VIEWER_OPENED, ACTION_DOWNLOADED,
                   ACTION_DOSSIER_DOWNLOADED})


@dataclass(frozen=True)
class HistoryLine:
    """One row of the order's audit trail, ready to show."""
    at: dt.datetime
    who: str
    action: str
    details: str


@dataclass(frozen=True)
class HistoryPage:
    lines: list[HistoryLine]
    older: int | None  # ``before`` of the next page, None on the last one


@dataclass
class _Run:
    events: list[AuditEvent]  # newest first

    def key(self):
        first = self.events[0]
        return (first.action, first.operator_id, first.actor, first.details)

    def line(self) -> HistoryLine:
        newest, oldest = self.events[0], self.events[-1]
        details = describe_details(newest.action, newest.details)
        if len(self.events) > 1:
            count = (f"{len(self.events)} fois depuis le {paris_date(oldest.at)} "
                     f"à {paris_time(oldest.at)}")
            details = f"{count} ; {details}" if details else count
        return HistoryLine(newest.at, who(newest), action_label(newest.action), details)


def _events(order_id: int, before: int | None):
    """The order's events older than ``before``, newest first, read CHUNK at a time."""
    while True:
        query = AuditEvent.for_order(order_id).order_by(AuditEvent.id.desc()).limit(CHUNK)
        if before is not None:
            query = query.where(AuditEvent.id < before)
        chunk = list(query)
        yield from chunk
        if len(chunk) < CHUNK:
            return
        before = chunk[-1].id


def page(order: Order | int, before: int | None = None, size: int = PAGE_SIZE) -> HistoryPage:
    """``size`` lines of the trail older than event ``before`` (the newest when None)."""
    runs: list[_Run] = []
    for event in _events(getattr(order, "id", order), before):
        last = runs[-1] if runs else None
        if (last is not None and event.action in READS
                and last.key() == (event.action, event.operator_id, event.actor, event.details)):
            last.events.append(event)
            continue
        if len(runs) == size:  # a line more: the page's last run is complete
            return HistoryPage([run.line() for run in runs], runs[-1].events[-1].id)
        runs.append(_Run([event]))
    return HistoryPage([run.line() for run in runs], None)
