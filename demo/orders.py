"""The demo's orders: ~300 planned from a fixed seed over every phase and sub-state, the seven
reference rows of the Commandes list among them, each with the supporting documents its
requester uploaded (rendered in worker processes, the slow part).

An order that got past « à vérifier » is created there and then brought to its planned stage
by the production code (demo.progress): sent for signature, signed, validated. Paper orders
(type « P ») are not reviewed here: they are created at their stage. Every start plans the same
orders, creates the missing ones and moves on those an interrupted start left behind.
"""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import unicodedata
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from types import SimpleNamespace

from flask import Flask
from peewee import OperationalError

import workflow
from config import Config
from models import AE, Company, Document, Order, Person, Portal, db, holder_search_fields, utcnow
from services import audit
from services.audit_words import ACTION_ORDER_RECEIVED
from services.dossiers import piece_readings
from services.intake.drafts import ACTION_DRAFT_STARTED
from adapters import pades
from adapters.document_store import DocumentStore
from demo import documents as docs
from demo import lifecycle, pieces, progress
from demo.progress import (CANCELLED, CERTIFIED, DONE, ENTRY, GENERATION, HANDOVER, IN_SIGNATURE,
                           TO_CHECK, TO_VALIDATE)

# The reference rows of the Commandes list: (number, holder, stage). They all belong to
# « Boileau Colbert Conseil », SIREN 434202180 (shown « 0002 434202180 »).
REFERENCE_ORDERS = (
    (960072, ("Sandra", "Boileau"), TO_VALIDATE),
    (960066, ("Sandra", "Boileau"), GENERATION),
    (960017, ("Sandra", "Boileau"), GENERATION),
    (959313, ("Sandra", "Boileau"), ENTRY),
    (959149, ("Sandra", "Boileau"), IN_SIGNATURE),
    (958051, ("Alice", "Colbert"), GENERATION),
    (956855, ("Sandra", "Boileau"), TO_CHECK),
)
REFERENCE_COMPANY = ("Boileau Colbert Conseil", "434202180")

# Where the other orders stand, drawn in these proportions.
PHASE_MIX = ((ENTRY, 30), (TO_CHECK, 80), (IN_SIGNATURE, 45), (TO_VALIDATE, 40),
             (GENERATION, 35), (HANDOVER, 25), (DONE, 35), (CANCELLED, 10))

FIRST_NAMES = ("Claire", "Thomas", "Julie", "Nicolas", "Émilie", "Hugo", "Léa", "Mathieu", "Inès",
               "Antoine", "Chloé", "François", "Manon", "Sébastien", "Camille", "Loïc", "Hélène",
               "Maxime", "Océane", "Rémi", "Sophie", "Étienne", "Margaux", "Benoît", "Zoé")
LAST_NAMES = ("Durand", "Lefèvre", "Moreau", "Girard", "Mercier", "Blanc", "Guérin", "Faure",
              "Roussel", "Chevalier", "François", "Perrin", "Morel", "Lambert", "Bonnet", "Dupuis",
              "Gauthier", "Fontaine", "Rousseau", "Vincent", "Muller", "Lemoine", "Brunet", "Garnier")
COMPANY_WORDS = ("Bâtiment", "Conseil", "Ingénierie", "Transports", "Boulangerie", "Notariat",
                 "Architecture", "Pharmacie", "Informatique", "Cabinet", "Menuiserie", "Avocats")
CITIES = ("Toulouse", "Montpellier", "Lyon", "Grenoble", "Saint-Étienne", "Nîmes", "Annecy",
          "Perpignan", "Valence", "Albi")


def seed_orders(app: Flask, bpoi: AE, other: AE, store: DocumentStore, order_count: int,
                with_lifecycle: bool = True) -> tuple[int, dict[int, str]]:
    """Create the missing orders, each taken to its stage, and take further those an
    interrupted start left short of it; returns how many orders were created, and {number:
    final phase} of the orders whose holder certificates demo.holder_keys makes. With
    ``with_lifecycle``, demo.lifecycle's orders of last year are among them."""
    portals = {p.id: p for p in Portal.select().where(Portal.ae.in_([bpoi, other]))}
    by_ae = {ae.id: sorted((p for p in portals.values() if p.ae_id == ae.id), key=lambda p: p.name)
             for ae in (bpoi, other)}
    plans = _order_plans(random.Random(960072), by_ae[bpoi.id], by_ae[other.id], order_count)
    if with_lifecycle:
        plans += _lifecycle_plans(by_ae[bpoi.id])
    existing = {number: (order_id, (phase, substate)) for number, order_id, phase, substate in
                Order.select(Order.number, Order.id, Order.phase, Order.substate).tuples()}
    missing = [plan for plan in plans if plan["number"] not in existing]
    behind = {existing[plan["number"]][0]: plan for plan in plans if plan["number"] in existing
              and progress.is_behind(existing[plan["number"]][1], plan["stage"])}
    for order_id in sorted(progress.untouched(list(behind)) if behind else ()):
        progress.advance(app, Order.get_by_id(order_id), behind[order_id]["stage"])
    if missing:
        _create(app, missing, portals, store)
        _age([plan["number"] for plan in missing], utcnow())
    certified = {plan["number"]: plan["stage"][0] for plan in plans if plan["stage"] in CERTIFIED}
    return len(missing), certified


