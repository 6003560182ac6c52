"""Generated supporting and contractual documents for the demo data.

Every function returns the bytes of a realistic-looking French document, clearly marked as a
specimen. Output depends only on the arguments: variable details (capital, activity, invoice
references…) come from a random generator seeded with a hash of the arguments, and reportlab
runs with ``invariant=1`` so that the same call gives the same bytes on every start.

The demo creates about 1,800 documents at first start, so the layout is drawn straight on a
reportlab canvas (no platypus) and the line wrapping of the fixed clauses is cached.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import math
import random
import re
import threading
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
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

CNI_SIZE = (1000, 640)       # ID-1 card proportions (85.6 × 54 mm)
PASSPORT_SIZE = (1000, 704)  # TD3 data page proportions (125 × 88 mm)

# Pillow's exif_transpose applies these to the stored pixels; we store the inverse so that a
# viewer honouring the tag shows the card upright, as a phone photo would be.
_STORE_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}

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

def _rng(*parts: object) -> random.Random:
    """A generator seeded by the arguments only, so documents are reproducible."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _fr_date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _years_later(day: dt.date, years: int) -> dt.date:
    """Same day `years` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _fit(text: str, font: str, size: float, width: float) -> str:
    """`text` cut with an ellipsis so that it fits on one line of `width` points."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _fr_amount(amount: Decimal) -> str:
    """1234.5 → '1 234,50 €'."""
    whole, cents = f"{amount:.2f}".split(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return f"{' '.join(groups)},{cents} €"


def _siren_digits(siren: str) -> str:
    digits = re.sub(r"\D", "", str(siren))[-9:]
    if len(digits) != 9:
        raise ValueError(f"SIREN must have 9 digits: {siren!r}")
    return digits


def format_siren(siren: str) -> str:
    """'434202180' → '434 202 180', as printed on a Kbis."""
    digits = _siren_digits(siren)
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def _city_of(address: str) -> str | None:
    """The town of a French address: after the postcode, else the last comma-separated part."""
    flat = " ".join(address.split())
    match = re.search(r"\b\d{5}\s+([^,]+)", flat)
    if match:  # drop an arrondissement or CEDEX: "69003 Lyon 3e" is RCS Lyon
        return re.sub(r"\s+(\d+(er|e|ème)?|cedex.*)$", "", match.group(1).strip(), flags=re.I)
    tail = flat.rsplit(",", 1)[-1].strip()
    return tail if "," in flat and tail and not any(c.isdigit() for c in tail) else None


def _ascii_upper(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()


# --- fonts ---------------------------------------------------------------------

@functools.cache
def _register_fonts() -> None:
    """Register DejaVu once per process, embedded so every viewer shows the same accents."""
    for name in PDF_FONTS:
        pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / FONT_FILES[name])))


@functools.lru_cache(maxsize=64)
def _pil_font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / FONT_FILES[name]), size)


@functools.lru_cache(maxsize=4096)
def _wrap(text: str, font: str, size: float, width: float) -> tuple[str, ...]:
    # Most paragraphs are fixed clauses: caching their wrapping saves most of the layout time.
    return tuple(simpleSplit(text, font, size, width)) or ("",)


# --- PDF layout ----------------------------------------------------------------

_SAVE_LOCK = threading.Lock()


class _Pdf:
    """A thin layer over a reportlab canvas: flowing text with page breaks, and on every page
    a header, a footer with « Page n / total » and the diagonal specimen mark."""

    def __init__(self, *, title: str, subject: str, header, footer: str):
        _register_fonts()
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
        c.drawString(MARGIN, 38, _fit(self._footer, REGULAR, 7, self.width - 70))
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
        lines = _wrap(text, font, size, self.width - indent)
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
        labels = _wrap(label, REGULAR, 8.5, label_width - 10)
        values = _wrap(value, BOLD, size, self.width - label_width)
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

    def signatures(self, blocks: list[tuple[str, str, str]], *, height: float = 104.0) -> None:
        """Side-by-side signature boxes: (role, name, handwritten mention asked for)."""
        self.ensure(height + 24)
        self.y -= 8
        gap = 14.0
        width = (self.width - gap * (len(blocks) - 1)) / len(blocks)
        c = self.c
        for index, (role, name, mention) in enumerate(blocks):
            x = MARGIN + index * (width + gap)
            c.setStrokeColor(RULE)
            c.setLineWidth(0.8)
            c.roundRect(x, self.y - height, width, height, 4, stroke=1, fill=0)
            c.setFillColor(ACCENT)
            c.setFont(BOLD, 8.5)
            c.drawString(x + 8, self.y - 15, role)
            c.setFillColor(INK)
            c.setFont(REGULAR, 8.5)
            for i, line in enumerate(_wrap(name, REGULAR, 8.5, width - 16)[:2]):
                c.drawString(x + 8, self.y - 29 - i * 11, line)
            c.setFillColor(GREY)
            c.setFont(REGULAR, 7.5)
            c.drawString(x + 8, self.y - 58, "Date : ____/____/________")
            c.setFont(REGULAR, 7)
            for i, line in enumerate(_wrap(mention, REGULAR, 7, width - 16)[:2]):
                c.drawString(x + 8, self.y - height + 16 - i * 9, line)
        self.y -= height + 10


def _letterhead(title: str, reference: str):
    """Header of the provider's documents: name and address left, title and reference right."""
    def draw(pdf: _Pdf, page: int) -> float:
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


def _title(pdf: _Pdf, title: str, subtitle: str | None = None) -> None:
    pdf.text(title, size=15, font=BOLD, color=INK, after=2)
    if subtitle:
        pdf.text(subtitle, size=9, color=GREY, after=4)
    pdf.space(4)
    pdf.rule()


# --- Extrait Kbis --------------------------------------------------------------

LEGAL_FORMS = (
    ("Société par actions simplifiée", "Président"),
    ("Société à responsabilité limitée", "Gérant"),
    ("Société par actions simplifiée unipersonnelle", "Président"),
    ("Société anonyme à conseil d'administration", "Directeur général"),
    ("Société d'exercice libéral à responsabilité limitée", "Gérant"),
)
ACTIVITIES = (
    "Conseil en systèmes et logiciels informatiques, développement et maintenance "
    "d'applications, formation.",
    "Travaux de maçonnerie générale et de gros œuvre de bâtiment, rénovation.",
    "Expertise comptable, commissariat aux comptes, conseil en gestion des entreprises.",
    "Transports routiers de fret de proximité, location de véhicules avec chauffeur.",
    "Ingénierie, études techniques, maîtrise d'œuvre de projets industriels.",
    "Activités d'architecture, conception et suivi de projets de construction.",
    "Boulangerie, pâtisserie, viennoiserie, confiserie, vente de produits alimentaires.",
    "Menuiserie bois et PVC, agencement intérieur, pose de fermetures.",
    "Commerce de gros de fournitures et d'équipements industriels divers.",
    "Cabinet de conseil juridique, assistance aux entreprises pour leurs formalités.",
)
KBIS_MENTIONS = (
    "Modification relative aux dirigeants : nomination du {role} {name}.",
    "Transfert du siège social au {address}.",
    "Augmentation du capital social, porté à {capital}.",
    "Modification de l'objet social : extension de l'activité à la formation professionnelle.",
    "Dépôt des comptes annuels de l'exercice clos le 31/12/{year}.",
    "Prorogation de la durée de la personne morale.",
    "Mise à jour des statuts suite à décision de l'assemblée générale extraordinaire.",
    "Ouverture d'un établissement secondaire.",
)
CLERKS = ("Me Hélène Lacombe-Ferrand", "Me Bertrand Aubry", "Me Nathalie Séguier",
          "Me François-Xavier Delmas")
