"""Builds a benchmark archive: 100,000 orders and 500,000 documents (rows only; the files are
not needed to time lists and order files) on the database named by DATABASE_URL, with each
order's history for the « Statistiques » page (bench.history), and a team's day: six operators
handling most open orders (« Prise en charge »), each holder's own e-mail and telephone, and
requesters' addresses that a few orders share.

    RADESK_INSTANCE_PATH=/tmp/bench DATABASE_URL=sqlite:////tmp/bench/radesk.db \
        .venv/bin/python -m bench.generate --orders 100000
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from models import (AE, Company, Document, Operator, OperatorCertificate, Order, Person,  # noqa: E402
                    Portal, db, holder_search_fields, phone_key, search_key, utcnow)
import workflow  # noqa: E402
from bench import history  # noqa: E402
from bench.history import insert_returning_ids as _insert  # noqa: E402
from services.orders import substate_tally  # noqa: E402

BATCH = 2000
PORTALS = ("BPOI-Occitanie", "BPOI-Rhône", "BPOI-Rhône-Alpes")
# A real archive: most orders are finished; a few percent wait in each active stage.
STAGES = ((("done", None), 70), (("cancelled", None), 5), (("entry", None), 3),
          (("validation", "to_check"), 6), (("validation", "in_signature"), 4),
          (("validation", "to_validate"), 4), (("generation", None), 4), (("handover", None), 4))
FIRST = ("Claire", "Thomas", "Julie", "Nicolas", "Émilie", "Hugo", "Léa", "Mathieu", "Inès", "Sandra")
# About 4,000 surnames, as varied as a real archive's: the commonest covers well under 1 %.
SYLLABLES = ("bo", "la", "mer", "ri", "du", "fon", "ta", "ne", "gi", "rard", "lau", "vin", "cent",
             "mo", "reau", "che", "val", "lier", "per", "rin", "bon", "net", "ber", "trand", "leau")
LAST = tuple(sorted({(a + b + c).capitalize() for a in SYLLABLES for b in SYLLABLES for c in
                     ("", "t", "au", "in", "et", "ard", "ier")}))
PAPER_SHARE = 0.1  # orders of type « P » (paper), the rest « D »
KINDS = ("cgu", "subscription_contract", "authorization_letter", "holder_id", "payment_proof")
COLLEAGUES = 5        # besides « Opérateur Banc », who reads the pages
HANDLED_SHARE = 0.6   # of the orders in a phase someone handles
REQUESTERS = 20_000   # requesters' addresses: about five orders each


def generate(order_count: int) -> None:
    rng = random.Random(100_000)
    # The histories draw from their own generator: the orders stay those bench_orders times.
    history_rng, now = random.Random(300_000), utcnow()
    ae, _ = AE.get_or_create(name="BENCH")
    portals = [Portal.get_or_create(ae=ae, name=name)[0] for name in PORTALS]
    operator, created = Operator.get_or_create(ae=ae, display_name="Opérateur Banc",
                                               defaults={"roles": "AEA,AET,admin"})
    if created:
        OperatorCertificate.create(operator=operator, fingerprint_sha256="b" * 64, subject="CN=Banc",
                                   issuer="CN=Banc", serial_hex="01", pem="",
                                   not_after=utcnow().replace(year=2099))
    team = [operator.id] + [Operator.get_or_create(ae=ae, display_name=f"Collègue {n}",
                                                   defaults={"roles": "AEA,AET"})[0].id
                            for n in range(1, COLLEAGUES + 1)]
    # The team's fields draw from their own generator too: the orders stay the same.
    team_rng = random.Random(400_000)
    first_number = (Order.select(Order.number).order_by(Order.number.desc()).scalar() or 1_000_000) + 1
    start = utcnow() - dt.timedelta(days=3 * 365)
    began = time.perf_counter()
    for offset in range(0, order_count, BATCH):
        size = min(BATCH, order_count - offset)
        with db.atomic():
            # Orders are spread evenly over the three years: this batch starts where it falls.
            batch_start = start + (offset / order_count) * dt.timedelta(days=3 * 365)
            _batch(rng, ae, portals, first_number + offset, size, batch_start, order_count,
                   history_rng, now, team_rng, team)
        print(f"{offset + size}/{order_count} commandes ({time.perf_counter() - began:.0f} s)", flush=True)


def _batch(rng, ae, portals, first_number, size, start, total, history_rng, now, team_rng,
           team) -> None:
    companies = [{"ae": ae.id, "name": f"Société {n}", "siren": f"{rng.randrange(10**8, 10**9)}",
                  "rcs_registered": True, "name_search": search_key(f"Société {n}")}
                 for n in range(size)]
    company_ids = _insert(Company, companies)
    people = []
    for _ in range(size):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        phone = f"06 {team_rng.randrange(10**8):08d}"
        people.append({"ae": ae.id, "civility": "Mme", "first_name": first, "last_name": last,
                       "email": f"{search_key(first)}.{search_key(last)}"
                                f".{team_rng.randrange(10**6)}@exemple.fr",
                       "phone": phone, "phone_search": phone_key(phone)})
        people.append({"ae": ae.id, "civility": "M.", "first_name": "Alain", "last_name": "Colbert",
                       "email": "rl@example.org", "phone": ""})
    person_ids = _insert(Person, people)
    orders = []
    for index in range(size):
        number = first_number + index
        phase, substate = rng.choices([s for s, _ in STAGES], [w for _, w in STAGES])[0]
        holder = people[2 * index]
        created = start + dt.timedelta(minutes=(number - first_number) * 3 * 365 * 24 * 60 / total)
        orders.append({
            "number": number, "ae": ae.id, "portal": rng.choice(portals).id, "created_at": created,
            "updated_at": created, "company": company_ids[index], "holder": person_ids[2 * index],
            "legal_representative": person_ids[2 * index + 1], "phase": phase, "substate": substate,
            "order_type": "P" if rng.random() < PAPER_SHARE else "D",
            "otp_contact": "0612345678", "process": "generation",
            "requester_email": f"achats{team_rng.randrange(REQUESTERS)}@exemple.fr",
            **holder_search_fields(holder["first_name"], holder["last_name"]),
            **_handling(team_rng, team, phase, now),
        })
    timelines = [history.Timeline(history_rng, order, now) for order in orders]
    order_ids = _insert(Order, orders)
    history.insert_rows(history_rng, ae.id, order_ids, timelines)
    documents = [{"order": order_id, "kind": kind, "category": workflow.DOCUMENT_KINDS[kind].category,
                  "status": "imported" if workflow.DOCUMENT_KINDS[kind].category == "justificatif" else "unsigned",
                  "sha256": f"{order_id:064x}", "media_type": "application/pdf", "size": 50_000,
                  "page_count": 2, "imported_at": start, "imported_by_label": "Demandeur"}
                 for order_id in order_ids for kind in KINDS]
    Document.insert_many(documents).execute()


def _handling(team_rng, team, phase: str, now) -> dict:
    """Who handles an order in a phase someone handles (most of them), and since when."""
    if phase not in workflow.HANDLING_ROLES or team_rng.random() >= HANDLED_SHARE:
        return {"handled_by": None, "handled_since": None}
    return {"handled_by": team_rng.choice(team),
            "handled_since": now - dt.timedelta(hours=team_rng.randrange(1, 24 * 30))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100_000)
    arguments = parser.parse_args()
    create_app()
    with db.connection_context():
        build_archive(arguments.orders)


def build_archive(order_count: int) -> None:
    """The archive, its list counters and its planner statistics, on the app's database."""
    generate(order_count)
    substate_tally.fold()  # the order triggers' 100,000 rows summed up, as the job would
    db.execute_sql("ANALYZE")  # fresh statistics, as a real archive's planner would have


if __name__ == "__main__":
    main()
