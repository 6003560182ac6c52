"""Hand-over of the holder's key and its activation by a one-time code (SPEC §8).

At hand-over the AET marks the key delivered: an ``Activation`` is created with a secret link
(kept as a SHA-256), the link goes to the holder's e-mail address and a one-time code to the
Contact OTP (e-mail, or SMS through adapters.sms). The holder opens the link, types the code
(limited tries, expiry, single use), and the page then has the token bridge replace the
activation PIN the key was given at generation by a PIN of the holder's choosing; the order
then moves to « Terminée ». Codes are kept as keyed hashes, never in clear; the link, the code
and the masked contact come from services.public_links.
"""
from __future__ import annotations

import datetime as dt
import secrets

import flask_mail
from flask import Flask
from markupsafe import Markup, escape

import workflow
from formatting import paris_date, paris_datetime
from models import AE, Activation, Order, Person, db, utcnow
from services import audit, public_links
from services.certificates import face_to_face as face_to_face_record
from services.certificates import generation, holder_certificates, revocation_messages
from services.messaging import outbox
from services.certificates.face_to_face import FaceToFaceForm
from services.certificates.generation import SignedInstruction
from services.key_stock import assignment as key_assignment
from services.webhooks import events as webhooks
from adapters.sms import SmsError, gateway
from bridge_protocol import INSTRUCTION_ACTIVATION, INSTRUCTION_VERSION

ACTIVATION_PATH = "/activation"
CODES = public_links.CodeRules(  # at most 6 codes per hand-over, re-sends included
    purpose="radesk-activation-code-v1", lifetime=dt.timedelta(minutes=30), max_tries=5,
    max_sent=6, interval=dt.timedelta(minutes=1))
LINK_TTL = dt.timedelta(days=30)
VERIFIED_TTL = dt.timedelta(minutes=30)  # time to set the PIN once the code was accepted
HOLDER = "Porteur"

ACTION_DELIVERED = "key_delivered"
ACTION_CODE_SENT = "activation_code_sent"
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
    secret = public_links.new_secret()
    now = utcnow()
    channel, recipient = _code_channel(order)
    with db.atomic():
        activation = Activation.create(
            order=order.id, certificate=state.row.id, link_hash=link_hash(secret),
            link_expires_at=now + LINK_TTL, delivered_at=now, delivered_by=operator.id,
            channel=channel, recipient=recipient)
        face_to_face_record.record(order, operator, state.row, face_to_face, ip=ip)
        key_assignment.handed_over(order, state.row, operator, ip=ip)
        audit.record(ACTION_DELIVERED, operator=operator, order=order, ip=ip,
                     details={"certificate": state.row.serial_hex, "channel": channel,
                              "recipient": recipient})
        webhooks.emit(order, webhooks.CERTIFICATE_HANDED_OVER, webhooks.certificate_data(state.row))
    _send_link(app, activation, order, secret)
    send_code(app, activation, operator=operator, ip=ip)
    return activation


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
    secret = public_links.new_secret()
    channel, recipient = _code_channel(order)  # the Contact OTP may have been corrected
    Activation.update(link_hash=link_hash(secret), link_expires_at=utcnow() + LINK_TTL,
                      channel=channel, recipient=recipient).where(
        Activation.id == activation.id).execute()
    activation = Activation.get_by_id(activation.id)
    _send_link(app, activation, order, secret)
    send_code(app, activation, operator=operator, ip=ip)
    return activation


def send_code(app: Flask, activation: Activation, *, operator=None, ip: str = "") -> None:
    """A new one-time code to the Contact OTP; the previous code stops working."""
    problem = link_problem(activation) or _resend_problem(activation)
    if problem:
        raise workflow.Refused(problem, "resend")
    order = Order.get_by_id(activation.order_id)
    code = CODES.random_code()
    now = utcnow()
    with db.atomic():
        sent = (Activation
                .update(code_hash=CODES.digest(app.config["SECRET_KEY"], activation.id, code),
                        code_sent_at=now, code_expires_at=now + CODES.lifetime, code_tries=0,
                        codes_sent=Activation.codes_sent + 1)
                .where((Activation.id == activation.id)
                       & (Activation.codes_sent < CODES.max_sent)
                       & Activation.activated_at.is_null())
                .execute())
        if sent != 1:
            raise workflow.Refused("Nombre maximal de codes atteint pour cette remise.", "resend")
        audit.record(ACTION_CODE_SENT, operator=operator, order=order, ip=ip,
                     actor=None if operator else HOLDER,
                     details={"channel": activation.channel, "recipient": activation.recipient})
    try:
        _deliver_code(app, activation, order, code)
    except workflow.Refused as failure:
        audit.record(ACTION_CODE_FAILED, operator=operator, order=order, ip=ip,
                     actor=None if operator else HOLDER,
                     details={"channel": activation.channel, "recipient": activation.recipient,
                              "reason": failure.message})
        raise


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
                                    {Activation.verified_at: now, Activation.code_hash: None},
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