FALLBACK_CITIES = ("Toulouse", "Lyon", "Montpellier", "Grenoble", "Nîmes", "Perpignan")


def kbis_pdf(company_name: str, siren: str, address: str, legal_rep_name: str,
             registered_on: dt.date, *, issued_on: dt.date | None = None) -> bytes:
    """An « Extrait Kbis » look-alike, 2 or 3 pages, from the greffe of the company's town.

    `issued_on` is the « à jour au » date; by default a date derived from the arguments.
    """
    rng = _rng("kbis", company_name, siren, address, legal_rep_name, registered_on)
    siren_text = format_siren(siren)
    city = _city_of(address) or rng.choice(FALLBACK_CITIES)
    address = ", ".join(part.strip() for part in address.splitlines() if part.strip())
    if issued_on is None:
        issued_on = max(dt.date(2025, 1, 6) + dt.timedelta(days=rng.randrange(330)),
                        registered_on + dt.timedelta(days=30))
    form, role = rng.choice(LEGAL_FORMS)
    capital = _fr_amount(Decimal(rng.choice((1000, 5000, 10000, 37000, 50000, 100000, 250000))))
    activity = rng.choice(ACTIVITIES)
    clerk = rng.choice(CLERKS)
    code = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10))
    management_number = f"{registered_on.year} B {rng.randrange(100, 99999):05d}"
    rcs = f"{siren_text} R.C.S. {city}"
    three_pages = rng.random() < 0.5

    def header(pdf: _Pdf, page: int) -> float:
        c = pdf.c
        c.setFillColor(INK)
        c.setFont(BOLD, 9.5)
        c.drawString(MARGIN, PAGE_H - 36, f"Greffe du Tribunal de Commerce de {city}")
        c.setFont(REGULAR, 7.5)
        c.setFillColor(GREY)
        c.drawString(MARGIN, PAGE_H - 47, f"Place du Palais de Justice — {city}")
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - 36, f"Code de vérification : {code}")
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - 47, f"N° de gestion {management_number}")
        c.setStrokeColor(INK)
        c.setLineWidth(0.8)
        c.line(MARGIN, PAGE_H - 55, PAGE_W - MARGIN, PAGE_H - 55)
        if page == 1:
            return PAGE_H - 72
        c.setFont(REGULAR, 8)
        c.drawString(MARGIN, PAGE_H - 68, f"Extrait Kbis (suite) — {company_name} — RCS {city}")
        return PAGE_H - 84

    pdf = _Pdf(title=f"Extrait Kbis — {company_name}", subject=f"RCS {city} {siren_text}",
               header=header, footer=f"Extrait Kbis — {rcs}")
    pdf.text("Extrait Kbis", size=18, font=BOLD, after=2)
    pdf.text("EXTRAIT D'IMMATRICULATION PRINCIPALE AU REGISTRE DU COMMERCE ET DES SOCIÉTÉS",
             size=9.5, font=BOLD, after=1)
    pdf.text(f"à jour au {_fr_date(issued_on)}", size=9, color=GREY, after=10)

    pdf.band("IDENTIFICATION DE LA PERSONNE MORALE")
    pdf.field("Immatriculation au RCS, numéro", rcs)
    pdf.field("Date d'immatriculation", _fr_date(registered_on))
    pdf.field("Numéro EUID", f"FR{rng.randrange(1000, 9999)}.{_siren_digits(siren)}")
    pdf.field("Dénomination ou raison sociale", company_name)
    pdf.field("Forme juridique", form)
    pdf.field("Capital social", f"{capital} (fixe)")
    pdf.field("Adresse du siège", address)
    pdf.field("Activités principales", activity)
    pdf.field("Durée de la personne morale",
              f"Jusqu'au {_fr_date(_years_later(registered_on, 99))}")
    pdf.field("Date de clôture de l'exercice social", "31 décembre")
    pdf.space(6)

    pdf.band("GESTION, DIRECTION, ADMINISTRATION, CONTRÔLE, ASSOCIÉS OU MEMBRES")
    pdf.field(role, legal_rep_name)
    pdf.field("Pouvoirs", "Représente la société à l'égard des tiers, avec les pouvoirs les plus "
                          "étendus dans la limite de l'objet social.")
    if rng.random() < 0.6:
        pdf.field("Commissaire aux comptes titulaire",
                  rng.choice(("Audit Garonne Associés", "Cabinet Rhône Révision",
                              "Société Méditerranée Audit")))

    pdf.new_page()
    pdf.band("RENSEIGNEMENTS RELATIFS À L'ACTIVITÉ ET À L'ÉTABLISSEMENT PRINCIPAL")
    pdf.field("Adresse de l'établissement", address)
    pdf.field("Activité(s) exercée(s)", activity)
    pdf.field("Date de commencement d'activité", _fr_date(registered_on))
    pdf.field("Origine du fonds ou de l'activité", "Création")
    pdf.field("Mode d'exploitation", "Exploitation directe")
    pdf.space(6)
    mentions = _kbis_mentions(rng, registered_on, issued_on, role, legal_rep_name, address,
                              capital, 6 if three_pages else 3)
    pdf.band("OBSERVATIONS ET RENSEIGNEMENTS COMPLÉMENTAIRES")
    for day, text in mentions[:3]:
        pdf.field(f"Mention du {_fr_date(day)}", text)
    if three_pages:
        pdf.new_page()
        pdf.band("ÉTABLISSEMENT(S) SECONDAIRE(S) ET HISTORIQUE DES INSCRIPTIONS")
        pdf.field("Établissement secondaire",
                  f"{rng.randrange(2, 80)} avenue de l'Europe, {city} — {activity}")
        for day, text in mentions[3:]:
            pdf.field(f"Mention du {_fr_date(day)}", text)
    pdf.space(14)
    pdf.text(f"Le Greffier, {clerk}", font=BOLD, size=9)
    pdf.text(f"Fait à {city}, le {_fr_date(issued_on)}. Extrait certifié conforme aux "
             "inscriptions portées au registre à cette date.", size=8.5, color=GREY)
    pdf.text("FIN DE L'EXTRAIT", font=BOLD, size=9, after=0)
    return pdf.finish()


def _kbis_mentions(rng, registered_on, issued_on, role, name, address, capital, count):
    span = max((issued_on - registered_on).days, count * 30)
    days = sorted(registered_on + dt.timedelta(days=rng.randrange(20, span))
                  for _ in range(count))
    templates = rng.sample(KBIS_MENTIONS, count)
    return [(day, text.format(role=role.lower(), name=name, address=address, capital=capital,
                              year=day.year - 1))
            for day, text in zip(days, templates)]


# --- contractual documents -----------------------------------------------------

CGU = "CGU"
SUBSCRIPTION = "Contrat d'abonnement"
AUTHORIZATION = "Lettre d'autorisation de demande de certificat"
POWER_OF_ATTORNEY = "Procuration du représentant légal"
CONTRACT_KINDS = (CGU, SUBSCRIPTION, AUTHORIZATION, POWER_OF_ATTORNEY)

