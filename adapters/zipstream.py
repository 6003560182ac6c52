"""A ZIP archive written front to back while it is sent, whose length is known beforehand.

Why not ``zipfile``: written to a stream that cannot seek, it must compute every file's CRC-32
while sending it (about 1 GB/s, far slower than reading the file) and cannot tell the total
length. Here each stored file's CRC-32 comes from the database (computed once, at import), so
a file's bytes go from the disk to the socket untouched, and the response carries its
Content-Length (the browser shows real progress). A file whose CRC-32 is not known yet is
still handled: its CRC is computed on the way and written after it (data descriptor), which
does not change the length. Small text entries are deflated in memory first.

Format: APPNOTE.TXT 6.3; UTF-8 names (flag bit 11); ZIP64 records only when an offset, a size
or the number of entries needs them.
"""
from __future__ import annotations

import datetime as dt
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

STORED, DEFLATED = 0, 8
CHUNK = 4 * 1024 * 1024
_FLAG_DESCRIPTOR, _FLAG_UTF8 = 0x08, 0x0800
# Beyond these, ZIP64 records are used (module constants, so tests can lower them).
ZIP64_LIMIT, ZIP64_COUNT_LIMIT = 0xFFFFFFFF, 0xFFFF
_FFFFFFFF, _FFFF = 0xFFFFFFFF, 0xFFFF  # "see the ZIP64 record" in a 32- or 16-bit field
_VERSION_MADE_BY = (3 << 8) | 45  # Unix, 4.5
_FILE_ATTRIBUTES = (0o100644 << 16)


@dataclass
class Entry:
    """One member: either a file (``path``, ``size`` and, when known, ``crc32``) stored as it
    is, or ``data`` deflated here."""
    name: str
    modified: dt.datetime
    path: Path | None = None
    size: int = 0
    crc32: int | None = None
    data: bytes | None = None
    # Filled by the plan:
    method: int = STORED
    payload: bytes = b""
    compressed_size: int = 0
    offset: int = 0
    descriptor: bool = False  # CRC-32 computed while sending, written after the data
    header: bytes = field(default=b"", repr=False)

    @classmethod
    def text(cls, name: str, data: bytes, modified: dt.datetime) -> "Entry":
        return cls(name=name, modified=modified, data=data, size=len(data))

    @classmethod
    def deflated(cls, name: str, modified: dt.datetime, payload: bytes, crc32: int,
                 size: int) -> "Entry":
        """Text compressed by the caller (``Deflater``), piece by piece."""
        return cls(name=name, modified=modified, data=b"", payload=payload, crc32=crc32,
                   size=size, method=DEFLATED)


class Deflater:
    """Compresses text as it comes, keeping only the compressed bytes."""

    def __init__(self):
        self._compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        self._parts: list[bytes] = []
        self.crc32, self.size = 0, 0

    def write(self, data: bytes) -> None:
        self.crc32 = zlib.crc32(data, self.crc32)
        self.size += len(data)
        self._parts.append(self._compressor.compress(data))

    def entry(self, name: str, modified: dt.datetime) -> Entry:
        self._parts.append(self._compressor.flush())
        return Entry.deflated(name, modified, b"".join(self._parts), self.crc32, self.size)


def _dos_time(moment: dt.datetime) -> tuple[int, int]:
    year = min(max(moment.year, 1980), 2107)
    date = ((year - 1980) << 9) | (moment.month << 5) | moment.day
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    return time, date


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


