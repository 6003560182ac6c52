"""A whole submission through the ordering page, against importing its pieces alone.

Each round, with the Flask test client on a fresh SQLite database, a requester's browser places
an order on /commander/<code>: every step's page and form (Société → Porteur → Représentant
légal → Mandataire → Produit → Pièces justificatives → Récapitulatif, redirects followed), the
5 pieces uploaded as htmx sends them (KBIS, the holder's, the legal representative's and the
mandataire's ID, the proof of payment: scans of 1 to 3 MB, PDF and JPEG), « Recevoir un code »,
the code typed back, « Envoyer la commande » and the follow-up page it leads to. The same round
also imports 5 other scans of the same sizes into a draft with
``services.dossiers.documents.import_document`` alone (one first, then the other, in turn).
Every file is new (no content the store already holds). Target: the page's own work adds at
most 25 % to import_document alone.

Two figures: the ratio of the medians, and the steadier one, the work each page round adds to
the import_document calls made inside it (timed there), against the median of import_document
alone; then the same for the 5 upload requests alone, and the time of each part of the page.
Only the requests are timed: the files' multipart bodies are encoded before (the browser's
work), the code is read as the e-mail would carry it (services.intake.address.code_for); the
rate limits are off (one client places every order).

    .venv/bin/python -m bench.bench_submission [--rounds 20]
"""
from __future__ import annotations

import argparse
import io
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw  # noqa: E402
from werkzeug.datastructures import FileStorage  # noqa: E402
from werkzeug.test import encode_multipart  # noqa: E402

from app import create_app  # noqa: E402
from bench.baseline import import_alone, percentiles  # noqa: E402
from bench.timers import FunctionTimer  # noqa: E402
from models import AE, Offer, Order, OrderIntake, Portal, db  # noqa: E402
from services.intake import address, pieces  # noqa: E402

TARGET = 0.25
CODE = "bpoi-occitanie"
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/"}
SHEET = (1800, 2500)  # larger than any page below


class Piece(NamedTuple):
    kind: str
    filename: str
    format: str          # "PDF" or "JPEG"
    size: tuple[int, int]
    grain: int           # the scanner's noise: what makes a scan weigh megabytes
    pages: int = 1


# A4 at 150 and 200 dpi; about 2.5, 1.3, 1.5, 1.5 and 2.7 MB.
PIECES = (
    Piece("kbis", "extrait-kbis.pdf", "PDF", (1240, 1754), 40, pages=2),
    Piece("holder_id", "cni-porteur.jpg", "JPEG", (1240, 1754), 40),
    Piece("legal_rep_id", "cni-representant.jpg", "JPEG", (1240, 1754), 60),
    Piece("mandataire_id", "passeport-mandataire.jpg", "JPEG", (1654, 2339), 20),
    Piece("payment_proof", "virement.pdf", "PDF", (1654, 2339), 60),
)
STEPS = (  # the forms after « Société », as typed
    ("porteur", dict(civility="Mme", first_name="Claire", last_name="Durand",
                     email="claire.durand@exemple.fr", phone="06 12 34 56 78",
                     otp_contact="06 12 34 56 78")),
    ("representant-legal", dict(civility="Mme", first_name="Alice", last_name="Colbert",
                                email="alice.colbert@exemple.fr", phone="")),
    ("mandataire", dict(has_mandataire="oui", civility="M.", first_name="Luc",
                        last_name="Martin", email="luc.martin@exemple.fr", phone="")),
)


# --- The files -------------------------------------------------------------------------------

class Scanner:
    """Scanned pages: a sheet of grain in each colour (made once per grain, the slow part), cut
    at a random place for each page, with a few lines of text and ``stamp`` so that no two files
    are the same."""

    def __init__(self):
        self.sheets: dict[int, Image.Image] = {}
        self.random = random.Random(1)

    def sheet(self, grain: int) -> Image.Image:
        if grain not in self.sheets:
            self.sheets[grain] = Image.merge("RGB", [Image.effect_noise(SHEET, grain)
                                                     for _ in range(3)])
        return self.sheets[grain]

    def page(self, piece: Piece, number: int, stamp: str) -> Image.Image:
        width, height = piece.size
        left = self.random.randrange(SHEET[0] - width)
        top = self.random.randrange(SHEET[1] - height)
        image = self.sheet(piece.grain).crop((left, top, left + width, top + height))
        draw = ImageDraw.Draw(image)
        for line in range(12):
            draw.text((80, 80 + 40 * line), f"{piece.kind} — page {number} — ligne {line} — "
                                            f"{stamp}", fill=(0, 0, 0))
        return image

    def scan(self, piece: Piece, stamp: str) -> bytes:
        pages = [self.page(piece, number, stamp) for number in range(1, piece.pages + 1)]
        buffer = io.BytesIO()
        if piece.format == "PDF":
            pages[0].save(buffer, "PDF", resolution=150, quality=85, save_all=True,
                          append_images=pages[1:])
        else:
            pages[0].save(buffer, "JPEG", quality=85)
        return buffer.getvalue()

    def files(self, stamp: str) -> list[tuple[Piece, bytes]]:
        return [(piece, self.scan(piece, stamp)) for piece in PIECES]


