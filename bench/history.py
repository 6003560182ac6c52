"""The history of the benchmark archive's orders, for the « Statistiques » page: when each one
was sent, validated, generated, handed over, cancelled and why, and what its requester was
told. bench.generate calls it per batch, with a random generator of its own, so the orders
themselves (numbers, names, phases, portals) stay those bench_orders has always timed.

Delays are log-normal, as queues are: most orders go through in a day or two, a tail waits
weeks. The ordering page's drafts (``submitted_at``, an OrderIntake row) exist for
dematerialised orders of the last two years; older and paper orders were entered at the AE.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import uuid

from models import (Activation, AuditEvent, AuditHead, HolderCertificate, IssuedCertificate,
                    Notification, OrderIntake, db)

ORDERING_PAGE_YEARS = 2
# Median hours and spread (sigma of the log-normal) of each step.
TO_SEND = (6, 1.2)            # draft begun → sent
TO_VALIDATE = (30, 1.1)       # received → « Valider »
TO_GENERATE = (20, 1.0)       # validated → certificate written on the key
TO_HAND_OVER = (48, 0.9)      # written → key handed over
TO_ACTIVATE = (12, 1.0)       # handed over → activated
TO_CANCEL = (96, 1.0)         # received → refused or cancelled
REFUSALS = (  # a real AE's reasons: a few very common ones, a long tail
    ("Pièce d'identité illisible", 30), ("Pièce d'identité expirée", 22),
    ("Extrait KBIS de plus de 3 mois", 18), ("Paiement non reçu", 12),
    ("Le porteur ne fait pas partie de la société", 8), ("Doublon d'une commande en cours", 7),
    ("Signature du représentant légal manquante", 6), ("Informations non conformes au KBIS", 5),
    ("Procuration incomplète", 4), ("Commande passée par erreur", 3),
    ("Société radiée", 2), ("Mandataire sans pouvoir", 2), ("Demande d'annulation du client", 2),
    ("Adresse e-mail du porteur invalide", 1), ("Autre produit souhaité", 1))
OPERATOR_MESSAGES = (("missing_document", 40), ("invalid_document", 20),
                     ("information_mismatch", 15), ("invalid_otp", 10),
                     ("awaiting_signature", 10), ("other", 5))
PAST_VALIDATION = ("generation", "handover", "done")


def _hours(rng, median_sigma) -> dt.timedelta:
    median, sigma = median_sigma
    return dt.timedelta(hours=rng.lognormvariate(math.log(median), sigma))


class Timeline:
    """One order's moments (naive UTC), decided before it is inserted."""

    def __init__(self, rng, order: dict, now: dt.datetime):
        created, phase = order["created_at"], order["phase"]
        self.phase = phase
        self.draft = (order["order_type"] == "D"
                      and created > now - dt.timedelta(days=365 * ORDERING_PAGE_YEARS))
        self.expired_draft = self.draft and phase == "cancelled" and rng.random() < 0.3
        self.sent = None
        if self.draft and phase not in ("entry",) and not self.expired_draft:
            self.sent = created + _hours(rng, TO_SEND)
        received = self.sent or created
        chain = [received]
        if phase in PAST_VALIDATION:
            chain.append(chain[-1] + _hours(rng, TO_VALIDATE))
        if phase in ("handover", "done"):
            chain.append(chain[-1] + _hours(rng, TO_GENERATE))
        self.handed_over = phase == "done" or (phase == "handover" and rng.random() < 0.5)
        if self.handed_over:
            chain.append(chain[-1] + _hours(rng, TO_HAND_OVER))
        if phase == "done":
            chain.append(chain[-1] + _hours(rng, TO_ACTIVATE))
        if phase == "cancelled":
            chain.append(created + dt.timedelta(days=30) if self.expired_draft
                         else chain[-1] + _hours(rng, TO_CANCEL))
        if chain[-1] > now:  # a recent order: its steps squeezed in before now
            span = (now - created) * 0.95
            chain = [created + (moment - created) * (span / (chain[-1] - created))
                     for moment in chain]
            self.sent = chain[0] if self.sent else None
        self.moments = chain
        self.validated = chain[1] if phase in PAST_VALIDATION else None
        self.written = chain[2] if phase in ("handover", "done") else None
        self.delivered = chain[3] if self.handed_over else None
        self.activated = chain[4] if phase == "done" else None
        self.cancelled = chain[-1] if phase == "cancelled" else None
        self.cause = None
        if phase == "cancelled":
            self.cause = ("order_draft_expired" if self.expired_draft else
                          "order_incomplete_cancelled" if self.draft and rng.random() < 0.3 else
                          "order_refused" if rng.random() < 0.8 else None)
        self.refusal = (rng.choices([r for r, _ in REFUSALS], [w for _, w in REFUSALS])[0]
                        if self.cause == "order_refused" else None)
        self.messages = [rng.choices([m for m, _ in OPERATOR_MESSAGES],
                                     [w for _, w in OPERATOR_MESSAGES])[0]
                         for _ in range(rng.choice((0, 0, 0, 1, 1, 2)))]
        order.update(submitted_at=self.sent, validated_at=self.validated,
                     state_since=chain[-1], updated_at=chain[-1])