def _create(app: Flask, missing: list[dict], portals: dict, store: DocumentStore) -> None:
    # Rendering the images and PDFs, and signing the contracts, take every core: renderers never
    # touch the database; this process writes each new order's rows, then hands the order to
    # a signing process (an app of its own) that takes it to its stage.
    for ae_id in {portal.ae_id for portal in portals.values()}:
        pades.ae_seal(app, AE.get_by_id(ae_id))  # made once, before the signers share it
    cores = os.cpu_count() or 1
    spawn = multiprocessing.get_context("spawn")
    settings = {name: app.config[name] for name in (*Config().as_dict(), "TESTING")
                if name in app.config}
    with ProcessPoolExecutor(max(1, min(cores, 4)), mp_context=spawn) as renderers, \
            ProcessPoolExecutor(max(1, min(cores, 2)), mp_context=spawn,
                                initializer=_start_signer, initargs=(settings,)) as signers:
        progressing = {}
        for plan, documents in zip(missing, renderers.map(_render_documents, missing, chunksize=4)):
            order = _create_order(plan, portals[plan["portal_id"]], documents, store)
            progressing[signers.submit(_advance, order.id, plan["stage"])] = plan
        locked_out = []
        for done, future in enumerate(as_completed(progressing), start=1):
            if not future.result():
                locked_out.append(progressing[future])
            if done % 50 == 0 or done == len(missing):
                print(f"Commandes de démonstration : {done}/{len(missing)}", flush=True)
    for plan in locked_out:  # this process alone writes now
        progress.advance(app, Order.get(Order.number == plan["number"]), plan["stage"])


def _age(numbers: list[int], now: dt.datetime) -> None:
    """« En attente depuis » as a desk has it: each new order in progress has waited in its
    sub-state from an hour to nine days (never from before it was made), some past the AE's
    « en retard » threshold. Its history keeps the seeding's times: the demo sends, signs and
    validates when it starts."""
    rng = random.Random(960073)
    finished = (workflow.PHASE_DONE, workflow.PHASE_CANCELLED)
    for order_id, created_at in (Order.select(Order.id, Order.created_at)
                                 .where(Order.number.in_(numbers) & Order.phase.not_in(finished))
                                 .order_by(Order.number).tuples()):
        since = max(created_at, now - dt.timedelta(hours=rng.uniform(1, 24 * 9)))
        Order.update(state_since=since).where(Order.id == order_id).execute()


_signer_app: Flask | None = None


def _start_signer(settings: dict) -> None:
    global _signer_app
    from app import create_app
    _signer_app = create_app(settings)


def _advance(order_id: int, stage: tuple) -> bool:
    """In a signing process: demo.progress.advance for one order. False when SQLite stayed
    locked by the other writers beyond its busy timeout: the order is taken further later,
    from where it stopped."""
    try:
        with db.connection_context():
            progress.advance(_signer_app, Order.get_by_id(order_id), stage)
    except OperationalError as error:
        if "locked" not in str(error):
            raise
        return False
    return True


