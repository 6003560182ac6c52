"""Orders placed through /api/v1, against importing their pieces alone.

Each round, with the Flask test client on a fresh SQLite database (or, with ``--postgres``, a
throwaway database on that server, dropped afterwards), an AE's API client places an order as
its shop would: POST /api/v1/commandes (the order of tests/test_api.py, with a mandataire),
its 5 pieces on POST /api/v1/commandes/<n>/pieces (KBIS, the holder's, the legal
representative's and the mandataire's ID, the proof of payment: small PDFs and PNGs, a few
hundred bytes to a few kB) and POST /api/v1/commandes/<n>/envoi. The same round also imports
5 other pieces of the same kinds into a draft made directly, with
``services.dossiers.documents.import_document`` alone (one measure first, then the other, in
turn). Every file is new (no content the store already holds).

Targets: the whole API round adds at most 30 % to import_document alone (ratio of the
medians); the p95 of creating an order (POST /api/v1/commandes, no pieces) is at most 50 ms on
SQLite. Also shown: the API's own work, its round minus the import_document calls made inside
it (timed there), against import_document alone; and each request's time.

Only the requests are timed: the JSON and multipart bodies are encoded before (the client's
work). The rate limit is off (one client places every order); the first rounds warm up and are
not counted. ``--profile N`` then profiles N more API rounds (cProfile) and prints where the
time goes.

    .venv/bin/python -m bench.bench_api [--orders 1000] [--warmup 20] [--postgres URL]
                                        [--piece-kb 100] [--profile 200]
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402
from werkzeug.datastructures import FileStorage  # noqa: E402
from werkzeug.test import encode_multipart  # noqa: E402

from app import create_app  # noqa: E402
from bench.baseline import import_alone, percentiles  # noqa: E402
from bench.timers import FunctionTimer  # noqa: E402
from database import close_pooled_connections  # noqa: E402
from models import AE, Document, Offer, Order, Portal, db  # noqa: E402
from services.api import clients  # noqa: E402
from services.intake import pieces  # noqa: E402
from tests.image_samples import png  # noqa: E402
from tests.pdf_samples import text_pdf  # noqa: E402

TARGET_ADDED = 0.30
TARGET_CREATE_P95 = 0.050
CODE = "bpoi-occitanie"
OFFER = "Certificat qualifié eIDAS (RGS**) de signature"
ORDER = {
    "portail": CODE,
    "societe": {"raison_sociale": "Boileau Colbert Conseil", "siren": "434202180",
                "immatriculee_rcs": True},
    "demandeur": {"nom": "Boutique BPOI", "email": "boutique@exemple.fr"},
    "porteur": {"civilite": "Mme", "prenom": "Sandra", "nom": "Boileau",
                "email": "sandra.boileau@exemple.fr", "telephone": "05 61 00 00 00",
                "contact_otp": "06 12 34 56 78"},
    "representant_legal": {"civilite": "Mme", "prenom": "Alice", "nom": "Colbert",
                           "email": "alice.colbert@exemple.fr"},
    "mandataire": {"civilite": "M.", "prenom": "Luc", "nom": "Martin",
                   "email": "luc.martin@exemple.fr"},
    "produit": {"offre": OFFER, "validite_annees": 2, "support": "usb"},
}
KINDS = ("kbis", "holder_id", "legal_rep_id", "mandataire_id", "payment_proof")
PARTS = {"create": "POST /commandes (création)",
         "pieces": "5 × POST /commandes/<n>/pieces",
         "submit": "POST /commandes/<n>/envoi"}


# --- The files -------------------------------------------------------------------------------

class Pieces:
    """Real pieces, each one new. By default tiny: PDFs whose text names the piece, PNGs whose
    colour (a counter written in RGB, so never twice the same) and size change. With
    ``kilobytes``, about that size as shops send them: the identity documents JPEG photos of
    noise (incompressible, as a photo is to the store), the others PDFs padded with comment
    lines of random hex in their content stream."""

    def __init__(self, kilobytes: int = 0):
        self.count = 0
        self.kilobytes = kilobytes
        self.random = random.Random(14)

    def file(self, kind: str, stamp: str) -> tuple[str, bytes]:
        self.count += 1
        if self.kilobytes:
            return self._sized(kind, stamp)
        if kind.endswith("_id"):
            n = self.count
            color = ((n >> 16) & 255, (n >> 8) & 255, n & 255)
            return f"{kind}.png", png(color, (100 + n % 61, 70 + n % 37))
        text = f"{kind} - {stamp} - {self.count}".encode()
        return f"{kind}.pdf", text_pdf(text=text)

    def _sized(self, kind: str, stamp: str) -> tuple[str, bytes]:
        size = self.kilobytes * 1000
        if kind.endswith("_id"):
            side = 64
            while True:  # JPEG of noise: about 0.8 byte a pixel at quality 85
                noise = Image.frombytes("RGB", (side * 3 // 2, side),
                                        self.random.randbytes(side * 3 // 2 * side * 3))
                out = io.BytesIO()
                noise.save(out, "JPEG", quality=85)
                if out.tell() >= size:
                    return f"{kind}.jpg", out.getvalue()
                side = int(side * max(1.05, (size / out.tell()) ** 0.5))
        text = f"{kind} - {stamp} - {self.count}".encode()
        padding = b"".join(b"\n% " + self.random.randbytes(38).hex().encode()
                           for _ in range(size // 80))
        return f"{kind}.pdf", text_pdf(content=b"BT /F1 24 Tf 72 700 Td (" + text + b") Tj ET"
                                       + padding)

    def files(self, stamp: str) -> list[tuple[str, str, bytes]]:
        return [(kind, *self.file(kind, stamp)) for kind in KINDS]


# --- The instance ----------------------------------------------------------------------------

def setup(folder: Path, url: str):
    app = create_app({"INSTANCE_PATH": folder / "instance", "DATABASE_URL": url,
                      "SECRET_KEY": "bench", "RADESK_PUBLIC_URL": "http://localhost",
                      "RADESK_SCHEDULER": False, "RATELIMIT_ENABLED": False})
    with app.app_context(), db.connection_context():
        ae = AE.create(name="BPOI")
        portal = Portal.create(ae=ae, name="BPOI-Occitanie", code=CODE)
        Offer.create(ae=ae, name=OFFER, durations="1,2,3", media="usb,card")
        issued = clients.create(ae, "Boutique", [CODE], [clients.SCOPE_WRITE_ORDERS,
                                                         clients.SCOPE_READ_ORDERS],
                                created_by="bench")
    return app, ae.id, portal.id, {"Authorization": f"Bearer {issued.credential}"}


# --- One order through the API ---------------------------------------------------------------

class Shop:
    """The API client's side: bodies encoded before their request; the requests timed by part."""

    def __init__(self, app, headers: dict):
        self.client = app.test_client()
        self.headers = headers
        self.order_body = json.dumps(ORDER, ensure_ascii=False).encode()

    def place(self, files: list[tuple[str, str, bytes]]) -> dict[str, float]:
        seconds = dict.fromkeys(PARTS, 0.0)
        bodies = [encode_multipart({"type": kind,
                                    "fichier": FileStorage(io.BytesIO(data), filename=name)})
                  for kind, name, data in files]

        started = time.perf_counter()
        created = self.client.post("/api/v1/commandes", data=self.order_body,
                                   content_type="application/json", headers=self.headers)
        seconds["create"] = time.perf_counter() - started
        assert created.status_code == 201, created.get_data(as_text=True)
        number = created.get_json()["numero"]

        for boundary, body in bodies:
            started = time.perf_counter()
            attached = self.client.post(f"/api/v1/commandes/{number}/pieces", data=body,
                                        content_type=f"multipart/form-data; boundary={boundary}",
                                        headers=self.headers)
            seconds["pieces"] += time.perf_counter() - started
            assert attached.status_code == 201, attached.get_data(as_text=True)

        started = time.perf_counter()
        sent = self.client.post(f"/api/v1/commandes/{number}/envoi", headers=self.headers)
        seconds["submit"] = time.perf_counter() - started
        assert sent.status_code == 200, sent.get_data(as_text=True)
        assert sent.get_json()["sous_etat"] == "to_check", sent.get_json()
        return seconds