def insert_rows(rng, ae_id: int, order_ids: list[int], timelines: list[Timeline]) -> None:
    """The rows that hang on the inserted orders: drafts, certificates, hand-overs, audit
    events of cancellations, notifications."""
    intakes, issued, events, notifications = [], [], [], []
    for order_id, line in zip(order_ids, timelines):
        if line.draft:
            intakes.append({"order": order_id, "link_nonce": uuid.uuid4().hex[:16],
                            "created_at": line.moments[0]})
        if line.written:
            issued.append((order_id, line))
        received = line.sent or (None if line.phase == "entry" or line.expired_draft
                                 else line.moments[0])
        # The trail's everyday events around them, as a real archive holds many more events
        # than refusals: received, looked at, validated.
        for action, moment in (("order_received", received),
                               ("order_viewed", line.validated and line.validated
                                - dt.timedelta(minutes=20)),
                               ("order_validated", line.validated)):
            if moment:
                events.append(_event(ae_id, order_id, action, moment, {}))
        if line.cause:
            details = {"phase": "Annulée"}
            if line.refusal:
                details["commentaire"] = line.refusal
            events.append(_event(ae_id, order_id, line.cause, line.cancelled, details))
        if line.sent:
            notifications.append(_notification(ae_id, order_id, "order_acknowledgement", line.sent))
        if received:
            for index, code in enumerate(line.messages):
                notifications.append(_notification(ae_id, order_id, code,
                                                   received + dt.timedelta(hours=2 + index)))
        if line.validated:
            before = line.validated - (line.validated - line.moments[0]) / 3
            notifications.append(_notification(ae_id, order_id, "signature_sent", before))
            notifications.append(_notification(ae_id, order_id, "signature_request", before))
        if line.cause == "order_refused":
            notifications.append(_notification(ae_id, order_id, "order_refused", line.cancelled))
    if intakes:
        OrderIntake.insert_many(intakes).execute()
    _certificates(issued)
    if events:
        first = (AuditEvent.select(AuditEvent.id).order_by(AuditEvent.id.desc()).scalar() or 0) + 1
        for number, event in enumerate(events):
            event["id"] = first + number
        for start in range(0, len(events), 1000):
            AuditEvent.insert_many(events[start:start + 1000]).execute()
        # The trail's head follows, so that events the app writes later get the next ids.
        AuditHead.update(seq=first + len(events) - 1).where(AuditHead.id == 1).execute()
    for start in range(0, len(notifications), 2000):
        Notification.insert_many(notifications[start:start + 2000]).execute()


def _event(ae_id, order_id, action, moment, details) -> dict:
    """An audit event as a row (not chained: the benchmark never verifies the trail)."""
    return {"at": moment, "ae": ae_id, "actor": "Banc", "action": action, "order": order_id,
            "details": json.dumps(details, ensure_ascii=False, sort_keys=True), "ip": "",
            "prev_hash": "", "hash": uuid.uuid4().hex}


def _notification(ae_id, order_id, code, moment) -> dict:
    return {"ae": ae_id, "order": order_id, "type": code, "recipient": "demandeur@example.org",
            "subject": "Votre commande", "body": "…", "created_at": moment, "sent_at": moment,
            "state": "sent", "tries": 1, "next_try_at": moment,
            "message_id": f"<{uuid.uuid4().hex}@banc.example.org>"}


def _certificates(issued: list) -> None:
    """One holder certificate per generated order, with its entry in the CA's register, and
    the hand-over (Activation) of those whose key was handed over."""
    if not issued:
        return
    serials = [uuid.uuid4().hex for _ in issued]
    register = [{"serial_hex": serial, "kind": "holder", "subject": "CN=Porteur",
                 "not_before": line.written, "not_after": line.written + dt.timedelta(days=1095),
                 "pem": "", "issued_at": line.written} for serial, (_, line) in zip(serials, issued)]
    issued_ids = insert_returning_ids(IssuedCertificate, register)
    certificates = [{"order": order_id, "issued": issued_id, "serial_hex": serial,
                     "fingerprint_sha256": serial * 2, "public_key_sha256": serial[::-1] * 2,
                     "subject": "CN=Porteur", "key_type": "rsa3072", "token_serial": serial[:16],
                     "not_before": line.written, "not_after": line.written + dt.timedelta(days=1095),
                     "pem": "", "issued_at": line.written - dt.timedelta(minutes=2),
                     "written_at": line.written}
                    for issued_id, serial, (order_id, line) in zip(issued_ids, serials, issued)]
    certificate_ids = insert_returning_ids(HolderCertificate, certificates)
    activations = [{"order": order_id, "certificate": certificate_id,
                    "link_hash": uuid.uuid4().hex, "delivered_at": line.delivered,
                    "link_expires_at": line.delivered + dt.timedelta(days=30),
                    "activated_at": line.activated, "channel": "email", "recipient": "p@example.org"}
                   for certificate_id, (order_id, line) in zip(certificate_ids, issued)
                   if line.delivered]
    if activations:
        Activation.insert_many(activations).execute()


def insert_returning_ids(model, rows: list[dict]) -> list[int]:
    """Bulk insert returning the new ids, in order (SQLite and PostgreSQL alike)."""
    if db.obj.__class__.__name__.startswith("Postgres"):
        return [row[0] for row in model.insert_many(rows).returning(model.id).tuples().execute()]
    last_before = model.select(model.id).order_by(model.id.desc()).scalar() or 0
    model.insert_many(rows).execute()
    return list(range(last_before + 1, last_before + 1 + len(rows)))
