"""Reminders before a holder certificate expires (« Relances avant expiration »): at each of the
AE's thresholds (by default 90, 30 and 7 days before), the holder and the requester of a
certificate still to renew (services.renewal.expiring) receive an e-mail with the expiry date,
the serial and the renewal link, signed with the AE's identity.

* **Once per (certificate, threshold), ever.** A ``CertificateExpiryReminder`` row, unique on
  the pair, is inserted in the same transaction as the outbox rows, under the certificate's row
  lock: a second scheduler process finds it and sends nothing.
* **No burst.** A certificate found late (20 days before expiry, the 90 and 30 days both due)
  gets the smallest threshold due only; the larger ones are recorded as passed.
* The e-mails go through the outbox (retries, the order's notification history); the link is
  made when they leave (``compose``), so it is never stored. The scheduler runs ``job`` hourly.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import flask_mail
from flask import Flask
from peewee import IntegrityError

from adapters.mail import DeliveryError, LINK_VARIABLE, plain_message
from formatting import of_name, paris_date, to_paris
from models import (AE, CertificateExpiryReminder, HolderCertificate, Notification, Order,
                    Person, db, utcnow)
from services import audit
from services.ae_settings import ae_identity, expiry_reminder_days
from services.messaging import notifications, outbox
from services.messaging.drafts import Draft
from services.renewal.expiring import to_renew
from services.renewal.links import renewal_url

log = logging.getLogger("radesk.expiry_reminders")

TYPE_EXPIRY = "certificate_expiry_reminder"
TYPE_LABELS = {TYPE_EXPIRY: "Relance avant expiration du certificat"}
ACTION_REMINDED = "certificate_expiry_reminded"
AUDIT_ACTIONS = {ACTION_REMINDED: "Relance avant expiration du certificat envoyée"}
SYSTEM = "RA Desk"


@dataclass
class Report:
    reminded: int = 0   # reminders sent (one or two e-mails each)
    passed: int = 0     # larger thresholds recorded as passed


def job(app: Flask, now: dt.datetime | None = None) -> Report:
    now = now or utcnow()
    report = Report()
    # Read whole before writing: an SQLite cursor left open keeps its snapshot, and a write
    # from that snapshot after another process's commit fails at once (« database is locked »).
    for ae in list(AE.select(AE.id, AE.expiry_reminder_days)):
        days = expiry_reminder_days(ae)
        if not days:
            continue
        for certificate_id in _candidates(ae.id, days, now):
            sent, passed = _step(app, certificate_id, days, now)
            report.reminded += sent
            report.passed += passed
    if report.reminded:
        log.info("relances avant expiration : %d relance(s)", report.reminded)
        outbox.wake(app)
    return report


def due_threshold(days: list[int], recorded: set[int], not_after: dt.datetime,
                  now: dt.datetime) -> tuple[int | None, list[int]]:
    """The threshold to send now (or None) and those to record as passed. A threshold is due
    once the expiry is at most that many days away; only the smallest new one goes out, and
    none when a smaller one already did (the thresholds were changed meanwhile)."""
    new = [day for day in days
           if not_after - now <= dt.timedelta(days=day) and day not in recorded]
    if not new:
        return None, []
    smallest = min(new)
    if recorded and smallest > min(recorded):
        return None, new
    return smallest, [day for day in new if day != smallest]


def _candidates(ae_id: int, days: list[int], now: dt.datetime) -> list[int]:
    """The AE's certificates with a threshold due and not yet recorded (two queries)."""
    window = to_renew(now, dt.timedelta(days=max(days)), [ae_id])
    rows = list(window.select(HolderCertificate.id, HolderCertificate.not_after).tuples())
    recorded: dict[int, set[int]] = {}
    for certificate_id, day in (CertificateExpiryReminder
                                .select(CertificateExpiryReminder.holder_certificate,
                                        CertificateExpiryReminder.days_before)
                                .where(CertificateExpiryReminder.holder_certificate
                                       .in_(window.select(HolderCertificate.id)))
                                .tuples()):
        recorded.setdefault(certificate_id, set()).add(day)
    due = []
    for row_id, not_after in rows:
        threshold, passed = due_threshold(days, recorded.get(row_id, set()), not_after, now)
        if threshold is not None or passed:
            due.append(row_id)
    return due


def _step(app: Flask, certificate_id: int, days: list[int], now: dt.datetime) -> tuple[int, int]:
    """One certificate's due reminder, under its row lock: (reminders sent, thresholds passed)."""
    try:
        with db.atomic():
            (HolderCertificate.update(written_at=HolderCertificate.written_at)
             .where(HolderCertificate.id == certificate_id).execute())  # lock the row
            certificate = (to_renew(now, dt.timedelta(days=max(days)))
                           .where(HolderCertificate.id == certificate_id).first())
            if certificate is None:
                return 0, 0  # revoked, renewed or expired meanwhile
            recorded = {day for (day,) in CertificateExpiryReminder
                        .select(CertificateExpiryReminder.days_before)
                        .where(CertificateExpiryReminder.holder_certificate == certificate_id)
                        .tuples()}
            threshold, passed = due_threshold(days, recorded, certificate.not_after, now)
            for day in passed:
                CertificateExpiryReminder.create(holder_certificate=certificate_id,
                                                 days_before=day, sent_at=None, created_at=now)
            if threshold is not None:
                _remind(app, certificate, threshold, passed, now)
            return int(threshold is not None), len(passed)
    except IntegrityError:  # another process recorded it first
        return 0, 0


