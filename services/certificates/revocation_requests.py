"""A holder or requester asks, without login, for the revocation of a certificate.

The page is opened from a signed link naming the order, the certificate and who it was sent
to (``/revoquer/<token>``: the follow-up page links to it, the e-mail sent when the holder
activates the key carries it). Whoever opens it proves they are entitled with a one-time
code sent to the order's Contact OTP (e-mail or SMS, as activation does): a random code kept
as a keyed hash (services.public_links), 5 tries spent by guarded UPDATEs, valid 30 minutes,
at most one a minute and six a day. The code accepted, the page carries a proof (kept as a
hash) that the request form spends once: the revocation order is then created, with its
request, audit events and e-mails, in one transaction — after the suspension at the CA when
the person asked for it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import flask_mail
from flask import Flask
from peewee import IntegrityError

import workflow
from adapters.sms import SmsError, gateway
from models import (AE, Order, RevocationClaim, RevocationRequest, db, next_order_number,
                    utcnow)
from services import audit, public_links
from services.certificates import revocation_messages
from services.certificates.holder_certificates import (CertificateState, certificates_of,
                                                       current_certificate, get_holder_ca)
from services.messaging import outbox

TOKENS = public_links.TokenKind("radesk-revocation-v1")
CODES = public_links.CodeRules(
    purpose="radesk-revocation-code-v1", lifetime=dt.timedelta(minutes=30), max_tries=5,
    max_sent=6, interval=dt.timedelta(minutes=1))
CLAIM_TTL = dt.timedelta(hours=24)   # a claim's six codes: six a day
PROOF_TTL = dt.timedelta(minutes=30)  # time to fill in the form once the code was accepted
ACTORS = {workflow.ASKED_VIA_FOLLOWUP: "Demandeur", workflow.ASKED_VIA_HOLDER: "Porteur"}

ACTION_CODE_SENT = "revocation_code_sent"
ACTION_CODE_REFUSED = "revocation_code_refused"
ACTION_CODE_ACCEPTED = "revocation_code_accepted"
ACTION_REQUESTED = "revocation_requested"
ACTION_ASKED = "revocation_asked_for_certificate"
AUDIT_ACTIONS = {
    ACTION_CODE_SENT: "Code de demande de révocation envoyé",
    ACTION_CODE_REFUSED: "Code de demande de révocation refusé",
    ACTION_CODE_ACCEPTED: "Code de demande de révocation accepté",
    ACTION_REQUESTED: "Demande de révocation reçue (« à révoquer »)",
    ACTION_ASKED: "Révocation du certificat demandée",
}
DETAIL_LABELS = {"motif_choisi": "Motif choisi", "commentaire": "Commentaire",
                 "suspension": "Suspension immédiate", "demande": "Demande n°",
                 "commande_precedente": "Commande du certificat"}


class InvalidLink(Exception):
    message = ("Ce lien de révocation n'est pas valide : il a été modifié ou recopié "
               "incomplètement. Utilisez le lien exact reçu par e-mail.")


class RevokedLink(Exception):
    """Made before the order's links were revoked (« Révoquer le lien de suivi »)."""
    message = ("Ce lien de révocation a été révoqué par l'Autorité d'Enregistrement. Utilisez "
               "le lien le plus récent reçu par e-mail, ou adressez-vous à l'Autorité "
               "d'Enregistrement.")


@dataclass(frozen=True)
class Target:
    """What a checked link names: the order, its certificate (None when gone) and who the
    link was sent to."""
    order: Order
    serial_hex: str
    certificate: CertificateState | None
    via: str


# --- the link ------------------------------------------------------------------------------------

def make_token(secret: str, order: Order, serial_hex: str, via: str) -> str:
    """In the order's current link generation, as its follow-up link (``g``: absent in the
    first, as tokens were before generations existed)."""
    payload = {"o": order.id, "s": serial_hex, "v": via}
    if order.link_generation:
        payload["g"] = order.link_generation
    return TOKENS.make(secret, payload)


def make_link(app: Flask, order: Order, serial_hex: str, via: str) -> str:
    path = app.url_map.bind("localhost").build(
        "revocation.show", {"token": make_token(app.config["SECRET_KEY"], order, serial_hex,
                                                via)})
    return app.config["RADESK_PUBLIC_URL"].rstrip("/") + path


