"""Specimen pieces for the demo and the reader's tests: identity documents whose machine-readable
zone is built by the ``mrz`` package's generators (ICAO 9303 TD1 and TD3; the French card of
1988–2021 with its check digits), KBIS extracts with a real text layer, and the degradations a
phone photo adds (tilt, perspective, noise, blur, JPEG).
"""
from __future__ import annotations

import datetime as dt
import io
import random
import unicodedata
from dataclasses import dataclass

from mrz.base.functions import hash_string
from mrz.generator.td1 import TD1CodeGenerator
from mrz.generator.td3 import TD3CodeGenerator
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from demo.documents.drawing import BOLD, REGULAR, pil_font

OCR_B = "/usr/share/fonts/opentype/ocr-b/OCRB.otf"  # Debian package fonts-ocr-b
CNI_1988, CNI_TD1, PASSPORT, RESIDENCE = "CNI_1988", "CNI_TD1", "PASSEPORT", "TITRE_SEJOUR"
FORMATS = (CNI_1988, CNI_TD1, PASSPORT, RESIDENCE)
DOCUMENT_TYPES = {CNI_1988: "CNI", CNI_TD1: "CNI", PASSPORT: "PASSEPORT",
                  RESIDENCE: "TITRE_SEJOUR"}
# Drawn at about 300 dpi: ID-1 cards 85.6 × 54 mm, the passport page 125 × 88 mm.
SIZES = {CNI_1988: (1012, 638), CNI_TD1: (1012, 638), RESIDENCE: (1012, 638),
         PASSPORT: (1476, 1039)}
TITLES = {CNI_1988: "CARTE NATIONALE D'IDENTITÉ", CNI_TD1: "CARTE NATIONALE D'IDENTITÉ",
          PASSPORT: "PASSEPORT", RESIDENCE: "TITRE DE SÉJOUR"}


@dataclass(frozen=True)
class Holder:
    surname: str
    given_names: tuple[str, ...]
    birth_date: dt.date
    number: str
    expiry_date: dt.date
    nationality: str = "FRA"
    sex: str = "F"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()


def _mrz_name(text: str) -> str:
    return "".join(c if c.isalpha() else "<" for c in _ascii(text)).strip("<")


def _fit(surname: str, given: str, length: int) -> tuple[str, str]:
    """Surname and given names cut (given names first) so that « surname<<given » fits."""
    surname, given = _mrz_name(surname), _mrz_name(given)
    surname = surname[:length - 3] if len(surname) > length - 3 else surname
    room = length - len(surname) - 2
    return surname, given[:room].rstrip("<")


def mrz_lines(fmt: str, holder: Holder) -> list[str]:
    """The zone's lines, built by the ``mrz`` generators (the old French card by hand, with
    the same check-digit function): what the reader must find."""
    birth, expiry = holder.birth_date.strftime("%y%m%d"), holder.expiry_date.strftime("%y%m%d")
    given = " ".join(holder.given_names)
    if fmt == PASSPORT:
        surname, given = _fit(holder.surname, given, 39)
        code = TD3CodeGenerator("P", "FRA", surname, given, holder.number, holder.nationality,
                                birth, holder.sex, expiry, force=True)
        return str(code).splitlines()
    if fmt in (CNI_TD1, RESIDENCE):
        surname, given = _fit(holder.surname, given, 30)
        code = TD1CodeGenerator("ID" if fmt == CNI_TD1 else "IR", "FRA", holder.number[:9],
                                birth, holder.sex, expiry, holder.nationality, surname, given,
                                force=True)
        lines = str(code).splitlines()
        if len(holder.number) > 9:  # a residence permit's 10 digits: ICAO 9303 part 5, 4.2.2
            one = lines[0][:14] + "<" + (holder.number[9:] + hash_string(holder.number)
                                         ).ljust(15, "<")
            two = lines[1][:29]
            lines = [one, two + hash_string(one[5:30] + two[0:7] + two[8:15] + two[18:29]),
                     lines[2]]
        return lines
    surname = _mrz_name(holder.surname)[:25].ljust(25, "<")
    names = "<<".join(_mrz_name(name) for name in holder.given_names)[:14].rstrip("<")
    line1 = "IDFRA" + surname + "750123"
    line2 = holder.number + hash_string(holder.number) + names.ljust(14, "<") + birth \
        + hash_string(birth) + holder.sex
    return [line1, line2 + hash_string(line1 + line2)]


