"""Small images for document tests: a plain PNG, and a PNG that announces a huge size without
the pixels (a decompression bomb's header)."""
from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def png(color=(200, 30, 30), size=(120, 80)) -> bytes:
    """A plain PNG; a different ``color`` gives a different file (and hash)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG announcing the given size, without pixel data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