def _order_plans(rng: random.Random, bpoi_portals, other_portals, order_count: int) -> list[dict]:
    """Every order's facts, drawn from a fixed seed so each start plans the same orders."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    stages = [stage for stage, weight in PHASE_MIX for _ in range(weight)]
    rng.shuffle(stages)
    stages = [stage for stage, _ in PHASE_MIX] + stages  # even a small demo shows every stage
    reference = {number for number, _, _ in REFERENCE_ORDERS}
    numbers = [n for n in range(956800, 960080, 11)
               if n not in reference][:max(0, order_count - len(REFERENCE_ORDERS))]
    plans = []
    for index, number in enumerate(numbers):
        foreign = index % 12 == 5  # about one order in twelve belongs to the other AE
        portal = rng.choice(other_portals if foreign else bpoi_portals)
        plans.append(_drawn_plan(rng, number, portal, stages[index % len(stages)], now))
    for offset, (number, (first, last), stage) in enumerate(REFERENCE_ORDERS):
        legal = ("Mme", "Alice", "Colbert") if last == "Boileau" else ("Mme", "Sandra", "Boileau")
        plans.append({
            "number": number, "portal_id": bpoi_portals[offset % len(bpoi_portals)].id,
            "stage": stage, "holder": ("Mme", first, last), "legal": legal, "mandataire": None,
            "company": REFERENCE_COMPANY, "rcs": True, "city": "Toulouse", "order_type": "D",
            "validity": 3, "created_at": _created_at(now, number), "otp_ok": True,
        })
    return plans


def _lifecycle_plans(bpoi_portals) -> list[dict]:
    """BPOI orders « Terminée » a year ago, dematerialised, for one year, their Contact OTP the
    holder's mobile (a revocation code goes there); drawn apart, so the others stay the same."""
    rng = random.Random(960074)
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    return [{**_drawn_plan(rng, number, rng.choice(bpoi_portals), DONE, now), "order_type": "D",
             "validity": lifecycle.VALIDITY_YEARS, "otp_ok": True}
            for number in lifecycle.NUMBERS]


