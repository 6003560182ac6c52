"""What the ordering page e-mails the requester, through the outbox (its retries, its history):
the link to the order being typed, the code that proves their address, the acknowledgement of
a sent order, and the cancellation of a draft left untouched. ``{lien}`` is the follow-up link,
made when the e-mail leaves; the code is made then too (``compose_code``), never stored.
"""
from __future__ import annotations

import flask_mail
from flask import Flask

from adapters.mail import DeliveryError, plain_message
from models import Notification, Order, OrderIntake
from services.messaging.drafts import Draft

TYPE_DRAFT_LINK = "order_draft_link"
TYPE_ADDRESS_CODE = "requester_address_code"
TYPE_ACKNOWLEDGEMENT = "order_acknowledgement"
TYPE_DRAFT_CANCELLED = "order_draft_cancelled"
TYPE_LABELS = {
    TYPE_DRAFT_LINK: "Lien de la commande en cours de saisie",
    TYPE_ADDRESS_CODE: "Code de confirmation de l'adresse e-mail",
    TYPE_ACKNOWLEDGEMENT: "Accusé de réception de la commande",
    TYPE_DRAFT_CANCELLED: "Commande non envoyée annulée",
}
CODE_TYPES = (TYPE_ADDRESS_CODE,)


def _signature(order: Order) -> str:
    return f"\n\nCordialement,\nL'Autorité d'Enregistrement {order.ae.name}"


def _holder(order: Order) -> str:
    name = f"{order.holder.first_name} {order.holder.last_name}".strip()
    return f" pour {name}" if name else ""


def draft_link_message(order: Order) -> Draft:
    """Sent as soon as the first step is saved: the requester may stop and come back."""
    return Draft(
        TYPE_DRAFT_LINK, order.requester_email,
        f"Commande N° {order.number} : votre commande en cours de saisie",
        f"Bonjour,\n\nVous avez commencé une commande de certificat auprès de "
        f"{order.ae.name} (commande N° {order.number}, {order.company.name}).\n\n"
        f"Vous pouvez la compléter ou la reprendre à tout moment depuis sa page de suivi : "
        f"{{lien}}\n\nLa commande n'est transmise à l'Autorité d'Enregistrement qu'une fois "
        f"envoyée (bouton « Envoyer la commande »). Si vous n'êtes pas à l'origine de cette "
        f"commande, ignorez ce message." + _signature(order))


def acknowledgement_message(order: Order) -> Draft:
    return Draft(
        TYPE_ACKNOWLEDGEMENT, order.requester_email,
        f"Commande N° {order.number} : commande reçue",
        f"Bonjour,\n\nNous avons bien reçu la commande de certificat N° {order.number}"
        f"{_holder(order)} ({order.company.name}). L'Autorité d'Enregistrement va vérifier "
        f"les pièces justificatives ; vous serez prévenu par e-mail si un complément est "
        f"nécessaire, puis les documents contractuels vous seront envoyés pour signature.\n\n"
        f"Suivez votre commande depuis sa page de suivi : {{lien}}" + _signature(order))


def draft_cancelled_message(order: Order, days: int) -> Draft:
    return Draft(
        TYPE_DRAFT_CANCELLED, order.requester_email,
        f"Commande N° {order.number} : commande non envoyée, annulée",
        f"Bonjour,\n\nLa commande de certificat N° {order.number} ({order.company.name}) est "
        f"restée en cours de saisie sans modification pendant {days} jours : elle a été "
        f"annulée.\n\nPour obtenir un certificat, passez une nouvelle commande. Sa page de "
        f"suivi reste consultable : {{lien}}" + _signature(order))


def code_message(order: Order, recipient: str) -> Draft:
    """Queued with this text for the history; the e-mail itself is written by compose_code."""
    return Draft(TYPE_ADDRESS_CODE, recipient,
                 f"Commande N° {order.number} : votre code de confirmation",
                 "Code de confirmation de votre adresse e-mail (écrit à l'envoi).")


def compose_code(app: Flask, notification: Notification) -> flask_mail.Message:
    """The code e-mail, written when it leaves from the intake's current code."""
    from services.intake.address import CODES, code_for

    intake = OrderIntake.get_or_none(OrderIntake.order == notification.order_id)
    if (intake is None or intake.code_nonce is None
            or intake.code_email != notification.recipient):
        raise DeliveryError("Le code a déjà été utilisé ou remplacé : message non envoyé.",
                            permanent=True)
    order = Order.with_people().where(Order.id == notification.order_id).get()
    text = (f"Bonjour,\n\nVotre code de confirmation pour la commande N° {order.number} est :"
            f"\n\n{code_for(app, intake.id, intake.code_nonce)}\n\nSaisissez-le sur la page de "
            f"commande pour confirmer votre adresse e-mail. Il est valable {CODES.minutes} "
            f"minutes et ne sert qu'une fois. Ne le communiquez à personne : "
            f"{order.ae.name} ne vous le demandera jamais." + _signature(order))
    return plain_message(app, notification, notification.subject, text)