CGU_VERSION = "Version 4.2 applicable au 01/03/2025"

CGU_DEFINITIONS = (
    ("Autorité de Certification (AC)", "entité qui émet les certificats, en garantit le lien "
     "avec l'identité du Porteur et en publie l'état de validité ; ici l'AC « {ca} »."),
    ("Autorité d'Enregistrement (AE)", "entité mandatée par l'AC pour vérifier l'identité du "
     "Porteur et des représentants du Souscripteur, instruire le dossier de commande et "
     "valider la demande de certificat."),
    ("Certificat", "fichier électronique signé par l'AC qui atteste du lien entre une clé "
     "publique et l'identité du Porteur, pour une durée de validité déterminée."),
    ("Clé USB cryptographique", "support matériel qualifié sur lequel la paire de clés du "
     "Porteur est générée et conservée ; la clé privée ne peut en être extraite."),
    ("Code PIN", "code personnel et confidentiel choisi par le Porteur qui protège l'accès à sa "
     "clé privée."),
    ("Code d'activation", "code à usage unique envoyé au Contact OTP qui permet au Porteur "
     "d'activer sa clé USB lors de la remise."),
    ("Contact OTP", "numéro de téléphone mobile ou adresse électronique déclaré dans le dossier "
     "de commande pour la réception du code d'activation."),
    ("Dossier de commande", "ensemble des informations saisies et des pièces justificatives et "
     "contractuelles transmises à l'AE pour une commande."),
    ("Liste des certificats révoqués (LCR)", "liste publiée et signée par l'AC des certificats "
     "révoqués avant leur date d'expiration."),
    ("Politique de Certification (PC)", "ensemble des règles, identifié par un OID, qui définit "
     "les exigences auxquelles l'AC se conforme pour l'émission et la gestion des certificats."),
    ("Porteur", "personne physique identifiée dans le certificat, seule autorisée à utiliser "
     "la clé privée correspondante."),
    ("Représentant légal, Mandataire", "personne habilitée à engager le Souscripteur, et "
     "personne à laquelle elle a donné pouvoir pour accomplir les démarches de commande."),
    ("Souscripteur", "personne morale qui commande le certificat pour le compte du Porteur et "
     "en règle le prix."),
)

CGU_ARTICLES = (
    ("Objet", (
        "Les présentes Conditions Générales d'Utilisation (ci-après « CGU ») ont pour objet de "
        "définir les conditions dans lesquelles {provider} instruit les demandes de "
        "certificats électroniques émis par l'{ca}, ainsi que les droits et obligations du "
        "Souscripteur, du Porteur et de l'Autorité d'Enregistrement.",
        "Elles s'appliquent à la commande N° {order} passée par la société {company} pour le "
        "compte de {holder}, Porteur du certificat. Toute commande implique l'acceptation sans "
        "réserve des présentes CGU, qui prévalent sur tout autre document du Souscripteur.",
    )),
    ("Documents contractuels", (
        "Les relations entre les parties sont régies, par ordre de priorité décroissante, par "
        "le contrat d'abonnement, les présentes CGU, la Politique de Certification de l'AC et "
        "sa Déclaration des Pratiques de Certification, dont les versions en vigueur sont "
        "publiées sur le site de l'AC. En cas de contradiction entre ces documents, le document "
        "de rang supérieur prévaut.",
        "Le Souscripteur reconnaît avoir pris connaissance de la Politique de Certification "
        "applicable, de niveau RGS** et conforme au règlement (UE) n° 910/2014 dit « eIDAS » "
        "pour les certificats qualifiés de signature électronique.",
    )),
    ("Description du service", (
        "Le service comprend l'instruction du dossier de commande par l'AE, la génération de la "
        "paire de clés du Porteur directement sur une clé USB cryptographique qualifiée, "
        "l'émission du certificat par l'AC, sa remise au Porteur et la publication de son état "
        "de validité pendant toute sa durée de vie.",
        "Le certificat a une durée de validité d'un, deux ou trois ans selon l'offre souscrite. "
        "Il permet au Porteur de signer électroniquement des documents avec une signature "
        "qualifiée, dont l'effet juridique est équivalent à celui d'une signature manuscrite.",
        "Le service ne comprend ni la fourniture d'un logiciel de signature, ni l'assistance "
        "à l'utilisation d'applications tierces, qui peuvent faire l'objet d'offres distinctes.",
    )),
    ("Constitution du dossier et vérification de l'identité", (
        "Le Souscripteur transmet un dossier de commande complet comprenant notamment un extrait "
        "Kbis de moins de trois mois, la copie d'une pièce d'identité en cours de validité du "
        "Porteur et du représentant légal, le cas échéant la procuration et la pièce d'identité "
        "du mandataire, ainsi que la preuve du paiement.",
        "L'AE vérifie la cohérence des informations saisies avec les pièces justificatives. "
        "Elle peut demander tout complément ou toute correction par notification adressée à la "
        "personne à l'origine de la commande. Tant que le dossier est incomplet ou incohérent, "
        "la commande reste en attente et aucun certificat n'est émis.",
        "La validation du dossier par un opérateur de l'AE est un acte irréversible qui engage "
        "l'AC. Elle intervient après signature de l'ensemble des documents contractuels.",
    )),
    ("Remise de la clé et activation", (
        "La clé USB cryptographique est remise au Porteur en main propre ou par envoi sécurisé. "
        "Le Porteur active son certificat à l'aide du code d'activation reçu sur le Contact OTP "
        "déclaré ; un Contact OTP erroné empêche l'activation et impose une nouvelle remise.",
        "Le Porteur choisit lors de l'activation un code PIN qu'il ne communique à personne. "
        "Après plusieurs saisies erronées, la clé se bloque et ne peut être débloquée que selon "
        "la procédure prévue par l'AC.",
    )),
    ("Obligations du Porteur", (
        "Le Porteur s'engage à fournir des informations exactes et à jour, à conserver sa clé "
        "USB sous son contrôle exclusif, à garder secret son code PIN et à n'utiliser son "
        "certificat que pour les usages autorisés par la Politique de Certification.",
        "Il s'engage à demander sans délai la révocation de son certificat en cas de perte, de "
        "vol ou de suspicion de compromission de sa clé ou de son code PIN, ainsi qu'en cas de "
        "modification des informations figurant dans le certificat.",
    )),
    ("Obligations du Souscripteur", (
        "Le Souscripteur garantit l'exactitude des informations relatives à la société et à ses "
        "représentants, ainsi que l'habilitation de la personne qui signe les documents "
        "contractuels en son nom. Il informe l'AE de tout changement affectant le Porteur, "
        "notamment son départ de la société, et demande alors la révocation du certificat.",
        "Il s'acquitte du prix du service selon les conditions du contrat d'abonnement et veille "
        "à ce que le Porteur respecte les obligations qui lui incombent.",
    )),
    ("Obligations de l'AC et de l'AE", (
        "L'AE instruit les dossiers avec diligence, conserve la trace de chaque vérification et "
        "ne valide une demande qu'après contrôle de l'ensemble des pièces. L'AC émet le "
        "certificat conformément à sa Politique de Certification, publie les LCR selon la "
        "fréquence annoncée et traite les demandes de révocation dans les délais prévus.",
        "L'AC et l'AE sont soumises à des audits réguliers de conformité et mettent en œuvre "
        "les mesures de sécurité physiques, logiques et organisationnelles exigées par le "
        "référentiel applicable.",
    )),
    ("Usages du certificat", (
        "Le certificat est destiné exclusivement à la signature électronique par le Porteur, "
        "dans le cadre de son activité pour le compte du Souscripteur. Tout autre usage, "
        "notamment le chiffrement, l'authentification de serveurs ou la signature de code, est "
        "interdit et engage la seule responsabilité de son auteur.",
    )),
    ("Révocation", (
        "La révocation peut être demandée à tout moment par le Porteur, le Souscripteur ou son "
        "représentant légal, auprès de l'AE ou du service de révocation de l'AC disponible en "
        "permanence. L'AC peut également révoquer le certificat si les informations qu'il "
        "contient s'avèrent inexactes, en cas de manquement grave aux présentes CGU ou de "
        "compromission de la clé.",
        "La révocation est définitive. Elle est publiée dans la LCR suivante et ne donne lieu à "
        "aucun remboursement.",
    )),
    ("Renouvellement", (
        "Le renouvellement du certificat donne lieu à une nouvelle commande et à une nouvelle "
        "vérification de l'identité du Porteur selon les modalités de la Politique de "
        "Certification. L'AE informe le Souscripteur de l'échéance du certificat au moins un "
        "mois avant sa date d'expiration.",
    )),
    ("Responsabilité", (
        "L'AC et l'AE sont responsables des dommages causés par un manquement à leurs "
        "obligations dans les conditions prévues par le règlement eIDAS. Leur responsabilité ne "
        "saurait être engagée en cas d'utilisation du certificat non conforme aux présentes, de "
        "faute du Porteur dans la conservation de sa clé ou de son code PIN, ou de force "
        "majeure.",
        "Sauf faute lourde ou intentionnelle, la responsabilité de l'AE est limitée, tous "
        "préjudices confondus, au montant payé par le Souscripteur pour la commande concernée.",
    )),
    ("Données à caractère personnel", (
        "Les données collectées sont nécessaires à l'émission du certificat et au respect des "
        "obligations légales de l'AC. Elles sont traitées conformément au règlement (UE) "
        "2016/679 et à la loi « Informatique et Libertés ». Le Porteur dispose d'un droit "
        "d'accès, de rectification et de limitation qu'il exerce auprès de l'AE ; le droit à "
        "l'effacement ne s'applique pas aux données dont la conservation est imposée.",
    )),
    ("Conservation et archivage", (
        "Le dossier de commande, les pièces justificatives, les documents signés et le journal "
        "des événements sont conservés par l'AE pendant la durée exigée par la Politique de "
        "Certification, soit au moins sept ans après l'expiration du certificat, dans des "
        "conditions garantissant leur intégrité.",
    )),
    ("Durée, modification et résiliation", (
        "Les présentes CGU s'appliquent pendant toute la durée de validité du certificat. L'AE "
        "peut les modifier pour tenir compte de l'évolution du référentiel ; la version "
        "applicable est celle en vigueur à la date de la commande.",
        "En cas de manquement grave de l'une des parties, l'autre partie peut résilier le "
        "contrat après une mise en demeure restée sans effet pendant trente jours ; la "
        "résiliation entraîne la révocation du certificat.",
    )),
    ("Droit applicable et litiges", (
        "Les présentes CGU sont soumises au droit français. Les parties s'efforcent de résoudre "
        "à l'amiable tout différend ; à défaut, le litige est porté devant les juridictions "
        "compétentes du ressort du siège de l'AE.",
    )),
)

