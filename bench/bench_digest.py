"""The activity digest's run at 50 portals and 100,000 orders: the one grouped
counting query, and a whole run that queues the digests of 20 operators (counts, contents,
outbox rows, once-only rows, audit). Target: ≤ 100 ms. Builds its own SQLite archive in a
temporary folder (orders only: the counts read nothing else).

    .venv/bin/python -m bench.bench_digest [--orders 100000 --portals 50 --runs 20]
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from bench.generate import STAGES  # noqa: E402
from models import (AE, Company, Operator, OperatorPortal, Order, Person, Portal, db,  # noqa: E402
                    holder_search_fields)
from services import digest  # noqa: E402
from services.orders.order_search import substate_counts_by_portal  # noqa: E402

OPERATORS = 20


def build(orders: int, portals: int) -> None:
    rng = random.Random(7)
    ae = AE.create(name="BENCH")
    portal_ids = [Portal.create(ae=ae, name=f"Portail {n:02d}").id for n in range(portals)]
    company = Company.create(ae=ae, name="Société", siren="434202180")
    person = Person.create(ae=ae, first_name="Claire", last_name="Martin")
    for n in range(OPERATORS):
        operator = Operator.create(ae=ae, display_name=f"Opérateur {n}", email=f"op{n}@bench.example",
                                   roles=("AEA", "AET", "AEA,AET")[n % 3], digest_enabled=True,
                                   all_portals=n % 2 == 0)
        if n % 2:
            for portal_id in rng.sample(portal_ids, 10):
                OperatorPortal.create(operator=operator, portal=portal_id)
    with db.atomic():
        for first in range(0, orders, 5000):
            rows = []
            for number in range(first, min(orders, first + 5000)):
                phase, substate = rng.choices([s for s, _ in STAGES], [w for _, w in STAGES])[0]
                rows.append({"number": 2_000_000 + number, "ae": ae.id,
                             "portal": rng.choice(portal_ids), "company": company.id,
                             "holder": person.id, "legal_representative": person.id,
                             "phase": phase, "substate": substate,
                             **holder_search_fields("Claire", "Martin")})
            Order.insert_many(rows).execute()
    db.execute_sql("ANALYZE")


def timed(function, runs: int) -> list[float]:
    samples = []
    for run in range(runs):
        began = time.perf_counter()
        function(run)
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--portals", type=int, default=50)
    parser.add_argument("--runs", type=int, default=20)
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="radesk-bench-digest-"))
    app = create_app({"INSTANCE_PATH": folder, "DATABASE_URL": f"sqlite:///{folder / 'radesk.db'}",
                      "SECRET_KEY": "bench", "TESTING": True})
    with app.app_context(), db.connection_context():
        began = time.perf_counter()
        build(arguments.orders, arguments.portals)
        print(f"Archive : {arguments.orders} commandes, {arguments.portals} portails "
              f"({time.perf_counter() - began:.0f} s)")
        ae_ids = [AE.get(AE.name == "BENCH").id]
        substate_counts_by_portal(ae_ids)  # warm-up
        query = timed(lambda _: substate_counts_by_portal(ae_ids), arguments.runs)
        first_slot = dt.datetime(2026, 1, 1, 6, 15)

        def whole_run(run: int):
            report = digest.run(app, first_slot + dt.timedelta(days=run + 1))
            assert report.queued == OPERATORS, report

        digest.run(app, first_slot)  # warm-up
        whole = timed(whole_run, arguments.runs)
    for label, samples in (("requête groupée des comptes", query),
                           (f"tournée complète ({OPERATORS} résumés mis en boîte d'envoi)", whole)):
        ordered = sorted(samples)
        p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
        print(f"{label} : médiane {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
