"""Identity documents of a demo dossier: a French identity card or passport data page
look-alike (JPEG or PNG) with a large red « SPÉCIMEN » and a machine-readable zone whose check
digits follow ICAO 9303, optionally tagged with an EXIF orientation as a phone photo is."""
from __future__ import annotations

import datetime as dt
import functools
import io
import math
import random
import re
import unicodedata

from PIL import Image, ImageDraw, ImageFont

from demo.documents.drawing import (
    BOLD, MONO, REGULAR, fr_date, pil_font, seeded_rng, years_later)

OCR_B = "/usr/share/fonts/opentype/ocr-b/OCRB.otf"
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
    rng = seeded_rng("id", first_name, last_name, birth_date, id_number, kind, sex, issued_on)
    if issued_on is None:
        issued_on = dt.date(2019, 1, 7) + dt.timedelta(days=rng.randrange(6 * 365))
    facts = {
        "surname": last_name.upper(), "given": first_name, "sex": (sex or "X").upper()[:1],
        "birth": birth_date, "place": rng.choice(BIRTH_PLACES), "number": id_number,
        "issued": issued_on, "expires": years_later(issued_on, 10),
        "issuer": rng.choice(ISSUERS),
    }
    image = _id_template(kind).copy()
    draw = ImageDraw.Draw(image)
    _photo(draw, kind, rng)
    if kind == "CNI":
        _cni_fields(draw, facts)
    else:
        _passport_fields(draw, facts)
    # The stamp stops at the zone's band: the zone stays machine-readable, as on specimens.
    band_top = image.height - (150 if kind == "CNI" else 128)
    stamp = _specimen_stamp(image.size).crop((0, 0, image.width, band_top))
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
    draw.text((122, 28), "RÉPUBLIQUE FRANÇAISE", font=pil_font(BOLD, 30), fill=(20, 40, 110))
    subtitle = ("CARTE NATIONALE D'IDENTITÉ / IDENTITY CARD" if kind == "CNI"
                else "PASSEPORT / PASSPORT")
    draw.text((122, 66), subtitle, font=pil_font(BOLD, 19), fill=(60, 60, 80))
    draw.text((width - 36, 36), "FRA", font=pil_font(BOLD, 34), fill=(20, 40, 110), anchor="ra")
    labels = _CNI_LABELS if kind == "CNI" else _PASSPORT_LABELS
    label_font = pil_font(REGULAR, 15)
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
    while size > 14 and pil_font(BOLD, size).getlength(text) > room:  # long names shrink
        size -= 2
    draw.text((xy[0], xy[1] + 20), text, font=pil_font(BOLD, size), fill=(16, 18, 30))


def _cni_fields(draw: ImageDraw.ImageDraw, facts: dict) -> None:
    _value(draw, (330, 118), facts["surname"], 34)
    _value(draw, (330, 190), facts["given"], 30)
    _value(draw, (330, 262), facts["sex"])
    _value(draw, (470, 262), "FRA")
    _value(draw, (730, 262), fr_date(facts["birth"]).replace("/", " "))
    _value(draw, (330, 334), facts["place"])
    _value(draw, (330, 406), facts["number"])
    _value(draw, (690, 406), fr_date(facts["expires"]).replace("/", " "))
    _mrz(draw, td1_lines(facts), top=CNI_SIZE[1] - 136, size=34)


def _passport_fields(draw: ImageDraw.ImageDraw, facts: dict) -> None:
    _value(draw, (330, 112), "P")
    _value(draw, (460, 112), "FRA")
    _value(draw, (700, 112), facts["number"])
    _value(draw, (330, 178), facts["surname"], 32)
    _value(draw, (330, 244), facts["given"], 30)
    _value(draw, (330, 310), "Française")
    _value(draw, (600, 310), fr_date(facts["birth"]))
    _value(draw, (330, 376), facts["sex"])
    _value(draw, (460, 376), facts["place"])
    _value(draw, (330, 442), fr_date(facts["issued"]))
    _value(draw, (640, 442), fr_date(facts["expires"]))
    _value(draw, (330, 508), facts["issuer"], 22)
    _mrz(draw, td3_lines(facts), top=PASSPORT_SIZE[1] - 114, size=33)