SUBSCRIPTION_ARTICLES = (
    ("Objet", (
        "Le présent contrat a pour objet la fourniture au Souscripteur d'un certificat "
        "électronique qualifié de signature au nom de son Porteur, ainsi que des services "
        "associés décrits ci-dessous, dans les conditions des CGU du service de certification.",
    )),
    ("Porteur désigné", (
        "Le certificat est émis au nom de {holder}, agissant pour le compte du Souscripteur, "
        "au titre de la commande N° {order}.",
    )),
    ("Prise d'effet et durée", (
        "Le contrat prend effet à la validation de la commande par l'AE et prend fin à "
        "l'expiration ou à la révocation du certificat. Il n'est pas renouvelé tacitement : "
        "toute prolongation donne lieu à une nouvelle commande.",
    )),
    ("Conditions financières", (
        "Le prix figure sur le bon de commande et la facture. Il est payable à la commande ; la "
        "validation du dossier par l'AE est subordonnée à la réception du règlement. Aucun "
        "remboursement n'est dû en cas de révocation anticipée, sauf faute de l'AC ou de l'AE.",
    )),
    ("Engagements du Souscripteur", (
        "Le Souscripteur s'engage à informer l'AE sans délai de toute modification concernant "
        "la société, son représentant légal ou le Porteur, et à demander la révocation du "
        "certificat lorsque le Porteur n'est plus habilité à agir en son nom.",
        "Il se porte fort du respect par le Porteur des obligations prévues par les CGU, "
        "notamment la conservation de la clé USB et la confidentialité du code PIN.",
    )),
    ("Résiliation", (
        "Chaque partie peut résilier le contrat en cas de manquement grave de l'autre partie, "
        "trente jours après une mise en demeure restée sans effet. La résiliation emporte la "
        "révocation du certificat.",
    )),
    ("Acceptation des CGU", (
        "Le Souscripteur et le Porteur déclarent avoir pris connaissance des Conditions "
        "Générales d'Utilisation du service de certification et de la Politique de "
        "Certification applicable, et les accepter sans réserve.",
    )),
)


def contract_pdf(kind_label: str, order_number: int | str, company_name: str, holder_name: str,
                 legal_rep_name: str, mandataire_name: str | None) -> bytes:
    """A contractual document to be e-signed, by its French label (see CONTRACT_KINDS):
    CGU (4–6 pages), subscription contract (2–3), authorisation letter and power of attorney
    (1 page each). A power of attorney needs a mandataire."""
    context = {
        "order": str(order_number), "company": company_name, "holder": holder_name,
        "legal": legal_rep_name, "mandataire": mandataire_name or "", "provider": PROVIDER,
        "ca": CA_NAME,
    }
    # The signer for the company: the mandataire when one acts, else the legal representative.
    if mandataire_name:
        signer = (f"{mandataire_name}, mandataire de {legal_rep_name}, représentant légal")
    else:
        signer = f"{legal_rep_name}, représentant légal"
    if kind_label == CGU:
        return _cgu(context, signer)
    if kind_label == SUBSCRIPTION:
        return _subscription(context, signer)
    if kind_label == AUTHORIZATION:
        return _authorization(context)
    if kind_label == POWER_OF_ATTORNEY:
        if not mandataire_name:
            raise ValueError("A power of attorney needs a mandataire.")
        return _power_of_attorney(context)
    raise ValueError(f"Unknown contractual document: {kind_label!r}")


def _contract_pdf(title: str, context: dict) -> _Pdf:
    reference = f"Commande N° {context['order']}"
    return _Pdf(title=f"{title} — {reference}", subject=context["company"],
                header=_letterhead(title, reference),
                footer=f"{title} — {reference} — {context['company']}")


def _articles(pdf: _Pdf, articles, context: dict, first_number: int = 1) -> int:
    number = first_number
    for heading, paragraphs in articles:
        pdf.heading(f"Article {number} — {heading}")
        for paragraph in paragraphs:
            pdf.text(paragraph.format(**context))
        number += 1
    return number


