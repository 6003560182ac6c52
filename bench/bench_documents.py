"""Documents, measured on the real server (gunicorn, as deploy/README.md runs it):

1. first view of page 1 of a 30-page PDF (preview cache empty), against ``pdftoppm``
   rendering that page alone at the same width (target: at most 1.3 times as long);
2. the same page again: with the browser's ETag (304) and without it (target: ≤ 5 ms or 304);
3. « Télécharger le dossier » of a 1 GB dossier: the server's peak memory growth while it
   streams (target: ≤ 50 MB) and its throughput against ``cat`` reading the same files
   (target: ≥ 50 %).

    .venv/bin/python -m bench.bench_documents [--folder /tmp/bench-documents] [--gigabytes 1]

The operator's session cookie is signed with the instance's key (the USB-key login has its own
tests); everything else is what a browser would do.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
WIDTH = 1000


def thirty_page_pdf() -> bytes:
    """30 pages of dense contract text, as the demo's documents are."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    words = ("le souscripteur reconnaît que l'autorité d'enregistrement vérifie les pièces "
             "justificatives du dossier de commande avant la génération du certificat ").split()
    for page in range(1, 31):
        pdf.setFont("Helvetica-Bold", 16)
        pdf.drawString(60, 790, f"Contrat d'abonnement — article {page}")
        pdf.setFont("Helvetica", 9.5)
        for line in range(62):
            text = " ".join(words[(line + page + k) % len(words)] for k in range(16))
            pdf.drawString(60, 760 - line * 11.5, text)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def prepare(folder: Path, gigabytes: float):
    """Instance, database, operator, one order with the 30-page PDF, and a second order whose
    dossier weighs ``gigabytes`` (random bytes: incompressible, the worst case), its rows as
    import_document makes them (size, CRC-32) without running 50 uploads."""
    from app import create_app
    from models import (AE, Company, Document, Operator, OperatorCertificate, Order, Person,
                        Portal, db, utcnow)
    from services.dossiers import documents
    from services.operator_auth.sessions import open_session

    config = {"INSTANCE_PATH": folder / "instance",
              "DATABASE_URL": f"sqlite:///{folder / 'radesk.db'}", "SECRET_KEY": "bench"}
    app = create_app(config)
    with app.test_request_context(), db.connection_context():
        ae = AE.create(name="BPOI")
        portal = Portal.create(ae=ae, name="BPOI-Occitanie")
        operator = Operator.create(ae=ae, display_name="Camille Martin", roles="AEA")
        OperatorCertificate.create(operator=operator, fingerprint_sha256="b" * 64,
                                   subject="CN=Camille Martin", issuer="CN=Bench", serial_hex="1",
                                   not_after=utcnow().replace(year=2099), pem="")
        company = Company.create(ae=ae, name="Boileau Colbert Conseil", siren="434202180")
        holder = Person.create(ae=ae, first_name="Sandra", last_name="Boileau")
        orders = [Order.create(number=960072 + i, ae=ae, portal=portal, company=company,
                               holder=holder, legal_representative=holder, phase="validation",
                               substate="to_check") for i in range(2)]
        pdf = documents.import_document(orders[0], "subscription_contract", "contrat.pdf",
                                        thirty_page_pdf(), actor_label="Demandeur")
        store = documents.document_store()
        count = max(1, round(gigabytes * 1024 / 20))
        paths = []
        for number in range(count):
            data = os.urandom(20 * MIB)
            sha = hashlib.sha256(data).hexdigest()
            store._write_atomically(store.path_for(sha), data)  # bench data, not an upload
            paths.append(store.path_for(sha))
            Document.create(order=orders[1], kind="payment_proof", category="justificatif",
                            status="imported", sha256=sha, size=len(data), crc32=zlib.crc32(data),
                            media_type="application/pdf", filename=f"piece-{number}.pdf",
                            is_current=number == count - 1, imported_at=utcnow(),
                            imported_by_label="Demandeur")
        _, token = open_session(operator, "b" * 64, method="bridge")
        cookie = app.session_interface.get_signing_serializer(app).dumps({"_user_id": token})
        return (config, cookie, orders[0].id, pdf.id, store.path_for(pdf.sha256), orders[1].id,
                paths)


def start_server(config: dict, port: int, app: str = "app:create_app()") -> subprocess.Popen:
    environment = {**os.environ, "RADESK_INSTANCE_PATH": str(config["INSTANCE_PATH"]),
                   "DATABASE_URL": config["DATABASE_URL"], "SECRET_KEY": config["SECRET_KEY"]}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--threads", "4", app],
        cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/connexion", timeout=5)
            return server
        except requests.RequestException:  # not listening yet, or still starting the app
            time.sleep(0.1)
    os.killpg(server.pid, 15)
    raise RuntimeError("le serveur ne démarre pas")


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("VmRSS absent")


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bench_first_view(session, base, order_id, document_id, pdf_path, cache_root, runs):
    url = f"{base}/commandes/{order_id}/documents/{document_id}/pages/1?width={WIDTH}"
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(runs):
            shutil.rmtree(cache_root, ignore_errors=True)
            began = time.perf_counter()
            response = session.get(url)
            ours.append(time.perf_counter() - began)
            assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
            began = time.perf_counter()
            subprocess.run(["pdftoppm", "-png", "-f", "1", "-l", "1", "-singlefile",
                            "-scale-to-x", str(WIDTH), "-scale-to-y", "-1", str(pdf_path),
                            f"{scratch}/page"], check=True)
            theirs.append(time.perf_counter() - began)
    return median_ms(ours), median_ms(theirs), response.headers["ETag"], url


