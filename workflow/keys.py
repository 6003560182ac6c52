"""The AE's stock of blank keys and the « Remise en face à face »: states, and the rules that
say, in French, why a key cannot be taken for a generation or declared defective, and why a
hand-over record is refused.

Pure functions: ``key`` is duck-typed like models.BlankKey (``serial``, ``state``,
``order_id``, ``medium``), ``order`` like models.Order (``id``, ``number``, ``medium``,
``id_doc_type``, ``id_doc_number``).
"""
from __future__ import annotations

import datetime as dt
import re

from formatting import parse_date
from workflow.identifiers import normalize_id_number
from workflow.vocabulary import ID_DOC_TYPES

IN_STOCK, ASSIGNED, HANDED_OVER, REVOKED, DEFECTIVE = (
    "in_stock", "assigned", "handed_over", "revoked", "defective")
KEY_STATES = {  # what the stock page shows; « attribuée » is followed by the order's number
    IN_STOCK: "en stock",
    ASSIGNED: "attribuée",
    HANDED_OVER: "remise",
    REVOKED: "révoquée",
    DEFECTIVE: "défectueuse",
}
KEY_MEDIA = {"usb": "clé USB", "card": "carte à puce"}
SERIAL_MAX = 64
MODEL_MAX = 100
BATCH_MAX = 100
DEFECT_REASON_MAX = 500
_SERIAL = re.compile(r"[\x21-\x7e]{1,%d}" % SERIAL_MAX)  # a PKCS#11 token serial, as the bridge reads it


def state_label(state: str, order_number: int | None = None) -> str:
    """« attribuée à la commande N° 960072 », « en stock »…"""
    label = KEY_STATES.get(state, state)
    if state == ASSIGNED and order_number is not None:
        return f"{label} à la commande N° {order_number}"
    return label


def serial_problem(serial: str) -> str | None:
    if not serial:
        return "Le N° de série de la clé est obligatoire."
    if not _SERIAL.fullmatch(serial):
        return (f"Le N° de série « {serial[:80]} » n'est pas valide : {SERIAL_MAX} caractères au "
                f"plus, lettres, chiffres et signes, sans espace ni accent.")
    return None


def key_fields_problems(serial: str, model: str, medium: str, received_text: str, batch: str,
                        today: dt.date) -> list[str]:
    """Why a blank key received cannot be entered as typed (form or CSV line)."""
    problems = [p for p in [serial_problem(serial)] if p]
    if len(model) > MODEL_MAX:
        problems.append(f"Le modèle est trop long ({MODEL_MAX} caractères au plus).")
    if medium not in KEY_MEDIA:
        problems.append("Le support doit être « clé USB » ou « carte à puce ».")
    received_on = parse_date(received_text)
    if not received_text.strip():
        problems.append("La date de réception est obligatoire (jj/mm/aaaa).")
    elif received_on is None:
        problems.append(f"La date de réception « {received_text.strip()[:20]} » n'est pas une date "
                        f"valide (jj/mm/aaaa).")
    elif received_on > today:
        problems.append("La date de réception ne peut pas être dans le futur.")
    elif received_on.year < 2000:
        problems.append("La date de réception est trop ancienne.")
    if len(batch) > BATCH_MAX:
        problems.append(f"Le lot ou la référence est trop long ({BATCH_MAX} caractères au plus).")
    return problems


def renews_onto(key, order) -> bool:
    """Whether ``key`` is the holder's key of the order a renewal ``order`` renews."""
    previous = getattr(order, "previous_order_id", None)
    return (getattr(order, "process", None) == "renewal" and previous is not None
            and key.order_id == previous)


