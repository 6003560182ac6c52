"""The operator's pages while pieces are read: the Commandes list, the Visionneuse and a page
preview (from the preview cache, and rendered anew), served by the real server (gunicorn,
1 worker, 4 threads, SQLite), timed over HTTP as bench_documents does — first with nothing
else running, then while the ``piece_reading`` job, in its own process on the same database
and instance (render slots), reads a steady stream of identity photos (tests/piece_corpus).
Quiet and loaded blocks alternate, so that the machine's own slower spells fall on both.

    .venv/bin/python -m bench.bench_piece_reading_load [--orders 20000 --rounds 40 --blocks 2]

The archive is bench.generate's (``--orders``), kept in ``--folder`` for the next run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from bench.baseline import draft_with_mandataire, percentiles  # noqa: E402
from bench.bench_documents import REPO, WIDTH, start_server, thirty_page_pdf  # noqa: E402
from bench.bench_orders import cpu_loop  # noqa: E402

PIECES = 16          # identity photos, one per order, read over and over
BATCH = 4            # queued at a time: the job's run reads them, then the next four
GO, BUSY, STOP, LOG = "reads-on", "reads-busy", "reads-stop", "reads.log"


def bench_config(folder: Path) -> dict:
    return {"INSTANCE_PATH": folder / "instance",
            "DATABASE_URL": f"sqlite:///{folder / 'radesk.db'}",
            "SECRET_KEY": "bench"}


def prepare(folder: Path, orders: int) -> dict:
    """bench.generate's archive (once per folder), then one order with a 30-page PDF for the
    Visionneuse and ``PIECES`` orders with an identity photo each; the operator's cookie."""
    from app import create_app
    from bench.generate import build_archive
    from models import Operator, Order, Portal, db
    from services.dossiers import documents
    from services.operator_auth.sessions import open_session
    from tests.piece_corpus import build

    app = create_app(bench_config(folder))
    saved = folder / "bench.json"
    with app.test_request_context(), db.connection_context():
        if not saved.exists():
            print(f"Archive de {orders} commandes (bench.generate)…", flush=True)
            build_archive(orders)
            operator = Operator.get(Operator.display_name == "Opérateur Banc")
            portal = Portal.select().where(Portal.ae == operator.ae).first()
            first = Order.select(Order.number).order_by(Order.number.desc()).scalar() + 1
            viewed = draft_with_mandataire(operator.ae_id, portal.id, first)
            pdf = documents.import_document(viewed, "subscription_contract", "contrat.pdf",
                                            thirty_page_pdf(), actor_label="Demandeur")
            with tempfile.TemporaryDirectory() as photos:
                samples = build(Path(photos), count=PIECES, unreadable=0)
                pieces = []
                for number, sample in enumerate(samples, start=first + 1):
                    order = draft_with_mandataire(operator.ae_id, portal.id, number)
                    documents.import_document(order, "holder_id", sample.path.name,
                                              sample.path.read_bytes(), actor_label="Demandeur")
                    pieces.append(order.id)
            saved.write_text(json.dumps({"order": viewed.id, "pdf": pdf.id, "pieces": pieces}))
        facts = json.loads(saved.read_text())
        operator = Operator.get(Operator.display_name == "Opérateur Banc")
        _, token = open_session(operator, "b" * 64, method="bridge")
        facts["cookie"] = app.session_interface.get_signing_serializer(app).dumps(
            {"_user_id": token})
    return facts


def job_process(folder: Path) -> None:
    """The reading job, as the scheduler process runs it (scheduler.run_job: its own app
    context and connection), while the GO file exists; BATCH pieces queued again whenever
    none waits, so that it always has pieces to read. One line per run in LOG."""
    import scheduler
    from app import create_app
    from models import Document, db
    from services.dossiers import piece_readings

    app = create_app(bench_config(folder))
    job = next(j for j in scheduler.jobs(app) if j.id == scheduler.PIECE_READING_JOB)
    pieces = json.loads((folder / "bench.json").read_text())["pieces"]
    turn = 0
    while not (folder / STOP).exists():
        if not (folder / GO).exists():
            time.sleep(0.1)
            continue
        (folder / BUSY).touch()
        with app.app_context(), db.connection_context():
            if piece_readings.pending_count() == 0:
                chosen = [pieces[(turn + k) % len(pieces)] for k in range(BATCH)]
                turn += BATCH
                with db.atomic():
                    for document in Document.select().where(
                            Document.order.in_(chosen) & (Document.kind == "holder_id")
                            & Document.is_current):
                        piece_readings.queue(document)
        began = time.monotonic()
        count = scheduler.run_job(app, job)
        with open(folder / LOG, "a") as log:
            log.write(f"{count} {time.monotonic() - began:.3f}\n")
        (folder / BUSY).unlink()


def reads_so_far(folder: Path) -> tuple[int, float]:
    path = folder / LOG
    lines = path.read_text().split("\n") if path.exists() else []
    runs = [tuple(map(float, line.split())) for line in lines if line]
    return int(sum(count for count, _ in runs)), sum(seconds for _, seconds in runs)


