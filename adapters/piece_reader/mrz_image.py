"""Finding the machine-readable zone on a photo or scan and having Tesseract read it.

Pillow and numpy, Tesseract by its command line; no application code (the sandboxed worker
imports this file by path). The steps: straighten the page (the angle, within ±12°, that makes
text rows sharpest), find the bottom-most band of long text rows (the zone is the widest text
on the document), crop it, scale its characters to the size Tesseract reads best, and read it
with the zone's alphabet only. Each ``candidates`` item is one way of looking at the image,
cheapest first: the caller stops at the first whose reading passes every check digit.
"""
from __future__ import annotations

import html
import os
import re
import subprocess
import tempfile

import numpy as np
from PIL import Image, ImageFilter, ImageOps

try:
    import ocrb_glyphs  # the worker puts this folder on sys.path (it runs without the app)
except ImportError:
    from adapters.piece_reader import ocrb_glyphs

WORK_WIDTH = 1400         # the page is looked at this wide (a smaller image is not enlarged)
SEARCH_WIDTH = 500        # the skew search runs on a thumbnail this wide
CHAR_HEIGHT = 44          # pixels per MRZ character handed to Tesseract
WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
TESSERACT_ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one core per read: reads run 2 at once


def load(path: str, max_pixels: int, work_width: int = WORK_WIDTH) -> Image.Image:
    Image.MAX_IMAGE_PIXELS = max_pixels
    with Image.open(path) as image:
        if image.width * image.height > max_pixels:
            raise Image.DecompressionBombError(f"{image.width}x{image.height}")
        if image.format == "JPEG":
            image.draft("L", (work_width, work_width))
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "P"):
            image = image.convert("RGBA")
            flat = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(flat, image)
        gray = image.convert("L")
    if gray.width > work_width:
        gray = gray.resize((work_width, round(gray.height * work_width / gray.width)),
                           Image.Resampling.LANCZOS)
    return gray