def open_link(app: Flask, token: str) -> Target:
    """The order and certificate a link names; InvalidLink when it is not ours, RevokedLink
    when the order's links were revoked since it was made."""
    try:
        payload = TOKENS.open(app.config["SECRET_KEY"], token).payload
    except public_links.BadToken:
        raise InvalidLink() from None
    if (not isinstance(payload, dict) or not isinstance(payload.get("o"), int)
            or not isinstance(payload.get("s"), str)
            or payload.get("v") not in workflow.REVOCATION_ASKED_VIA
            or not isinstance(payload.get("g", 0), int)):
        raise InvalidLink()
    order = Order.with_people().where(Order.id == payload["o"]).first()
    if order is None:
        raise InvalidLink()
    if payload.get("g", 0) < order.link_generation:
        raise RevokedLink()
    state = next((s for s in certificates_of(order) if s.row.serial_hex == payload["s"]), None)
    return Target(order, payload["s"], state, payload["v"])


def current_serial(order: Order) -> str | None:
    """The serial of the order's certificate a revocation may be asked for, else None."""
    state = current_certificate(order)
    if state is None or workflow.request_blockers(state, open_request=False, now=utcnow()):
        return None
    return state.row.serial_hex


def open_request(serial_hex: str) -> RevocationRequest | None:
    return RevocationRequest.get_or_none(RevocationRequest.open_serial == serial_hex)


def blockers(target: Target) -> list[str]:
    return workflow.request_blockers(target.certificate,
                                     open_request=open_request(target.serial_hex) is not None,
                                     now=utcnow())


def contact(order: Order) -> tuple[str, str]:
    """(channel, recipient) of the Contact OTP; Refused when it cannot receive a code."""
    if workflow.otp_contact_problem(order.otp_contact):
        raise workflow.Refused("Le Contact OTP de la commande ne peut pas recevoir de code : "
                               "contactez votre Autorité d'Enregistrement.")
    recipient = workflow.normalize_otp_contact(order.otp_contact)
    return ("email" if "@" in recipient else "sms"), recipient


def masked_contact(order: Order) -> str:
    try:
        return public_links.mask_contact(contact(order)[1], fixed_width=True)
    except workflow.Refused:
        return ""


# --- the code -----------------------------------------------------------------------------------

def claim_of(target: Target, now: dt.datetime | None = None) -> RevocationClaim | None:
    """The claim of the last day for this certificate, not yet spent by a request."""
    now = now or utcnow()
    return (RevocationClaim
            .select()
            .where((RevocationClaim.order == target.order.id)
                   & (RevocationClaim.serial_hex == target.serial_hex)
                   & RevocationClaim.used_at.is_null()
                   & (RevocationClaim.created_at > now - CLAIM_TTL))
            .order_by(RevocationClaim.id.desc())
            .first())


def send_code(app: Flask, target: Target, *, ip: str = "") -> str:
    """A new code to the Contact OTP (the previous one stops working); returns it masked."""
    problems = blockers(target)
    if problems:
        raise workflow.Refused(problems)
    channel, recipient = contact(target.order)
    now = utcnow()
    code = CODES.random_code()
    with db.atomic():
        claim = claim_of(target, now) or RevocationClaim.create(
            order=target.order.id, serial_hex=target.serial_hex, channel=channel,
            recipient=recipient, created_at=now)
        wait = CODES.wait(claim.code_sent_at, now)
        if wait is not None:
            raise workflow.Refused(f"Un code vient d'être envoyé : patientez "
                                   f"{int(wait.total_seconds()) + 1} secondes avant d'en "
                                   f"demander un autre.")
        sent = (RevocationClaim
                .update(code_hash=CODES.digest(app.config["SECRET_KEY"], claim.id, code),
                        channel=channel, recipient=recipient, code_sent_at=now,
                        code_expires_at=now + CODES.lifetime, code_tries=0,
                        codes_sent=RevocationClaim.codes_sent + 1, verified_at=None,
                        proof_hash=None)
                .where((RevocationClaim.id == claim.id)
                       & (RevocationClaim.codes_sent < CODES.max_sent)
                       & RevocationClaim.used_at.is_null())
                .execute())
        if sent != 1:
            raise workflow.Refused(f"{CODES.max_sent} codes ont déjà été envoyés aujourd'hui "
                                   f"pour ce certificat : réessayez demain ou contactez votre "
                                   f"Autorité d'Enregistrement.")
        audit.record(ACTION_CODE_SENT, order=target.order, actor=ACTORS[target.via], ip=ip,
                     details={"channel": channel, "recipient": recipient})
    _deliver(app, target.order, channel, recipient, code)
    return public_links.mask_contact(recipient, fixed_width=True)


