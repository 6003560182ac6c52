"""Server time of the Commandes list (several filter combinations) and of the order file, on
the archive made by bench.generate, next to the raw SQL time of the same page's list query.
Targets: p95 ≤ 30 ms for a list page, ≤ 40 ms for the order file, on SQLite and PostgreSQL
(DATABASE_URL says which). ``--profile N`` then profiles N list pages (no filter) and N order
files (cProfile) and prints where the time goes and how many SQL statements each page sends.

    RADESK_INSTANCE_PATH=/tmp/bench DATABASE_URL=sqlite:////tmp/bench/radesk.db \
        .venv/bin/python -m bench.bench_orders [--runs 50] [--profile 200]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from models import Operator, OperatorScope, Order, Portal, db  # noqa: E402
from services.orders import order_file, order_search  # noqa: E402
from services.operator_auth.sessions import open_session  # noqa: E402

COMBINATIONS = {
    "aucun filtre": "",
    "n° exact": "number={number}",
    "nom (début du nom de famille)": "name={surname}",
    "SIREN": "siren={siren}",
    "sous-état à vérifier": "substate=to_check",
    "portail + phase": "portal={portal}&phase=generation",
    "période + nom": "from=2025-01-01&to=2025-06-30&name={surname_start}",
    "tri n° croissant, page 50": "sort=number_asc&page=50",
    "type P (papier)": "type=P",
    "période d'un an": "from=2025-01-01&to=2025-12-31",
    "phase terminée": "phase=done",
    "type P + période + sous-état": "type=P&from=2025-01-01&to=2025-12-31&substate=to_validate",
    # Team work: « Prise en charge », « en attente », « En attente depuis » and the searches.
    "mes dossiers": "handler=me",
    "mes dossiers à traiter": "handler=me_to_do",
    "non attribuées": "handler=none",
    "sous-état en attente": "substate=on_hold",
    "tri en attente depuis": "sort=waiting_desc",
    "e-mail (porteur)": "email={email}",
    "e-mail (demandeur)": "email={requester_email}",
    "raison sociale (début)": "company={company}",
    "téléphone du porteur": "phone={phone}",
    # The orders « Statistiques » counts as received over a year (dates of receipt).
    "période d'un an, réception": "dates=received&from=2025-01-01&to=2025-12-31",
}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


def timed(function, runs: int, warm_up: bool = True) -> list[float]:
    if warm_up:
        function()  # first query plans and page cache
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        function()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def cpu_loop() -> None:
    """A fixed pure-Python loop, timed with the pages: on a shared virtual machine the CPU itself
    is at times nearly twice slower, which shows here as it shows in the pages' p95."""
    total = 0
    for number in range(200_000):
        total += number * number


TARGET_LIST_P95, TARGET_FILE_P95 = 30.0, 40.0


def profile_pages(client, paths: dict[str, list[str]], count: int) -> None:
    """cProfile of ``count`` requests of each page, with the SQL statements each one sends."""
    for label, choices in paths.items():
        profiler = cProfile.Profile()
        with StatementCounter(db.obj) as statements:
            profiler.enable()
            for index in range(count):
                assert client.get(choices[index % len(choices)]).status_code == 200
            profiler.disable()
        print(f"\n== Profil : {label}, {count} pages, {statements.calls / count:.1f} requêtes "
              f"SQL par page ==")
        for key in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(key).print_stats(25)
            print(out.getvalue().split("\n", 6)[-1].rstrip(), flush=True)


