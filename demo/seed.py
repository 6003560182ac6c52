"""Demo data: two AEs, their portals, the three demo operators with their SoftHSM2
keys, and ~300 orders spread over every phase and sub-state, each with generated
documents. Idempotent: every piece is created only when it is missing, so a second
start changes nothing.
"""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from flask import Flask

import workflow
from models import AE, Company, Document, Operator, Order, Person, Portal, db, holder_search_fields, utcnow
from services import audit
from demo import documents as docs
from adapters.document_store import DocumentStore

BPOI_PORTALS = ("BPOI-Occitanie", "BPOI-Rhône", "BPOI-Rhône-Alpes")
OTHER_AE, OTHER_PORTALS = "AE Atlantique", ("Atlantique-Nantes", "Atlantique-Bordeaux")
DEMO_PIN, DEMO_SO_PIN = "1234", "12345678"
ORDER_COUNT = 300


@dataclass(frozen=True)
class DemoKey:
    label: str
    ae: str
    display_name: str
    email: str
    roles: str


DEMO_KEYS = (
    DemoKey("demo-aea", "BPOI", "Camille Martin", "camille.martin@bpoi.example", "AEA,admin"),
    DemoKey("demo-aet", "BPOI", "Julien Roux", "julien.roux@bpoi.example", "AET"),
    DemoKey("demo-autre-ae", OTHER_AE, "Nadia Benali", "nadia.benali@atlantique.example", "AEA"),
)

# The seed's rows: (number, holder first name, last name). SIREN 434202180 for all.
SEED_ORDERS = (
    (960072, "Sandra", "Boileau"), (960066, "Alice", "Colbert"), (960017, "Sandra", "Boileau"),
    (959313, "Alice", "Colbert"), (959149, "Sandra", "Boileau"), (958051, "Alice", "Colbert"),
    (956855, "Sandra", "Boileau"),
)
SEED_COMPANY = ("Boileau Colbert Conseil", "434202180")

# Where each demo order stands: (phase, substate), drawn in these proportions.
PHASE_MIX = (
    (("entry", None), 30), (("validation", "to_check"), 80), (("validation", "in_signature"), 45),
    (("validation", "to_validate"), 40), (("generation", None), 35), (("handover", None), 25),
    (("done", None), 35), (("cancelled", None), 10),
)

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


def seed_demo(app: Flask, order_count: int = ORDER_COUNT) -> str:
    """Create whatever demo data is missing; returns a one-line French summary.
    `order_count` (seed rows included) is smaller in tests."""
    instance = Path(app.config["INSTANCE_PATH"])
    with db.connection_context():
        bpoi = _ae("BPOI", BPOI_PORTALS)
        other = _ae(OTHER_AE, OTHER_PORTALS)
        keys_created = _demo_keys(app, instance, {"BPOI": bpoi, OTHER_AE: other})
        store = DocumentStore(instance / "documents")
        orders_created = _orders(bpoi, other, store, order_count)
        # issue 8: holder certificates of the orders in « Remise » / « Terminée », blank keys
        from demo import holder_keys as demo_generation
        certified = demo_generation.seed(app, instance, softhsm_conf_path(instance),
                                         DEMO_PIN, DEMO_SO_PIN)
    return (f"Démo prête : {keys_created} clé(s) créée(s), {orders_created} commande(s) créée(s), "
            f"{certified} certificat(s) de porteur généré(s) (instance {instance}).")


def _ae(name: str, portals: tuple[str, ...]) -> AE:
    with db.atomic():
        ae, created = AE.get_or_create(name=name)
        for portal in portals:
            Portal.get_or_create(ae=ae, name=portal)
        if created:
            audit.record("ae_created", ae=ae, actor="démo", details={"portals": list(portals)})
    return ae


# --- demo keys ---------------------------------------------------------------

def softhsm_conf_path(instance: Path) -> Path:
    return instance / "softhsm" / "softhsm2.conf"


