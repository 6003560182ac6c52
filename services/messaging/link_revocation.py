"""« Révoquer le lien de suivi »: an AEA invalidates every follow-up link of an order issued so
far (a copied or forwarded link, a requester who left the company), and with them the renewal
link of the order's certificate. The order's ``link_generation`` goes up by one; the tokens of
both links carry the generation they were made in, so the older ones open only a page saying
they were revoked. A fresh link may go to the requester's address through the outbox, in the
same transaction; it is made when the e-mail leaves, in the new generation.
"""
from __future__ import annotations

from dataclasses import dataclass

import workflow
from models import Notification, Operator, Order, db
from services import audit, public_links
from services.messaging import drafts, notifications

ACTION_REVOKED = "followup_links_revoked"
AUDIT_ACTIONS = {ACTION_REVOKED: "Liens de suivi, de renouvellement et de révocation révoqués"}
REVOKED_LINKS = "suivi de la commande, renouvellement du certificat"
DETAIL_LABELS = {"liens_révoqués": "Liens révoqués", "nouveau_lien": "Nouveau lien envoyé à"}


@dataclass(frozen=True)
class LinkPanel:
    """What the order file shows an AEA: where a fresh link would go (masked), if anywhere."""
    order: Order
    new_link_to: str | None


def panel(order: Order, operator: Operator) -> LinkPanel | None:
    if not operator.has_role(workflow.ROLE_AEA):
        return None
    address = drafts.requester_address(drafts.order_for_message(order.id))
    return LinkPanel(order, public_links.mask_contact(address) if address else None)


def revoke_links(order: Order, operator: Operator, *, send_new_link: bool, sender: str | None,
                 ip: str = "") -> Notification | None:
    """Every link made so far stops working; with ``send_new_link`` a new one is queued for the
    requester. Refused (nothing changes) for an operator who is not AEA, or when a new link is
    asked for an order without an address."""
    if not operator.has_role(workflow.ROLE_AEA):
        raise workflow.Refused(["Seul un opérateur AEA peut révoquer le lien de suivi."])
    message = drafts.link_renewal_message(drafts.order_for_message(order.id))
    if send_new_link and not message.recipient:
        raise workflow.Refused(["Aucune adresse e-mail n'est enregistrée pour cette commande : "
                                "le lien est révoqué sans nouvel envoi, décochez la case."])
    with db.atomic():
        (Order
         .update(link_generation=Order.link_generation + 1)
         .where(Order.id == order.id)
         .execute())
        current = Order.get_by_id(order.id)
        notification = None
        if send_new_link:
            notification = notifications.queue(current, message, operator=operator,
                                               sender=sender, ip=ip, system=True)
        audit.record(ACTION_REVOKED, operator=operator, order=current, ip=ip,
                     details={"liens_révoqués": REVOKED_LINKS,
                              **({"nouveau_lien": message.recipient} if send_new_link else {})})
    return notification