def reads_on(folder: Path, on: bool) -> None:
    """Start the stream of reads, or stop it and wait for the read under way to end."""
    if on:
        (folder / GO).touch()
        deadline = time.monotonic() + 10
        while not (folder / BUSY).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # the first read's worker and Tesseract started
        return
    (folder / GO).unlink(missing_ok=True)
    while (folder / BUSY).exists():
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path,
                        default=Path(tempfile.gettempdir()) / "bench-piece-load")
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=40, help="requests of each page per state")
    parser.add_argument("--blocks", type=int, default=2, help="quiet/loaded alternations")
    parser.add_argument("--port", type=int, default=5107)
    parser.add_argument("--niceness", type=int, default=None,
                        help="the reader's nice level (default: the app's setting, 10)")
    parser.add_argument("--control", action="store_true",
                        help="no reads in the « loaded » blocks either: the noise between blocks")
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)  # the job's own process
    options = parser.parse_args()
    if options.job:
        return job_process(options.job)
    folder = options.folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in (GO, BUSY, STOP, LOG):
        (folder / name).unlink(missing_ok=True)
    facts = prepare(folder, options.orders)
    config = bench_config(folder)
    order, pdf = facts["order"], facts["pdf"]
    preview = f"/commandes/{order}/documents/{pdf}/pages/1?width={WIDTH}"
    cache_root = Path(config["INSTANCE_PATH"]) / "previews"
    server = start_server(config, options.port)
    environment = dict(os.environ)
    if options.niceness is not None:
        environment["RADESK_PIECE_READING_NICENESS"] = str(options.niceness)
    job = subprocess.Popen([sys.executable, "-m", "bench.bench_piece_reading_load", "--job",
                            str(folder)], cwd=REPO, env=environment, start_new_session=True)
    try:
        session = requests.Session()
        session.trust_env = False
        session.cookies.set("session", facts["cookie"], domain="127.0.0.1")
        base = f"http://127.0.0.1:{options.port}"

        def get(path: str, fresh: bool = False, media_type: str = "text/html"):
            def request() -> None:
                if fresh:
                    shutil.rmtree(cache_root, ignore_errors=True)
                response = session.get(base + path)
                assert response.status_code == 200, (path, response.status_code)
                # An image: a preview, never « aperçu indisponible » (busy render slots).
                assert response.headers["Content-Type"].startswith(media_type), path
            return request

        lines = {"Commandes (liste, 50 lignes)": get("/commandes"),
                 "Visionneuse (page)": get(f"/commandes/{order}/visionneuse?document={pdf}"),
                 "aperçu de page (cache)": get(preview, media_type="image/png"),
                 "aperçu de page (premier rendu)": get(preview, True, "image/png"),
                 "référence CPU (boucle fixe)": cpu_loop}
        for function in lines.values():
            function()  # warm: connections, templates, page cache
        samples = {state: {name: [] for name in lines} for state in ("quiet", "loaded")}
        per_block = max(1, options.rounds // options.blocks)
        reads, read_seconds, loads = 0, 0.0, []
        for _ in range(options.blocks):
            for state in ("quiet", "loaded"):
                reads_on(folder, state == "loaded" and not options.control)
                before = reads_so_far(folder)
                for _ in range(per_block):
                    for name, function in lines.items():
                        began = time.perf_counter()
                        function()
                        samples[state][name].append((time.perf_counter() - began) * 1000)
                loads.append(os.getloadavg()[0])
                if state == "loaded" and not options.control:
                    reads_on(folder, False)
                    after = reads_so_far(folder)
                    reads += after[0] - before[0]
                    read_seconds += after[1] - before[1]
    finally:
        (folder / STOP).touch()
        (folder / GO).unlink(missing_ok=True)
        job.wait(timeout=60)
        os.killpg(server.pid, 15)
        server.wait(timeout=10)
    reader = environment.get("RADESK_PIECE_READING_NICENESS", "par défaut (10)")
    print("Contrôle : aucune lecture dans les blocs « lecture » non plus. " if options.control
          else f"Lecteur à nice {reader}. ", end="")
    print(f"{options.rounds} requêtes par page et par état, en {options.blocks} blocs alternés ; "
          f"charge moyenne (1 min) pendant les blocs {min(loads):.1f}–{max(loads):.1f}")
    if reads:
        print(f"Pendant la charge : {reads} pièces lues par la tâche, "
              f"{read_seconds / reads:.2f} s par pièce en moyenne (lectures en continu)")
    print(f"{'(ms)':32} {'calme p50':>10} {'p95':>7} {'lecture p50':>12} {'p95':>7} "
          f"{'écart p50':>10} {'p95':>7}")
    for name in lines:
        quiet, loaded = (percentiles(samples[s][name]) for s in ("quiet", "loaded"))
        print(f"{name:32} {quiet[0]:10.1f} {quiet[1]:7.1f} {loaded[0]:12.1f} {loaded[1]:7.1f} "
              f"{_change(quiet[0], loaded[0]):>10} {_change(quiet[1], loaded[1]):>7}")


def _change(before: float, after: float) -> str:
    return f"{100 * (after - before) / before:+.0f} %"


if __name__ == "__main__":
    main()