# --- The same pieces, import_document alone --------------------------------------------------

# --- The rounds and the report ---------------------------------------------------------------

def milliseconds(samples: list[float]) -> str:
    median, p95 = percentiles(samples)
    return f"médiane {median * 1000:6.1f} ms, p95 {p95 * 1000:6.1f} ms"


def run(orders: int, warmup: int, url: str, folder: Path, profile: int,
        kilobytes: int = 0) -> None:
    engine = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    app, ae_id, portal_id, headers = setup(folder, url)
    shop, maker = Shop(app, headers), Pieces(kilobytes)
    api, alone, inside, sizes = [], [], [], []
    parts = {part: [] for part in PARTS}
    started = time.perf_counter()
    for round_ in range(warmup + orders):  # the first ``warmup`` rounds are not counted
        api_files = maker.files(f"api {round_}")
        alone_files = maker.files(f"seul {round_}")
        # One measure first, then the other: a slower moment of the machine hits both.
        for measure in (["api", "alone"] if round_ % 2 else ["alone", "api"]):
            if measure == "api":
                with FunctionTimer(pieces, "import_document") as timer:
                    seconds = shop.place(api_files)
            else:
                alone_seconds = import_alone(app, ae_id, portal_id, alone_files,
                                             900_000 + round_)
        if round_ >= warmup:
            sizes.extend(len(data) for _, _, data in api_files + alone_files)
            api.append(sum(seconds.values()))
            alone.append(alone_seconds)
            inside.append(timer.seconds)
            for part, value in seconds.items():
                parts[part].append(value)
        if (round_ + 1) % 100 == 0:
            print(f"… {round_ + 1} tours sur {warmup + orders}", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    with app.app_context(), db.connection_context():
        sent = Order.select().where(Order.phase == "validation",
                                    Order.substate == "to_check").count()
        imported = Document.select().where(Document.status == "imported").count()
    rounds = warmup + orders
    assert sent == rounds, f"{sent} commandes « à vérifier » sur {rounds}"
    assert imported == 10 * rounds, f"{imported} pièces importées sur {10 * rounds}"
    close_pooled_connections(db.obj)
    report(engine, orders, warmup, elapsed, api, alone, inside, parts, sizes)
    if profile:
        profile_api(shop, maker, profile)


def report(engine, orders, warmup, elapsed, api, alone, inside, parts, sizes) -> None:
    (api_median, api_p95), (alone_median, alone_p95) = percentiles(api), percentiles(alone)
    own = [total - imports for total, imports in zip(api, inside)]
    added = api_median / alone_median - 1
    create_p95 = percentiles(parts["create"])[1]
    print(f"== Commandes par l'API /api/v1, {orders} commandes ({warmup} tours d'échauffement "
          f"non comptés), {engine}, {elapsed:.0f} s en tout ==")
    print(f"5 pièces par commande (PDF et PNG), de {min(sizes)} à {max(sizes)} octets "
          f"({statistics.mean(sizes) * 5 / 1000:.1f} ko par commande)")
    print(f"API, commande entière (création, 5 pièces, envoi) : {milliseconds(api)}")
    for part, label in PARTS.items():
        print(f"  {label} : {milliseconds(parts[part])}")
    print(f"  dont import_document (dans les 5 pièces) : {milliseconds(inside)}")
    print(f"  travail propre de l'API (hors import_document) : {milliseconds(own)}")
    print(f"import_document seul, 5 autres pièces des mêmes types : {milliseconds(alone)}")
    if len(alone) >= 200:  # the store grows by 10 files a round: does the import slow down?
        for label, part in (("100 premiers tours", slice(None, 100)),
                            ("100 derniers tours", slice(-100, None))):
            ratio = statistics.median(api[part]) / statistics.median(alone[part]) - 1
            print(f"  {label} : {milliseconds(alone[part])} (surcoût de l'API {ratio:+.0%})")
    verdict = ("OK" if added <= TARGET_ADDED
               else f"NON ATTEINTE, au-delà de la cible de +{TARGET_ADDED:.0%}")
    print(f"surcoût de l'API : {added:+.0%} (médianes), {api_p95 / alone_p95 - 1:+.0%} (p95) "
          f"sur import_document seul [cible +{TARGET_ADDED:.0%} : {verdict}]")
    print(f"travail propre de l'API : {statistics.median(own) * 1000:.1f} ms (médiane), soit "
          f"{statistics.median(own) / alone_median:+.0%} de import_document seul ; "
          f"import_document dans l'API / seul : "
          f"{statistics.median(inside) / alone_median:.2f} (médianes)")
    if engine == "SQLite":
        verdict = ("OK" if create_p95 <= TARGET_CREATE_P95
                   else f"NON ATTEINTE, au-delà de {TARGET_CREATE_P95 * 1000:.0f} ms")
    else:
        verdict = "cible fixée pour SQLite"
    print(f"création d'une commande, p95 : {create_p95 * 1000:.1f} ms "
          f"[cible ≤ {TARGET_CREATE_P95 * 1000:.0f} ms : {verdict}]", flush=True)


def profile_api(shop: Shop, maker: Pieces, rounds: int) -> None:
    """Where the API's own work goes: its rounds profiled, the profiler paused inside
    import_document (measured alone above)."""
    profiler = cProfile.Profile()
    original = pieces.import_document

    def unprofiled(*arguments, **keywords):
        profiler.disable()
        try:
            return original(*arguments, **keywords)
        finally:
            profiler.enable()

    pieces.import_document = unprofiled
    try:
        for round_ in range(rounds):
            files = maker.files(f"profil {round_}")
            profiler.enable()
            shop.place(files)
            profiler.disable()
    finally:
        pieces.import_document = original
    print(f"\n== Profil du travail propre de l'API, {rounds} commandes (cProfile, "
          f"hors import_document) ==")
    for key, label in (("cumulative", "temps cumulé"), ("tottime", "temps propre")):
        print(f"-- par {label} --")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(key).print_stats(30)
        print(out.getvalue().split("\n", 6)[-1].rstrip(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20, help="rounds not counted")
    parser.add_argument("--postgres", default=None,
                        help="a PostgreSQL server's URL (a throwaway database is made there)")
    parser.add_argument("--piece-kb", type=int, default=0,
                        help="pieces of about this many kB (JPEG photos, PDFs) instead of tiny ones")
    parser.add_argument("--profile", type=int, default=0,
                        help="then profile this many more API rounds (cProfile)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as temporary:
        with contextlib.ExitStack() as stack:
            if arguments.postgres:
                from tests.e2e_support import throwaway_postgres
                url = stack.enter_context(throwaway_postgres(arguments.postgres, "radesk_bench"))
            else:
                url = f"sqlite:///{Path(temporary) / 'radesk.db'}"
            run(arguments.orders, arguments.warmup, url, Path(temporary), arguments.profile,
                arguments.piece_kb)


if __name__ == "__main__":
    main()
