"""Image work on untrusted files, run as a separate process under time and memory limits
(adapters.sandbox). Pillow only: no application code, no database, no network.

    preview_worker.py verify FORMAT MAX_PIXELS        < bytes    decode fully, or fail
    preview_worker.py image SRC DST WIDTH ROTATION MAX_PIXELS     EXIF orientation, scale, rotate
    preview_worker.py rotate SRC DST ROTATION                     rotate a rendered page

Prints one JSON line; the exit status is 0 on success, 2 when the input is unusable.
"""
from __future__ import annotations

import io
import json
import sys

from PIL import Image, ImageOps

BACKGROUND = (255, 255, 255)


def _fail(reason: str) -> int:
    print(json.dumps({"error": reason}))
    return 2


def _open(source, fmt: str | None, max_pixels: int) -> Image.Image:
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow refuses beyond twice this: a bomb
    image = Image.open(source, formats=[fmt] if fmt else None)
    width, height = image.size
    if width * height > max_pixels:
        raise Image.DecompressionBombError(f"{width}x{height}")
    return image


def verify(fmt: str, max_pixels: int) -> int:
    try:
        image = _open(io.BytesIO(sys.stdin.buffer.read()), fmt, max_pixels)
        image.load()
    except Image.DecompressionBombError:
        return _fail("too_large")
    except Exception:  # hostile bytes fail in many ways: all mean unreadable
        return _fail("unreadable")
    print(json.dumps({"width": image.width, "height": image.height}))
    return 0


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white: transparency and palettes do not survive JPEG, and pages are on paper."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, BACKGROUND)
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image.convert("RGB") if image.mode not in ("RGB", "L") else image


def _save(image: Image.Image, destination: str) -> None:
    if destination.endswith(".jpg"):
        image.save(destination, "JPEG", quality=85, optimize=False)
    else:
        image.save(destination, "PNG", compress_level=3)


def render_image(source: str, destination: str, width: int, rotation: int,
                 max_pixels: int) -> int:
    try:
        image = _open(source, None, max_pixels)
        if image.format == "JPEG":
            image.draft("RGB", (width, width))  # smallest decoding scale keeping either side ≥ width
        image = ImageOps.exif_transpose(image)  # a phone photo shows the way it was taken
        image = _flatten(image)
        # ``width`` is the width once turned: a quarter turn makes it the upright height.
        along, across = (image.height, image.width) if rotation in (90, 270) else image.size
        if along > width:
            scaled = (width, max(1, round(across * width / along)))
            image = image.resize(scaled[::-1] if rotation in (90, 270) else scaled,
                                 Image.Resampling.LANCZOS)
        if rotation:
            image = image.rotate(-rotation, expand=True)  # clockwise, as the buttons say
        _save(image, destination)
    except Exception:
        return _fail("unreadable")
    print(json.dumps({"width": image.width, "height": image.height}))
    return 0


def rotate(source: str, destination: str, rotation: int) -> int:
    try:
        with Image.open(source, formats=["PNG"]) as image:
            rotated = image.rotate(-rotation, expand=True)
        _save(rotated, destination)
    except Exception:
        return _fail("unreadable")
    print(json.dumps({"width": rotated.width, "height": rotated.height}))
    return 0


def main(argv: list[str]) -> int:
    command, *arguments = argv
    if command == "verify":
        return verify(arguments[0], int(arguments[1]))
    if command == "image":
        source, destination, width, rotation, max_pixels = arguments
        return render_image(source, destination, int(width), int(rotation), int(max_pixels))
    if command == "rotate":
        source, destination, rotation = arguments
        return rotate(source, destination, int(rotation))
    return _fail(f"unknown command {command}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