def _mrz(draw: ImageDraw.ImageDraw, lines: list[str], *, top: int, size: int) -> None:
    # OCR-B, the zone's real typeface (Debian's fonts-ocr-b), so that the « Contrôle assisté
    # des pièces » reads the demo's cards as it reads real ones; DejaVu Mono without it.
    try:
        font = ImageFont.truetype(OCR_B, size)
        if font.getlength(lines[0]) > 960:
            font = ImageFont.truetype(OCR_B, int(size * 960 / font.getlength(lines[0])))
    except OSError:
        font = pil_font(MONO, size)
    for i, line in enumerate(lines):
        draw.text((500, top + i * (size + 8)), line, font=font, fill=(20, 20, 24), anchor="ma")


def _mrz_field(text: str, length: int) -> str:
    """Upper-case ASCII letters and digits, other characters as '<', padded to length."""
    cleaned = re.sub(r"[^A-Z0-9]", "<", _ascii_upper(text))
    return cleaned[:length].ljust(length, "<")


def mrz_check(field: str) -> str:
    """ICAO 9303 check digit: weights 7, 3, 1 over digits, letters (A=10…) and '<' (0)."""
    def value(char: str) -> int:
        return int(char) if char.isdigit() else (ord(char) - 55 if char.isalpha() else 0)
    return str(sum(value(c) * (7, 3, 1)[i % 3] for i, c in enumerate(field)) % 10)


def _mrz_names(facts: dict, length: int) -> str:
    return _mrz_field(f"{facts['surname']}<<{facts['given']}", length)


def _yymmdd(day: dt.date) -> str:
    return day.strftime("%y%m%d")


def td1_lines(facts: dict) -> list[str]:
    """Card MRZ, 3 × 30. A number longer than 9 characters continues in the optional field,
    its check digit after it (ICAO 9303 part 5)."""
    number = re.sub(r"[^A-Z0-9]", "", _ascii_upper(facts["number"]))
    if len(number) <= 9:
        document = _mrz_field(number, 9) + mrz_check(_mrz_field(number, 9)) + "<" * 15
    else:
        document = number[:9] + "<" + _mrz_field(number[9:] + mrz_check(number), 15)
    line1 = "IDFRA" + document
    birth, expiry = _yymmdd(facts["birth"]), _yymmdd(facts["expires"])
    sex = facts["sex"] if facts["sex"] in "MF" else "<"
    line2 = (birth + mrz_check(birth) + sex + expiry + mrz_check(expiry) + "FRA" + "<" * 11)
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    line2 += mrz_check(composite)
    return [line1, line2, _mrz_names(facts, 30)]


def td3_lines(facts: dict) -> list[str]:
    """Passport MRZ, 2 × 44."""
    number = _mrz_field(facts["number"], 9)
    birth, expiry = _yymmdd(facts["birth"]), _yymmdd(facts["expires"])
    sex = facts["sex"] if facts["sex"] in "MF" else "<"
    personal = "<" * 14
    line2 = (number + mrz_check(number) + "FRA" + birth + mrz_check(birth) + sex + expiry
             + mrz_check(expiry) + personal + mrz_check(personal))
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    line2 += mrz_check(composite)
    return ["P<FRA" + _mrz_names(facts, 39), line2]


@functools.lru_cache(maxsize=4)
def _specimen_stamp(size: tuple[int, int]) -> Image.Image:
    """The large red diagonal « SPÉCIMEN », drawn once per card size (RGBA, half transparent)."""
    width, height = size
    font = pil_font(BOLD, 150)
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


def _ascii_upper(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()