# --- The instance ----------------------------------------------------------------------------

def setup(folder: Path):
    app = create_app({"INSTANCE_PATH": folder / "instance",
                      "DATABASE_URL": f"sqlite:///{folder / 'radesk.db'}",
                      "SECRET_KEY": "bench", "RADESK_PUBLIC_URL": "http://localhost",
                      "RADESK_SCHEDULER": False, "RATELIMIT_ENABLED": False})
    with app.app_context(), db.connection_context():
        ae = AE.create(name="BPOI")
        portal = Portal.create(ae=ae, name="BPOI-Occitanie", code=CODE)
        Offer.create(ae=ae, name="Certificat qualifié eIDAS (RGS**) de signature",
                     durations="1,2,3", media="usb,card")
    return app, ae.id, portal.id


def import_timer() -> FunctionTimer:
    """The time the ordering page spends inside import_document (same function, wrapped)."""
    return FunctionTimer(pieces, "import_document")


# --- One submission through the page ------------------------------------------------------------

PARTS = {"steps": "les étapes, de Société à la page Pièces justificatives",
         "uploads": "les 5 dépôts de pièces",
         "sending": "Récapitulatif, code, envoi et page de suivi"}


class Browser:
    """The test client as a browser: redirects followed, the page's CSRF token sent back. Only
    its requests are timed, by part of the submission; a file's multipart body is encoded
    before its request is (the browser's work, not the server's)."""

    def __init__(self, app):
        self.client = app.test_client()
        self.seconds = dict.fromkeys(PARTS, 0.0)
        self.part = "steps"
        self.token = ""

    def _timed(self, call, *arguments, **keywords):
        started = time.perf_counter()
        response = call(*arguments, **keywords)
        self.seconds[self.part] += time.perf_counter() - started
        assert response.status_code == 200, (response.status_code, response.request.path)
        match = CSRF.search(response.text)
        self.token = match.group(1) if match else self.token
        return response

    def get(self, url: str):
        return self._timed(self.client.get, url)

    def post(self, url: str, data: dict):
        return self._timed(self.client.post, url, data={"csrf_token": self.token, **data},
                           follow_redirects=True)

    def upload(self, url: str, kind: str, filename: str, data: bytes):
        """As htmx sends the piece's form."""
        boundary, body = encode_multipart({
            "csrf_token": self.token, "kind": kind,
            "file": FileStorage(io.BytesIO(data), filename=filename)})
        return self._timed(self.client.post, url, data=body, headers=HTMX,
                           content_type=f"multipart/form-data; boundary={boundary}")

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def submit_through_page(app, files: list[tuple[Piece, bytes]], number: int) -> Browser:
    """The browser (its requests' time) once the order is sent and its follow-up page shown."""
    browser = Browser(app)
    browser.get(f"/commander/{CODE}")
    page = browser.post(f"/commander/{CODE}", dict(
        company_name="Boileau Colbert Conseil", siren="434 202 180", rcs="oui",
        requester_name="Alice Colbert", requester_email=f"demandeur-{number}@exemple.fr"))
    base = page.request.path.rsplit("/", 1)[0]
    for step, answers in STEPS:
        page = browser.post(f"{base}/{step}", answers)  # the last one shows « Produit »
    offer = re.search(r'name="offer" value="(\d+)"', page.text).group(1)
    browser.post(f"{base}/produit", dict(offer=offer, validity="3", medium="usb"))
    browser.part = "uploads"
    for piece, data in files:
        answer = browser.upload(f"{base}/pieces/depot", piece.kind, piece.filename, data)
        assert "Pièce reçue" in answer.text, answer.text[:500]
    browser.part = "sending"
    browser.get(f"{base}/recapitulatif")
    browser.post(f"{base}/code", {})
    browser.post(f"{base}/confirmation", {"code": emailed_code(app, number)})
    followup = browser.post(f"{base}/envoi", {})
    assert "/suivi/" in followup.request.path and "est envoyée" in followup.text
    return browser