def assignment_problem(key, order, *, stock_only: bool) -> str | None:
    """Why the blank key ``key`` (None: not in the AE's stock) cannot receive ``order``'s
    certificate. A key already attributed to this same order may be used again (a new try)."""
    if key is None:
        if stock_only:
            return ("Cette clé n'est pas dans le stock de clés de l'AE, qui n'accepte que les clés "
                    "du stock : ajoutez-la au stock (Administration › Stock de clés) ou choisissez "
                    "une autre clé.")
        return None
    name = f"La clé n° {key.serial}"
    if key.state == ASSIGNED and key.order_id == order.id:
        return None
    if key.state == HANDED_OVER and renews_onto(key, order):
        return None  # the holder's own key, brought back for the renewal
    if key.state == ASSIGNED:
        return f"{name} est déjà attribuée à une autre commande : choisissez une autre clé."
    if key.state == HANDED_OVER:
        return f"{name} a déjà été remise à un porteur : elle ne peut pas resservir."
    if key.state == REVOKED:
        return f"{name} porte un certificat révoqué : elle ne peut pas resservir."
    if key.state == DEFECTIVE:
        return f"{name} est déclarée défectueuse : choisissez une autre clé."
    if key.state != IN_STOCK:
        return f"{name} n'est pas disponible ({state_label(key.state)})."
    medium = getattr(order, "medium", None) or "usb"
    if key.medium in KEY_MEDIA and medium in KEY_MEDIA and key.medium != medium:
        return (f"La commande N° {order.number} prévoit une {KEY_MEDIA[medium]} : la clé n° "
                f"{key.serial} du stock est une {KEY_MEDIA[key.medium]}.")
    return None


def defect_problems(key, reason: str, *, holds_valid_certificate: bool) -> list[str]:
    """Why an admin cannot declare ``key`` « défectueuse » with ``reason``."""
    problems = []
    if key.state == DEFECTIVE:
        problems.append("Cette clé est déjà déclarée défectueuse.")
    elif key.state == HANDED_OVER:
        problems.append("Cette clé a été remise au porteur : faites révoquer son certificat si "
                        "elle ne fonctionne plus.")
    elif key.state == REVOKED:
        problems.append("Cette clé porte un certificat révoqué : elle ne sert déjà plus.")
    elif holds_valid_certificate:
        problems.append("Un certificat valide est inscrit sur cette clé : faites-le révoquer "
                        "avant de déclarer la clé défectueuse.")
    if not reason:
        problems.append("Indiquez le motif : ce qui ne fonctionne pas sur la clé.")
    elif len(reason) > DEFECT_REASON_MAX:
        problems.append(f"Le motif est trop long ({DEFECT_REASON_MAX} caractères au plus).")
    return problems


def face_to_face_problems(order, doc_type: str, number: str, handed_text: str, today: dt.date,
                          generated_on: dt.date | None) -> list[str]:
    """« Remise en face à face »: the holder shows the identity document recorded in the order
    (same type, same number); the date is that of the hand-over, not in the future."""
    problems = []
    if doc_type not in ID_DOC_TYPES:
        problems.append("Choisissez le type du justificatif d'identité présenté par le porteur.")
    typed = normalize_id_number(number)
    if not typed:
        problems.append("Saisissez le N° du justificatif d'identité présenté par le porteur.")
    recorded_type = order.id_doc_type or ""
    recorded = normalize_id_number(order.id_doc_number)
    if doc_type in ID_DOC_TYPES and recorded_type and doc_type != recorded_type:
        problems.append(f"Le justificatif présenté ({ID_DOC_TYPES[doc_type]}) n'est pas celui "
                        f"enregistré dans la commande ({ID_DOC_TYPES.get(recorded_type, recorded_type)}) "
                        f": la clé ne peut pas être remise.")
    elif typed and typed != recorded:
        problems.append(f"Le N° du justificatif présenté (« {number.strip()[:40]} ») ne correspond pas "
                        f"au N° de justificatif d'identité enregistré dans la commande : la clé ne "
                        f"peut pas être remise.")
    handed_on = parse_date(handed_text)
    if handed_on is None:
        problems.append("Indiquez la date de la remise (jj/mm/aaaa).")
    elif handed_on > today:
        problems.append("La date de la remise ne peut pas être dans le futur.")
    elif generated_on is not None and handed_on < generated_on:
        problems.append("La date de la remise ne peut pas précéder la génération du certificat.")
    return problems
