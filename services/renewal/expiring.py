"""Holder certificates still to renew: written onto their key, neither revoked nor suspended,
not yet expired, and with no renewal order started for them (one not cancelled). The expiry
reminders and the AEA operators' digest read them from here, so both count the same ones.
"""
from __future__ import annotations

import datetime as dt

from peewee import fn

import workflow
from models import HolderCertificate, IssuedCertificate, Order
from models.base import utcnow

HOLD = "certificateHold"  # RFC 5280: a suspension, which may be lifted
DIGEST_DAYS = 30


def renewal_started():
    """True for a certificate (of the query's Order) that a renewal order, not cancelled,
    already follows."""
    renewal = Order.alias()
    return fn.EXISTS(renewal
                     .select(renewal.id)
                     .where((renewal.target_serial == HolderCertificate.serial_hex)
                            & (renewal.ae == Order.ae)
                            & (renewal.process == workflow.PROCESS_RENEWAL)
                            & (renewal.phase != workflow.PHASE_CANCELLED)))


def to_renew(now: dt.datetime, within: dt.timedelta, ae_ids=None):
    """Certificates still to renew that expire within ``within`` of ``now``, with their
    order (``.order``) — a query, to select from."""
    query = (HolderCertificate
             .select(HolderCertificate, Order)
             .join(IssuedCertificate, on=(HolderCertificate.issued == IssuedCertificate.id))
             .switch(HolderCertificate)
             .join(Order, on=(HolderCertificate.order == Order.id), attr="order")
             .where(HolderCertificate.written_at.is_null(False)
                    & IssuedCertificate.revoked_at.is_null()
                    & (fn.COALESCE(IssuedCertificate.revocation_reason, "") != HOLD)
                    & (HolderCertificate.not_after > now)
                    & (HolderCertificate.not_after <= now + within)
                    & ~renewal_started()))
    if ae_ids is not None:
        query = query.where(Order.ae.in_(list(ae_ids)))
    return query


def expiring_by_portal(ae_ids, now: dt.datetime | None = None,
                       days: int = DIGEST_DAYS) -> dict[int, int]:
    """{portal id: certificates still to renew that expire within ``days``}, one grouped
    query for every AE given (the digest's)."""
    now = now or utcnow()
    query = (to_renew(now, dt.timedelta(days=days), ae_ids)
             .select(Order.portal, fn.COUNT(HolderCertificate.id))
             .group_by(Order.portal))
    return dict(query.tuples())