def check_code(app: Flask, target: Target, typed: object, *, ip: str = "") -> str:
    """The code typed back: returns the proof the request form carries; Refused otherwise."""
    claim = claim_of(target)
    now = utcnow()
    if claim is None or claim.code_hash is None:
        raise workflow.Refused(public_links.NO_CODE_YET)
    if claim.code_expires_at < now:
        raise workflow.Refused(public_links.CODE_EXPIRED)
    this_code = RevocationClaim.code_hash == claim.code_hash
    spent = public_links.spend_try(RevocationClaim.code_tries, claim.id, CODES.max_tries,
                                   this_code)
    if spent is None:
        raise workflow.Refused(public_links.NO_TRY_LEFT)
    digest = CODES.digest(app.config["SECRET_KEY"], claim.id, public_links.typed_code(typed))
    if not public_links.same(digest, claim.code_hash):
        left = CODES.max_tries - spent
        with db.atomic():
            audit.record(ACTION_CODE_REFUSED, order=target.order, actor=ACTORS[target.via],
                         ip=ip, details={"tries_left": left})
        raise workflow.Refused(public_links.wrong_code(left))
    proof = public_links.new_secret()
    with db.atomic():
        if not public_links.consume(RevocationClaim, claim.id,
                                    {RevocationClaim.code_hash: None,
                                     RevocationClaim.verified_at: now,
                                     RevocationClaim.proof_hash: public_links.secret_hash(proof)},
                                    this_code):
            raise workflow.Refused("Ce code vient d'être utilisé : demandez-en un nouveau.")
        audit.record(ACTION_CODE_ACCEPTED, order=target.order, actor=ACTORS[target.via], ip=ip,
                     details={"channel": claim.channel})
    return proof


def proven_claim(target: Target, proof: object) -> RevocationClaim | None:
    """The claim whose accepted code gave ``proof``, while it may still be used."""
    if not public_links.plausible_secret(proof):
        return None
    claim = claim_of(target)
    if (claim is None or claim.proof_hash is None or claim.verified_at is None
            or utcnow() - claim.verified_at > PROOF_TTL
            or not public_links.same(public_links.secret_hash(proof), claim.proof_hash)):
        return None
    return claim


# --- the request --------------------------------------------------------------------------------