def _demo_keys(app: Flask, instance: Path, aes: dict[str, AE]) -> int:
    """One SoftHSM2 token per demo operator, its auth key generated on the token and its
    certificate issued by the embedded CA and bound to the operator."""
    from adapters.ca import get_ca
    from services.operator_auth.login import bind_certificate, trust_embedded_ca
    from token_bridge import provision

    ca = get_ca(app)
    for ae in aes.values():
        trust_embedded_ca(ae, ca)
    conf = provision.write_softhsm_conf(softhsm_conf_path(instance), instance / "softhsm" / "tokens")
    provision.activate_softhsm_conf(conf)
    module = app.config["PKCS11_MODULE"]
    existing_labels = {label for _, label in provision.softhsm_tokens(conf)}
    created = 0
    for key in DEMO_KEYS:
        ae = aes[key.ae]
        operator = Operator.get_or_none((Operator.ae == ae) & (Operator.display_name == key.display_name))
        if operator is not None and operator.certificates.count():
            continue
        with db.atomic():
            if operator is None:
                operator = Operator.create(ae=ae, display_name=key.display_name, email=key.email,
                                           roles=key.roles, all_portals=True,
                                           digest_enabled=False)
            if key.label in existing_labels:  # left by an interrupted run, never bound: start over
                provision.delete_token(key.label, conf)
            provision.init_token(key.label, DEMO_PIN, DEMO_SO_PIN, conf)
            public_key = provision.generate_auth_keypair(module, key.label, DEMO_PIN, key_type="EC")
            given_name, surname = key.display_name.split(" ", 1)
            certificate = ca.issue_operator_certificate(
                public_key, given_name=given_name, surname=surname, email=key.email,
                organization=ae.name)
            provision.write_certificate(module, key.label, DEMO_PIN, certificate)
            bind_certificate(operator, certificate)
            audit.record("operator_created", ae=ae, actor="démo",
                         details={"operator": key.display_name, "roles": key.roles,
                                  "token": key.label})
        created += 1
    return created


# --- orders ------------------------------------------------------------------

def _orders(bpoi: AE, other: AE, store: DocumentStore, order_count: int) -> int:
    rng = random.Random(960072)
    portals = {p.id: p for p in Portal.select().where(Portal.ae.in_([bpoi, other]))}
    bpoi_portals = sorted((p for p in portals.values() if p.ae_id == bpoi.id), key=lambda p: p.name)
    other_portals = sorted((p for p in portals.values() if p.ae_id == other.id), key=lambda p: p.name)
    plans = _order_plans(rng, bpoi_portals, other_portals, order_count)
    existing = {n for (n,) in Order.select(Order.number).tuples()}
    missing = [plan for plan in plans if plan["number"] not in existing]
    if not missing:
        return 0
    # Rendering the PDFs and images is the slow part: done by every core, in processes that
    # never touch the database; rows and files are written here, one order per transaction.
    workers = max(1, min(os.cpu_count() or 1, 4))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        rendered = pool.map(_render_documents, missing, chunksize=4)
        for done, (plan, documents) in enumerate(zip(missing, rendered), start=1):
            with db.atomic():
                _create_order(plan, portals[plan["portal_id"]], documents, store)
            if done % 50 == 0 or done == len(missing):
                print(f"Commandes de démonstration : {done}/{len(missing)}", flush=True)
    return len(missing)