def _deliver_code(app: Flask, activation: Activation, order: Order, code: str) -> None:
    ae = AE.get_by_id(order.ae_id)
    minutes = CODES.minutes
    if activation.channel == "sms":
        text = (f"{ae.name} : votre code d'activation de clé USB (commande N° {order.number}) "
                f"est {code}. Valable {minutes} minutes. Ne le communiquez à personne.")
        try:
            gateway(app).send(activation.recipient, text)
        except SmsError as error:
            raise workflow.Refused(f"Le SMS n'a pas pu être envoyé : {error.reason}", "sms") from None
        return
    text = (f"Bonjour,\n\nVotre code d'activation de clé USB pour la commande N° {order.number} "
            f"est :\n\n{code}\n\nIl est valable {minutes} minutes et ne sert qu'une fois. "
            f"Saisissez-le sur la page d'activation dont le lien vous a été envoyé par e-mail. "
            f"Ne le communiquez à personne : {ae.name} ne vous le demandera jamais.\n\n"
            f"{ae.name} — Autorité d'Enregistrement")
    _send_email(app, order, activation.recipient,
                 f"Code d'activation de votre clé USB — commande N° {order.number}", text,
                 "activation_code")


def _send_link(app: Flask, activation: Activation, order: Order, secret: str) -> None:
    link = f"{app.config['RADESK_PUBLIC_URL'].rstrip('/')}{ACTIVATION_PATH}/{secret}"
    ae = AE.get_by_id(order.ae_id)
    holder = Person.get_by_id(order.holder_id)
    recipient = holder.email.strip() or activation.recipient
    where = "par SMS" if activation.channel == "sms" else "par un autre e-mail"
    text = (f"Bonjour {holder.civility} {holder.first_name} {holder.last_name},\n\n"
            f"Votre certificat de signature électronique (commande N° {order.number}) est "
            f"inscrit sur la clé USB que {ae.name} vous a remise.\n\n"
            f"Pour activer la clé et choisir votre code PIN personnel, ouvrez cette page sur "
            f"le poste où la clé est branchée (le pont de clés USB RA Desk doit y être "
            f"démarré) :\n{link}\n\n"
            f"Un code à usage unique vous est envoyé {where}, à {mask(activation.recipient)}. "
            f"Ce lien est personnel et valable jusqu'au {paris_date(activation.link_expires_at)}."
            f"\n\n{ae.name} — Autorité d'Enregistrement")
    if "@" not in recipient:  # no e-mail at all: the link goes by SMS with the code
        try:
            gateway(app).send(recipient, f"{ae.name} : activez votre clé USB sur {link}")
        except SmsError as error:
            raise workflow.Refused(f"Le SMS n'a pas pu être envoyé : {error.reason}", "sms") from None
        return
    _send_email(app, order, recipient,
                 f"Activation de votre clé USB — commande N° {order.number}", text,
                 "activation_link")


def _send_email(app: Flask, order: Order, recipient: str, subject: str, text: str,
                kind: str) -> None:
    """Handed to the mail transport at once (SMTP, or ``<instance>/mail/*.eml``): a failure is
    shown to the AET, who sends again. (These e-mails do not go through the outbox yet.)"""
    html = Markup("\n").join(Markup("<p>{}</p>").format(
        Markup("<br>\n").join(escape(line) for line in paragraph.split("\n")))
        for paragraph in text.split("\n\n"))
    from adapters.mail import DeliveryError, transport
    message = flask_mail.Message(
        subject=subject, recipients=[recipient], body=text, html=str(html),
        sender=app.config["MAIL_DEFAULT_SENDER"],
        extra_headers={"Content-Language": "fr", "Auto-Submitted": "auto-generated",
                       "X-RADesk-Commande": str(order.number), "X-RADesk-Type": kind})
    try:
        with transport(app) as postman:
            postman.send(message)
    except DeliveryError as failure:
        raise workflow.Refused(f"L'e-mail à {recipient} n'a pas pu être envoyé : "
                               f"{failure.reason} Réessayez avec « Renvoyer le code "
                               f"d'activation ».", "mail") from None
