"""The streamed ZIP writer: what it announces (length) is what it sends, and Python's zipfile
and Info-ZIP's unzip both read it back, with known or computed CRCs, UTF-8 names, and ZIP64
records (forced here by lowering the limits)."""
from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import zipfile
import zlib

import pytest

from adapters import zipstream
from adapters.zipstream import Archive, Deflater, Entry

WHEN = dt.datetime(2025, 3, 14, 9, 5, 30)


def files(tmp_path, sizes):
    made = []
    for number, size in enumerate(sizes):
        data = os.urandom(size)
        path = tmp_path / f"f{number}"
        path.write_bytes(data)
        made.append((path, data))
    return made


def entries(made, known_crc):
    result = []
    for number, (path, data) in enumerate(made):
        result.append(Entry(name=f"documents/pièce-{number}.pdf", modified=WHEN, path=path,
                            size=len(data), crc32=zlib.crc32(data) if known_crc(number) else None))
    deflater = Deflater()
    for _ in range(3):
        deflater.write("Événement ; détail\r\n".encode() * 200)
    result.append(deflater.entry("historique.csv", WHEN))
    result.append(Entry.text("manifeste.csv", "Fichier;SHA-256\r\n".encode(), WHEN))
    return result


def check(tmp_path, archive: Archive, made):
    data = b"".join(archive.stream(chunk=4096))
    assert len(data) == archive.length
    with zipfile.ZipFile(io.BytesIO(data)) as reader:
        assert reader.testzip() is None
        for number, (_, content) in enumerate(made):
            info = reader.getinfo(f"documents/pièce-{number}.pdf")
            assert info.compress_type == zipfile.ZIP_STORED and info.file_size == len(content)
            assert reader.read(info) == content
            assert info.date_time == (2025, 3, 14, 9, 5, 30)
        assert reader.read("historique.csv") == "Événement ; détail\r\n".encode() * 600
        assert reader.getinfo("historique.csv").compress_type == zipfile.ZIP_DEFLATED
    path = tmp_path / "out.zip"
    path.write_bytes(data)
    tested = subprocess.run(["unzip", "-tq", str(path)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("known", [lambda n: True, lambda n: False, lambda n: n % 2 == 0],
                         ids=["crc-connus", "crc-calcules", "melange"])
def test_archive_reads_back(tmp_path, known):
    made = files(tmp_path, [0, 1, 5000, 70_000])
    check(tmp_path, Archive(entries(made, known)), made)


def test_zip64_records(tmp_path, monkeypatch):
    monkeypatch.setattr(zipstream, "ZIP64_LIMIT", 3000)
    monkeypatch.setattr(zipstream, "ZIP64_COUNT_LIMIT", 3)
    made = files(tmp_path, [10, 5000, 9000, 200])
    archive = Archive(entries(made, lambda n: n != 2))
    assert b"PK\x06\x06" in b"".join(archive.stream())  # the ZIP64 end record
    check(tmp_path, Archive(entries(made, lambda n: n != 2)), made)


def test_a_file_shorter_than_planned_stops_the_stream(tmp_path):
    (path, data), = files(tmp_path, [1000])
    archive = Archive([Entry(name="a.pdf", modified=WHEN, path=path, size=2000,
                             crc32=zlib.crc32(data))])
    with pytest.raises(IOError):
        b"".join(archive.stream())
