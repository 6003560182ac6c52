"""Why orders were refused, why they were cancelled, and why requesters were written to, over
the period, ranked with their counts.

- « Motifs de refus »: the comments of « Refuser la commande » (audit events
  ``order_refused``), grouped when they read alike (case and spacing ignored), the ten most
  frequent, the rest as « Autres motifs »;
- « Causes d'annulation »: refusals, orders cancelled because the dossier stayed incomplete,
  and drafts abandoned before being sent (never received, so not among « Annulées »);
- « Notifications aux demandeurs »: the notifications written about an order to its
  requester (signers' messages and the operators' digest are not theirs), by type, whatever
  their delivery state.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from flask import current_app
from peewee import SQL, Select, ValuesList, fn

from models import AuditEvent, Notification, Order, OperatorScope, db
from services import digest, validation
from services.intake import expiry as draft_expiry
from services.messaging.notifications import TYPES_KEY, type_label
from services.orders import requester_reminders
from services.signing import signatures
from services.statistics.filters import StatisticsFilters
from services.statistics.scope import order_conditions

TOP = 10
OTHER_REASONS = "Autres motifs"
CANCELLATION_CAUSES = {
    validation.ACTION_REFUSED: "Refusée par l'AE",
    requester_reminders.ACTION_CANCELLED: "Annulée : dossier resté incomplet",
    draft_expiry.ACTION_DRAFT_EXPIRED: "Saisie abandonnée, jamais envoyée (non reçue)",
}
NOT_TO_REQUESTERS = (*signatures.SIGNER_TYPES, digest.TYPE_DIGEST)
MAX_REFUSALS = 50_000  # comments read for grouping: far more than an AE refuses in three years


@dataclass(frozen=True)
class Ranked:
    label: str
    count: int


@dataclass(frozen=True)
class Reasons:
    refusals: list[Ranked]       # top TOP, then « Autres motifs » when there are more
    refusal_total: int
    cancellations: list[Ranked]  # every cause, even at 0
    notifications: list[Ranked]  # most frequent first
    notification_total: int


def compute(scope: OperatorScope, filters: StatisticsFilters) -> Reasons:
    refusals, refusal_total = _refusals(scope, filters)
    notifications = _notifications(scope, filters)
    return Reasons(refusals, refusal_total, _cancellations(scope, filters), notifications,
                   sum(item.count for item in notifications))


def _events(scope: OperatorScope, filters: StatisticsFilters, *columns):
    """The AE's audit events of the period about the orders the operator may count."""
    return (AuditEvent
            .select(*columns)
            .join(Order, on=(AuditEvent.order == Order.id))
            .where(AuditEvent.ae == scope.ae_id, AuditEvent.at >= filters.start_utc,
                   AuditEvent.at < filters.end_utc, *order_conditions(scope, filters)))


def _refusals(scope: OperatorScope, filters: StatisticsFilters) -> tuple[list[Ranked], int]:
    query = (_events(scope, filters, AuditEvent.details)
             .where(AuditEvent.action == validation.ACTION_REFUSED)
             .order_by(AuditEvent.id)  # the first spelling of a reason is its label on a tie
             .limit(MAX_REFUSALS))
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for (details,) in query.tuples():
        comment = " ".join(str(_json(details).get("commentaire") or "").split()) or "(sans commentaire)"
        key = comment.casefold()
        counts[key] += 1
        spellings.setdefault(key, Counter())[comment] += 1
    # Ties broken by the text, so that the ranking does not depend on the rows' order.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    lines = [Ranked(spellings[key].most_common(1)[0][0], count) for key, count in ranked[:TOP]]
    rest = sum(count for _, count in ranked[TOP:])
    if rest:
        lines.append(Ranked(OTHER_REASONS, rest))
    return lines, sum(counts.values())


def _json(text: str) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _cancellations(scope: OperatorScope, filters: StatisticsFilters) -> list[Ranked]:
    query = (_events(scope, filters, AuditEvent.action, fn.COUNT(SQL("*")))
             .where(AuditEvent.action.in_(list(CANCELLATION_CAUSES)))
             .group_by(AuditEvent.action))
    found = dict(query.tuples())
    return [Ranked(label, found.get(action, 0)) for action, label in CANCELLATION_CAUSES.items()]


def _notifications(scope: OperatorScope, filters: StatisticsFilters) -> list[Ranked]:
    """Counted type by type, each an index range (ae, type, created_at), over a list of the
    types: a GROUP BY over the year's notifications would sort a hundred thousand of them.
    The types are those the app registers (register_notification_types), as every feature
    that writes notifications does."""
    codes = [(code,) for code in current_app.extensions.get(TYPES_KEY, {})
             if code not in NOT_TO_REQUESTERS]
    if not codes:
        return []
    types = ValuesList(codes).cte("types", columns=("code",))
    # A count per listed type (a correlated sub-select): grouping would sort every row.
    count = (Notification
             .select(fn.COUNT(SQL("*")))
             .where(Notification.ae == scope.ae_id, Notification.type == types.c.code,
                    Notification.created_at >= filters.start_utc,
                    Notification.created_at < filters.end_utc,
                    Notification.order.is_null(False)))
    if not _whole_ae(scope, filters):
        count = (count
                 .join(Order, on=(Notification.order == Order.id))
                 .where(*order_conditions(scope, filters, leading=False)))
    query = Select((types,), (types.c.code, count)).with_cte(types).bind(db)
    counted = [Ranked(type_label(code), number) for code, number in query.tuples() if number]
    return sorted(counted, key=lambda item: (-item.count, item.label))


def _whole_ae(scope: OperatorScope, filters: StatisticsFilters) -> bool:
    """Every order of the AE counts: a row's own ``ae`` says enough, no order to read."""
    return scope.all_portals and filters.portal_id is None