class Archive:
    """Plan the whole archive (headers, offsets, central directory), then stream it."""

    def __init__(self, entries: list[Entry]):
        self.entries = entries
        offset = 0
        for entry in entries:
            if entry.data is not None:
                if entry.method != DEFLATED:  # plain text: deflate it now
                    entry.method, entry.payload = DEFLATED, _deflate(entry.data)
                    entry.crc32 = zlib.crc32(entry.data)
                entry.compressed_size = len(entry.payload)
            else:
                entry.compressed_size = entry.size
                entry.descriptor = entry.crc32 is None
            entry.offset = offset
            entry.header = self._local_header(entry)
            offset += len(entry.header) + entry.compressed_size + self._descriptor_length(entry)
        self.directory_offset = offset
        # Its length does not depend on the CRCs still unknown: it is rebuilt once they are.
        self.length = offset + len(self._central_directory(offset))

    # --- layout -------------------------------------------------------------------

    @staticmethod
    def _zip64_sizes(entry: Entry) -> bool:
        return entry.size >= ZIP64_LIMIT or entry.compressed_size >= ZIP64_LIMIT

    def _descriptor_length(self, entry: Entry) -> int:
        if not entry.descriptor:
            return 0
        return 24 if self._zip64_sizes(entry) else 16

    def _local_header(self, entry: Entry) -> bytes:
        name = entry.name.encode("utf-8")
        flags = _FLAG_UTF8 | (_FLAG_DESCRIPTOR if entry.descriptor else 0)
        zip64 = self._zip64_sizes(entry)
        # With a data descriptor, CRC and sizes are zero here and follow the data.
        usize, csize = (0, 0) if entry.descriptor else (entry.size, entry.compressed_size)
        extra = struct.pack("<HHQQ", 1, 16, usize, csize) if zip64 else b""
        sizes = (_FFFFFFFF, _FFFFFFFF) if zip64 else (csize, usize)
        time, date = _dos_time(entry.modified)
        return struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, flags, entry.method,
                           time, date, entry.crc32 or 0, *sizes, len(name), len(extra)) \
            + name + extra

    def _central_directory(self, start: int) -> bytes:
        records = []
        for entry in self.entries:
            name = entry.name.encode("utf-8")
            values = []  # what does not fit in 32 bits goes in the ZIP64 extra field
            usize, csize, offset = entry.size, entry.compressed_size, entry.offset
            if usize >= ZIP64_LIMIT:
                values.append(usize)
                usize = _FFFFFFFF
            if csize >= ZIP64_LIMIT:
                values.append(csize)
                csize = _FFFFFFFF
            if offset >= ZIP64_LIMIT:
                values.append(offset)
                offset = _FFFFFFFF
            extra = struct.pack("<HH", 1, 8 * len(values)) + struct.pack(
                f"<{len(values)}Q", *values) if values else b""
            flags = _FLAG_UTF8 | (_FLAG_DESCRIPTOR if entry.descriptor else 0)
            time, date = _dos_time(entry.modified)
            records.append(struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, _VERSION_MADE_BY, 45 if values else 20, flags,
                entry.method, time, date, entry.crc32 or 0, csize, usize, len(name), len(extra),
                0, 0, 0, _FILE_ATTRIBUTES, offset) + name + extra)
        directory = b"".join(records)
        count, size = len(self.entries), len(directory)
        tail = b""
        if count >= ZIP64_COUNT_LIMIT or size >= ZIP64_LIMIT or start >= ZIP64_LIMIT:
            zip64_end = start + size
            tail += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, _VERSION_MADE_BY, 45, 0, 0,
                                count, count, size, start)
            tail += struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1)
        zip64 = bool(tail)
        tail += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0,
                            _FFFF if zip64 else count, _FFFF if zip64 else count,
                            _FFFFFFFF if zip64 else size, _FFFFFFFF if zip64 else start, 0)
        return directory + tail

    # --- sending ------------------------------------------------------------------

    def stream(self, chunk: int = CHUNK) -> Iterator[bytes]:
        for entry in self.entries:
            yield entry.header
            if entry.data is not None:
                yield entry.payload
                continue
            yield from self._file(entry, chunk)
        yield self._central_directory(self.directory_offset)

    def _file(self, entry: Entry, chunk: int) -> Iterator[bytes]:
        known = not entry.descriptor
        crc, sent = 0, 0
        with open(entry.path, "rb") as source:
            while sent < entry.size:
                piece = source.read(min(chunk, entry.size - sent))
                if not piece:
                    raise IOError(f"{entry.path}: fichier plus court que prévu")
                if not known:
                    crc = zlib.crc32(piece, crc)
                sent += len(piece)
                yield piece
        if not known:
            entry.crc32 = crc  # for the central directory
            sizes = "QQ" if self._zip64_sizes(entry) else "II"
            yield struct.pack(f"<II{sizes}", 0x08074B50, crc, entry.size, entry.size)