class StatementCounter:
    """Counts the statements a database sends while the block runs."""

    def __init__(self, database):
        self.database, self.calls = database, 0

    def __enter__(self):
        original = self.database.execute_sql

        def counted(*arguments, **keywords):
            self.calls += 1
            return original(*arguments, **keywords)
        self.database.execute_sql = counted
        return self

    def __exit__(self, *exc):
        del self.database.execute_sql  # the class's method again


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--profile", type=int, default=0,
                        help="then profile this many list pages and order files (cProfile)")
    arguments = parser.parse_args()
    runs = arguments.runs
    app = create_app()
    client = app.test_client()
    with db.connection_context():
        operator = Operator.get(Operator.display_name == "Opérateur Banc")
        scope = OperatorScope(operator)
        sample = Order.visible_to(scope).order_by(Order.id.desc()).first()
        portal = Portal.select().where(Portal.ae == operator.ae).first()
        certificate = operator.certificates.get()
        total = Order.visible_to(scope).count()
        _, token = open_session(operator, certificate.fingerprint_sha256, method="bridge")
    with client.session_transaction() as session:
        session["_user_id"] = token
    engine = type(db.obj).__name__.replace("Pooled", "").replace("Database", "")
    print(f"{total} commandes, {engine}, {runs} mesures par ligne (ms), mesures entrelacées")
    surname = sample.holder.last_name.lower()
    # Each holder has an address and a telephone of their own; a requester's address is
    # shared by about five orders (bench.generate).
    values = {key: quote(str(value)) for key, value in {
        "number": sample.number, "siren": sample.company.siren, "portal": portal.id,
        "surname": surname[:6], "surname_start": surname[:3], "email": sample.holder.email,
        "requester_email": sample.requester_email,
        "company": sample.company.name, "phone": sample.holder.phone}.items()}
    with db.connection_context():
        ids = [o.id for o in Order.visible_to(scope).order_by(Order.id).limit(2000)]
    rng = random.Random(7)

    def get(path):
        def request():
            assert client.get(path).status_code == 200
        return request

    def rows_sql(query_string):
        from werkzeug.datastructures import MultiDict
        args = MultiDict(parse_qsl(query_string))

        def run():
            with db.connection_context():
                filters = order_search.parse_filters(args, scope)
                offset = (int(args.get("page", 1)) - 1) * 50
                ids = order_search.page_ids(scope, filters, offset, 51)
                order_file.list_rows(ids, scope, excluding=operator)
        return run

    lines = {}
    for name, template in COMBINATIONS.items():
        query_string = template.format(**values)
        lines[name] = (get(f"/commandes?{query_string}"), rows_sql(query_string))
    lines["fiche de commande"] = (lambda: get(f"/commandes/{rng.choice(ids)}")(), None)
    lines["référence CPU (boucle fixe)"] = (cpu_loop, None)
    # Round after round over every line, so that the machine's slower spells fall on all alike.
    samples = {name: ([], []) for name in lines}
    for function, sql in lines.values():
        function()
        sql and sql()
    for _ in range(runs):
        for name, (function, sql) in lines.items():
            samples[name][0].extend(timed(function, 1, warm_up=False))
            if sql:
                samples[name][1].extend(timed(sql, 1, warm_up=False))
    print(f"{'':32} {'p50':>7} {'p95':>7} {'SQL p50':>8} {'SQL p95':>8}   (SQL : les 2 requêtes des lignes)")
    worst = {"list": 0.0, "file": 0.0}
    for name, (page_samples, sql_samples) in samples.items():
        p50, p95 = percentiles(page_samples)
        sql_columns = "{:8.1f} {:8.1f}".format(*percentiles(sql_samples)) if sql_samples else ""
        print(f"{name:32} {p50:7.1f} {p95:7.1f} {sql_columns}")
        if name in COMBINATIONS:
            worst["list"] = max(worst["list"], p95)
        elif name == "fiche de commande":
            worst["file"] = p95
    for key, label, target in (("list", "liste, pire p95", TARGET_LIST_P95),
                               ("file", "fiche de commande, p95", TARGET_FILE_P95)):
        verdict = "OK" if worst[key] <= target else "NON ATTEINTE"
        print(f"{label} : {worst[key]:.1f} ms [cible ≤ {target:.0f} ms : {verdict}]")
    if arguments.profile:
        profile_pages(client, {"liste sans filtre": ["/commandes"],
                               "fiche de commande": [f"/commandes/{i}" for i in ids[:200]]},
                      arguments.profile)


if __name__ == "__main__":
    main()
