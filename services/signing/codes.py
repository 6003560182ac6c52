"""The signer's one-time codes (services.public_links): 6 digits, an HMAC of the app's secret,
the request and a per-code nonce — made again when the e-mail or SMS leaves, never stored.
Valid 10 minutes, 5 tries spent by guarded UPDATEs, at most one a minute and six per request.
"""
from __future__ import annotations

import datetime as dt

from flask import Flask

import workflow
from models import Order, SignatureRequest, db, utcnow
from services import audit, public_links
from services.messaging import outbox
from services.signing import signatures
from adapters.sms import SmsError, gateway

CODES = public_links.CodeRules(
    purpose="radesk-signature-code-v1", lifetime=dt.timedelta(minutes=10), max_tries=5,
    max_sent=6, interval=dt.timedelta(seconds=60))


def code_for(app: Flask, request_id: int, code_nonce: str) -> str:
    """The code of the request's current nonce."""
    return CODES.derive(app.config["SECRET_KEY"], request_id, code_nonce)


def send_code(app: Flask, request: SignatureRequest, ip: str = "") -> str:
    """A new one-time code to the signer; returns where it went (masked)."""
    now = utcnow()
    with db.atomic():
        order = signatures.lock_order(request.order_id)
        request = SignatureRequest.get_by_id(request.id)
        reasons = workflow.signing_blockers(order, request, now)
        if reasons:
            raise workflow.Refused(" ".join(reasons))
        wait = CODES.wait(request.code_sent_at, now)
        if wait is not None:
            raise workflow.Refused(f"Un code vient de vous être envoyé : patientez "
                                   f"{int(wait.total_seconds()) + 1} secondes avant d'en "
                                   f"demander un autre.")
        if CODES.exhausted(request.codes_sent):
            raise workflow.Refused(f"Vous avez demandé {CODES.max_sent} codes : contactez "
                                   f"l'Autorité d'Enregistrement pour recevoir un nouveau lien.")
        nonce = public_links.nonce(12)
        (SignatureRequest
         .update(code_nonce=nonce, code_sent_at=now, code_expires_at=now + CODES.lifetime,
                 code_tries=0, codes_sent=SignatureRequest.codes_sent + 1)
         .where(SignatureRequest.id == request.id)
         .execute())
        channel = request.code_channel
        contact = request.phone if channel == "sms" else request.email
        if channel == "email":
            signatures.queue(app, order, signatures.TYPE_SIGNER_CODE, request.email,
                             f"Commande N° {order.number} : votre code de signature", "", None,
                             request)
        audit.record(signatures.ACTION_CODE_SENT, order=order, ip=ip,
                     actor=f"{request.name} (signataire)",
                     details={"signataire": request.name,
                              "canal": "SMS" if channel == "sms" else "e-mail"})
    if channel == "sms":
        _send_sms_code(app, order, request.id, nonce, contact)
    else:
        outbox.wake(app)
    return public_links.mask_contact(contact or "")


def _send_sms_code(app: Flask, order: Order, request_id: int, nonce: str, phone: str) -> None:
    text = (f"{order.ae.name} : votre code de signature (commande N° {order.number}) est "
            f"{code_for(app, request_id, nonce)}. Valable {CODES.minutes} minutes.")
    try:
        gateway(app).send(workflow.normalize_otp_contact(phone), text)
    except SmsError as error:
        raise workflow.Refused(f"Le SMS n'a pas pu être envoyé : {error.reason}") from None


def spend_code(app: Flask, request: SignatureRequest, code: str) -> None:
    """Check the code (one try spent, in its own transaction); consumed when right."""
    now = utcnow()
    code = public_links.typed_code(code)
    if request.code_nonce is None:
        raise workflow.Refused(public_links.NO_CODE_YET)
    if request.code_expires_at is None or request.code_expires_at <= now:
        raise workflow.Refused(public_links.CODE_EXPIRED)
    this_code = SignatureRequest.code_nonce == request.code_nonce
    spent = public_links.spend_try(SignatureRequest.code_tries, request.id, CODES.max_tries,
                                   this_code)
    if spent is None:
        raise workflow.Refused(public_links.NO_TRY_LEFT)
    if not public_links.same(code, code_for(app, request.id, request.code_nonce)):
        left = CODES.max_tries - spent
        with db.atomic():
            audit.record(signatures.ACTION_CODE_FAILED, order=Order.get_by_id(request.order_id),
                         actor=f"{request.name} (signataire)",
                         details={"signataire": request.name, "essais": spent})
        raise workflow.Refused(public_links.wrong_code(left))
    if not public_links.consume(SignatureRequest, request.id,
                                {SignatureRequest.code_nonce: None,
                                 SignatureRequest.code_verified_at: now}, this_code):
        raise workflow.Refused("Ce code vient d'être utilisé : demandez-en un nouveau.")