def _cgu(context: dict, signer: str) -> bytes:
    pdf = _contract_pdf("Conditions Générales d'Utilisation", context)
    _title(pdf, "Conditions Générales d'Utilisation du service de certification électronique",
           f"{CGU_VERSION} — Commande N° {context['order']} — Souscripteur : "
           f"{context['company']} — Porteur : {context['holder']}")
    number = _articles(pdf, CGU_ARTICLES[:1], context)
    pdf.heading(f"Article {number} — Définitions")
    pdf.text("Dans les présentes, les termes suivants, employés avec une majuscule, ont la "
             "signification qui leur est donnée ci-après :")
    for term, meaning in CGU_DEFINITIONS:
        pdf.text(f"• {term} : {meaning.format(**context)}", indent=10, after=3)
    _articles(pdf, CGU_ARTICLES[1:], context, number + 1)
    pdf.space(6)
    pdf.text("Fait en un exemplaire électronique, signé par chacune des parties. Les signataires "
             "reconnaissent avoir lu et accepté l'intégralité des présentes Conditions Générales "
             "d'Utilisation.", size=9)
    pdf.signatures([("Le Porteur", context["holder"], "« Lu et approuvé »"),
                    ("Pour le Souscripteur", f"{context['company']} — {signer}",
                     "« Lu et approuvé, bon pour accord »")])
    return pdf.finish()


def _subscription(context: dict, signer: str) -> bytes:
    rng = _rng("subscription", *context.values())
    years = rng.choice((1, 2, 3))
    pdf = _contract_pdf("Contrat d'abonnement", context)
    _title(pdf, "Contrat d'abonnement au service de certification électronique",
           f"Commande N° {context['order']} — {CGU_VERSION.replace('Version', 'CGU version')}")
    pdf.text("ENTRE LES SOUSSIGNÉS", font=BOLD, size=9.5)
    pdf.text(f"{PROVIDER}, {PROVIDER_IDS}, dont le siège est situé {PROVIDER_ADDRESS}, agissant "
             f"pour le compte de l'{CA_NAME}, ci-après « l'AE », d'une part,")
    pdf.text(f"ET la société {context['company']}, représentée par {signer}, dûment habilité(e) "
             "aux fins des présentes, ci-après « le Souscripteur », d'autre part,")
    pdf.text("IL A ÉTÉ CONVENU CE QUI SUIT :", font=BOLD, size=9.5, after=2)
    number = _articles(pdf, SUBSCRIPTION_ARTICLES[:2], context)
    pdf.heading(f"Article {number} — Offre souscrite")
    pdf.field("Produit", "Certificat qualifié de signature électronique RGS** / eIDAS")
    pdf.field("Support", "Clé USB cryptographique qualifiée, fournie par l'AE")
    pdf.field("Durée de validité", f"{years} an{'s' if years > 1 else ''}")
    pdf.field("Porteur", context["holder"])
    pdf.field("Contact OTP", "Celui déclaré dans le dossier de commande")
    pdf.field("Processus", "Génération Certificat")
    _articles(pdf, SUBSCRIPTION_ARTICLES[2:], context, number + 1)
    pdf.signatures([("Pour le Souscripteur", signer, "« Lu et approuvé, bon pour accord »"),
                    ("Le Porteur", context["holder"], "« Lu et approuvé »"),
                    ("Pour l'AE", PROVIDER, "Signature de l'opérateur habilité")])
    return pdf.finish()


def _authorization(context: dict) -> bytes:
    pdf = _contract_pdf("Lettre d'autorisation", context)
    pdf.text(context["company"], font=BOLD, size=10.5, after=1)
    pdf.text("Lettre à en-tête du Souscripteur", size=8, color=GREY, after=18)
    pdf.text(f"À l'attention de {PROVIDER}", size=9.5, after=1)
    pdf.text(PROVIDER_ADDRESS, size=9.5, after=18)
    pdf.text("Objet : autorisation de demande de certificat électronique — commande N° "
             f"{context['order']}", font=BOLD, size=10, after=12)
    pdf.text("Madame, Monsieur,", after=8)
    if context["mandataire"]:
        who = (f"Je soussigné(e) {context['mandataire']}, agissant en vertu du pouvoir que m'a "
               f"donné {context['legal']}, représentant légal de la société {context['company']}")
    else:
        who = (f"Je soussigné(e) {context['legal']}, agissant en qualité de représentant légal "
               f"de la société {context['company']}")
    pdf.text(f"{who}, autorise {context['holder']} à demander, au nom et pour le compte de la "
             f"société, un certificat qualifié de signature électronique émis par l'{CA_NAME}, "
             f"dans le cadre de la commande N° {context['order']}.")
    pdf.text(f"{context['holder']} pourra utiliser ce certificat pour signer électroniquement "
             "les actes relevant de ses fonctions au sein de la société. Je m'engage à informer "
             "l'Autorité d'Enregistrement sans délai de toute modification de sa situation, et "
             "notamment de la fin de son habilitation, afin que le certificat soit révoqué.")
    pdf.text("Je certifie l'exactitude des informations transmises dans le dossier de commande "
             "et déclare avoir pris connaissance des Conditions Générales d'Utilisation du "
             "service de certification.")
    pdf.text("Je vous prie d'agréer, Madame, Monsieur, l'expression de mes salutations "
             "distinguées.", after=14)
    pdf.text("Fait à ______________________, le ____/____/________", size=9.5, after=6)
    company_signer = context["mandataire"] or context["legal"]
    company_role = "Le mandataire" if context["mandataire"] else "Le représentant légal"
    pdf.signatures([(company_role, company_signer, "Signature et cachet de la société"),
                    ("Le Porteur", context["holder"], "« Lu et accepté »")])
    return pdf.finish()


def _power_of_attorney(context: dict) -> bytes:
    pdf = _contract_pdf("Procuration du représentant légal", context)
    _title(pdf, "Procuration", f"Demande de certificat électronique — commande N° "
                              f"{context['order']}")
    pdf.text(f"Je soussigné(e) {context['legal']}, agissant en qualité de représentant légal de "
             f"la société {context['company']}, dûment habilité(e) à cet effet,", after=8)
    pdf.text("DONNE POUVOIR À", font=BOLD, size=10, after=4)
    pdf.text(f"{context['mandataire']}, ci-après « le Mandataire »,", font=BOLD, after=8)
    pdf.text("d'effectuer en mon nom et pour le compte de la société toutes les démarches "
             f"nécessaires à la commande d'un certificat qualifié de signature électronique au "
             f"nom de {context['holder']} auprès de {PROVIDER}, et notamment :")
    for item in ("compléter et transmettre le dossier de commande et les pièces justificatives ;",
                 "signer le contrat d'abonnement, les Conditions Générales d'Utilisation et la "
                 "lettre d'autorisation de demande de certificat ;",
                 "recevoir les notifications relatives à la commande et y donner suite ;",
                 "demander, le cas échéant, la révocation du certificat émis."):
        pdf.text(f"• {item}", indent=12, after=3)
    pdf.space(4)
    pdf.text("La présente procuration est valable pour la commande désignée ci-dessus et pour la "
             "durée de validité du certificat correspondant. Elle peut être révoquée à tout "
             "moment par notification écrite adressée à l'Autorité d'Enregistrement.")
    pdf.text("Le Mandataire déclare accepter le présent pouvoir et s'engage à en rendre compte au "
             "mandant.", after=14)
    pdf.text("Fait à ______________________, le ____/____/________", size=9.5, after=6)
    pdf.signatures([("Le mandant (représentant légal)", context["legal"],
                     "Mention manuscrite « Bon pour pouvoir »"),
                    ("Le Mandataire", context["mandataire"],
                     "Mention « Bon pour acceptation de pouvoir »")])
    return pdf.finish()