def _ink(gray: Image.Image, size: int) -> np.ndarray:
    """Dark strokes on a lighter ground (a morphological black-hat): large dark areas (a photo,
    a table under the card) do not count, the characters of any text do."""
    pixels = np.asarray(gray, dtype=np.int16)
    closed = _max_filter(_max_filter(pixels, size, 0), size, 1)
    closed = _min_filter(_min_filter(closed, size, 0), size, 1)
    hat = closed - pixels
    threshold = max(24, int(np.percentile(hat, 90)) // 2)
    return hat > threshold


def _max_filter(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """The maximum over a window of ``size`` along ``axis`` (edges repeated): maxima over 1, 2,
    4… cells, then two overlapping windows of the largest power of two — a few whole-array
    passes instead of ``size`` per cell (the zone's search ran 0.3 s in sliding windows)."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (size // 2, size - 1 - size // 2)
    padded = np.pad(a, pad, mode="edge")

    def part(array: np.ndarray, start: int, length: int) -> np.ndarray:
        return array[start:start + length] if axis == 0 else array[:, start:start + length]

    span, widest = 1, padded
    while span * 2 <= size:
        length = widest.shape[axis] - span
        widest = np.maximum(part(widest, 0, length), part(widest, span, length))
        span *= 2
    count = a.shape[axis]
    return np.maximum(part(widest, 0, count), part(widest, size - span, count))


def _min_filter(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    return -_max_filter(-a, size, axis)


def skew_angle(gray: Image.Image) -> float:
    """The rotation (degrees, counter-clockwise) that makes text rows horizontal: the one whose
    row profile of ink varies most, searched coarse then fine."""
    scale = SEARCH_WIDTH / gray.width
    small = gray.resize((SEARCH_WIDTH, max(1, round(gray.height * scale))),
                        Image.Resampling.BILINEAR)
    ink = Image.fromarray((_ink(small, 7) * 255).astype(np.uint8))

    def sharpness(angle: float) -> float:
        turned = np.asarray(ink.rotate(angle, resample=Image.Resampling.NEAREST), dtype=np.int32)
        rows = turned.sum(axis=1)
        return float(np.var(rows))

    best = max(np.arange(-12, 12.01, 1.0), key=sharpness)
    return float(max(np.arange(best - 0.8, best + 0.81, 0.2), key=sharpness))


def straighten(gray: Image.Image, angle: float) -> Image.Image:
    if abs(angle) < 0.1:
        return gray
    return gray.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)


def zone_box(gray: Image.Image) -> tuple[int, int, int, int] | None:
    """The bounding box of the bottom-most group of long text rows, or None."""
    ink = _ink(gray, 15)
    height, width = ink.shape
    # Characters of a row merged into one run: a horizontal closing over a few letter gaps.
    gap = max(12, width // 35)
    merged = _min_filter(_max_filter(ink.astype(np.int8), gap, 1), gap, 1) > 0
    longest, starts, ends = _longest_runs(merged)
    # The zone is the widest text of a document, wherever the document lies on the image.
    long_rows = longest >= max(0.6 * longest.max(), 0.2 * width)
    if not long_rows.any():
        return None
    rows = np.flatnonzero(long_rows)
    # Walk up from the bottom-most long row while the rows stay close together.
    bottom = top = rows[-1]
    for y in rows[::-1][1:]:
        if top - y > max(16, height // 12):
            break
        top = y
    group = long_rows[top:bottom + 1]
    left = int(starts[top:bottom + 1][group].min())
    right = int(ends[top:bottom + 1][group].max())
    margin = max(8, (bottom - top) // 4)
    return (max(0, left - margin), max(0, top - margin),
            min(width, right + margin), min(height, bottom + margin))


def _longest_runs(mask: np.ndarray):
    """Per row: the length, start and end of the longest run of True."""
    height, width = mask.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    diff = np.diff(padded, axis=1)
    longest = np.zeros(height, dtype=np.int32)
    starts = np.zeros(height, dtype=np.int32)
    ends = np.zeros(height, dtype=np.int32)
    for y in np.flatnonzero(mask.any(axis=1)):
        begin = np.flatnonzero(diff[y] == 1)
        end = np.flatnonzero(diff[y] == -1)
        lengths = end - begin
        k = int(lengths.argmax())
        longest[y], starts[y], ends[y] = lengths[k], begin[k], end[k]
    return longest, starts, ends


def prepare(crop: Image.Image, char_height: int = CHAR_HEIGHT) -> Image.Image:
    """The crop scaled so that a character is about ``char_height`` pixels tall (judged by its
    width: a zone's line is 30 to 44 characters, each about 0.6 of its height), denoised."""
    row_height = crop.width / 40 / 0.75
    scale = min(3.0, max(0.5, char_height / max(1.0, row_height)))
    if abs(scale - 1) > 0.05:
        crop = crop.resize((round(crop.width * scale), round(crop.height * scale)),
                           Image.Resampling.BICUBIC)
    return ImageOps.autocontrast(crop.filter(ImageFilter.MedianFilter(3)), cutoff=1)


def tesseract(image: Image.Image, psm: int = 6) -> tuple[list[str], list[str]]:
    """One image's reading: see ``read_hocr``."""
    return read_hocr(tesseract_pages([image], psm)[0], image)


def tesseract_pages(images: list[Image.Image], psm: int = 6) -> list[str]:
    """Each image's hOCR page, from one Tesseract process: its model is loaded once (about
    half of a look's time when each look had its own process). Tesseract's LSTM reads each
    page on its own: the pages are what one process per image would give."""
    with tempfile.TemporaryDirectory(prefix="mrz-") as folder:
        names = []
        for number, image in enumerate(images):
            names.append(os.path.join(folder, f"look-{number}.png"))
            image.save(names[-1], "PNG", compress_level=1)
        listing = os.path.join(folder, "looks.txt")
        with open(listing, "w", encoding="utf-8") as file:
            file.write("".join(f"{name}\n" for name in names))
        result = subprocess.run(
            ["tesseract", listing, "stdout", "-l", "eng", "--oem", "1", "--psm", str(psm),
             "-c", f"tessedit_char_whitelist={WHITELIST}", "-c", "load_system_dawg=0",
             "-c", "load_freq_dawg=0", "-c", "hocr_char_boxes=1", "hocr"],
            capture_output=True, env=TESSERACT_ENV, check=False)
    pages = _HOCR_PAGE.split(result.stdout.decode("utf-8", "replace"))[1:]
    return (pages + [""] * len(images))[:len(images)]  # a page Tesseract failed on: nothing


def read_hocr(page: str, image: Image.Image) -> tuple[list[str], list[str]]:
    """The text lines Tesseract read on ``image`` (spaces removed, the zone's alphabet only,
    each 'K' and 'X' checked against the pixels), and the same boxes read by the OCR-B glyphs
    (ocrb_glyphs; a box mostly over its neighbour's dropped there)."""
    ink = np.asarray(image) < 128
    lines, glyph_lines = [], []
    for line in _HOCR_LINE.split(page)[1:]:
        chars = [(html.unescape(char), tuple(int(v) for v in box.split()))
                 for box, char in _HOCR_CHAR.findall(line)]
        heights = sorted(box[3] - box[1] for char, box in chars if char.isalnum())
        height = heights[len(heights) // 2] if heights else 0
        chars = [("<" if (char == "K" and not _has_stem(ink, box, height))
                  or (char == "X" and not _has_left_arms(ink, box, height)) else char, box)
                 for char, box in chars]
        lines.append("".join(char for char, box in chars))
        glyphs, previous = [], None
        for char, box in chars:
            if previous is not None and _overlap(previous, box) > 0.5:
                continue
            glyph = ocrb_glyphs.classify(ink, box)
            glyphs.append(glyph if glyph and ocrb_glyphs.look_alike(glyph, char) else char)
            previous = box
        glyph_lines.append("".join(glyphs))
    return [line for line in lines if line], [line for line in glyph_lines if line]


def _overlap(first: tuple[int, ...], second: tuple[int, ...]) -> float:
    shared = min(first[2], second[2]) - max(first[0], second[0])
    narrower = max(1, min(first[2] - first[0], second[2] - second[0]))
    return max(0, shared) / narrower


_HOCR_PAGE = re.compile(r"<div class='ocr_page'")
_HOCR_LINE = re.compile(r"class='ocr_line'")
_HOCR_CHAR = re.compile(r"title='x_bboxes ([\d ]+);[^']*'>([^<]+)</span>")


def _has_stem(ink: np.ndarray, box: tuple[int, ...], height: int) -> bool:
    """Whether a 'K' has its upright stroke: Tesseract reads '<' fillers as 'K', and the two
    weigh the same in every check digit (K = 20 ≡ 0 = '<' mod 10), so no digit would tell.
    A '<' is two slanted strokes: none of its columns is inked over most of a letter's
    height."""
    left, top, right, bottom = box
    if not height or right <= left:
        return False
    middle = (top + bottom) // 2
    cells = ink[max(0, middle - height // 2):middle + height // 2 + 1,
                max(0, left - 2):left + max(3, (right - left) * 2 // 5)]
    if cells.size == 0:
        return False
    return bool((_longest_vertical_run(cells) >= 0.8 * height).any())


def _has_left_arms(ink: np.ndarray, box: tuple[int, ...], height: int) -> bool:
    """Whether an 'X' has its two left arms: a '<' (also read as 'X') has its point there,
    half-way up, and nothing in the top and bottom of its left part."""
    left, top, right, bottom = box
    if not height or right <= left:
        return False
    middle, width = (top + bottom) // 2, right - left
    columns = slice(left + width // 10, left + max(2, width * 3 // 10))
    upper = ink[max(0, middle - height // 2):middle - height // 4, columns]
    lower = ink[middle + height // 4:middle + height // 2 + 1, columns]
    return bool(upper.size and lower.size and upper.any() and lower.any())


def _longest_vertical_run(cells: np.ndarray) -> np.ndarray:
    best = np.zeros(cells.shape[1], dtype=np.int32)
    run = np.zeros(cells.shape[1], dtype=np.int32)
    for row in cells:
        run = np.where(row, run + 1, 0)
        best = np.maximum(best, run)
    return best


def candidates(gray: Image.Image):
    """Crops of the page that may hold the zone, the likeliest first."""
    upright = straighten(gray, skew_angle(gray))
    box = zone_box(upright)
    if box is not None:
        yield upright.crop(box)
    # The lower part of the page, for a zone the band search missed.
    yield upright.crop((0, upright.height * 55 // 100, upright.width, upright.height))
