"""« Actions sur la sélection » at scale: a bulk « Attribuer à » (or, with ``--action hold``,
« Mettre en attente », done order by order) of 5,000 orders of the archive made by
bench.generate, asked through the page (Flask test client: the request only queues the job) and
carried out by the worker as the scheduler runs it; then the result page. Target: « Attribuer
à » done by the worker in ≤ 20 s on SQLite.

    RADESK_INSTANCE_PATH=/tmp/bench DATABASE_URL=sqlite:////tmp/bench/radesk.db \\
        .venv/bin/python -m bench.bench_bulk --runs 3
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from models import (AuditEvent, BulkJob, Operator, OperatorCertificate, Order, db,  # noqa: E402
                    utcnow)
from services.bulk import jobs  # noqa: E402
from services.operator_auth.sessions import open_session  # noqa: E402

COLLEAGUES = ("Opérateur Banc A", "Opérateur Banc B")  # the orders go to one, then the other


def colleagues(operator: Operator) -> list[Operator]:
    people = []
    for name in COLLEAGUES:
        person, _ = Operator.get_or_create(ae=operator.ae, display_name=name,
                                           defaults={"roles": "AEA,AET"})
        people.append(person)
    return people


def session_of(app, operator: Operator):
    client = app.test_client()
    certificate = OperatorCertificate.get(OperatorCertificate.operator == operator)
    _, token = open_session(operator, certificate.fingerprint_sha256, method="bridge")
    with client.session_transaction() as session:
        session["_user_id"] = token
    return client


def csrf(client) -> str:
    page = client.get("/commandes").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--action", choices=("assign", "hold"), default="assign",
                        help="hold: « Mettre en attente », order by order (changes the archive "
                             "for good: its orders stay on hold)")
    arguments = parser.parse_args()
    app = create_app()
    with db.connection_context():
        operator = Operator.get(Operator.display_name == "Opérateur Banc")
        targets = colleagues(operator)
        # The newest orders an operator handles (validation, generation, hand-over).
        if arguments.action == "hold":  # sent orders in validation, not on hold yet
            where = (Order.phase == "validation") & Order.on_hold_at.is_null()
        else:
            where = Order.phase.in_(["validation", "generation", "handover"])
        ids = [order_id for (order_id,) in Order
               .select(Order.id)
               .where((Order.ae == operator.ae) & where)
               .order_by(Order.created_at.desc())
               .limit(arguments.orders)
               .tuples()]
        total = Order.select().where(Order.ae == operator.ae).count()
    client = session_of(app, operator)
    label = {"assign": "Attribuer à", "hold": "Mettre en attente"}[arguments.action]
    print(f"{total} commandes dans l'archive ; « {label} » sur {len(ids)} commandes, "
          f"{arguments.runs} passage(s)", flush=True)
    asked, worked, shown = [], [], []
    for run in range(arguments.runs):
        target = targets[run % 2]
        token = csrf(client)
        began = time.perf_counter()
        answer = client.post("/commandes/actions", data={
            "csrf_token": token, "action": arguments.action, "ids": ",".join(map(str, ids)),
            "operator_id": str(target.id), "comment": "Pièce manquante : relance groupée."})
        asked.append(time.perf_counter() - began)
        assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
        job_id = int(answer.headers["Location"].rsplit("/", 1)[1])
        with db.connection_context():
            events_before = AuditEvent.select().count()
            began = time.perf_counter()
            jobs.run_pending(app)
            worked.append(time.perf_counter() - began)
            job = BulkJob.get_by_id(job_id)
            events = AuditEvent.select().count() - events_before
        began = time.perf_counter()
        page = client.get(f"/commandes/actions/{job_id}")
        shown.append(time.perf_counter() - began)
        assert page.status_code == 200
        print(f"passage {run + 1} : demande {asked[-1] * 1000:.0f} ms, travail {worked[-1]:.1f} s "
              f"({worked[-1] / max(job.total, 1) * 1000:.2f} ms par commande), page de résultat "
              f"{shown[-1] * 1000:.0f} ms — {job.done} faites, {job.refused} refusées, "
              f"{events} événements d'audit", flush=True)
    print(f"médianes : demande {statistics.median(asked) * 1000:.0f} ms, travail "
          f"{statistics.median(worked):.1f} s, page de résultat "
          f"{statistics.median(shown) * 1000:.0f} ms (objectif : travail ≤ 20 s) — {utcnow():%d/%m/%Y %H:%M} UTC")


if __name__ == "__main__":
    main()
