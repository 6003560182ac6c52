"""Hand-over of the holder's key and its activation by a one-time code (SPEC §8).

At hand-over the AET marks the key delivered: an ``Activation`` is created with a secret link
(kept as a SHA-256), the link goes to the holder's e-mail address and a one-time code to the
Contact OTP (e-mail, or SMS through adapters.sms), both through the outbox, queued in the
hand-over's transaction (services.certificates.activation_messages). The holder opens the link,
types the code (limited tries, expiry, single use), and the page then has the token bridge
replace the activation PIN the key was given at generation by a PIN of the holder's choosing;
the order then moves to « Terminée ». The link's secret and the code are derived, when their
message leaves, from nonces on the row and the app's secret; the row keeps only the link's
SHA-256 and the code's keyed hash. The code rules and the masked contact come from
services.public_links.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets

from flask import Flask

import workflow
from formatting import paris_datetime
from models import Activation, Order, db, utcnow
from services import audit, public_links
from services.certificates import activation_messages
from services.certificates import face_to_face as face_to_face_record
from services.certificates import generation, holder_certificates, revocation_messages
from services.messaging import outbox
from services.certificates.face_to_face import FaceToFaceForm
from services.certificates.generation import SignedInstruction
from services.key_stock import assignment as key_assignment
from services.webhooks import events as webhooks
from bridge_protocol import INSTRUCTION_ACTIVATION, INSTRUCTION_VERSION

ACTIVATION_PATH = "/activation"
LINK_PURPOSE = "radesk-activation-link-v1"
CODES = public_links.CodeRules(  # at most 6 codes per hand-over, re-sends included
    purpose="radesk-activation-code-v1", lifetime=dt.timedelta(minutes=30), max_tries=5,
    max_sent=6, interval=dt.timedelta(minutes=1))
LINK_TTL = dt.timedelta(days=30)
VERIFIED_TTL = dt.timedelta(minutes=30)  # time to set the PIN once the code was accepted
HOLDER = "Porteur"

ACTION_DELIVERED = "key_delivered"
ACTION_CODE_SENT = "activation_code_sent"
# Written before the outbox sent the codes (its failures are notification events now).
ACTION_CODE_FAILED = "activation_code_not_sent"
ACTION_CODE_REFUSED = "activation_code_refused"
ACTION_CODE_ACCEPTED = "activation_code_accepted"
ACTION_ACTIVATED = "key_activated"

AUDIT_ACTIONS = {
    ACTION_DELIVERED: "Clé remise au porteur",
    ACTION_CODE_SENT: "Code d'activation envoyé",
    ACTION_CODE_FAILED: "Code d'activation non envoyé",
    ACTION_CODE_REFUSED: "Code d'activation refusé",
    ACTION_CODE_ACCEPTED: "Code d'activation accepté",
    ACTION_ACTIVATED: "Clé activée par le porteur",
}


# --- reading ----------------------------------------------------------------------------------

def link_hash(secret: str) -> str:
    """What is stored of a link's secret."""
    return public_links.secret_hash(secret)