def submit(app: Flask, target: Target, *, proof: object, choice: str | None, comment: str,
           suspend: bool, ip: str = "") -> Order:
    """« Demander la révocation »: the revocation order, « à révoquer »; the certificate
    suspended first when asked for. Refused (French reasons) otherwise, nothing changed."""
    comment = (comment or "").strip()
    problems = workflow.request_form_problems(choice, comment, suspend)
    claim = proven_claim(target, proof)
    if claim is None:
        problems.append("Votre code n'est plus valable (30 minutes) : demandez un nouveau code.")
    problems += blockers(target)
    if problems:
        raise workflow.Refused(problems)
    previous, actor = target.order, ACTORS[target.via]
    suspended_at = None
    if suspend:  # the CA publishes its CRL once the hold is committed: outside our transaction
        get_holder_ca(app).suspend(target.serial_hex, ip=ip, order=previous)
        suspended_at = utcnow()
    with db.atomic():
        number = next_order_number()  # first: SQLite takes its write lock here
        now = utcnow()
        if not public_links.consume(RevocationClaim, claim.id,
                                    {RevocationClaim.used_at: now,
                                     RevocationClaim.proof_hash: None},
                                    RevocationClaim.proof_hash == claim.proof_hash,
                                    RevocationClaim.used_at.is_null()):
            raise workflow.Refused("Cette demande vient d'être envoyée.")
        order = _revocation_order(previous, number, target.serial_hex, choice, now)
        try:
            with db.atomic():
                request = RevocationRequest.create(
                    order=order.id, previous_order=previous.id, serial_hex=target.serial_hex,
                    open_serial=target.serial_hex, choice=choice, comment=comment,
                    asked_via=target.via, contact=claim.recipient, asked_at=now,
                    suspended_at=suspended_at)
        except IntegrityError:
            raise workflow.Refused(workflow.revocation.ALREADY_OPEN) from None
        details = {"serial": target.serial_hex, "motif_choisi": workflow.choice_label(choice),
                   "reason": workflow.choice_reason(choice), "commentaire": comment,
                   "suspension": "oui" if suspend else "non"}
        audit.record(ACTION_REQUESTED, order=order, actor=actor, ip=ip,
                     details={**details, "commande_precedente": previous.number})
        audit.record(ACTION_ASKED, order=previous, actor=actor, ip=ip,
                     details={**details, "demande": order.number})
        order = Order.with_people().where(Order.id == order.id).get()
        revocation_messages.requested(app, order, request, suspended=suspend, ip=ip, actor=actor)
    outbox.wake(app)
    return order


def _revocation_order(previous: Order, number: int, serial_hex: str, choice: str,
                      now: dt.datetime) -> Order:
    """The revocation order: the previous order's AE, portal, company and people."""
    phase, substate = workflow.after_request()
    copied = {name: getattr(previous, name) for name in (
        "product", "validity_years", "medium", "otp_contact", "id_doc_type", "id_doc_number",
        "requester_name", "requester_email", "holder_search", "holder_search_last")}
    return Order.create(
        number=number, ae=previous.ae_id, portal=previous.portal_id,
        company=previous.company_id, holder=previous.holder_id,
        legal_representative=previous.legal_representative_id,
        mandataire=previous.mandataire_id, process=workflow.PROCESS_REVOCATION, phase=phase,
        substate=substate, order_type=workflow.ORDER_TYPE_DEMATERIALISED, created_at=now,
        updated_at=now, submitted_at=now, state_since=now, previous_order=previous.id,
        target_serial=serial_hex, revocation_reason=workflow.choice_reason(choice), **copied)


# --- sending the code ---------------------------------------------------------------------------

def _deliver(app: Flask, order: Order, channel: str, recipient: str, code: str) -> None:
    """At once, not through the outbox: a code must not wait, nor be stored in clear."""
    ae = AE.get_by_id(order.ae_id)
    if channel == "sms":
        text = (f"{ae.name} : votre code pour demander la révocation du certificat (commande "
                f"N° {order.number}) est {code}. Valable {CODES.minutes} minutes.")
        try:
            gateway(app).send(recipient, text)
        except SmsError as error:
            raise workflow.Refused(f"Le SMS n'a pas pu être envoyé : {error.reason}") from None
        return
    from adapters.mail import DeliveryError, transport
    text = (f"Bonjour,\n\nVotre code pour demander la révocation du certificat de la commande "
            f"N° {order.number} est :\n\n{code}\n\nIl est valable {CODES.minutes} minutes et ne "
            f"sert qu'une fois. Si vous n'avez rien demandé, ignorez ce message : rien n'est "
            f"révoqué sans ce code.\n\n{ae.name} — Autorité d'Enregistrement")
    message = flask_mail.Message(
        subject=f"Code de demande de révocation — commande N° {order.number}",
        recipients=[recipient], body=text, sender=app.config["MAIL_DEFAULT_SENDER"],
        extra_headers={"Content-Language": "fr", "Auto-Submitted": "auto-generated",
                       "X-RADesk-Commande": str(order.number),
                       "X-RADesk-Type": "revocation_code"})
    try:
        with transport(app) as postman:
            postman.send(message)
    except DeliveryError as failure:
        raise workflow.Refused(f"Le code n'a pas pu être envoyé : {failure.reason} "
                               f"Demandez-en un nouveau dans une minute.") from None
