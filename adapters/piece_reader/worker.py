"""Reading an untrusted piece, run as a separate process under time and memory limits
(adapters.sandbox) by adapters.piece_reader.reading. No application code: the modules beside
this file that it imports use the standard library, Pillow and numpy only.

    worker.py identity SRC MEDIA_TYPE MAX_PIXELS     the MRZ of an image or a PDF's first pages
    worker.py kbis SRC                               the SIREN, name and date of a KBIS's text

Prints one JSON line: {"page": n, "fields": {...}} or {"error": reason}; exit status 0 either
way, 2 when the input is unusable.
"""
from __future__ import annotations

import json
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


def identity(source: str, media_type: str, max_pixels: int) -> int:
    import mrz_image  # numpy and Pillow: only the identity reading pays for their import
    started = time.monotonic()
    try:
        pages = _pages(source, media_type)
    except Exception:  # hostile bytes fail in many ways: all mean unreadable
        return _answer({"error": "unreadable file"}, 2)
    best, best_page, tried = None, None, 0
    for number, path in pages:
        try:
            # A page is scanned whole: the card on it is small, looked at full size.
            gray = mrz_image.load(path, max_pixels,
                                  PAGE_WIDTH if media_type == PDF else mrz_image.WORK_WIDTH)
        except Exception:
            return _answer({"error": "unreadable image"}, 2)
        for crop in mrz_image.candidates(gray):
            tried += 1
            result = mrz_fields.read_zone(mrz_image.tesseract(mrz_image.prepare(crop)))
            if result is not None and result["valid"]:
                _confirm_unchecked(result, crop, mrz_image)
                return _answer({"page": number, "fields": result, "attempts": tried,
                                "seconds": round(time.monotonic() - started, 3)})
            if result is not None and (best is None or
                                       mrz_fields._count(result) > mrz_fields._count(best)):
                best, best_page = result, number
    if best is None:
        return _answer({"error": "no machine-readable zone found", "attempts": tried})
    return _answer({"page": best_page, "fields": best, "attempts": tried})


UNCHECKED = ("surname", "given_names", "nationality")
CONFIRMED = ("document_number", "surname", "given_names", "nationality", "birth_date",
             "expiry_date")
SECOND_LOOKS = (32, 38)  # character heights of the confirming reads


def _confirm_unchecked(result: dict, crop, mrz_image) -> None:
    """A second read at another scale must agree: names and nationality have no check
    digit, and a few swaps (S/8, G/6) pass every check digit. A field the two valid reads give
    differently is None; with no second valid read, only what no swap could fake is kept."""
    for height in SECOND_LOOKS:
        again = mrz_fields.read_zone(mrz_image.tesseract(mrz_image.prepare(crop, height)))
        if again is not None and again["valid"] and again["format"] == result["format"]:
            for name in CONFIRMED:
                if again[name] != result[name]:
                    _drop(result, name)
            return
    for name in UNCHECKED:
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


def main(argv: list[str]) -> int:
    command, *arguments = argv
    if command == "identity":
        source, media_type, max_pixels = arguments
        return identity(source, media_type, int(max_pixels))
    if command == "kbis":
        return kbis(arguments[0])
    return _answer({"error": f"unknown command {command}"}, 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