# --- proof of payment ----------------------------------------------------------

PAYMENT_METHODS = (("Carte bancaire", "par carte bancaire"), ("Virement SEPA", "par virement SEPA"),
                   ("Prélèvement SEPA", "par prélèvement SEPA"), ("Chèque", "par chèque"))
VAT_RATE = Decimal("0.20")
TOKEN_PRICE = Decimal("35.00")  # the USB key, invoiced on its own line when the total allows

PAYMENT_TERMS = (
    "Facture payable à la commande, sans escompte pour paiement anticipé.",
    "En cas de retard de paiement, des pénalités égales à trois fois le taux d'intérêt légal "
    "sont exigibles, ainsi qu'une indemnité forfaitaire pour frais de recouvrement de 40 € "
    "(articles L. 441-10 et D. 441-5 du Code de commerce).",
    "La validation du dossier de commande par l'Autorité d'Enregistrement intervient après "
    "réception du règlement intégral de la présente facture.",
    "Le certificat et la clé USB restent la propriété de l'Autorité de Certification jusqu'au "
    "paiement complet du prix. Aucun remboursement n'est dû en cas de révocation anticipée, "
    "sauf faute de l'Autorité de Certification ou de l'Autorité d'Enregistrement.",
    "Pour toute réclamation relative à cette facture, contactez le service administration des "
    "ventes en rappelant le numéro de facture et le numéro de commande.",
)


