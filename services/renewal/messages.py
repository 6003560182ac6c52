"""What a renewal e-mails the requester, through the outbox: the renewal draft is ready to be
confirmed from its follow-up page (``{lien}``, made when the e-mail leaves)."""
from __future__ import annotations

from formatting import of_name
from models import Order
from services.messaging.drafts import Draft

TYPE_RENEWAL_STARTED = "renewal_started"
TYPE_LABELS = {TYPE_RENEWAL_STARTED: "Renouvellement du certificat à confirmer"}


def renewal_started_message(order: Order, previous: Order) -> Draft:
    holder = f"{order.holder.first_name} {order.holder.last_name}".strip()
    return Draft(
        TYPE_RENEWAL_STARTED, order.requester_email,
        f"Commande N° {order.number} : renouvellement du certificat {of_name(holder)}",
        f"Bonjour,\n\nLe renouvellement du certificat {of_name(holder)} ({order.company.name}), "
        f"obtenu par la commande N° {previous.number}, est préparé : la commande N° "
        f"{order.number} reprend ses informations et les pièces encore valables.\n\n"
        f"Vérifiez ou corrigez les informations, déposez les pièces demandées, puis envoyez la "
        f"commande depuis sa page de suivi : {{lien}}\n\nL'ancien certificat reste valable "
        f"jusqu'à l'activation du nouveau.\n\nCordialement,\n"
        f"L'Autorité d'Enregistrement {order.ae.name}")
