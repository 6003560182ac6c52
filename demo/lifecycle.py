"""What the demo shows of a certificate's later life: seven BPOI orders « Terminée » of last
year (planned by demo.orders, certified by demo.holder_keys with a start back-dated to a few
days after the order) whose certificates expired, expire within 30 to 60 days, are being
renewed, or are asked to be revoked.

Each later step goes through the production code with the gestures of the person who makes
it: the requester's « Renouveler mon certificat » on the expiry reminder's link, the holder's
code and « Demander la révocation » on the revocation page, the AEA's « Révoquer » (CA register
and CRL, audit trail, e-mails recorded as sent as in demo.progress). Idempotent: a step already
made, or an order a visitor changed, is left alone.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass

from flask import Flask

import workflow
from models import Order, RevocationRequest
from services.certificates import revocation_orders
from services.certificates import revocation_requests as revocations
from services.renewal import orders as renewals
from demo import progress

EXPIRED, EXPIRING, RENEWING, REVOCATION_ASKED, REVOKED = (
    "expired", "expiring", "renewing", "revocation_asked", "revoked")
# From the order to its certificate's start: review, signatures and generation.
GENERATION_DELAY = dt.timedelta(days=6)
VALIDITY_YEARS = 1
NEWEST_NUMBER, HOURS_PER_NUMBER = 960080, 0.9  # as demo.orders numbers its orders in time


@dataclass(frozen=True)
class Fate:
    days_left: int  # the certificate's end, in days after the seeding (negative: expired)
    what: str

    @property
    def number(self) -> int:
        """The order's number, from its age as demo.orders._created_at reads it (all older
        than the other demo orders, so never one of theirs)."""
        age = VALIDITY_YEARS * 365 - self.days_left + GENERATION_DELAY.days
        return NEWEST_NUMBER - round((age * 24 - 2) / HOURS_PER_NUMBER)


FATES = (
    Fate(-12, EXPIRED),
    Fate(34, EXPIRING), Fate(45, EXPIRING), Fate(57, EXPIRING),
    Fate(40, RENEWING),
    Fate(150, REVOCATION_ASKED),
    Fate(230, REVOKED),
)
NUMBERS = tuple(fate.number for fate in FATES)
LOST_KEY = ("lost", "Clé USB perdue lors d'un déplacement.")
DETAILS_CHANGED = ("changed", "Le porteur a quitté la société.")


def valid_from(order: Order) -> dt.datetime | None:
    """The back-dated start of a lifecycle order's certificate; None for the other orders."""
    return order.created_at + GENERATION_DELAY if order.number in NUMBERS else None


def seed(app: Flask) -> None:
    """Take each lifecycle certificate to its fate (those expired or expiring need nothing
    more than their back-dated start)."""
    acts = {RENEWING: _renewing, REVOCATION_ASKED: _revocation_asked, REVOKED: _revoked}
    for fate in FATES:
        order = Order.get_or_none(Order.number == fate.number)
        if fate.what in acts and order is not None and order.phase == workflow.PHASE_DONE:
            acts[fate.what](app, order)


def _renewing(app: Flask, previous: Order) -> None:
    """The requester followed the expiry reminder's link: « Renouveler mon certificat »."""
    if Order.select().where((Order.previous_order == previous.id)
                            & (Order.process == workflow.PROCESS_RENEWAL)).exists():
        return
    if renewals.renewable_certificate(previous) is None:
        return
    renewal = renewals.start(app, previous, actor="Demandeur", ip=progress.DEMO_IP)
    progress.record_sent(renewal.order.id)


def _revocation_asked(app: Flask, previous: Order) -> None:
    """The holder lost the key: request and immediate suspension, waiting for the AEA."""
    if _request_of(previous) is None:
        _ask(app, previous, LOST_KEY, workflow.ASKED_VIA_HOLDER, suspend=True)


def _revoked(app: Flask, previous: Order) -> None:
    """The requester asked from the follow-up page, and the AEA revoked (« Révoquer »)."""
    request = _request_of(previous)
    order = (Order.get_by_id(request.order_id) if request is not None
             else _ask(app, previous, DETAILS_CHANGED, workflow.ASKED_VIA_FOLLOWUP))
    if order is None or order.phase != workflow.PHASE_VALIDATION \
            or not progress.untouched([order.id]):
        return
    aea = progress.first_operator(order.ae_id, workflow.ROLE_AEA)
    revocation_orders.revoke(app, order, aea, confirmed=True, ip=progress.DEMO_IP)
    progress.record_sent(order.id)


def _request_of(previous: Order) -> RevocationRequest | None:
    return (RevocationRequest.select()
            .where(RevocationRequest.previous_order == previous.id)
            .order_by(RevocationRequest.id).first())


def _ask(app: Flask, previous: Order, reason: tuple[str, str], via: str, *,
         suspend: bool = False) -> Order | None:
    """The revocation page's steps: the link, a code to the Contact OTP read and typed back,
    the reason, « Demander la révocation »; returns the revocation order."""
    serial = revocations.current_serial(previous)
    if serial is None:
        return None
    token = revocations.make_token(app.config["SECRET_KEY"], previous, serial, via)
    target = revocations.open_link(app, token)
    with _phone_in_hand(app):
        revocations.send_code(app, target, ip=progress.DEMO_IP)
        proof = revocations.check_code(app, target, PhoneInHand.last_code(), ip=progress.DEMO_IP)
    choice, comment = reason
    order = revocations.submit(app, target, proof=proof, choice=choice, comment=comment,
                               suspend=suspend, ip=progress.DEMO_IP)
    progress.record_sent(order.id)
    progress.record_sent(previous.id)
    return order


class PhoneInHand:
    """The SMS gateway while the demo asks for revocations: the holder reads the code on their
    phone. Nothing goes to ``instance/sms/`` (the visitor's own messages) nor to a real gateway."""
    CODE = re.compile(r"\best (\d{6})\b")  # « … (commande N° 951095) est 123456. »
    texts: list[str] = []

    def __init__(self, app: Flask):
        pass

    def send(self, phone: str, text: str) -> None:
        PhoneInHand.texts.append(text)

    @classmethod
    def last_code(cls) -> str:
        return cls.CODE.search(cls.texts[-1]).group(1)


@contextlib.contextmanager
def _phone_in_hand(app: Flask):
    # The lifecycle orders' Contact OTP is the holder's mobile (demo.orders), so codes go by SMS.
    saved = app.config.get("RADESK_SMS_GATEWAY")
    app.config["RADESK_SMS_GATEWAY"] = f"{__name__}:{PhoneInHand.__name__}"
    try:
        yield
    finally:
        app.config["RADESK_SMS_GATEWAY"] = saved
