"""What the demo's generated documents share: fonts, colours, the specimen marks, the demo
AE's letterhead, and ``Pdf``, a thin layer over a reportlab canvas with flowing text and page
breaks. The layout is drawn straight on the canvas (no platypus) and the wrapping of fixed
clauses is cached: the demo renders about a thousand documents at first start.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import random
import threading
from decimal import Decimal
from pathlib import Path

from PIL import ImageFont
from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")  # Debian package fonts-dejavu-core
FONT_FILES = {
    "DejaVuSans": "DejaVuSans.ttf",
    "DejaVuSans-Bold": "DejaVuSans-Bold.ttf",
    "DejaVuSansMono": "DejaVuSansMono.ttf",
}
REGULAR, BOLD, MONO = FONT_FILES
PDF_FONTS = (REGULAR, BOLD)  # each font used costs one embedded subset per file: two only

SPECIMEN_MARK = "SPÉCIMEN — DOCUMENT DE DÉMONSTRATION"
SPECIMEN_NOTICE = ("Document de démonstration généré par RA Desk : fictif et sans valeur "
                   "juridique.")
PROVIDER = "RA Desk Démo — Autorité d'Enregistrement"
PROVIDER_ADDRESS = "8 allée des Certificats, 31000 Toulouse"
PROVIDER_IDS = "SAS au capital de 150 000 € — RCS Toulouse 512 345 678 — TVA FR23 512345678"
CA_NAME = "AC RA Desk Démo Qualifiée"

PAGE_W, PAGE_H = A4
MARGIN = 56.0
BOTTOM = 70.0
INK = HexColor("#1b1f24")
GREY = HexColor("#5b6470")
RULE = HexColor("#c9cfd6")
BAND = HexColor("#e8ecf1")
ACCENT = HexColor("#1f3d7a")
STAMP_RED = Color(0.80, 0.05, 0.05, alpha=0.16)


# --- small helpers -------------------------------------------------------------

def seeded_rng(*parts: object) -> random.Random:
    """A generator seeded by the arguments only, so documents are reproducible."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def fr_date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def years_later(day: dt.date, years: int) -> dt.date:
    """Same day `years` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def fit(text: str, font: str, size: float, width: float) -> str:
    """`text` cut with an ellipsis so that it fits on one line of `width` points."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def fr_amount(amount: Decimal) -> str:
    """1234.5 → '1 234,50 €'."""
    whole, cents = f"{amount:.2f}".split(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return f"{' '.join(groups)},{cents} €"


# --- fonts ---------------------------------------------------------------------

@functools.cache
def register_fonts() -> None:
    """Register DejaVu once per process, embedded so every viewer shows the same accents."""
    for name in PDF_FONTS:
        pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / FONT_FILES[name])))


@functools.lru_cache(maxsize=64)
def pil_font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / FONT_FILES[name]), size)


@functools.lru_cache(maxsize=4096)
def wrap(text: str, font: str, size: float, width: float) -> tuple[str, ...]:
    # Most paragraphs are fixed clauses: caching their wrapping saves most of the layout time.
    return tuple(simpleSplit(text, font, size, width)) or ("",)


# --- PDF layout ----------------------------------------------------------------

_SAVE_LOCK = threading.Lock()


