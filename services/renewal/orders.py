"""A renewal order (processus « Renouvellement »): a new draft prefilled from the order whose
certificate expires, with the pieces that are still good carried over, which the requester
confirms or corrects on the ordering page's steps and sends as any order.

Started from the reminder's link (``/renouveler/<token>``) or by an operator from the order
file of a « Terminée » order; one open renewal per certificate, found again rather than doubled.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Flask

import workflow
from models import (Company, Document, HolderCertificate, IssuedCertificate, Operator, Order,
                    OrderIntake, Person, db, next_order_number, utcnow)
from services import audit, public_links
from services.dossiers import piece_readings
from services.intake import drafts
from services.messaging import notifications
from services.renewal import messages
from workflow import ordering

ACTION_RENEWAL_STARTED = "renewal_started"
AUDIT_ACTIONS = {ACTION_RENEWAL_STARTED: "Renouvellement du certificat commencé"}
# An identity document is carried over when it is still valid this long after today: the new
# certificate starts once reviewed, signed, validated and generated.
CARRY_MARGIN = dt.timedelta(days=30)
KBIS_MAX_AGE = dt.timedelta(days=90)  # « Kbis de plus de 3 mois » is a refusal reason
ID_KINDS = ("holder_id", "legal_rep_id", "mandataire_id")


@dataclass(frozen=True)
class Renewal:
    order: Order
    intake: OrderIntake
    created: bool          # False: the certificate's open renewal, found again
    carried: tuple[str, ...]  # the kinds of the pieces carried over


def renewable_certificate(order: Order) -> HolderCertificate | None:
    """The certificate a renewal of ``order`` would replace: written on the key, not revoked
    (nor suspended), not expired."""
    return (HolderCertificate
            .select(HolderCertificate)
            .join(IssuedCertificate, on=(HolderCertificate.issued == IssuedCertificate.id))
            .where((HolderCertificate.order == order.id)
                   & HolderCertificate.written_at.is_null(False)
                   & IssuedCertificate.revoked_at.is_null()
                   & (HolderCertificate.not_after > utcnow()))
            .order_by(HolderCertificate.issued_at.desc())
            .first())


def open_renewal(serial_hex: str) -> Order | None:
    """The renewal order already started for this certificate and not cancelled."""
    return (Order.select()
            .where((Order.target_serial == serial_hex)
                   & (Order.process == workflow.PROCESS_RENEWAL)
                   & (Order.phase != workflow.PHASE_CANCELLED))
            .order_by(Order.id.desc())
            .first())


def start_problems(order: Order, certificate: HolderCertificate | None) -> list[str]:
    problems = []
    if order.process not in workflow.ISSUING_PROCESSES:
        problems.append("Seule une commande qui a produit un certificat peut être renouvelée.")
    elif order.phase != workflow.PHASE_DONE:
        problems.append("Seule une commande « Terminée » peut être renouvelée : son certificat "
                        "doit avoir été remis et activé.")
    elif certificate is None:
        problems.append("Le certificat de cette commande n'est plus valide (révoqué, suspendu "
                        "ou expiré) : passez une nouvelle commande.")
    return problems


def start(app: Flask, previous: Order, *, actor: str, operator: Operator | None = None,
          ip: str = "") -> Renewal:
    """The renewal of ``previous``'s certificate: created, or the open one found again.
    Refused (French reasons) when the order has no certificate to renew."""
    certificate = renewable_certificate(previous)
    existing = open_renewal(certificate.serial_hex) if certificate else None
    if existing is not None:
        return Renewal(existing, drafts.intake_for(existing), False, ())
    problems = start_problems(previous, certificate)
    if problems:
        raise workflow.Refused(problems)
    source = Order.with_people().where(Order.id == previous.id).get()
    with db.atomic():
        order = _copy_order(source, certificate)
        carried = _carry_pieces(source, order)
        if "holder_id" not in carried:  # the number is checked against a new document
            Order.update(id_doc_type=None, id_doc_number=None, id_doc_recorded_by=None).where(
                Order.id == order.id).execute()
        intake = OrderIntake.create(order=order, link_nonce=public_links.nonce(16),
                                    steps_done=",".join(ordering.FORM_STEPS),
                                    created_at=order.created_at)
        audit.record(ACTION_RENEWAL_STARTED, ae=source.ae_id, order=order, operator=operator,
                     actor=None if operator else actor, ip=ip,
                     details={"commande renouvelée": source.number,
                              "certificat": certificate.serial_hex,
                              "pièces reprises": ", ".join(
                                  workflow.document_kind_label(kind) for kind in carried)
                              or "aucune"})
        current = Order.with_people().where(Order.id == order.id).get()
        if current.requester_email:
            notifications.queue(current, messages.renewal_started_message(current, source),
                                operator=None, sender=app.config["MAIL_DEFAULT_SENDER"],
                                ip=ip, actor=actor, system=True)
    return Renewal(current, intake, True, tuple(carried))


def _copy_order(source: Order, certificate: HolderCertificate) -> Order:
    """The renewal draft: the same company, people and product, each copied (the requester may
    correct them without touching the previous order)."""
    number = next_order_number()  # first statement of the transaction: it serialises numbering
    now = utcnow()
    company = Company.create(ae=source.ae_id, name=source.company.name,
                             siren=source.company.siren,
                             rcs_registered=source.company.rcs_registered)
    people = {role: _copy_person(getattr(source, role))
              for role in ("holder", "legal_representative", "mandataire")}
    return Order.create(
        number=number, ae=source.ae_id, portal=source.portal_id, created_at=now,
        updated_at=now, company=company, holder=people["holder"],
        legal_representative=people["legal_representative"], mandataire=people["mandataire"],
        requester_name=source.requester_name, requester_email=source.requester_email,
        product=source.product, validity_years=source.validity_years, medium=source.medium,
        process=workflow.PROCESS_RENEWAL, phase=workflow.PHASE_ENTRY, substate=None,
        order_type=workflow.ORDER_TYPE_DEMATERIALISED, otp_contact=source.otp_contact,
        id_doc_type=source.id_doc_type, id_doc_number=source.id_doc_number,
        id_doc_recorded_by=source.id_doc_recorded_by_id,
        holder_search=source.holder_search, holder_search_last=source.holder_search_last,
        previous_order=source.id, target_serial=certificate.serial_hex)


def _copy_person(person: Person | None) -> Person | None:
    if person is None or person.id is None:
        return None
    return Person.create(ae=person.ae_id, civility=person.civility,
                         first_name=person.first_name, last_name=person.last_name,
                         email=person.email, phone=person.phone)


def carried_over(document: Document, today: dt.date) -> bool:
    """Whether a piece of the previous dossier is still good for the renewal: an identity
    document still valid when the new certificate starts, a KBIS extract under 3 months old.
    A payment is always asked again."""
    if document.category != workflow.CATEGORY_SUPPORTING or document.sha256 is None:
        return False
    if document.kind in ID_KINDS:
        return (document.expires_on is not None and document.verified_at is not None
                and document.expires_on >= today + CARRY_MARGIN)
    if document.kind == "kbis":
        return (document.imported_at is not None
                and document.imported_at.date() >= today - KBIS_MAX_AGE + CARRY_MARGIN)
    return False


def _carry_pieces(source: Order, order: Order) -> list[str]:
    """Copy the pieces still good onto the renewal, with their check (who verified them and
    the expiry noted); the file itself is shared (the store keeps one copy per content)."""
    today = utcnow().date()
    carried = []
    for document in Document.current_of(source.id):
        if not carried_over(document, today):
            continue
        copy = Document.create(
            order=order.id, kind=document.kind, category=document.category,
            status=document.status, filename=document.filename, sha256=document.sha256,
            media_type=document.media_type, size=document.size,
            page_count=document.page_count, imported_at=utcnow(), imported_by=None,
            imported_by_label=f"Reprise de la commande N° {source.number}",
            verified_at=document.verified_at, verified_by=document.verified_by_id,
            expires_on=document.expires_on, crc32=document.crc32)
        piece_readings.carry(document, copy)  # « Lu sur la pièce » comes along
        carried.append(document.kind)
    return carried


@dataclass(frozen=True)
class Panel:
    """What the order file's « Renouvellement » section shows."""
    previous: Order | None           # the order a renewal order renews
    replaced: HolderCertificate | None
    replaced_status: str
    open_renewal: Order | None       # on a « Terminée » order: its renewal in progress
    can_start: bool


def panel(order: Order, operator: Operator) -> Panel | None:
    if order.process == workflow.PROCESS_RENEWAL and order.previous_order_id:
        replaced = (HolderCertificate.select(HolderCertificate, IssuedCertificate)
                    .join(IssuedCertificate,
                          on=(HolderCertificate.issued == IssuedCertificate.id))
                    .where(HolderCertificate.serial_hex == order.target_serial).first())
        status = ("révoqué" if replaced and replaced.issued.revoked_at else "valide")
        return Panel(Order.get_by_id(order.previous_order_id), replaced, status, None, False)
    if order.phase != workflow.PHASE_DONE or order.process not in workflow.ISSUING_PROCESSES:
        return None
    certificate = renewable_certificate(order)
    if certificate is None:
        return None
    existing = open_renewal(certificate.serial_hex)
    return Panel(None, None, "", existing,
                 existing is None and operator.has_role(workflow.ROLE_AEA))
