"""Reading an untrusted piece, run as a separate process under time and memory limits
(adapters.sandbox) by adapters.piece_reader.reading. No application code: the modules beside
this file that it imports use the standard library, Pillow and numpy only.

    worker.py identity SRC MEDIA_TYPE MAX_PIXELS SECONDS   an image's or PDF's MRZ
    worker.py kbis SRC                                     a KBIS text layer: SIREN, name, date

Prints one JSON line: {"page": n, "fields": {...}} or {"error": reason}; exit status 0 either
way, 2 when the input is unusable.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run with -I: siblings by path

import kbis_text  # noqa: E402
import mrz_fields  # noqa: E402

PDF = "application/pdf"
PDF_PAGES = 2          # an identity document scanned to PDF: its first pages only
RENDER_DPI = 200       # a card on A4 at this resolution has MRZ characters ~25 px tall
PAGE_WIDTH = 1700      # an A4 page at RENDER_DPI, not reduced
TEXT_BYTES = 4 * 1024 * 1024


def _answer(data: dict, status: int = 0) -> int:
    print(json.dumps(data))
    return status


# Ways of looking at the page, in order: (crop from mrz_image.candidates, character height).
LOOKS = ((0, 44), (0, 32), (1, 44), (0, 56), (1, 32), (0, 38))
LOOK_SHARE = 0.6  # no new look after this share of the read's time limit: the answer stands
# Looks read by one Tesseract process (its model loaded once): the first two together (a read
# needs two that agree), then the four others at once when those two did not settle it.
BATCHES = (2, 4)
# Fields a second, independent read must give alike: names and nationality have no check
# digit, and a number's check digit is the composite's too (same characters, same weights), so
# a few misread characters can pass both. Dates are weighed differently by their own digit and
# the composite one, and read as digits only: their check digits stand for them.
CONFIRMED = ("document_number", "surname", "given_names", "nationality")
CHECKED = ("birth_date", "expiry_date", "document_type")


def identity(source: str, media_type: str, max_pixels: int, seconds: float) -> int:
    import mrz_image  # numpy and Pillow: only the identity reading pays for their import
    started = time.monotonic()
    try:
        pages = _pages(source, media_type)
    except Exception:  # hostile bytes fail in many ways: all mean unreadable
        return _answer({"error": "unreadable file"}, 2)
    looks = 0
    for number, path in pages:
        try:
            # A page is scanned whole: the card on it is small, looked at full size.
            gray = mrz_image.load(path, max_pixels,
                                  PAGE_WIDTH if media_type == PDF else mrz_image.WORK_WIDTH)
            crops = list(mrz_image.candidates(gray))
        except Exception:
            return _answer({"error": "unreadable image"}, 2)
        outputs, alone, first = [], [], None
        for lines, glyph_lines in _looks(crops, started, seconds):
            looks += 1
            outputs += [lines, glyph_lines]  # the glyphs' reading only ever in combinations
            single = mrz_fields.read_zone(lines)
            if single is not None and single["valid"]:
                alone.append(single)
            if first is None:
                combined = single if alone and alone[-1] is single else \
                    mrz_fields.read_zones(outputs)
                first = combined if combined is not None and combined["valid"] else None
            if first is not None and len(alone) >= 2:
                break
        if first is not None:
            _confirm(first, [other for other in alone if other is not first])
            return _answer({"page": number, "fields": first, "attempts": looks,
                            "seconds": round(time.monotonic() - started, 3)})
    return _answer({"error": "no machine-readable zone read", "attempts": looks})


def _looks(crops: list, started: float, seconds: float):
    """Each look's reading, in the order of LOOKS, Tesseract reading a batch at a time; the
    caller stops taking them once two agree (a batch's further pages are then not parsed)."""
    import mrz_image
    usable = [(crop, height) for crop, height in LOOKS if crop < len(crops)]
    first = 0
    for size in BATCHES:
        batch = usable[first:first + size]
        first += size
        if not batch or time.monotonic() - started > LOOK_SHARE * seconds:
            return
        images = [mrz_image.prepare(crops[crop], height) for crop, height in batch]
        for image, page in zip(images, mrz_image.tesseract_pages(images)):
            yield mrz_image.read_hocr(page, image)


def _confirm(result: dict, others: list[dict]) -> None:
    """Keep what another valid read of its own (not a combination) gives alike; a checked field
    another valid read gives otherwise is None too."""
    others = [other for other in others if other["format"] == result["format"]]
    for name in CHECKED:
        if any(other[name] != result[name] for other in others):
            _drop(result, name)
    for name in CONFIRMED:
        if not others or any(other[name] != result[name] for other in others):
            _drop(result, name)


def _drop(result: dict, name: str) -> None:
    result[name] = None
    if name in ("surname", "given_names"):
        result["surname_truncated"] = result["given_names_truncated"] = False
    result.setdefault("unconfirmed", []).append(name)


def _pages(source: str, media_type: str):
    if media_type != PDF:
        yield 1, source
        return
    with tempfile.TemporaryDirectory(prefix="piece-") as folder:
        for page in range(1, PDF_PAGES + 1):
            base = Path(folder) / f"page-{page}"
            result = subprocess.run(
                ["pdftoppm", "-png", "-r", str(RENDER_DPI), "-gray", "-f", str(page),
                 "-l", str(page), "-singlefile", source, str(base)],
                capture_output=True, check=False)
            produced = base.with_suffix(".png")
            if result.returncode != 0 or not produced.is_file():
                if page == 1:
                    raise ValueError("pdftoppm failed")
                return
            yield page, str(produced)


def kbis(source: str) -> int:
    result = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", source, "-"],
                            capture_output=True, check=False)
    if result.returncode != 0:
        return _answer({"error": "unreadable PDF"}, 2)
    text = result.stdout[:TEXT_BYTES].decode("utf-8", "replace")
    if not text.strip():
        return _answer({"error": "no text layer"})
    fields, page = kbis_text.parse_kbis(text)
    return _answer({"page": page, "fields": fields})


def yield_cpu() -> None:
    """Started at a lower priority (a background read): the same for the group the kernel
    shares the CPU between. With autogroups each session weighs alike whatever its processes'
    nice, so a nice reader in the scheduler's session would still take a whole share beside the
    server's: the worker (and its Tesseract) take a session of their own at that nice level."""
    niceness = os.nice(0)
    if niceness <= 0:
        return
    try:
        os.setsid()
        with open("/proc/self/autogroup", "w") as autogroup:
            autogroup.write(f"{niceness}\n")
    except OSError:  # no autogroups (cgroups share the CPU then), or not allowed: nice stands
        pass


def main(argv: list[str]) -> int:
    yield_cpu()
    command, *arguments = argv
    if command == "identity":
        source, media_type, max_pixels, seconds = arguments
        return identity(source, media_type, int(max_pixels), float(seconds))
    if command == "kbis":
        return kbis(arguments[0])
    return _answer({"error": f"unknown command {command}"}, 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