def payment_proof_pdf(order_number: int | str, company_name: str, amount_eur: float | Decimal,
                      paid_on: dt.date) -> bytes:
    """An invoice marked as paid (« acquittée »), 1 or 2 pages; `amount_eur` is the total
    including VAT."""
    rng = _rng("payment", order_number, company_name, amount_eur, paid_on)
    total = Decimal(str(amount_eur)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    net = (total / (1 + VAT_RATE)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    vat = total - net
    token = TOKEN_PRICE if net > 2 * TOKEN_PRICE else Decimal("0.00")
    years = rng.choice((1, 2, 3))
    lines = [(f"Certificat qualifié de signature RGS** / eIDAS — {years} an"
              f"{'s' if years > 1 else ''}", net - token)]
    if token:
        lines.append(("Clé USB cryptographique qualifiée (support du certificat)", token))
    invoice_number = f"F{paid_on.year}-{str(order_number)[-6:]}-{rng.randrange(10, 99)}"
    method, paid_by = rng.choice(PAYMENT_METHODS)
    transaction = "".join(rng.choice("0123456789ABCDEF") for _ in range(12))
    with_terms_page = rng.random() < 0.4

    pdf = _Pdf(title=f"Facture {invoice_number}", subject=company_name,
               header=_letterhead("Facture acquittée", f"N° {invoice_number}"),
               footer=f"Facture {invoice_number} — Commande N° {order_number}")
    _title(pdf, f"Facture N° {invoice_number}",
           f"Date de facture : {_fr_date(paid_on)} — Commande N° {order_number}")
    top = pdf.y
    pdf.text("Émetteur", font=BOLD, size=8.5, color=GREY, after=1)
    pdf.text(PROVIDER, size=9, after=0)
    pdf.text(PROVIDER_ADDRESS, size=9, after=0)
    pdf.text(PROVIDER_IDS.replace(" — ", "\n"), size=7.5, color=GREY, after=0)
    pdf.y = top
    _client_box(pdf, company_name)
    pdf.y = min(pdf.y, top - 70)

    _invoice_table(pdf, lines, net, vat, total)
    pdf.space(16)
    _paid_stamp(pdf, paid_on, method, transaction, total)
    pdf.space(10)
    pdf.text(f"Paiement reçu le {_fr_date(paid_on)} {paid_by}, référence de "
             f"transaction {transaction}. Ce document tient lieu de justificatif de paiement "
             f"de la commande N° {order_number}.", size=9)
    if with_terms_page:
        pdf.new_page()
        pdf.heading("Conditions de règlement et mentions légales", before=0)
        for paragraph in PAYMENT_TERMS:
            pdf.text(paragraph, size=9)
        pdf.heading("Coordonnées bancaires", before=8)
        pdf.field("Titulaire du compte", PROVIDER)
        pdf.field("IBAN", "FR76 3000 4000 0500 0012 3456 789")
        pdf.field("BIC", "DEMOFRPPTLS")
    else:
        pdf.space(8)
        pdf.text(" ".join(PAYMENT_TERMS[:2]), size=8, color=GREY)
    return pdf.finish()


def _client_box(pdf: _Pdf, company_name: str) -> None:
    c, x, width = pdf.c, MARGIN + pdf.width / 2 + 10, pdf.width / 2 - 10
    c.setStrokeColor(RULE)
    c.roundRect(x, pdf.y - 62, width, 62, 3, stroke=1, fill=0)
    c.setFillColor(GREY)
    c.setFont(BOLD, 8.5)
    c.drawString(x + 8, pdf.y - 14, "Facturé à")
    c.setFillColor(INK)
    c.setFont(BOLD, 9.5)
    for i, line in enumerate(_wrap(company_name, BOLD, 9.5, width - 16)[:2]):
        c.drawString(x + 8, pdf.y - 29 - i * 12, line)
    c.setFont(REGULAR, 8)
    c.drawString(x + 8, pdf.y - 54, "Service comptabilité fournisseurs")
    pdf.y -= 62


def _invoice_table(pdf: _Pdf, lines, net: Decimal, vat: Decimal, total: Decimal) -> None:
    c = pdf.c
    columns = (MARGIN + 6, PAGE_W - MARGIN - 200, PAGE_W - MARGIN - 120, PAGE_W - MARGIN - 6)
    c.setFillColor(BAND)
    c.rect(MARGIN, pdf.y - 18, pdf.width, 18, stroke=0, fill=1)
    c.setFillColor(INK)
    c.setFont(BOLD, 8.5)
    c.drawString(columns[0], pdf.y - 12, "Désignation")
    c.drawRightString(columns[1], pdf.y - 12, "Qté")
    c.drawRightString(columns[2], pdf.y - 12, "PU HT")
    c.drawRightString(columns[3], pdf.y - 12, "Montant HT")
    pdf.y -= 18
    c.setFont(REGULAR, 9)
    for label, amount in lines:
        pdf.y -= 16
        c.drawString(columns[0], pdf.y, label)
        c.drawRightString(columns[1], pdf.y, "1")
        c.drawRightString(columns[2], pdf.y, _fr_amount(amount))
        c.drawRightString(columns[3], pdf.y, _fr_amount(amount))
    pdf.y -= 10
    pdf.rule()
    for label, amount, font in (("Total HT", net, REGULAR), ("TVA 20 %", vat, REGULAR),
                                ("Total TTC", total, BOLD)):
        pdf.y -= 6
        c.setFont(font, 9.5)
        c.drawString(columns[2] - 90, pdf.y, label)
        c.drawRightString(columns[3], pdf.y, _fr_amount(amount))
        pdf.y -= 10


def _paid_stamp(pdf: _Pdf, paid_on: dt.date, method: str, transaction: str,
                total: Decimal) -> None:
    c = pdf.c
    pdf.ensure(64)
    c.saveState()
    c.setStrokeColor(HexColor("#1d7a3a"))
    c.setFillColor(HexColor("#1d7a3a"))
    c.setLineWidth(1.6)
    c.roundRect(MARGIN, pdf.y - 56, 250, 56, 6, stroke=1, fill=0)
    c.setFont(BOLD, 14)
    c.drawString(MARGIN + 12, pdf.y - 21, "ACQUITTÉE")
    c.setFont(REGULAR, 8)
    c.drawString(MARGIN + 12, pdf.y - 35, f"{_fr_amount(total)} reçus le {_fr_date(paid_on)}")
    c.drawString(MARGIN + 12, pdf.y - 47, f"{method} — réf. {transaction}")
    c.restoreState()
    pdf.y -= 56


# --- identity documents --------------------------------------------------------

BIRTH_PLACES = ("TOULOUSE (31)", "LYON 3E (69)", "MONTPELLIER (34)", "GRENOBLE (38)",
                "NÎMES (30)", "PARIS 14E (75)", "BORDEAUX (33)", "ALBI (81)", "ANNECY (74)")
ISSUERS = ("Préfecture de la Haute-Garonne", "Préfecture du Rhône", "Préfecture de l'Hérault",
           "Préfecture de l'Isère", "Préfecture du Gard")


def id_card_image(first_name: str, last_name: str, birth_date: dt.date, id_number: str,
                  fmt: str = "JPEG", kind: str = "CNI", *, exif_orientation: int | None = None,
                  sex: str | None = None, issued_on: dt.date | None = None) -> bytes:
    """A French identity card (``kind="CNI"``, 1000×640) or passport data page
    (``"Passeport"``, 1000×704) look-alike with a large red diagonal « SPÉCIMEN ».

    ``exif_orientation`` (JPEG only, 1–8) stores the pixels turned as a phone camera would and
    tags them, so that a viewer honouring EXIF shows the card upright. The pixel size above is
    the upright size: with orientations 5–8 the stored width and height are swapped.
    ``sex`` is "F", "M" or None (printed X, "<" in the MRZ); ``issued_on`` defaults to a date
    derived from the arguments, and the document expires ten years later.
    """
    fmt = fmt.upper()
    if fmt not in ("JPEG", "PNG"):
        raise ValueError(f"fmt must be JPEG or PNG, not {fmt!r}")
    if kind not in ("CNI", "Passeport"):
        raise ValueError(f"kind must be CNI or Passeport, not {kind!r}")
    if exif_orientation is not None and (fmt != "JPEG" or exif_orientation not in range(1, 9)):
        raise ValueError("exif_orientation is an integer 1–8, for JPEG only")
    rng = _rng("id", first_name, last_name, birth_date, id_number, kind, sex, issued_on)
    if issued_on is None:
        issued_on = dt.date(2019, 1, 7) + dt.timedelta(days=rng.randrange(6 * 365))
    facts = {
        "surname": last_name.upper(), "given": first_name, "sex": (sex or "X").upper()[:1],
        "birth": birth_date, "place": rng.choice(BIRTH_PLACES), "number": id_number,
        "issued": issued_on, "expires": _years_later(issued_on, 10),
        "issuer": rng.choice(ISSUERS),
    }
    image = _id_template(kind).copy()
    draw = ImageDraw.Draw(image)
    _photo(draw, kind, rng)
    if kind == "CNI":
        _cni_fields(draw, facts)
    else:
        _passport_fields(draw, facts)
    stamp = _specimen_stamp(image.size)
    image.paste(stamp, (0, 0), stamp)

    out = io.BytesIO()
    if fmt == "PNG":
        # A 256-colour palette: quantising and saving take half the time of an RGB PNG, and
        # the file is a third of the size, with no visible loss on flat card artwork.
        image = image.quantize(256, method=Image.Quantize.FASTOCTREE)
        image.save(out, "PNG", compress_level=3)
        return out.getvalue()
    exif = Image.Exif()
    exif[0x0131] = "RA Desk démo"  # Software
    if exif_orientation is not None:
        exif[0x0112] = exif_orientation  # Orientation
        if exif_orientation in _STORE_TRANSPOSE:
            image = image.transpose(_STORE_TRANSPOSE[exif_orientation])
    image.save(out, "JPEG", quality=86, exif=exif.tobytes())
    return out.getvalue()


@functools.lru_cache(maxsize=2)
def _id_template(kind: str) -> Image.Image:
    """The fixed artwork of the card (background, guilloche, titles, labels), drawn once."""
    size = CNI_SIZE if kind == "CNI" else PASSPORT_SIZE
    width, height = size
    top, bottom = ((222, 232, 244), (246, 226, 232)) if kind == "CNI" else \
        ((238, 226, 232), (222, 230, 242))
    gradient = Image.linear_gradient("L").resize(size)
    image = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), gradient)
    draw = ImageDraw.Draw(image)
    for k in range(14):  # guilloche: interleaved sine waves, as on security paper
        amplitude, phase = 18 + 3 * k, k * 0.45
        points = [(x, height * 0.52 + amplitude * math.sin(x / 47 + phase)
                   + 9 * math.sin(x / 13 + 2 * phase)) for x in range(0, width + 8, 8)]
        draw.line(points, fill=(200, 210, 226) if k % 2 else (232, 204, 214), width=1)
    # Tricolour flag and titles.
    for i, colour in enumerate(((0, 35, 149), (255, 255, 255), (237, 41, 57))):
        draw.rectangle((36 + i * 22, 30, 58 + i * 22, 74), fill=colour)
    draw.rectangle((36, 30, 102, 74), outline=(150, 150, 160))
    draw.text((122, 28), "RÉPUBLIQUE FRANÇAISE", font=_pil_font(BOLD, 30), fill=(20, 40, 110))
    subtitle = ("CARTE NATIONALE D'IDENTITÉ / IDENTITY CARD" if kind == "CNI"
                else "PASSEPORT / PASSPORT")
    draw.text((122, 66), subtitle, font=_pil_font(BOLD, 19), fill=(60, 60, 80))
    draw.text((width - 36, 36), "FRA", font=_pil_font(BOLD, 34), fill=(20, 40, 110), anchor="ra")
    labels = _CNI_LABELS if kind == "CNI" else _PASSPORT_LABELS
    label_font = _pil_font(REGULAR, 15)
    for (x, y), label in labels:
        draw.text((x, y), label, font=label_font, fill=(90, 96, 120))
    # MRZ band.
    draw.rectangle((0, height - (150 if kind == "CNI" else 128), width, height),
                   fill=(246, 246, 244))
    return image


