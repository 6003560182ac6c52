"""A small archive whose « Statistiques » are known by hand, for tests/test_statistics*.py.

Period 16/03/2026 – 05/04/2026: ISO weeks 12, 13 and 14; Paris moves to summer time on
29/03/2026 at 01:00 UTC. Times below are UTC, as stored. Two portals of AE « BPOI »
(Occitanie, Rhône) and another AE whose orders must never count.

Expected, all portals (see each order's comment):

    week   reçues validées générées annulées
    S12       3       1        1        0
    S13      10       9        1        2
    S14       2       0        1        1
    Occitanie 12 / 10 / 2 / 1, Rhône 3 / 0 / 1 / 2, total 15 / 10 / 3 / 3

    réception → validation: 10 orders, hours 1 2 3 4 5 6 7 8 24 200: median 5 h, p90 1 j
    validation → remise: 3 hand-overs, 48 h, 480 h and 1,248 h: median 20 j, p90 52 j

Backlog at BACKLOG_NOW (2026-06-01 12:00): à vérifier 2 (T 7–30 j, C > 30 j), en signature 1,
à valider 2 (Q < 2 j, L > 30 j), en attente 1, à générer 1, Remise 2 (S 2–7 j exactly 2 days,
P > 30 j); Occitanie: 1, 1, 2, 1, 1 and Remise 1.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import uuid

from models import (Activation, AuditEvent, HolderCertificate, IssuedCertificate, Notification,
                    OrderIntake, Portal)
from services import audit
from tests.factories import make_ae, make_operator, make_order

SINCE, UNTIL = dt.date(2026, 3, 16), dt.date(2026, 4, 5)
PERIOD = {"du": "16/03/2026", "au": "05/04/2026"}
BACKLOG_NOW = dt.datetime(2026, 6, 1, 12, 0)
_serials = itertools.count(1)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def order(ae, portal, number, phase, substate=None, *, created, submitted=None, validated=None,
          state_since=None, draft=False):
    row = make_order(ae, portal=portal, number=number, phase=phase, substate=substate,
                     created_at=at(created), updated_at=at(created),
                     submitted_at=submitted and at(submitted),
                     validated_at=validated and at(validated),
                     state_since=at(state_since or submitted or created),
                     requester_email="demandeur@example.org")
    if draft:  # begun on the ordering page (or the API)
        OrderIntake.create(order=row, link_nonce=uuid.uuid4().hex)
    return row


def certificate(order_row, written=None, issued="2026-01-01T00:00:00"):
    serial = f"{next(_serials):08x}{uuid.uuid4().hex[:8]}"
    issued_row = IssuedCertificate.create(serial_hex=serial, kind="holder", subject="CN=Porteur",
                                          not_before=at(issued), not_after=at("2029-01-01T00:00:00"),
                                          pem="")
    digest = hashlib.sha256(serial.encode()).hexdigest()
    return HolderCertificate.create(
        order=order_row, issued=issued_row, serial_hex=serial, fingerprint_sha256=digest,
        public_key_sha256=hashlib.sha256(digest.encode()).hexdigest(), subject="CN=Porteur",
        key_type="rsa3072", token_serial=serial, not_before=at(issued),
        not_after=at("2029-01-01T00:00:00"), pem="", issued_at=at(issued),
        written_at=written and at(written))


def handover(order_row, delivered, written):
    cert = certificate(order_row, written=written)
    return Activation.create(order=order_row, certificate=cert, link_hash=uuid.uuid4().hex,
                             link_expires_at=at(delivered) + dt.timedelta(days=30),
                             delivered_at=at(delivered))


def event(action, order_row, when, **details):
    """An audit event as the services write it, dated ``when`` (the chain is not checked here)."""
    row = audit.record(action, order=order_row, actor="Système", details=details)
    AuditEvent.update(at=at(when)).where(AuditEvent.id == row.id).execute()


def notification(order_row, type_, when, ae=None):
    Notification.create(ae=ae or order_row.ae_id, order=order_row, type=type_,
                        recipient="demandeur@example.org", subject="Objet", body="Texte",
                        created_at=at(when), message_id=f"<{uuid.uuid4().hex}@test>")


def build(ae=None) -> dict:
    """The archive, in ``ae`` (made when not given) and its portals BPOI-Occitanie and
    BPOI-Rhône."""
    ae = ae or make_ae("BPOI", portals=("BPOI-Occitanie", "BPOI-Rhône"))
    occitanie, rhone = Portal.select().where(Portal.ae == ae).order_by(Portal.id)
    o = {}
    # A: sent (S12), validated 24 h later (S12), written (S12), handed over 48 h after validation.
    o["A"] = order(ae, occitanie, 1, "done", created="2026-03-16T09:00", draft=True,
                   submitted="2026-03-17T10:00", validated="2026-03-18T10:00")
    handover(o["A"], "2026-03-20T10:00", written="2026-03-19T10:00")
    # B: paper order, no draft: received when created, 23:30 UTC = 00:30 Paris on Monday (S13).
    o["B"] = order(ae, occitanie, 2, "generation", created="2026-03-22T23:30",
                   validated="2026-03-23T05:30")
    certificate(o["B"], written=None, issued="2026-03-24T10:00")  # issued, never written
    # C: sent 22:30 UTC on 29/03 = 00:30 Paris summer time on Monday 30/03 (S14).
    o["C"] = order(ae, rhone, 3, "validation", "to_check", created="2026-03-29T10:00",
                   submitted="2026-03-29T22:30", draft=True)
    # D: sent 21:30 UTC on 29/03 = 23:30 Paris, still Sunday (S13).
    o["D"] = order(ae, occitanie, 4, "validation", "in_signature", created="2026-03-29T09:00",
                   submitted="2026-03-29T21:30", draft=True)
    # E: a draft being filled in; F: a draft abandoned (cancelled, never sent): never received.
    order(ae, occitanie, 5, "entry", created="2026-03-18T10:00", draft=True)
    o["F"] = order(ae, occitanie, 6, "cancelled", created="2026-03-17T10:00", draft=True,
                   state_since="2026-03-20T10:00")
    event("order_draft_expired", o["F"], "2026-03-20T10:00", phase="Annulée")
    # G: an older order received before the period, refused in S13.
    o["G"] = order(ae, occitanie, 7, "cancelled", created="2026-03-10T10:00",
                   state_since="2026-03-24T10:00")
    event("order_refused", o["G"], "2026-03-24T10:00", commentaire="Pièce d'identité illisible")
    # H: received S13 on Rhône, refused S13 (the same reason, typed otherwise).
    o["H"] = order(ae, rhone, 8, "cancelled", created="2026-03-24T10:00", draft=True,
                   submitted="2026-03-25T08:00", state_since="2026-03-26T10:00")
    event("order_refused", o["H"], "2026-03-26T10:00", commentaire="  pièce d'identité   ILLISIBLE ")
    # I: received S14 on Rhône, cancelled S14: its dossier stayed incomplete.
    o["I"] = order(ae, rhone, 9, "cancelled", created="2026-03-30T10:00", draft=True,
                   submitted="2026-03-31T09:00", state_since="2026-04-02T10:00")
    event("order_incomplete_cancelled", o["I"], "2026-04-02T10:00", motif="incomplet")
    # J after the period; K just before it (23:00 Paris on Sunday 15/03); L just inside (00:30).
    order(ae, occitanie, 10, "done", created="2026-04-06T08:00", submitted="2026-04-06T09:00",
          validated="2026-04-07T09:00", draft=True)
    order(ae, occitanie, 11, "done", created="2026-03-15T21:00", submitted="2026-03-15T22:00",
          validated="2026-03-15T22:30", draft=True)
    o["L"] = order(ae, occitanie, 12, "validation", "to_validate", created="2026-03-15T20:00",
                   submitted="2026-03-15T23:30", draft=True)
    # M: validated Wednesday 25/03 12:00 (S13), 1 to 200 hours after being sent (5 h 20 min
    # rounds to 5 h); the 200-hour one was sent on 17/03 (S12).
    for number, delay in ((21, 1), (22, 2), (23, 3), (24, 4), (25, 5 + 1 / 3), (26, 7), (27, 8),
                          (28, 200)):
        sent = at("2026-03-25T12:00") - dt.timedelta(hours=delay)
        order(ae, occitanie, number, "done", created=(sent - dt.timedelta(hours=1)).isoformat(),
              submitted=sent.isoformat(), validated="2026-03-25T12:00")
    # N: validated before the period, handed over in it 480 h later.
    o["N"] = order(ae, occitanie, 30, "done", created="2026-02-27T10:00",
                   submitted="2026-02-28T10:00", validated="2026-03-01T10:00")
    handover(o["N"], "2026-03-21T10:00", written="2026-03-05T10:00")
    # O: handed over in February, generated again and handed over again in the period, 1,248 h
    # after its validation: the new certificate counts as generated (S13), the new hand-over
    # as a hand-over.
    o["O"] = order(ae, occitanie, 31, "done", created="2026-01-30T10:00",
                   submitted="2026-01-31T10:00", validated="2026-02-01T10:00")
    handover(o["O"], "2026-02-10T10:00", written="2026-02-05T10:00")
    handover(o["O"], "2026-03-25T10:00", written="2026-03-24T10:00")
    # P (Rhône): written twice in S14: generated once that week.
    o["P"] = order(ae, rhone, 32, "handover", created="2026-02-27T10:00",
                   submitted="2026-02-28T10:00", validated="2026-03-01T10:00")
    certificate(o["P"], written="2026-03-30T10:00")
    certificate(o["P"], written="2026-03-31T10:00")
    # Q, R, S, T: orders in progress received after the period, for the backlog's buckets.
    now = BACKLOG_NOW
    o["Q"] = order(ae, occitanie, 40, "validation", "to_validate", draft=True,
                   created=(now - dt.timedelta(days=1, hours=2)).isoformat(),
                   submitted=(now - dt.timedelta(days=1)).isoformat())
    o["R"] = order(ae, occitanie, 41, "validation", "on_hold",
                   created=(now - dt.timedelta(days=40)).isoformat())
    o["S"] = order(ae, occitanie, 42, "handover", draft=True,
                   created=(now - dt.timedelta(days=3)).isoformat(),
                   submitted=(now - dt.timedelta(days=2)).isoformat(),
                   validated=(now - dt.timedelta(days=1)).isoformat())
    o["T"] = order(ae, occitanie, 43, "validation", "to_check",
                   created=(now - dt.timedelta(days=7, hours=1)).isoformat())
    # Notifications to requesters in the period (signers' and the digest are not theirs).
    notification(o["A"], "missing_document", "2026-03-17T11:00")
    notification(o["A"], "missing_document", "2026-03-18T09:00")
    notification(o["A"], "other", "2026-03-10T09:00")  # before the period
    notification(o["B"], "missing_document", "2026-03-23T09:00")
    notification(o["B"], "invalid_otp", "2026-03-24T09:00")
    notification(o["D"], "signature_sent", "2026-03-30T09:00")
    notification(o["D"], "signature_request", "2026-03-30T09:00")  # to a signer
    notification(o["H"], "order_refused", "2026-03-26T10:00")
    Notification.create(ae=ae, order=None, type="digest", recipient="op@example.org",
                        subject="Résumé", body="…", created_at=at("2026-03-20T06:00"),
                        message_id=f"<{uuid.uuid4().hex}@test>")
    # Another AE: none of this may ever count.
    other = make_ae("AE Atlantique", portals=("Atlantique-Nantes",))
    x = order(other, None, 100, "done", created="2026-03-16T10:00", draft=True,
              submitted="2026-03-17T10:00", validated="2026-03-18T10:00")
    handover(x, "2026-03-20T10:00", written="2026-03-19T10:00")
    event("order_refused", x, "2026-03-24T10:00", commentaire="Pièce d'identité illisible")
    notification(x, "missing_document", "2026-03-17T11:00")
    order(other, None, 101, "validation", "to_check", created="2026-03-20T10:00")
    return {
        "ae": ae, "occitanie": occitanie, "rhone": rhone, "orders": o, "other_ae": other,
        "aea": make_operator(ae, roles="AEA", name="Camille Martin"),
        "admin": make_operator(ae, roles="admin", name="Awa Admin"),
        "aet": make_operator(ae, roles="AET", name="Julien Roux"),
        "rhone_only": make_operator(ae, roles="AEA", name="Rémi Rhône", portals=[rhone]),
        "other_aea": make_operator(other, roles="AEA", name="Nadia Benali"),
    }