def _remind(app: Flask, certificate: HolderCertificate, threshold: int, passed: list[int],
            now: dt.datetime) -> None:
    reminder = CertificateExpiryReminder.create(holder_certificate=certificate.id,
                                                days_before=threshold, sent_at=now,
                                                created_at=now)
    order = Order.with_people().where(Order.id == certificate.order_id).get()
    queued = {}
    for role, draft in _drafts(order, certificate, now).items():
        queued[role] = notifications.queue(order, draft, operator=None,
                                           sender=app.config["MAIL_DEFAULT_SENDER"],
                                           actor=SYSTEM, system=True)
    (CertificateExpiryReminder
     .update(holder_notification=queued.get("holder"),
             requester_notification=queued.get("requester"))
     .where(CertificateExpiryReminder.id == reminder.id)
     .execute())
    audit.record(ACTION_REMINDED, order=order, actor=SYSTEM, details={
        "certificat": certificate.serial_hex, "expiration": paris_date(certificate.not_after),
        "relance": f"{threshold} jours avant l'expiration",
        "destinataires": [n.recipient for n in queued.values()] or "aucune adresse e-mail",
        **({"relances passées (jours)": passed} if passed else {})})


# --- The e-mails -------------------------------------------------------------------------------

def _days_left(not_after: dt.datetime, now: dt.datetime) -> str:
    days = (to_paris(not_after).date() - to_paris(now).date()).days
    return "demain" if days <= 1 else f"dans {days} jours"


def _name(person: Person) -> str:
    return " ".join(part for part in (person.civility, person.first_name, person.last_name)
                    if part).strip()


def _drafts(order: Order, certificate: HolderCertificate, now: dt.datetime) -> dict[str, Draft]:
    """The holder's e-mail and the requester's (one when they share an address)."""
    expires = paris_date(certificate.not_after)
    when = _days_left(certificate.not_after, now)
    signature = "\n\nCordialement,\n" + "\n".join(ae_identity(order.ae).signature_lines)
    renew = (f"Pour le renouveler, suivez ce lien :\n{LINK_VARIABLE}\n\nUn certificat expiré ne "
             f"permet plus de signer ni de s'authentifier. Si son renouvellement est déjà en "
             f"cours, ne tenez pas compte de ce message.")
    holder_name = f"{order.holder.first_name} {order.holder.last_name}".strip()
    drafts = {}
    holder_email = (order.holder.email or "").strip()
    if holder_email:
        drafts["holder"] = Draft(
            TYPE_EXPIRY, holder_email, f"Votre certificat expire le {expires}",
            f"Bonjour {_name(order.holder)},\n\nVotre certificat électronique N° "
            f"{certificate.serial_hex} ({order.company.name}) expire le {expires}, {when}.\n\n"
            + renew + signature)
    requester_email = (order.requester_email or "").strip()
    if requester_email and requester_email.lower() != holder_email.lower():
        drafts["requester"] = Draft(
            TYPE_EXPIRY, requester_email,
            f"Le certificat {of_name(holder_name)} expire le {expires}",
            f"Bonjour,\n\nLe certificat électronique N° {certificate.serial_hex} de "
            f"{holder_name} ({order.company.name}), que vous avez commandé (commande "
            f"N° {order.number}), expire le {expires}, {when}.\n\n" + renew + signature)
    return drafts


def compose(app: Flask, notification: Notification) -> flask_mail.Message:
    """The outbox's composer: the stored text with the renewal link made now. A certificate
    revoked or already in renewal since the reminder was queued is not reminded."""
    reminder = (CertificateExpiryReminder
                .select()
                .where((CertificateExpiryReminder.holder_notification == notification.id)
                       | (CertificateExpiryReminder.requester_notification == notification.id))
                .first())
    if reminder is None:
        raise DeliveryError("Relance introuvable : message non envoyé.", permanent=True)
    still = (to_renew(utcnow(), dt.timedelta(days=366))
             .where(HolderCertificate.id == reminder.holder_certificate_id).exists())
    if not still:
        raise DeliveryError("Le certificat a été révoqué, a expiré ou est en cours de "
                            "renouvellement depuis la relance : message non envoyé.",
                            permanent=True)
    serial = HolderCertificate.get_by_id(reminder.holder_certificate_id).serial_hex
    text = notification.body.replace(LINK_VARIABLE, renewal_url(app, serial))
    return plain_message(app, notification, notification.subject, text)
