"""A second opinion on the zone's characters: each box Tesseract found compared with the
OCR-B glyphs (the typeface ICAO 9303 prescribes for every MRZ). Tesseract's English model
reads OCR-B's 9 as O and 8 as B at times; the glyphs themselves tell them apart. Pillow and
numpy only (the sandboxed worker imports this file by path)."""
from __future__ import annotations

import functools
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

OCR_B = "/usr/share/fonts/opentype/ocr-b/OCRB.otf"  # Debian package fonts-ocr-b
SYMBOLS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
SIZE = (20, 28)  # each glyph compared at this width and height


@functools.lru_cache(maxsize=1)
def templates() -> tuple[np.ndarray, ...] | None:
    if not os.path.exists(OCR_B):
        return None
    font = ImageFont.truetype(OCR_B, 96)
    glyphs = []
    for symbol in SYMBOLS:
        canvas = Image.new("L", (120, 140), 255)
        ImageDraw.Draw(canvas).text((10, 10), symbol, font=font, fill=0)
        glyphs.append(_normalised(np.asarray(canvas) < 128))
    return tuple(glyphs)


def _normalised(ink: np.ndarray) -> np.ndarray | None:
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if not len(rows) or not len(columns):
        return None
    tight = ink[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
    image = Image.fromarray((tight * 255).astype(np.uint8)).resize(SIZE, Image.Resampling.BILINEAR)
    vector = np.asarray(image, dtype=np.float32).ravel()
    vector -= vector.mean()
    norm = np.linalg.norm(vector)
    return vector / norm if norm else None


def classify(ink: np.ndarray, box: tuple[int, ...]) -> str | None:
    """The OCR-B symbol the box's ink looks most like, or None (no font, no ink)."""
    glyphs = templates()
    left, top, right, bottom = box
    if glyphs is None or right <= left or bottom <= top:
        return None
    vector = _normalised(ink[top:bottom + 1, left:right + 1])
    if vector is None:
        return None
    scores = [float(vector @ glyph) if glyph is not None else -1.0 for glyph in glyphs]
    return SYMBOLS[int(np.argmax(scores))]


# What Tesseract's English model mistakes for one another in OCR-B: the glyphs decide only
# within a group, the rest of Tesseract's reading stands.
LOOK_ALIKE = ("O0QDU9", "B8S53E", "I1LTJ7", "Z2", "G6C")


def look_alike(first: str, second: str) -> bool:
    return any(first in group and second in group for group in LOOK_ALIKE)