_CNI_LABELS = (
    ((330, 118), "NOM / Surname"),
    ((330, 190), "Prénoms / Given names"),
    ((330, 262), "Sexe / Sex"),
    ((470, 262), "Nationalité / Nationality"),
    ((730, 262), "Date de naissance / Date of birth"),
    ((330, 334), "Lieu de naissance / Place of birth"),
    ((330, 406), "N° du document / Document No"),
    ((690, 406), "Date d'expiration / Expiry date"),
)
_PASSPORT_LABELS = (
    ((330, 112), "Type / Type"),
    ((460, 112), "Code du pays / Country code"),
    ((700, 112), "Passeport n° / Passport No"),
    ((330, 178), "NOM / Surname"),
    ((330, 244), "Prénoms / Given names"),
    ((330, 310), "Nationalité / Nationality"),
    ((600, 310), "Date de naissance / Date of birth"),
    ((330, 376), "Sexe / Sex"),
    ((460, 376), "Lieu de naissance / Place of birth"),
    ((330, 442), "Date de délivrance / Date of issue"),
    ((640, 442), "Date d'expiration / Date of expiry"),
    ((330, 508), "Autorité / Authority"),
)


def _photo(draw: ImageDraw.ImageDraw, kind: str, rng: random.Random) -> None:
    """A neutral silhouette where the holder's photo would be."""
    x0, y0 = 40, 116
    x1, y1 = 300, (470 if kind == "CNI" else 540)
    shade = rng.randrange(214, 236)
    draw.rectangle((x0, y0, x1, y1), fill=(shade, shade, shade + 6), outline=(140, 140, 150),
                   width=2)
    centre, tone = (x0 + x1) // 2, rng.randrange(118, 150)
    head_top = y0 + (y1 - y0) * 0.18
    draw.ellipse((centre - 62, head_top, centre + 62, head_top + 160), fill=(tone,) * 3)
    draw.pieslice((x0 + 10, y1 - 130, x1 - 10, y1 + 120), 180, 360, fill=(tone - 12,) * 3)


def _value(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, size: int = 26) -> None:
    room = 970 - xy[0]
    while size > 14 and _pil_font(BOLD, size).getlength(text) > room:  # long names shrink
        size -= 2
    draw.text((xy[0], xy[1] + 20), text, font=_pil_font(BOLD, size), fill=(16, 18, 30))


def _cni_fields(draw: ImageDraw.ImageDraw, facts: dict) -> None:
    _value(draw, (330, 118), facts["surname"], 34)
    _value(draw, (330, 190), facts["given"], 30)
    _value(draw, (330, 262), facts["sex"])
    _value(draw, (470, 262), "FRA")
    _value(draw, (730, 262), _fr_date(facts["birth"]).replace("/", " "))
    _value(draw, (330, 334), facts["place"])
    _value(draw, (330, 406), facts["number"])
    _value(draw, (690, 406), _fr_date(facts["expires"]).replace("/", " "))
    _mrz(draw, _td1_lines(facts), top=CNI_SIZE[1] - 136, size=34)


def _passport_fields(draw: ImageDraw.ImageDraw, facts: dict) -> None:
    _value(draw, (330, 112), "P")
    _value(draw, (460, 112), "FRA")
    _value(draw, (700, 112), facts["number"])
    _value(draw, (330, 178), facts["surname"], 32)
    _value(draw, (330, 244), facts["given"], 30)
    _value(draw, (330, 310), "Française")
    _value(draw, (600, 310), _fr_date(facts["birth"]))
    _value(draw, (330, 376), facts["sex"])
    _value(draw, (460, 376), facts["place"])
    _value(draw, (330, 442), _fr_date(facts["issued"]))
    _value(draw, (640, 442), _fr_date(facts["expires"]))
    _value(draw, (330, 508), facts["issuer"], 22)
    _mrz(draw, _td3_lines(facts), top=PASSPORT_SIZE[1] - 114, size=33)


def _mrz(draw: ImageDraw.ImageDraw, lines: list[str], *, top: int, size: int) -> None:
    font = _pil_font(MONO, size)
    for i, line in enumerate(lines):
        draw.text((500, top + i * (size + 8)), line, font=font, fill=(20, 20, 24), anchor="ma")


def _mrz_field(text: str, length: int) -> str:
    """Upper-case ASCII letters and digits, other characters as '<', padded to length."""
    cleaned = re.sub(r"[^A-Z0-9]", "<", _ascii_upper(text))
    return cleaned[:length].ljust(length, "<")


def _mrz_check(field: str) -> str:
    """ICAO 9303 check digit: weights 7, 3, 1 over digits, letters (A=10…) and '<' (0)."""
    def value(char: str) -> int:
        return int(char) if char.isdigit() else (ord(char) - 55 if char.isalpha() else 0)
    return str(sum(value(c) * (7, 3, 1)[i % 3] for i, c in enumerate(field)) % 10)


def _mrz_names(facts: dict, length: int) -> str:
    return _mrz_field(f"{facts['surname']}<<{facts['given']}", length)


def _yymmdd(day: dt.date) -> str:
    return day.strftime("%y%m%d")


def _td1_lines(facts: dict) -> list[str]:
    """Card MRZ, 3 × 30. A number longer than 9 characters continues in the optional field,
    its check digit after it (ICAO 9303 part 5)."""
    number = re.sub(r"[^A-Z0-9]", "", _ascii_upper(facts["number"]))
    if len(number) <= 9:
        document = _mrz_field(number, 9) + _mrz_check(_mrz_field(number, 9)) + "<" * 15
    else:
        document = number[:9] + "<" + _mrz_field(number[9:] + _mrz_check(number), 15)
    line1 = "IDFRA" + document
    birth, expiry = _yymmdd(facts["birth"]), _yymmdd(facts["expires"])
    sex = facts["sex"] if facts["sex"] in "MF" else "<"
    line2 = (birth + _mrz_check(birth) + sex + expiry + _mrz_check(expiry) + "FRA" + "<" * 11)
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    line2 += _mrz_check(composite)
    return [line1, line2, _mrz_names(facts, 30)]


def _td3_lines(facts: dict) -> list[str]:
    """Passport MRZ, 2 × 44."""
    number = _mrz_field(facts["number"], 9)
    birth, expiry = _yymmdd(facts["birth"]), _yymmdd(facts["expires"])
    sex = facts["sex"] if facts["sex"] in "MF" else "<"
    personal = "<" * 14
    line2 = (number + _mrz_check(number) + "FRA" + birth + _mrz_check(birth) + sex + expiry
             + _mrz_check(expiry) + personal + _mrz_check(personal))
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    line2 += _mrz_check(composite)
    return ["P<FRA" + _mrz_names(facts, 39), line2]


@functools.lru_cache(maxsize=4)
def _specimen_stamp(size: tuple[int, int]) -> Image.Image:
    """The large red diagonal « SPÉCIMEN », drawn once per card size (RGBA, half transparent)."""
    width, height = size
    font = _pil_font(BOLD, 150)
    left, top, right, bottom = font.getbbox("SPÉCIMEN")
    text = Image.new("RGBA", (right - left + 40, bottom - top + 40), (0, 0, 0, 0))
    ImageDraw.Draw(text).text((20 - left, 20 - top), "SPÉCIMEN", font=font,
                              fill=(214, 24, 24, 120), stroke_width=3,
                              stroke_fill=(160, 0, 0, 150))
    text = text.rotate(28, expand=True, resample=Image.Resampling.BICUBIC)
    text.thumbnail((int(width * 0.96), int(height * 0.96)))
    stamp = Image.new("RGBA", size, (0, 0, 0, 0))
    stamp.paste(text, ((width - text.width) // 2, (height - text.height) // 2))
    return stamp
