"""The requester proves their e-mail address before « Envoyer la commande »: a 6-digit code,
an HMAC of the app's secret, the intake and a per-code nonce (services.public_links), e-mailed
through the outbox and written when it leaves. The signers' limits: valid 10 minutes, 5 tries
spent by guarded UPDATEs, at most one a minute and six per order.
"""
from __future__ import annotations

import datetime as dt

from flask import Flask

import workflow
from models import Order, OrderIntake, db, utcnow
from services import audit, public_links
from services.dossiers.documents import REQUESTER
from services.intake import messages
from services.messaging import notifications

CODES = public_links.CodeRules(
    purpose="radesk-commande-code-v1", lifetime=dt.timedelta(minutes=10), max_tries=5,
    max_sent=6, interval=dt.timedelta(seconds=60))
ACTION_CODE_SENT = "requester_code_sent"
ACTION_CODE_FAILED = "requester_code_failed"
ACTION_VERIFIED = "requester_address_verified"


def code_for(app: Flask, intake_id: int, code_nonce: str) -> str:
    return CODES.derive(app.config["SECRET_KEY"], intake_id, code_nonce)


def is_verified(order: Order, intake: OrderIntake) -> bool:
    """The requester's current address is the one they proved."""
    return bool(intake.verified_email) and intake.verified_email == order.requester_email


def send_code(app: Flask, order: Order, intake: OrderIntake, ip: str = "") -> str:
    """A new code to the order's requester address; returns that address, masked."""
    now = utcnow()
    with db.atomic():
        Order.update(updated_at=now).where(Order.id == order.id).execute()  # locks the order
        current = Order.with_people().where(Order.id == order.id).get()
        intake = OrderIntake.get_by_id(intake.id)
        if current.phase != workflow.PHASE_ENTRY:
            raise workflow.Refused(["La commande a déjà été envoyée."])
        wait = CODES.wait(intake.code_sent_at, now)
        if wait is not None:
            raise workflow.Refused([f"Un code vient de vous être envoyé : patientez "
                                    f"{int(wait.total_seconds()) + 1} secondes avant d'en "
                                    f"demander un autre."])
        if CODES.exhausted(intake.codes_sent):
            raise workflow.Refused([f"Vous avez demandé {CODES.max_sent} codes : contactez "
                                    f"l'Autorité d'Enregistrement {current.ae.name}."])
        (OrderIntake
         .update(code_nonce=public_links.nonce(12), code_email=current.requester_email,
                 code_sent_at=now, code_expires_at=now + CODES.lifetime, code_tries=0,
                 codes_sent=OrderIntake.codes_sent + 1)
         .where(OrderIntake.id == intake.id)
         .execute())
        notifications.queue(current, messages.code_message(current, current.requester_email),
                            operator=None, sender=app.config["MAIL_DEFAULT_SENDER"], ip=ip,
                            actor=REQUESTER, system=True)
        audit.record(ACTION_CODE_SENT, order=current, actor=REQUESTER, ip=ip,
                     details={"recipient": current.requester_email})
    return public_links.mask_contact(current.requester_email)


def check_code(app: Flask, order: Order, intake: OrderIntake, typed: str, ip: str = "") -> None:
    """The code typed back: one try spent (its own transaction); the address proven when right.
    Refused with the French reason otherwise."""
    now = utcnow()
    code = public_links.typed_code(typed)
    if intake.code_nonce is None or intake.code_email != order.requester_email:
        raise workflow.Refused([public_links.NO_CODE_YET])
    if intake.code_expires_at is None or intake.code_expires_at <= now:
        raise workflow.Refused([public_links.CODE_EXPIRED])
    this_code = OrderIntake.code_nonce == intake.code_nonce
    spent = public_links.spend_try(OrderIntake.code_tries, intake.id, CODES.max_tries, this_code)
    if spent is None:
        raise workflow.Refused([public_links.NO_TRY_LEFT])
    if not public_links.same(code, code_for(app, intake.id, intake.code_nonce)):
        left = CODES.max_tries - spent
        with db.atomic():
            audit.record(ACTION_CODE_FAILED, order=order, actor=REQUESTER, ip=ip,
                         details={"essais": spent})
        raise workflow.Refused([public_links.wrong_code(left)])
    with db.atomic():
        if not public_links.consume(OrderIntake, intake.id,
                                    {OrderIntake.code_nonce: None,
                                     OrderIntake.verified_email: intake.code_email,
                                     OrderIntake.verified_at: now}, this_code):
            raise workflow.Refused(["Ce code vient d'être utilisé : demandez-en un nouveau."])
        audit.record(ACTION_VERIFIED, order=order, actor=REQUESTER, ip=ip,
                     details={"recipient": intake.code_email})
