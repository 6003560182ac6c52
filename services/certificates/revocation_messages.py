"""What revocation requests e-mail, through the outbox (so each shows in the order's
notification history, with its retries): the acknowledgement of a request (and of the
suspension), the revocation done, the request rejected — each to the holder and the
requester — and, when the holder activates their key, the link to ask for its revocation.
Written whole when queued, except that link, made when the e-mail leaves (``compose``).
"""
from __future__ import annotations

import flask_mail
from flask import Flask

import workflow
from adapters.mail import DeliveryError, plain_message
from formatting import paris_datetime
from models import Notification, Order
from services.messaging import notifications
from services.messaging.drafts import Draft

TYPE_REQUESTED = "revocation_requested"
TYPE_REVOKED = "revocation_done"
TYPE_REJECTED = "revocation_rejected"
TYPE_LINK = "revocation_link"
TYPE_LABELS = {
    TYPE_REQUESTED: "Demande de révocation reçue",
    TYPE_REVOKED: "Certificat révoqué",
    TYPE_REJECTED: "Demande de révocation rejetée",
    TYPE_LINK: "Clé activée : lien pour révoquer le certificat",
}
TYPES = tuple(TYPE_LABELS)
LINK_VARIABLE = "{lien_revocation}"  # replaced when the e-mail leaves


def recipients(order: Order) -> list[str]:
    """The holder and the requester (once when they are the same address)."""
    seen, found = set(), []
    for address in (order.holder.email, order.requester_email):
        address = (address or "").strip()
        if address and address.lower() not in seen:
            seen.add(address.lower())
            found.append(address)
    return found


def _signature(order: Order) -> str:
    return f"\n\nCordialement,\nL'Autorité d'Enregistrement {order.ae.name}"


def _holder(order: Order) -> str:
    holder = order.holder
    return " ".join(part for part in (holder.civility, holder.first_name, holder.last_name) if part)


def queue(app: Flask, order: Order, type_: str, subject: str, text: str, *, operator=None,
          actor: str | None = None, ip: str = "") -> None:
    """One system e-mail per recipient of ``order`` (call it inside the caller's transaction)."""
    for recipient in recipients(order):
        notifications.queue(order, Draft(type_, recipient, subject, text), operator=operator,
                            sender=app.config["MAIL_DEFAULT_SENDER"], ip=ip, actor=actor,
                            system=True)


def requested(app: Flask, order: Order, request, *, suspended: bool, ip: str = "",
              actor: str | None = None) -> None:
    """The request is acknowledged (and the suspension, when asked for)."""
    suspension = ("\n\nComme demandé, le certificat est suspendu dès maintenant : il ne peut plus "
                  "servir à signer. La suspension est publiée dans la liste de révocation."
                  if suspended else "")
    text = (f"Bonjour,\n\nNous avons bien reçu le {paris_datetime(request.asked_at)} la demande "
            f"de révocation du certificat de {_holder(order)} ({order.company.name}), "
            f"certificat n° {request.serial_hex}, motif : « "
            f"{workflow.choice_label(request.choice)} ». Elle est enregistrée sous la commande "
            f"N° {order.number}.{suspension}\n\nL'Autorité d'Enregistrement la traite dans les "
            f"4 heures ; vous serez prévenu par e-mail de la révocation. Si vous n'êtes pas à "
            f"l'origine de cette demande, contactez-nous sans attendre." + _signature(order))
    queue(app, order, TYPE_REQUESTED,
          f"Commande N° {order.number} : demande de révocation reçue", text, actor=actor, ip=ip)


def revoked(app: Flask, order: Order, request, operator, *, ip: str = "") -> None:
    text = (f"Bonjour,\n\nLe certificat n° {request.serial_hex} de {_holder(order)} "
            f"({order.company.name}) est révoqué (motif : « "
            f"{workflow.choice_label(request.choice)} »), comme demandé (commande N° "
            f"{order.number}). La révocation est définitive et publiée dans la liste de "
            f"révocation : le certificat ne peut plus servir à signer.\n\nPour obtenir un "
            f"nouveau certificat, passez une nouvelle commande." + _signature(order))
    queue(app, order, TYPE_REVOKED, f"Commande N° {order.number} : certificat révoqué", text,
          operator=operator, ip=ip)


def rejected(app: Flask, order: Order, request, operator, comment: str, *, released: bool,
             ip: str = "") -> None:
    release = ("\n\nLa suspension du certificat est levée : il peut de nouveau servir à signer."
               if released else "")
    text = (f"Bonjour,\n\nL'Autorité d'Enregistrement n'a pas révoqué le certificat n° "
            f"{request.serial_hex} de {_holder(order)} ({order.company.name}) : la demande "
            f"(commande N° {order.number}) est rejetée, pour la raison suivante :\n\n{comment}"
            f"{release}" + _signature(order))
    queue(app, order, TYPE_REJECTED, f"Commande N° {order.number} : demande de révocation "
          f"rejetée", text, operator=operator, ip=ip)


def activated(app: Flask, order: Order, serial_hex: str, *, ip: str = "") -> None:
    """The holder's key is activated: where to go if it is ever lost (to the holder only)."""
    address = (order.holder.email or "").strip()
    if not address:
        return
    text = (f"Bonjour {_holder(order)},\n\nVotre clé USB ou carte à puce est activée : "
            f"votre certificat de "
            f"signature électronique n° {serial_hex} (commande N° {order.number}) est prêt à "
            f"servir.\n\nSi vous perdez votre clé, si on vous la vole ou si vous pensez que "
            f"quelqu'un d'autre a pu s'en servir, demandez sans attendre la révocation de votre "
            f"certificat sur cette page (un code vous sera envoyé au Contact OTP) :\n"
            f"{LINK_VARIABLE}\n\nGardez ce message." + _signature(order))
    notifications.queue(order, Draft(TYPE_LINK, address,
                                     f"Commande N° {order.number} : votre clé USB ou carte "
                                     f"à puce est activée",
                                     text),
                        operator=None, sender=app.config["MAIL_DEFAULT_SENDER"], ip=ip,
                        actor="Porteur", system=True)


def compose(app: Flask, notification: Notification) -> flask_mail.Message:
    """The outbox's composer for these types: the text as queued, the holder's revocation link
    made now (a signed link is never stored)."""
    from services.certificates import revocation_requests

    text = notification.body
    if LINK_VARIABLE in text:
        order = Order.get_or_none(Order.id == notification.order_id)
        serial = revocation_requests.current_serial(order) if order else None
        if serial is None:
            raise DeliveryError("Le certificat n'est plus valide : message non envoyé.",
                                permanent=True)
        text = text.replace(LINK_VARIABLE, revocation_requests.make_link(
            app, order, serial, workflow.ASKED_VIA_HOLDER))
    return plain_message(app, notification, notification.subject, text)
