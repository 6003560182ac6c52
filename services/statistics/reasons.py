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
from peewee import SQL, Case, Select, ValuesList, fn

from models import AuditEvent, Notification, Order, OperatorScope, db
from services import digest, validation
from services.certificates import activation_messages
from services.intake import expiry as draft_expiry
from services.messaging.notifications import TYPES_KEY, type_label
from services.orders import requester_reminders
from services.signing import signatures
from services.statistics.filters import StatisticsFilters
from services.statistics import time_sql
from services.statistics.scope import order_conditions

TOP = 10
OTHER_REASONS = "Autres motifs"
CANCELLATION_CAUSES = {
    validation.ACTION_REFUSED: "Refusée par l'AE",
    requester_reminders.ACTION_CANCELLED: "Annulée : dossier resté incomplet",
    draft_expiry.ACTION_DRAFT_EXPIRED: "Saisie abandonnée, jamais envoyée (non reçue)",
}
NOT_TO_REQUESTERS = (*signatures.SIGNER_TYPES, digest.TYPE_DIGEST, *activation_messages.TYPES)
MAX_EVENTS = 100_000  # cancellations read: far more than an AE has in three years


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
    causes, comments = _cancellation_events(scope, filters)
    refusals, refusal_total = _ranked_comments(comments)
    notifications = _notifications(scope, filters)
    return Reasons(refusals, refusal_total,
                   [Ranked(label, causes[action]) for action, label in CANCELLATION_CAUSES.items()],
                   notifications, sum(item.count for item in notifications))


def _cancellation_events(scope: OperatorScope,
                         filters: StatisticsFilters) -> tuple[Counter[str], list[str]]:
    """The period's cancellation events counted by cause, and the refusals' comments in the
    order they were written — one pass over the events of these actions, read through the
    action's index: the trail holds every view and step of every order, and its (ae, at)
    index would walk a year of them for a few hundred cancellations (``+ 0`` keeps SQLite's
    planner off it; PostgreSQL's knows from its statistics)."""
    refused = AuditEvent.action == validation.ACTION_REFUSED
    same_ae = AuditEvent.ae == scope.ae_id
    if not time_sql.postgres():
        same_ae = (AuditEvent.ae + 0) == scope.ae_id
    query = (AuditEvent
             .select(AuditEvent.action, Case(None, [(refused, AuditEvent.details)], None))
             .join(Order, on=(AuditEvent.order == Order.id))
             .where(same_ae, AuditEvent.at >= filters.start_utc,
                    AuditEvent.at < filters.end_utc,
                    AuditEvent.action.in_(list(CANCELLATION_CAUSES)),
                    *order_conditions(scope, filters, leading=False))
             .order_by(AuditEvent.id)  # the first spelling of a reason is its label on a tie
             .limit(MAX_EVENTS))
    causes: Counter[str] = Counter()
    comments = []
    for action, details in query.tuples():
        causes[action] += 1
        if action == validation.ACTION_REFUSED:
            comments.append(str(_json(details).get("commentaire") or ""))
    return causes, comments


def _ranked_comments(comments: list[str]) -> tuple[list[Ranked], int]:
    """The refusal comments grouped when they read alike (case and spacing ignored), the TOP
    most frequent under their commonest spelling, then « Autres motifs »."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for text in comments:
        comment = " ".join(text.split()) or "(sans commentaire)"
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


def _json(text: str | None) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _notifications(scope: OperatorScope, filters: StatisticsFilters) -> list[Ranked]:
    """The AE's notifications of the period about an order, by type, but for those not meant
    for requesters. For a whole AE, counted type by type over the list of the types the app
    registers (register_notification_types, as every feature that writes notifications does):
    each an index range (ae, type, created_at) read from the index alone, where grouping
    would sort a hundred thousand rows. Limited to some portals, each notification's order
    must be read anyway, and one grouped pass does it."""
    codes = [code for code in current_app.extensions.get(TYPES_KEY, {})
             if code not in NOT_TO_REQUESTERS]
    if not codes:
        return []
    in_period = (Notification.ae == scope.ae_id, Notification.created_at >= filters.start_utc,
                 Notification.created_at < filters.end_utc, Notification.order.is_null(False))
    if _whole_ae(scope, filters):
        types = ValuesList([(code,) for code in codes]).cte("types", columns=("code",))
        count = (Notification
                 .select(fn.COUNT(SQL("*")))
                 .where(Notification.type == types.c.code, *in_period))
        query = Select((types,), (types.c.code, count)).with_cte(types).bind(db)
    else:
        query = (Notification
                 .select(Notification.type, fn.COUNT(SQL("*")))
                 .join(Order, on=(Notification.order == Order.id))
                 .where(Notification.type.in_(codes), *in_period,
                        *order_conditions(scope, filters, leading=False))
                 .group_by(Notification.type))
    counted = [Ranked(type_label(code), number) for code, number in query.tuples() if number]
    return sorted(counted, key=lambda item: (-item.count, item.label))


def _whole_ae(scope: OperatorScope, filters: StatisticsFilters) -> bool:
    """Every order of the AE counts: a row's own ``ae`` says enough, no order to read."""
    return scope.all_portals and filters.portal_id is None