def _order_plans(rng: random.Random, bpoi_portals, other_portals, order_count: int) -> list[dict]:
    """Every order's facts, drawn from a fixed seed so each start plans the same orders."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    stages = [stage for stage, weight in PHASE_MIX for _ in range(weight)]
    rng.shuffle(stages)
    stages = [stage for stage, _ in PHASE_MIX] + stages  # even a small demo shows every stage
    seed_numbers = {number for number, _, _ in SEED_ORDERS}
    numbers = [n for n in range(956800, 960080, 11) if n not in seed_numbers][:order_count - len(SEED_ORDERS)]
    plans = []
    for index, number in enumerate(numbers):
        foreign = index % 12 == 5  # about one order in twelve belongs to the other AE
        portal = rng.choice(other_portals if foreign else bpoi_portals)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city = rng.choice(CITIES)
        plans.append({
            "number": number, "portal_id": portal.id, "stage": stages[index % len(stages)],
            "holder": (rng.choice(("M.", "Mme")), first, last),
            "legal": (rng.choice(("M.", "Mme")), rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)),
            "mandataire": ((rng.choice(("M.", "Mme")), rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))
                           if rng.random() < 0.25 else None),
            "company": (f"{rng.choice(COMPANY_WORDS)} {last} {city}", _siren(rng)),
            "rcs": rng.random() < 0.85, "city": city,
            "order_type": "P" if rng.random() < 0.08 else "D",
            "validity": rng.choice((1, 2, 3)),
            "created_at": _created_at(now, number),
            "otp_ok": rng.random() < 0.9,
        })
    for offset, (number, first, last) in enumerate(SEED_ORDERS):
        stage = (("validation", "to_check"), ("validation", "in_signature"), ("validation", "to_validate"),
                 ("generation", None), ("handover", None), ("done", None), ("done", None))[offset]
        plans.append({
            "number": number, "portal_id": bpoi_portals[offset % len(bpoi_portals)].id, "stage": stage,
            "holder": ("Mme", first, last),
            "legal": ("Mme", "Alice", "Colbert") if last == "Boileau" else ("Mme", "Sandra", "Boileau"),
            "mandataire": None, "company": SEED_COMPANY, "rcs": True, "city": "Toulouse",
            "order_type": "D", "validity": 3,
            "created_at": _created_at(now, number),
            "otp_ok": True,
        })
    return plans


def _created_at(now: dt.datetime, number: int) -> dt.datetime:
    """Numbers grow with time: the newest demo order is two hours old, the oldest ~4 months."""
    return now - dt.timedelta(hours=(960080 - number) * 0.9 + 2)


def _siren(rng: random.Random) -> str:
    """A random SIREN with a valid Luhn key."""
    digits = [rng.randint(0, 9) for _ in range(8)]
    for check in range(10):
        candidate = digits + [check]
        total = 0
        for position, digit in enumerate(reversed(candidate)):
            doubled = digit * 2 if position % 2 else digit
            total += doubled - 9 if doubled > 9 else doubled
        if total % 10 == 0:
            return "".join(map(str, candidate))
    raise AssertionError("unreachable: one check digit always fits")


def _person(ae: AE, civility: str, first: str, last: str) -> Person:
    slug = f"{first}.{last}".lower().replace(" ", "-")
    return Person.create(ae=ae, civility=civility, first_name=first, last_name=last,
                         email=f"{_ascii(slug)}@exemple.fr", phone="06 12 34 56 78")


def _ascii(text: str) -> str:
    import unicodedata
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _create_order(plan: dict, portal: Portal, documents: list, store: DocumentStore) -> Order:
    ae = portal.ae
    phase, substate = plan["stage"]
    company = Company.create(ae=ae, name=plan["company"][0], siren=plan["company"][1],
                             rcs_registered=plan["rcs"])
    holder = _person(ae, *plan["holder"])
    legal = _person(ae, *plan["legal"])
    mandataire = _person(ae, *plan["mandataire"]) if plan["mandataire"] else None
    past_check = (phase, substate) not in {("entry", None), ("validation", "to_check")}
    validated = phase in {"generation", "handover", "done"}
    order = Order.create(
        number=plan["number"], ae=ae, portal=portal, created_at=plan["created_at"],
        updated_at=plan["created_at"], company=company, holder=holder, legal_representative=legal,
        mandataire=mandataire, requester_name=f"{legal.first_name} {legal.last_name}",
        requester_email=legal.email, validity_years=plan["validity"], phase=phase,
        substate=substate, order_type=plan["order_type"],
        otp_contact=holder.phone if plan["otp_ok"] else "01 23",
        id_doc_type="CNI" if past_check else None,
        id_doc_number=f"{plan['number'] % 10000:04d}{plan['number']:06d}AB" if past_check else None,
        payment_ok=validated, dossier_complete_ok=validated,
        validated_at=plan["created_at"] + dt.timedelta(days=2) if validated else None,
        **holder_search_fields(holder.first_name, holder.last_name),
    )
    for kind, status, data in documents:
        category = workflow.DOCUMENT_KINDS[kind].category
        if data is None:
            Document.create(order=order, kind=kind, category=category, status=status)
            continue
        stored = store.put(data)
        Document.create(
            order=order, kind=kind, category=category, status=status,
            filename=f"{kind}-{order.number}.{_extension(stored.media_type)}", sha256=stored.sha256,
            media_type=stored.media_type, size=stored.size, page_count=stored.page_count,
            crc32=zlib.crc32(data),  # lets the dossier ZIP stream the file untouched
            imported_at=order.created_at + dt.timedelta(minutes=5), imported_by_label="Demandeur",
        )
    audit.record("order_received", ae=ae, order=order, actor="portail",
                 details={"portal": portal.name, "number": order.number})
    return order


def _render_documents(plan: dict) -> list[tuple[str, str, bytes | None]]:
    """(kind, status, bytes or None when not uploaded yet) of one planned order. Pure: runs in
    worker processes. Justificatifs are imported except, in the entry phase, some still
    missing; contractual documents are signed once the order is past signature."""
    phase, substate = plan["stage"]
    shape = SimpleNamespace(order_type=plan["order_type"],
                            mandataire_id=1 if plan["mandataire"] else None,
                            company=SimpleNamespace(rcs_registered=plan["rcs"]))
    rng = random.Random(plan["number"])
    signed = phase in {"generation", "handover", "done"} or substate == "to_validate"
    documents = []
    for kind in workflow.required_document_kinds(shape):
        if workflow.DOCUMENT_KINDS[kind].category == workflow.CATEGORY_CONTRACTUAL:
            documents.append((kind, "signed" if signed else "unsigned", _contract_bytes(kind, plan)))
        elif phase == "entry" and rng.random() < 0.5:
            documents.append((kind, "not_imported", None))
        else:
            documents.append((kind, "imported", _justificatif_bytes(kind, plan, rng)))
    return documents


def _full_name(person: tuple | None) -> str | None:
    return f"{person[1]} {person[2]}" if person else None


def _contract_bytes(kind: str, plan: dict) -> bytes:
    return docs.contract_pdf(
        workflow.DOCUMENT_KINDS[kind].label, plan["number"], plan["company"][0],
        _full_name(plan["holder"]), _full_name(plan["legal"]), _full_name(plan["mandataire"]))


def _justificatif_bytes(kind: str, plan: dict, rng: random.Random) -> bytes:
    company_name, siren = plan["company"]
    if kind == "kbis":
        return docs.kbis_pdf(company_name, siren, f"12 rue de la République, {plan['city']}",
                             _full_name(plan["legal"]), dt.date(2012, 3, 14))
    if kind == "payment_proof":
        return docs.payment_proof_pdf(plan["number"], company_name, 189.0 + 60 * plan["validity"],
                                      plan["created_at"].date())
    person = {"holder_id": plan["holder"], "legal_rep_id": plan["legal"],
              "mandataire_id": plan["mandataire"]}[kind]
    fmt = "PNG" if rng.random() < 0.3 else "JPEG"
    orientation = 6 if fmt == "JPEG" and rng.random() < 0.15 else None
    return docs.id_card_image(person[1], person[2], dt.date(1980, 5, 17),
                              f"{plan['number']:06d}{rng.randint(100000, 999999)}", fmt=fmt,
                              kind="CNI", exif_orientation=orientation)


def _extension(media_type: str) -> str:
    return {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}[media_type]