def emailed_code(app, number: int) -> str:
    """The code the e-mail would carry (written when it leaves the outbox)."""
    with app.app_context(), db.connection_context():
        order = Order.get(Order.requester_email == f"demandeur-{number}@exemple.fr")
        intake = OrderIntake.get(OrderIntake.order == order.id)
        return address.code_for(app, intake.id, intake.code_nonce)


# --- The same pieces, import_document alone ------------------------------------------------------

# --- The rounds and the report -------------------------------------------------------------------

def run(rounds: int) -> None:
    scanner = Scanner()
    with tempfile.TemporaryDirectory(prefix="bench-submission-") as temporary:
        app, ae_id, portal_id = setup(Path(temporary))
        page, alone, added, inside, sizes = [], [], [], [], []
        parts = {part: [] for part in PARTS}
        for round_ in range(rounds + 1):  # the first round warms up, and is not counted
            page_files = scanner.files(f"page, tour {round_}")
            alone_files = scanner.files(f"seul, tour {round_}")
            # One measure first, then the other: a slower moment of the machine hits both.
            for measure in (["page", "alone"] if round_ % 2 else ["alone", "page"]):
                if measure == "page":
                    with import_timer() as timer:
                        browser = submit_through_page(app, page_files, 800_000 + round_)
                else:
                    alone_seconds = import_alone(app, ae_id, portal_id,
                                                 [(p.kind, p.filename, d) for p, d in alone_files],
                                                 900_000 + round_)
            if round_:
                sizes.extend(len(data) for _, data in page_files + alone_files)
                page.append(browser.total)
                alone.append(alone_seconds)
                inside.append(timer.seconds)
                added.append(browser.total - timer.seconds)
                for part, seconds in browser.seconds.items():
                    parts[part].append(seconds)
        with app.app_context(), db.connection_context():
            sent = Order.select().where(Order.phase == "validation",
                                        Order.substate == "to_check").count()
        assert sent == rounds + 1, f"{sent} commandes « à vérifier » sur {rounds + 1}"
    report(page, alone, added, inside, parts, sizes)


def milliseconds(samples: list[float]) -> str:
    median, p95 = percentiles(samples)
    return f"médiane {median * 1000:5.0f} ms, p95 {p95 * 1000:5.0f} ms"


def report(page, alone, added, inside, parts, sizes) -> None:
    (page_median, page_p95), (alone_median, alone_p95) = percentiles(page), percentiles(alone)
    steady = statistics.median(added) / alone_median
    uploads_added = statistics.median(u - i for u, i in zip(parts["uploads"], inside))
    verdict = "OK" if steady <= TARGET else f"au-delà de la cible de +{TARGET:.0%}"
    print(f"== Envoi d'une commande par la page de commande, {len(page)} tours, SQLite ==")
    print(f"5 pièces par commande, de {min(sizes) / 1e6:.1f} à {max(sizes) / 1e6:.1f} Mo "
          f"({statistics.mean(sizes) * 5 / 1e6:.1f} Mo par commande)")
    print(f"page de commande, tout l'envoi : {milliseconds(page)}")
    for part, label in PARTS.items():
        print(f"  {label} : {milliseconds(parts[part])}")
        if part == "uploads":
            print(f"    dont import_document : {milliseconds(inside)}")
    print(f"import_document seul, 5 autres pièces des mêmes tailles : {milliseconds(alone)}")
    print(f"surcoût de la page : {page_median / alone_median - 1:+.0%} (médianes), "
          f"{page_p95 / alone_p95 - 1:+.0%} (p95) ; travail de la page hors import_document "
          f"{statistics.median(added) * 1000:.0f} ms (médiane), soit {steady:+.0%} de "
          f"import_document seul [{verdict}]")
    print(f"les 5 dépôts seuls, hors import_document : {uploads_added * 1000:.0f} ms (médiane), "
          f"soit {uploads_added / alone_median:+.0%} de import_document seul", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    arguments = parser.parse_args()
    run(arguments.rounds)


if __name__ == "__main__":
    main()
