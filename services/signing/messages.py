"""The e-mails of signing that are written when they leave (create_app gives
``compose_signer_message`` to the outbox for ``signatures.SIGNER_TYPES``): a signer's link or
reminder, their one-time code, the operator told of a refusal. The link and the code are made
then, so neither sits in a table, and the outbox brings its retries and exactly-once sending.
"""
from __future__ import annotations

import flask_mail
from flask import Flask

import workflow
from adapters.mail import plain_message
from formatting import paris_date, paris_datetime
from models import Notification, SignatureMessage, SignatureRequest
from services.signing.codes import CODES, code_for
from services.signing.links import link_for
from services.signing.signatures import (TYPE_OPERATOR_DECLINED, TYPE_SIGNER_CODE,
                                         TYPE_SIGNER_REMINDER, items_labels, order_with_people,
                                         person_name)


def compose_signer_message(app: Flask, notification: Notification) -> flask_mail.Message:
    """The e-mail of a signer (link, reminder, code) or of the operator told of a refusal."""
    from adapters.mail import DeliveryError

    link = SignatureMessage.get_or_none(SignatureMessage.notification == notification.id)
    request = SignatureRequest.get_or_none(SignatureRequest.id == link.request_id) if link else None
    if request is None:
        raise DeliveryError("Demande de signature introuvable : message non envoyé.", permanent=True)
    order = order_with_people(request.order_id)
    ae = order.ae.name
    signature = f"\n\n{ae} — Autorité d'Enregistrement"
    if notification.type == TYPE_OPERATOR_DECLINED:
        url = f"{app.config['RADESK_PUBLIC_URL'].rstrip('/')}/commandes/{order.id}"
        text = (f"Bonjour,\n\n{request.name} ({workflow.label(workflow.SIGNER_ROLES, request.role)})"
                f" a refusé de signer les documents de la commande N° {order.number} "
                f"({order.company.name}) le {paris_datetime(request.declined_at)}.\n\n"
                f"Motif : {request.decline_reason}\n\nFiche de commande :\n{url}" + signature)
        return plain_message(app, notification, notification.subject, text)
    if request.state not in workflow.OPEN_SIGNATURE_STATES:
        raise DeliveryError("La demande de signature n'est plus en cours (signée, refusée ou "
                            "annulée) : message non envoyé.", permanent=True)
    if notification.type == TYPE_SIGNER_CODE:
        if request.code_nonce is None:
            raise DeliveryError("Le code a déjà été utilisé ou remplacé : message non envoyé.",
                                permanent=True)
        code = code_for(app, request.id, request.code_nonce)
        text = (f"Bonjour {request.name},\n\nVotre code de signature pour la commande "
                f"N° {order.number} est :\n\n{code}\n\nIl est valable "
                f"{CODES.minutes} minutes et ne sert qu'une fois. "
                f"Saisissez-le sur la page de signature. Ne le communiquez à personne : {ae} ne "
                f"vous le demandera jamais." + signature)
        return plain_message(app, notification, notification.subject, text)
    documents_ = "\n".join(f"  • {label}" for label in items_labels(request))
    opening = ("Ceci est un rappel : les documents suivants attendent toujours votre signature"
               if notification.type == TYPE_SIGNER_REMINDER else
               f"{ae} vous invite à signer électroniquement les documents suivants")
    channel = "par SMS" if request.code_channel == "sms" else "par e-mail"
    text = (f"Bonjour {request.name},\n\n{opening} de la commande N° {order.number} "
            f"({order.company.name}, porteur : {person_name(order.holder)}), en qualité de "
            f"{workflow.label(workflow.SIGNER_ROLES, request.role).lower()} :\n{documents_}\n\n"
            f"Ouvrez votre lien personnel pour lire les documents et les signer :\n"
            f"{link_for(app, request)}\n\nCe lien est valable jusqu'au "
            f"{paris_date(request.expires_at)}. Un code à usage unique vous sera envoyé "
            f"{channel} pour confirmer votre identité. Vous pouvez aussi y refuser de signer, en "
            f"indiquant pourquoi.\n\nCe lien vous est personnel : ne le transférez pas. Si vous "
            f"ne vous attendiez pas à ce message, ignorez-le." + signature)
    return plain_message(app, notification, notification.subject, text)