def link_secret(app: Flask, link_nonce: str) -> str:
    """The link's secret (43 URL-safe characters), an HMAC of the app's secret and the row's
    nonce: made again when the e-mail leaves, never stored."""
    digest = hmac.new(app.config["SECRET_KEY"].encode("utf-8"),
                      f"{LINK_PURPOSE}:{link_nonce}".encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def link_url(app: Flask, secret: str) -> str:
    return f"{app.config['RADESK_PUBLIC_URL'].rstrip('/')}{ACTIVATION_PATH}/{secret}"


def current_code(app: Flask, activation: Activation) -> str:
    """The code of the row's current nonce (what the holder receives, and types)."""
    return CODES.derive(app.config["SECRET_KEY"], activation.id, activation.code_nonce)


def _new_link(app: Flask) -> tuple[str, str]:
    """A link nonce, and the hash of the secret it gives."""
    link_nonce = public_links.nonce(16)
    return link_nonce, link_hash(link_secret(app, link_nonce))


def by_link(secret: str) -> Activation | None:
    """The activation a link opens, or None (unknown or malformed secret)."""
    if not public_links.plausible_secret(secret):
        return None
    return Activation.get_or_none(Activation.link_hash == link_hash(secret))


def of_order(order: Order) -> Activation | None:
    return (Activation
            .select()
            .where(Activation.order == order.id)
            .order_by(Activation.id.desc())
            .first())


def link_problem(activation: Activation | None, now: dt.datetime | None = None) -> str | None:
    """Why the activation page cannot be used, or None."""
    if activation is None:
        return "Ce lien d'activation n'existe pas : vérifiez l'adresse reçue par e-mail."
    if activation.activated_at is not None:
        return (f"Cette clé a déjà été activée le {paris_datetime(activation.activated_at)}. "
                f"Utilisez le code PIN que vous avez choisi.")
    if activation.link_expires_at < (now or utcnow()):
        return ("Ce lien d'activation a expiré. Adressez-vous à votre Autorité "
                "d'Enregistrement pour recevoir un nouveau lien.")
    return None


def is_verified(activation: Activation, now: dt.datetime | None = None) -> bool:
    return (activation.verified_at is not None and activation.activated_at is None
            and (now or utcnow()) - activation.verified_at <= VERIFIED_TTL)


def mask(recipient: str) -> str:
    """The Contact OTP as the page and the link's e-mail show it, its length hidden too:
    « c•••@exemple.fr », « +3361••••78 »."""
    return public_links.mask_contact(recipient, fixed_width=True)


# --- the AET: hand-over, and sending the code again ---------------------------------------------

def hand_over(app: Flask, order: Order, operator, *, face_to_face: FaceToFaceForm,
              ip: str = "") -> Activation:
    """The key was handed to the holder in person, who showed the identity document the order
    records (« Remise en face à face »): the record is kept, the key of the stock becomes
    « remise », and the activation link and the first code go out."""
    state = generation.current_certificate(order)
    problems = workflow.delivery_blockers(order, operator, state)
    if problems:
        raise workflow.Refused(problems, "state")
    if Activation.select().where(Activation.certificate == state.row.id).exists():
        raise workflow.Refused("La clé a déjà été remise : utilisez « Renvoyer le lien et le "
                               "code d'activation » si le porteur ne les a pas reçus.", "state")
    face_to_face_record.check(order, operator, state.row, face_to_face, ip=ip)
    link_nonce, hashed = _new_link(app)
    now = utcnow()
    channel, recipient = _code_channel(order)
    with db.atomic():
        activation = Activation.create(
            order=order.id, certificate=state.row.id, link_hash=hashed, link_nonce=link_nonce,
            link_expires_at=now + LINK_TTL, delivered_at=now, delivered_by=operator.id,
            channel=channel, recipient=recipient)
        face_to_face_record.record(order, operator, state.row, face_to_face, ip=ip)
        key_assignment.handed_over(order, state.row, operator, ip=ip)
        audit.record(ACTION_DELIVERED, operator=operator, order=order, ip=ip,
                     details={"certificate": state.row.serial_hex, "channel": channel,
                              "recipient": recipient})
        webhooks.emit(order, webhooks.CERTIFICATE_HANDED_OVER, webhooks.certificate_data(state.row))
        activation_messages.queue_link(app, activation, order, operator)
        _issue_code(app, activation, order, operator, ip)
    outbox.wake(app)
    return Activation.get_by_id(activation.id)


def resend(app: Flask, order: Order, operator, *, ip: str = "") -> Activation:
    """The AET sends a new link (the previous one stops working) and a new code."""
    activation = of_order(order)
    state = generation.current_certificate(order)
    problems = workflow.delivery_blockers(order, operator, state)
    if activation is None or activation.certificate_id != (state.row.id if state else None):
        problems.append("La clé n'a pas encore été remise : cliquez d'abord sur « Clé remise "
                        "au porteur ».")
    if problems:
        raise workflow.Refused(problems, "state")
    problem = _resend_problem(activation)
    if problem:
        raise workflow.Refused(problem, "resend")
    link_nonce, hashed = _new_link(app)
    channel, recipient = _code_channel(order)  # the Contact OTP may have been corrected
    with db.atomic():
        Activation.update(link_hash=hashed, link_nonce=link_nonce,
                          link_expires_at=utcnow() + LINK_TTL, channel=channel,
                          recipient=recipient).where(Activation.id == activation.id).execute()
        activation = Activation.get_by_id(activation.id)
        activation_messages.queue_link(app, activation, order, operator)
        _issue_code(app, activation, order, operator, ip)
    outbox.wake(app)
    return Activation.get_by_id(activation.id)


def send_code(app: Flask, activation: Activation, *, operator=None, ip: str = "") -> None:
    """A new one-time code to the Contact OTP, through the outbox; the previous code stops
    working."""
    problem = link_problem(activation) or _resend_problem(activation)
    if problem:
        raise workflow.Refused(problem, "resend")
    with db.atomic():
        _issue_code(app, activation, Order.get_by_id(activation.order_id), operator, ip)
    outbox.wake(app)


def _issue_code(app: Flask, activation: Activation, order: Order, operator, ip: str) -> None:
    """Inside the caller's transaction: a new code nonce (at most ``max_sent`` per hand-over),
    the code's keyed hash, its message queued, audited."""
    code_nonce = public_links.nonce(12)
    code = CODES.derive(app.config["SECRET_KEY"], activation.id, code_nonce)
    now = utcnow()
    sent = (Activation
            .update(code_nonce=code_nonce,
                    code_hash=CODES.digest(app.config["SECRET_KEY"], activation.id, code),
                    code_sent_at=now, code_expires_at=now + CODES.lifetime, code_tries=0,
                    codes_sent=Activation.codes_sent + 1)
            .where((Activation.id == activation.id)
                   & (Activation.codes_sent < CODES.max_sent)
                   & Activation.activated_at.is_null())
            .execute())
    if sent != 1:
        raise workflow.Refused("Nombre maximal de codes atteint pour cette remise.", "resend")
    activation_messages.queue_code(app, Activation.get_by_id(activation.id), order, operator)
    audit.record(ACTION_CODE_SENT, operator=operator, order=order, ip=ip,
                 actor=None if operator else HOLDER,
                 details={"channel": activation.channel, "recipient": activation.recipient})


def _resend_problem(activation: Activation, now: dt.datetime | None = None) -> str | None:
    if CODES.exhausted(activation.codes_sent):
        return (f"{CODES.max_sent} codes ont déjà été envoyés pour cette clé : adressez-vous à "
                f"votre Autorité d'Enregistrement.")
    if CODES.wait(activation.code_sent_at, now or utcnow()) is not None:
        return "Un code vient d'être envoyé : attendez une minute avant d'en demander un autre."
    return None


# --- the holder: the code, then the PIN ---------------------------------------------------------

def verify_code(app: Flask, activation: Activation, code: object, *, ip: str = "") -> None:
    """Accept the one-time code (single use), or say why not; every try is audited."""
    problem = link_problem(activation)
    if problem:
        raise workflow.Refused(problem, "link")
    order = Order.get_by_id(activation.order_id)
    typed = public_links.typed_code(code)
    now = utcnow()
    if activation.code_hash is None:
        raise workflow.Refused("Aucun code en cours : demandez un nouveau code.", "no_code")
    if activation.code_expires_at < now:
        _audit_refusal(order, ip, "expired")
        raise workflow.Refused("Ce code a expiré : demandez un nouveau code.", "expired")
    a_code = Activation.code_hash.is_null(False)
    spent = public_links.spend_try(Activation.code_tries, activation.id, CODES.max_tries, a_code)
    if spent is None:
        _audit_refusal(order, ip, "too_many_tries")
        raise workflow.Refused("Trop d'essais avec ce code : demandez un nouveau code.",
                               "too_many_tries")
    tries_left = CODES.max_tries - spent
    typed_digest = CODES.digest(app.config["SECRET_KEY"], activation.id, typed)
    if not public_links.same(typed_digest, activation.code_hash):
        _audit_refusal(order, ip, "wrong_code", tries_left)
        if tries_left == 0:
            raise workflow.Refused("Code incorrect. Plus aucun essai avec ce code : demandez "
                                   "un nouveau code.", "too_many_tries")
        plural = "s" if tries_left > 1 else ""
        raise workflow.Refused(f"Code incorrect. Il reste {tries_left} essai{plural}.", "wrong_code")
    with db.atomic():
        used = public_links.consume(Activation, activation.id,
                                    {Activation.verified_at: now, Activation.code_hash: None,
                                     Activation.code_nonce: None},
                                    a_code)
        if not used:
            raise workflow.Refused("Ce code vient d'être utilisé.", "no_code")
        audit.record(ACTION_CODE_ACCEPTED, order=order, actor=HOLDER, ip=ip,
                     details={"channel": activation.channel})


def _audit_refusal(order: Order, ip: str, code: str, tries_left: int | None = None) -> None:
    details = {"code": code}
    if tries_left is not None:
        details["tries_left"] = tries_left
    audit.record(ACTION_CODE_REFUSED, order=order, actor=HOLDER, ip=ip, details=details)


def instruction(app: Flask, activation: Activation, origin: str | None) -> SignedInstruction:
    """What the holder's bridge needs to replace the activation PIN: signed, for this key."""
    if not is_verified(activation):
        raise workflow.Refused("Saisissez d'abord le code d'activation reçu.", "not_verified")
    if origin not in app.config["RADESK_LOGIN_ORIGINS"]:
        raise workflow.Refused("Origine de la page inconnue : rechargez la page.", "origin")
    certificate = activation.certificate
    return generation.sign_instruction(app, {
        "v": INSTRUCTION_VERSION, "kind": INSTRUCTION_ACTIVATION, "origin": origin,
        "nonce": secrets.token_urlsafe(32),
        "expires_at": (utcnow() + VERIFIED_TTL).replace(tzinfo=dt.timezone.utc).isoformat(
            timespec="seconds"),
        "order_number": activation.order.number,
        "certificate_sha256": certificate.fingerprint_sha256,
        "activation_pin": generation.activation_pin(app, certificate),
    })


def complete(app: Flask, activation: Activation, *, ip: str = "") -> Order:
    """The bridge set the holder's PIN: the order moves to « Terminée »."""
    if not is_verified(activation):
        raise workflow.Refused("Saisissez d'abord le code d'activation reçu.", "not_verified")
    now = utcnow()
    with db.atomic():
        Order.update(updated_at=Order.updated_at).where(Order.id == activation.order_id).execute()
        order = Order.get_by_id(activation.order_id)
        state = next((s for s in generation.certificates_of(order)
                      if s.row.id == activation.certificate_id), None)
        phase, substate = workflow.after_activation(order, state)
        activated = (Activation
                     .update(activated_at=now)
                     .where((Activation.id == activation.id) & Activation.activated_at.is_null())
                     .execute())
        if activated != 1:
            raise workflow.Refused("Cette clé a déjà été activée.", "state")
        Order.update(phase=phase, substate=substate, updated_at=now).where(
            Order.id == order.id).execute()
        audit.record(ACTION_ACTIVATED, order=order, actor=HOLDER, ip=ip,
                     details={"certificate": state.row.serial_hex})
        webhooks.emit(order, webhooks.CERTIFICATE_ACTIVATED, webhooks.certificate_data(state.row))
        # The holder keeps the link to ask for the certificate's revocation (lost key…).
        revocation_messages.activated(app, Order.with_people().where(Order.id == order.id).get(),
                                      state.row.serial_hex, ip=ip)
    outbox.wake(app)
    # Outside the transaction: the CA publishes its CRL once the revocation is committed.
    holder_certificates.revoke_superseded(app, order, ip=ip)
    return Order.get_by_id(order.id)


# --- messages -----------------------------------------------------------------------------------

def _code_channel(order: Order) -> tuple[str, str]:
    contact = workflow.normalize_otp_contact(order.otp_contact)
    return ("email" if "@" in contact else "sms"), contact