def identity_document(fmt: str, holder: Holder, *, seed: int = 0,
                      lines: list[str] | None = None) -> Image.Image:
    """A card or passport data page (RGB) with the holder's printed fields, a photo area and
    the zone in OCR-B at the bottom. ``lines`` replaces the zone (a deliberately wrong one)."""
    rng = random.Random(seed)
    width, height = SIZES[fmt]
    tint = rng.choice(((226, 234, 246), (240, 230, 236), (230, 240, 232)))
    image = Image.new("RGB", (width, height), tint)
    draw = ImageDraw.Draw(image)
    for k in range(0, height, 18):  # faint security-print lines
        draw.line((0, k, width, k + 40), fill=tuple(c - 10 for c in tint), width=1)
    scale = width / 1012
    draw.text((40 * scale, 26 * scale), "RÉPUBLIQUE FRANÇAISE",
              font=pil_font(BOLD, int(34 * scale)), fill=(20, 40, 110))
    draw.text((40 * scale, 70 * scale), TITLES[fmt], font=pil_font(BOLD, int(22 * scale)),
              fill=(60, 60, 80))
    photo = (40 * scale, 120 * scale, 290 * scale, 430 * scale)
    shade = rng.randrange(120, 200)
    draw.rectangle(photo, fill=(shade, shade - 10, shade - 20), outline=(90, 90, 100), width=2)
    draw.ellipse((90 * scale, 160 * scale, 240 * scale, 330 * scale), fill=(shade - 60,) * 3)
    label, value = pil_font(REGULAR, int(16 * scale)), pil_font(BOLD, int(26 * scale))
    rows = (("Nom", holder.surname.upper()), ("Prénoms", ", ".join(holder.given_names)),
            ("Né(e) le", holder.birth_date.strftime("%d %m %Y")),
            ("N° du document", holder.number),
            ("Nationalité", holder.nationality))
    for i, (name, text) in enumerate(rows):
        y = (120 + i * 62) * scale
        draw.text((320 * scale, y), name, font=label, fill=(90, 96, 120))
        draw.text((320 * scale, y + 20 * scale), text[:34], font=value, fill=(16, 18, 30))
    lines = lines or mrz_lines(fmt, holder)
    probe = ImageFont.truetype(OCR_B, 100)
    mrz_font = ImageFont.truetype(OCR_B, int(100 * width * 0.92 / probe.getlength(lines[0])))
    line_height = mrz_font.size * 1.45
    top = height - 24 * scale - line_height * len(lines)
    draw.rectangle((0, top - 14 * scale, width, height), fill=(248, 248, 246))
    for i, line in enumerate(lines):
        draw.text((width / 2, top + i * line_height), line, font=mrz_font, fill=(14, 14, 18),
                  anchor="ma")
    return image


def degrade(image: Image.Image, *, rotation: float = 0.0, jpeg_quality: int = 90,
            noise: float = 0.0, perspective: float = 0.0, blur: float = 0.0,
            seed: int = 0, background: tuple[int, int, int] = (92, 74, 60)) -> bytes:
    """The document as a phone photo of it on a table: turned by ``rotation`` degrees, seen
    at an angle (``perspective``: 0–0.1, the corners' shift as a share of the size), with
    gaussian ``noise`` (standard deviation, 0–255), ``blur`` (radius) and JPEG at
    ``jpeg_quality``. Returns the JPEG bytes."""
    rng = random.Random(seed)
    width, height = image.size
    margin = int(max(width, height) * 0.12)
    canvas = Image.new("RGB", (width + 2 * margin, height + 2 * margin), background)
    canvas.paste(image, (margin, margin))
    if perspective:
        w, h = canvas.size
        shift = [rng.uniform(0, perspective) * s for s in (w, h, w, h, w, h, w, h)]
        quad = (shift[0], shift[1], shift[2], h - shift[3], w - shift[4], h - shift[5],
                w - shift[6], shift[7])  # source corners: top-left, bottom-left, …
        canvas = canvas.transform(canvas.size, Image.Transform.QUAD, quad,
                                  Image.Resampling.BICUBIC, fillcolor=background)
    if rotation:
        canvas = canvas.rotate(rotation, resample=Image.Resampling.BICUBIC, expand=True,
                               fillcolor=background)
    if blur:
        canvas = canvas.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        canvas = Image.fromarray(_add_noise(canvas, noise, rng))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=jpeg_quality)
    return out.getvalue()


def _add_noise(image: Image.Image, sigma: float, rng: random.Random):
    import numpy as np
    generator = np.random.default_rng(rng.randrange(2**32))
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels + generator.normal(0, sigma, pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def kbis_pdf(siren: str, company_name: str, extract_date: dt.date, *,
             address: str = "12 rue du Taur, 31000 Toulouse",
             legal_rep_name: str = "Claire Durand",
             registered_on: dt.date = dt.date(2015, 3, 2)) -> bytes:
    """A digital « Extrait Kbis » (reportlab, real text layer) « à jour au » ``extract_date``."""
    from demo.documents.company import kbis_pdf as draw_kbis
    return draw_kbis(company_name, siren, address, legal_rep_name, registered_on,
                     issued_on=extract_date)