class Pdf:
    """A thin layer over a reportlab canvas: flowing text with page breaks, and on every page
    a header, a footer with « Page n / total » and the diagonal specimen mark."""

    def __init__(self, *, title: str, subject: str, header, footer: str):
        register_fonts()
        self._buffer = io.BytesIO()
        self.c = canvas.Canvas(self._buffer, pagesize=A4, invariant=1, pageCompression=1)
        self.c.setTitle(title)
        self.c.setSubject(subject)
        self.c.setAuthor(PROVIDER)
        self.c.setCreator("RA Desk — données de démonstration")
        self._header = header
        self._footer = footer
        self.width = PAGE_W - 2 * MARGIN
        self.page = 0
        self._begin_page()

    # pages

    def _specimen_mark(self) -> None:
        # Drawn on each page rather than as a form: a form XObject would not carry the
        # transparency state (ExtGState) in its resources.
        c = self.c
        size = 40.0
        width = pdfmetrics.stringWidth(SPECIMEN_MARK, BOLD, size)
        size *= min(1.0, 0.8 * (PAGE_W ** 2 + PAGE_H ** 2) ** 0.5 / width)
        c.saveState()
        c.translate(PAGE_W / 2, PAGE_H / 2)
        c.rotate(54)
        c.setFillColor(STAMP_RED)
        c.setFont(BOLD, size)
        c.drawCentredString(0, -size / 3, SPECIMEN_MARK)
        c.restoreState()

    def _begin_page(self) -> None:
        self.page += 1
        self.y = self._header(self, self.page)

    def _end_page(self) -> None:
        c = self.c
        c.setStrokeColor(RULE)
        c.setLineWidth(0.5)
        c.line(MARGIN, 48, PAGE_W - MARGIN, 48)
        c.setFillColor(GREY)
        c.setFont(REGULAR, 7)
        c.drawString(MARGIN, 38, fit(self._footer, REGULAR, 7, self.width - 70))
        c.drawString(MARGIN, 29, SPECIMEN_NOTICE)
        label = f"Page {self.page} / "
        right = PAGE_W - MARGIN - 12
        c.drawRightString(right, 38, label)
        c.saveState()
        c.translate(right + 1, 38)
        c.doForm("page_total")  # filled in by finish(), once the total is known
        c.restoreState()
        self._specimen_mark()
        c.showPage()

    def new_page(self) -> None:
        self._end_page()
        self._begin_page()

    def ensure(self, height: float) -> None:
        """Start a new page unless `height` points still fit above the footer."""
        if self.y - height < BOTTOM:
            self.new_page()

    def finish(self) -> bytes:
        self._end_page()
        c = self.c
        c.beginForm("page_total")
        c.setFillColor(GREY)
        c.setFont(REGULAR, 7)
        c.drawString(0, 0, str(self.page))
        c.endForm()
        # Streams are filtered at save time, by a global setting: ASCII85 only makes them
        # bigger and costs ~1.5 ms. The lock keeps concurrent saves from mixing up the restore.
        with _SAVE_LOCK:
            saved, rl_config.useA85 = rl_config.useA85, 0
            try:
                c.save()
            finally:
                rl_config.useA85 = saved
        return self._buffer.getvalue()

    # flowing content

    def space(self, points: float) -> None:
        self.y -= points

    def text(self, text: str, *, size: float = 9.5, font: str = REGULAR, indent: float = 0.0,
             color=INK, leading: float | None = None, after: float = 5.0) -> None:
        leading = leading or size * 1.42
        lines = wrap(text, font, size, self.width - indent)
        start = 0
        while start < len(lines):
            room = int((self.y - BOTTOM) // leading)
            if room < min(2, len(lines) - start):  # no single orphan line at the page foot
                self.new_page()
                continue
            chunk = lines[start:start + room]
            block = self.c.beginText(MARGIN + indent, self.y - size)
            block.setFont(font, size, leading)
            block.setFillColor(color)
            for line in chunk:
                block.textLine(line)
            self.c.drawText(block)
            self.y -= leading * len(chunk)
            start += len(chunk)
        self.y -= after

    def heading(self, text: str, *, size: float = 10.5, before: float = 6.0) -> None:
        self.ensure(before + size * 1.5 + 3 * 13.5)  # keep a title with its first lines
        self.y -= before
        self.text(text, size=size, font=BOLD, color=ACCENT, after=3)

    def band(self, text: str) -> None:
        """A shaded section title across the page, as on a Kbis."""
        self.ensure(22 + 3 * 14)
        c = self.c
        c.setFillColor(BAND)
        c.rect(MARGIN, self.y - 17, self.width, 17, stroke=0, fill=1)
        c.setFillColor(INK)
        c.setFont(BOLD, 8.5)
        c.drawString(MARGIN + 6, self.y - 12, text)
        self.y -= 25

    def field(self, label: str, value: str, *, label_width: float = 185.0) -> None:
        size, leading = 9.0, 12.8
        labels = wrap(label, REGULAR, 8.5, label_width - 10)
        values = wrap(value, BOLD, size, self.width - label_width)
        height = leading * max(len(labels), len(values))
        self.ensure(height + 4)
        c = self.c
        c.setFillColor(GREY)
        c.setFont(REGULAR, 8.5)
        for i, line in enumerate(labels):
            c.drawString(MARGIN + 6, self.y - size - i * leading, line)
        c.setFillColor(INK)
        c.setFont(BOLD, size)
        for i, line in enumerate(values):
            c.drawString(MARGIN + label_width, self.y - size - i * leading, line)
        self.y -= height + 4

    def rule(self) -> None:
        self.c.setStrokeColor(RULE)
        self.c.setLineWidth(0.5)
        self.c.line(MARGIN, self.y, PAGE_W - MARGIN, self.y)
        self.y -= 8


def letterhead(title: str, reference: str):
    """Header of the provider's documents: name and address left, title and reference right."""
    def draw(pdf: Pdf, page: int) -> float:
        c = pdf.c
        c.setFillColor(ACCENT)
        c.rect(MARGIN, PAGE_H - 46, 5, 24, stroke=0, fill=1)
        c.setFont(BOLD, 10)
        c.drawString(MARGIN + 12, PAGE_H - 33, PROVIDER)
        c.setFillColor(GREY)
        c.setFont(REGULAR, 7.5)
        c.drawString(MARGIN + 12, PAGE_H - 44, f"{PROVIDER_ADDRESS} — {CA_NAME}")
        c.setFont(REGULAR, 7.5)
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - 33, title)
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - 44, reference)
        c.setStrokeColor(RULE)
        c.setLineWidth(0.5)
        c.line(MARGIN, PAGE_H - 54, PAGE_W - MARGIN, PAGE_H - 54)
        return PAGE_H - 70
    return draw


def document_title(pdf: Pdf, title: str, subtitle: str | None = None) -> None:
    pdf.text(title, size=15, font=BOLD, color=INK, after=2)
    if subtitle:
        pdf.text(subtitle, size=9, color=GREY, after=4)
    pdf.space(4)
    pdf.rule()
