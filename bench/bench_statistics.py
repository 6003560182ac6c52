"""Server time of the « Statistiques » page on the archive made by bench.generate (100,000 orders
over three years, with their histories), for several periods and portals, next to each part's
own time (volumes, delays, backlog, reasons) and the CSV export. Target: the page for one year,
all portals, p95 ≤ 300 ms on SQLite.

    RADESK_INSTANCE_PATH=/tmp/bench DATABASE_URL=sqlite:////tmp/bench/radesk.db \\
        .venv/bin/python -m bench.bench_statistics --runs 50
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from bench.bench_orders import cpu_loop, percentiles, timed  # noqa: E402
from formatting import to_paris  # noqa: E402
from models import Operator, OperatorScope, Order, Portal, db, utcnow  # noqa: E402
from services import statistics  # noqa: E402
from services.operator_auth.sessions import open_session  # noqa: E402
from services.statistics import backlog, delays, reasons, volumes  # noqa: E402

TARGET_MS = 300
TARGET_LINE = "page, un an, tous les portails"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    runs = parser.parse_args().runs
    app = create_app()
    client = app.test_client()
    today = to_paris(utcnow()).date()
    year = {"du": f"{today - dt.timedelta(days=364):%d/%m/%Y}", "au": f"{today:%d/%m/%Y}"}
    with db.connection_context():
        operator = Operator.get(Operator.display_name == "Opérateur Banc")
        scope = OperatorScope(operator)
        portal = Portal.select().where(Portal.ae == operator.ae).first()
        total = Order.visible_to(scope).count()
        _, token = open_session(operator, operator.certificates.get().fingerprint_sha256,
                                method="bridge")
    with client.session_transaction() as session:
        session["_user_id"] = token

    def get(query: dict, path: str = "/statistiques"):
        def request():
            response = client.get(path, query_string=query)
            assert response.status_code == 200
            response.get_data()  # the CSV is streamed: read it all
        return request

    def part(compute, *arguments):
        def run():
            with app.test_request_context(), db.connection_context():
                filters = statistics.parse_filters(year, scope, today)
                compute(scope, filters, *arguments)
        return run

    three_years = {"du": f"{today.replace(year=today.year - 3) + dt.timedelta(days=1):%d/%m/%Y}",
                   "au": year["au"]}
    lines = {
        TARGET_LINE: get(year),
        "page, 12 semaines (par défaut)": get({}),
        "page, un an, un portail": get({**year, "portail": portal.id}),
        "page, trois ans, tous les portails": get(three_years),
        "export CSV, un an": get(year, "/statistiques/export.csv"),
        "  dont volumes (semaines, portails)": part(volumes.compute),
        "  dont délais (médiane, 90e centile)": part(delays.compute),
        "  dont commandes en cours": part(backlog.compute, utcnow()),
        "  dont motifs": part(reasons.compute),
        "référence CPU (boucle fixe)": cpu_loop,
    }
    print(f"{total} commandes, {runs} mesures par ligne (ms), mesures entrelacées")
    samples = {name: [] for name in lines}
    for function in lines.values():
        function()  # warm-up: query plans, page cache, templates
    # Round after round over every line, so that the machine's slower spells fall on all alike.
    for _ in range(runs):
        for name, function in lines.items():
            samples[name].extend(timed(function, 1, warm_up=False))
    print(f"{'':40} {'p50':>7} {'p95':>7}")
    for name, values in samples.items():
        p50, p95 = percentiles(values)
        print(f"{name:40} {p50:7.1f} {p95:7.1f}")
    p95 = percentiles(samples[TARGET_LINE])[1]
    verdict = "atteint" if p95 <= TARGET_MS else "NON atteint"
    print(f"objectif « {TARGET_LINE} » p95 ≤ {TARGET_MS} ms : {verdict} ({p95:.1f} ms)")


if __name__ == "__main__":
    main()
