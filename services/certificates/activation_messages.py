"""The activation link (to the holder's e-mail, or by SMS when there is none) and the one-time
code (to the Contact OTP, e-mail or SMS), through the outbox: queued in the caller's transaction
(the hand-over, a resending, the holder asking for a new code), tried again after a failure,
listed in the order's « Historique des notifications ».

Neither the link's secret nor the code is stored: the outbox row keeps the subject and a text
with placeholders, and ``compose`` derives both, when the message leaves, from the nonces on the
``Activation`` row and the app's secret (services.certificates.activation). A code or link no
longer valid by then (expired, used, replaced by a newer one's nonce…) is not sent: the message
fails for good with the reason, and the AET or the holder asks for another.
"""
from __future__ import annotations

import flask_mail
from flask import Flask

from adapters.mail import DeliveryError, plain_message
from adapters.sms import SmsText
from formatting import paris_date
from models import AE, Activation, Notification, Order, Person, utcnow
from services.messaging import notifications

TYPE_LINK = "activation_link"
TYPE_CODE = "activation_code"
TYPE_LABELS = {TYPE_LINK: "Lien d'activation de la clé", TYPE_CODE: "Code d'activation de la clé"}
TYPES = tuple(TYPE_LABELS)
LINK_VARIABLE, CODE_VARIABLE = "{lien_activation}", "{code_activation}"


def queue_link(app: Flask, activation: Activation, order: Order, operator) -> Notification:
    """Inside the caller's transaction: the link to the holder's e-mail (or phone)."""
    holder = Person.get_by_id(order.holder_id)
    recipient = holder.email.strip() or activation.recipient
    ae = AE.get_by_id(order.ae_id)
    if "@" not in recipient:
        return _queue(app, order, TYPE_LINK, recipient,
                      f"SMS : activation de votre clé USB ou carte à puce — commande N° "
                      f"{order.number}",
                      f"{ae.name} : activez votre clé USB ou carte à puce sur {LINK_VARIABLE}",
                      operator)
    from services.certificates.activation import mask
    where = "par SMS" if activation.channel == "sms" else "par un autre e-mail"
    text = (f"Bonjour {holder.civility} {holder.first_name} {holder.last_name},\n\n"
            f"Votre certificat de signature électronique (commande N° {order.number}) est "
            f"inscrit sur la clé USB ou la carte à puce que {ae.name} vous a remise.\n\n"
            f"Pour activer la clé et choisir votre code PIN personnel, ouvrez cette page sur "
            f"le poste où la clé est branchée (le pont de clés USB RA Desk doit y être "
            f"démarré) :\n{LINK_VARIABLE}\n\n"
            f"Un code à usage unique vous est envoyé {where}, à {mask(activation.recipient)}. "
            f"Ce lien est personnel et valable jusqu'au {paris_date(activation.link_expires_at)}."
            f"\n\n{ae.name} — Autorité d'Enregistrement")
    return _queue(app, order, TYPE_LINK, recipient,
                  f"Activation de votre clé USB ou carte à puce — commande N° {order.number}",
                  text, operator)


def queue_code(app: Flask, activation: Activation, order: Order, operator) -> Notification:
    """Inside the caller's transaction: the current code to the Contact OTP."""
    from services.certificates.activation import CODES
    minutes = CODES.minutes
    ae = AE.get_by_id(order.ae_id)
    if activation.channel == "sms":
        return _queue(app, order, TYPE_CODE, activation.recipient,
                      f"SMS : code d'activation de votre clé USB ou carte à puce — commande "
                      f"N° {order.number}",
                      f"{ae.name} : votre code d'activation de clé USB ou de carte à puce "
                      f"(commande N° "
                      f"{order.number}) est {CODE_VARIABLE}. Valable {minutes} minutes. Ne le "
                      f"communiquez à personne.", operator)
    text = (f"Bonjour,\n\nVotre code d'activation de clé USB ou de carte à puce pour la "
            f"commande N° {order.number} "
            f"est :\n\n{CODE_VARIABLE}\n\nIl est valable {minutes} minutes et ne sert qu'une "
            f"fois. Saisissez-le sur la page d'activation dont le lien vous a été envoyé par "
            f"e-mail. Ne le communiquez à personne : {ae.name} ne vous le demandera jamais."
            f"\n\n{ae.name} — Autorité d'Enregistrement")
    return _queue(app, order, TYPE_CODE, activation.recipient,
                  f"Code d'activation de votre clé USB ou carte à puce — commande N° "
                  f"{order.number}", text,
                  operator)


def _queue(app: Flask, order: Order, type_: str, recipient: str, subject: str, body: str,
           operator) -> Notification:
    now = utcnow()
    return Notification.create(
        ae=order.ae_id, order=order.id, type=type_, recipient=recipient, subject=subject,
        body=body, sent_by=operator.id if operator else None, created_at=now, next_try_at=now,
        state="queued", tries=0,
        message_id=notifications.new_message_id(app.config.get("MAIL_DEFAULT_SENDER")))


def compose(app: Flask, notification: Notification) -> flask_mail.Message | SmsText:
    """The outbox's composer for these types: the link or code derived now, if still valid."""
    from services.certificates import activation as rules

    current = rules.of_order(Order.get_by_id(notification.order_id))
    if notification.type == TYPE_LINK:
        if current is None or current.link_nonce is None or rules.link_problem(current):
            raise DeliveryError("Lien d'activation plus valable (clé activée, lien expiré ou "
                                "remplacé) : message non envoyé.", permanent=True)
        secret_part = rules.link_url(app, rules.link_secret(app, current.link_nonce))
        variable = LINK_VARIABLE
    else:
        if current is None or current.code_nonce is None or current.activated_at is not None \
                or current.code_expires_at is None or current.code_expires_at < utcnow():
            raise DeliveryError("Code d'activation expiré ou déjà utilisé : message non envoyé "
                                "(un nouveau code peut être demandé).", permanent=True)
        secret_part = rules.current_code(app, current)
        variable = CODE_VARIABLE
    text = notification.body.replace(variable, secret_part)
    if "@" not in notification.recipient:
        return SmsText(notification.recipient, text)
    return plain_message(app, notification, notification.subject, text)