def _drawn_plan(rng: random.Random, number: int, portal: Portal, stage: tuple,
               now: dt.datetime) -> dict:
    """One order's facts drawn from ``rng`` (always in the same order: each start plans the
    same orders)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city = rng.choice(CITIES)
    return {
        "number": number, "portal_id": portal.id, "stage": stage,
        "holder": (rng.choice(("M.", "Mme")), first, last),
        "legal": (rng.choice(("M.", "Mme")), rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)),
        "mandataire": ((rng.choice(("M.", "Mme")), rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))
                       if rng.random() < 0.25 else None),
        "company": (f"{rng.choice(COMPANY_WORDS)} {last} {city}", _siren(rng)),
        "rcs": rng.random() < 0.85, "city": city,
        "order_type": "P" if rng.random() < 0.08 else "D",
        "validity": rng.choice((1, 2, 3)),
        "created_at": _created_at(now, number),
        # A dossier sent for signature had a valid Contact OTP (a guard of the sending).
        "otp_ok": rng.random() < 0.9 or progress.is_behind(TO_CHECK, stage),
    }


def _created_at(now: dt.datetime, number: int) -> dt.datetime:
    """Numbers grow with time: the newest demo order is two hours old, the oldest ~4 months."""
    return now - dt.timedelta(hours=(960080 - number) * 0.9 + 2)


def _siren(rng: random.Random) -> str:
    """A random SIREN with a valid Luhn key (never the reference rows' one)."""
    while True:
        prefix = "".join(str(rng.randint(0, 9)) for _ in range(8))
        siren = next(prefix + key for key in "0123456789"
                     if workflow.siren_problem(prefix + key) is None)
        if siren != REFERENCE_COMPANY[1]:
            return siren


def _person(ae: AE, civility: str, first: str, last: str) -> Person:
    slug = f"{first}.{last}".lower().replace(" ", "-")
    ascii_slug = unicodedata.normalize("NFKD", slug).encode("ascii", "ignore").decode()
    return Person.create(ae=ae, civility=civility, first_name=first, last_name=last,
                         email=f"{ascii_slug}@exemple.fr", phone="06 12 34 56 78")


def _created_stage(plan: dict) -> tuple[str, str | None]:
    """Where the order starts: « à vérifier » when the production code takes it further (a
    dematerialised order past that point), else its stage; a paper order due a certificate
    waits in « Génération du certificat » for demo.holder_keys."""
    if plan["order_type"] == "D" and progress.is_behind(TO_CHECK, plan["stage"]):
        return TO_CHECK
    return GENERATION if plan["stage"] in CERTIFIED else plan["stage"]


def _create_order(plan: dict, portal: Portal, documents: list, store: DocumentStore) -> Order:
    # The files first, outside the transaction: the signing processes wait for none of it.
    stored = [(kind, status, data, store.put(data) if data is not None else None)
              for kind, status, data in documents]
    for attempt in range(3):
        try:
            with db.atomic():
                return _order_rows(plan, portal, stored)
        except OperationalError as error:  # SQLite busy beyond its timeout: try again
            if "locked" not in str(error) or attempt == 2:
                raise


def _order_rows(plan: dict, portal: Portal, documents: list) -> Order:
    ae = portal.ae
    phase, substate = _created_stage(plan)
    company = Company.create(ae=ae, name=plan["company"][0], siren=plan["company"][1],
                             rcs_registered=plan["rcs"])
    holder = _person(ae, *plan["holder"])
    legal = _person(ae, *plan["legal"])
    mandataire = _person(ae, *plan["mandataire"]) if plan["mandataire"] else None
    checked = plan["stage"] not in (ENTRY, TO_CHECK)  # the operator recorded the ID number
    validated = (phase, substate) in (GENERATION, *CERTIFIED)  # paper orders only, see above
    draft = plan["stage"] == ENTRY
    # A draft's requester came back lately (drafts untouched for RADESK_DRAFT_DAYS are cancelled).
    touched = max(plan["created_at"], utcnow() - dt.timedelta(days=3)) if draft else plan["created_at"]
    order = Order.create(
        number=plan["number"], ae=ae, portal=portal, created_at=plan["created_at"],
        updated_at=touched, submitted_at=None if draft else plan["created_at"], company=company, holder=holder, legal_representative=legal,
        mandataire=mandataire, requester_name=f"{legal.first_name} {legal.last_name}",
        requester_email=legal.email, validity_years=plan["validity"], phase=phase,
        substate=substate, order_type=plan["order_type"],
        otp_contact=holder.phone if plan["otp_ok"] else "01 23",
        id_doc_type="CNI" if checked else None,
        id_doc_number=pieces.holder_id_number(plan["number"]) if checked else None,
        payment_ok=validated, dossier_complete_ok=validated,
        validated_at=plan["created_at"] + dt.timedelta(days=2) if validated else None,
        **holder_search_fields(holder.first_name, holder.last_name),
    )
    for kind, status, data, stored in documents:
        category = workflow.DOCUMENT_KINDS[kind].category
        if stored is None:
            Document.create(order=order, kind=kind, category=category, status=status)
            continue
        document = Document.create(
            order=order, kind=kind, category=category, status=status,
            filename=f"{kind}-{order.number}.{_extension(stored.media_type)}", sha256=stored.sha256,
            media_type=stored.media_type, size=stored.size, page_count=stored.page_count,
            crc32=zlib.crc32(data),  # lets the dossier ZIP stream the file untouched
            imported_at=order.created_at + dt.timedelta(minutes=5), imported_by_label="Demandeur",
        )
        # Read by the reading job as an upload would be: the README tour's orders first, then
        # the dossiers under review, then the rest.
        piece_readings.queue(document, _reading_asked(order.number, phase))
    audit.record(ACTION_DRAFT_STARTED if draft else ACTION_ORDER_RECEIVED, ae=ae, order=order,
                 actor="portail", details={"portal": portal.name, "number": order.number})
    return order


def _reading_asked(number: int, phase: str) -> dt.datetime | None:
    if number in pieces.REFERENCE_ORDER_NUMBERS:
        return utcnow() - dt.timedelta(days=2)
    return utcnow() - dt.timedelta(days=1) if phase == "validation" else None


def _render_documents(plan: dict) -> list[tuple[str, str, bytes | None]]:
    """(kind, status, bytes or None when not uploaded yet) of the supporting documents of one
    planned order. Pure: runs in worker processes. In the entry phase some are still missing.
    The contractual documents are made by « Envoyer pour signature » (demo.progress)."""
    shape = SimpleNamespace(order_type=plan["order_type"],
                            mandataire_id=1 if plan["mandataire"] else None,
                            company=SimpleNamespace(rcs_registered=plan["rcs"]))
    rng = random.Random(plan["number"])
    documents = []
    for kind in workflow.required_document_kinds(shape):
        if workflow.DOCUMENT_KINDS[kind].category == workflow.CATEGORY_CONTRACTUAL:
            continue
        if plan["stage"] == ENTRY and rng.random() < 0.5:
            documents.append((kind, "not_imported", None))
        else:
            documents.append((kind, "imported", _justificatif_bytes(kind, plan, rng)))
    return documents


def _full_name(person: tuple | None) -> str | None:
    return f"{person[1]} {person[2]}" if person else None


def _justificatif_bytes(kind: str, plan: dict, rng: random.Random) -> bytes:
    """The identity documents and KBIS extracts are made to be read (demo.pieces)."""
    company_name, siren = plan["company"]
    if kind == "kbis":
        return pieces.kbis_piece(plan, f"12 rue de la République, {plan['city']}",
                                 _full_name(plan["legal"]))
    if kind == "payment_proof":
        return docs.payment_proof_pdf(plan["number"], company_name, 189.0 + 60 * plan["validity"],
                                      plan["created_at"].date())
    person = {"holder_id": plan["holder"], "legal_rep_id": plan["legal"],
              "mandataire_id": plan["mandataire"]}[kind]
    return pieces.identity_piece(kind, plan, person)


def _extension(media_type: str) -> str:
    return {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}[media_type]