def bench_again(session, url, etag, runs):
    cached, not_modified = [], []
    for _ in range(runs):
        began = time.perf_counter()
        assert session.get(url).status_code == 200
        cached.append(time.perf_counter() - began)
        began = time.perf_counter()
        assert session.get(url, headers={"If-None-Match": etag}).status_code == 304
        not_modified.append(time.perf_counter() - began)
    return median_ms(cached), median_ms(not_modified)


def bench_archive(base, cookie, order_id, paths, pid, config):
    """Throughput against ``cat`` reading the same files (page cache warm for both), through
    HTTP with curl as the client, and in the server's own process without HTTP; peak memory
    growth of the server process while it sends the archive."""
    total = sum(p.stat().st_size for p in paths)
    subprocess.run(["cat", *map(str, paths)], stdout=subprocess.DEVNULL, check=True)  # warm
    cat_seconds = min(_timed(["cat", *map(str, paths)]) for _ in range(3))

    baseline = rss_kib(pid)
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.01)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    url = f"{base}/commandes/{order_id}/dossier.zip"
    curl = ["curl", "-sS", "--fail", "-o", "/dev/null", "-b", f"session={cookie}", url]
    http_seconds = min(_timed(curl) for _ in range(3))
    done.set()
    sampler.join()
    ceiling = start_server(config, int(base.rsplit(":", 1)[1]) + 1, "bench.raw_stream_app:app")
    try:
        raw = ["curl", "-sS", "--fail", "-o", "/dev/null",
               f"http://127.0.0.1:{int(base.rsplit(':', 1)[1]) + 1}/"]
        ceiling_mb_s = 1024 / min(_timed(raw) for _ in range(3))
    finally:
        os.killpg(ceiling.pid, 15)
        ceiling.wait(timeout=10)
    return {"bytes": total, "cat_mb_s": total / MIB / cat_seconds, "ceiling_mb_s": ceiling_mb_s,
            "http_mb_s": total / MIB / http_seconds,
            "process_mb_s": total / MIB / _in_process(config, order_id),
            "growth_mb": (peak[0] - baseline) / 1024}


def _timed(argv: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - began


def _in_process(config: dict, order_id: int) -> float:
    """The archive produced and thrown away by the app's own code, no network in between."""
    from app import create_app
    from models import Order, db
    from services.dossiers import documents, dossier_archive
    app = create_app(config)
    with app.test_request_context(), db.connection_context():
        order = Order.get_by_id(order_id)
        rows = documents.dossier_documents(order)
        best = float("inf")
        for _ in range(3):
            began = time.perf_counter()
            plan = dossier_archive.build(order, rows, documents.document_store().root)
            for _piece in plan.stream():
                pass
            best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--port", type=int, default=5099)
    options = parser.parse_args()
    folder = options.folder or Path(tempfile.mkdtemp(prefix="bench-documents-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"Préparation dans {folder} ({options.gigabytes} Go de documents)…", flush=True)
    config, cookie, order_id, document_id, pdf_path, big_order, paths = prepare(
        folder, options.gigabytes)
    server = start_server(config, options.port)
    try:
        session = requests.Session()
        session.trust_env = False
        session.cookies.set("session", cookie, domain="127.0.0.1")
        base = f"http://127.0.0.1:{options.port}"
        cache_root = Path(config["INSTANCE_PATH"]) / "previews"
        ours, theirs, etag, url = bench_first_view(session, base, order_id, document_id, pdf_path,
                                                   cache_root, options.runs)
        cached, not_modified = bench_again(session, url, etag, options.runs * 4)
        archive = bench_archive(base, cookie, big_order, paths, worker_pid(server.pid), config)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=10)
    print(f"1. Première vue de la page 1 (PDF de 30 pages, {WIDTH} px) : {ours:.0f} ms ; "
          f"pdftoppm seul : {theirs:.0f} ms ; rapport {ours / theirs:.2f} (cible ≤ 1,3)")
    print(f"2. La même page à nouveau : {cached:.1f} ms (depuis le cache), "
          f"{not_modified:.1f} ms avec l'ETag (304) (cible ≤ 5 ms ou 304)")
    cat = archive["cat_mb_s"]
    print(f"3. Dossier de {archive['bytes'] / MIB / 1024:.2f} Go ({len(paths)} fichiers) : "
          f"cat {cat:.0f} Mo/s ; ZIP produit par l'application {archive['process_mb_s']:.0f} Mo/s "
          f"({100 * archive['process_mb_s'] / cat:.0f} %), reçu par HTTP (curl) "
          f"{archive['http_mb_s']:.0f} Mo/s ({100 * archive['http_mb_s'] / cat:.0f} %) "
          f"(cible ≥ 50 %), quand gunicorn envoie au mieux {archive['ceiling_mb_s']:.0f} Mo/s "
          f"un corps déjà en mémoire ; mémoire du serveur : +{archive['growth_mb']:.1f} Mo au "
          f"plus (cible ≤ 50 Mo)")
    if options.folder is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
