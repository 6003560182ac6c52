"""One read of a piece, as the background job does it (adapters.piece_reader.read_piece: the
sandboxed worker, Tesseract, the second read): median and p95 per page over the reader's
test corpus (tests/piece_corpus.py, phone photos of the four MRZ formats, some unreadable),
and over KBIS PDFs. Target: ≤ 2 s p95 per page. Reads one at a time unless --parallel 2, at
the normal priority unless --niceness 10 (the job's, which yields the CPU to other work).

    .venv/bin/python -m bench.piece_reading [--count 64 --kbis 10 --parallel 1 --niceness 0]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.document_store import JPEG, PDF  # noqa: E402
from adapters.piece_reader import IDENTITY, KBIS, READ, read_piece  # noqa: E402
from demo.specimen_pieces import kbis_pdf  # noqa: E402
from tests.piece_corpus import build  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(name: str, seconds: list[float], read: int) -> None:
    print(f"{name:<28} n={len(seconds):3d}  read {read:3d}"
          f"  median {statistics.median(seconds):.2f} s  p95 {percentile(seconds, 0.95):.2f} s  max {max(seconds):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--kbis", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--niceness", type=int, default=0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        samples = build(Path(folder), count=options.count, unreadable=options.count // 8)

        def timed(path: Path, media_type: str, kind: str):
            started = time.perf_counter()
            reading = read_piece(path, media_type, kind, niceness=options.niceness)
            return time.perf_counter() - started, reading

        with ThreadPoolExecutor(options.parallel) as pool:
            results = list(pool.map(lambda s: timed(s.path, JPEG, IDENTITY), samples))
        readable = [r for s, r in zip(samples, results) if s.readable]
        report("identity, readable photos", [t for t, _ in readable],
               sum(r.status == READ for _, r in readable))
        unreadable = [r for s, r in zip(samples, results) if not s.readable]
        report("identity, unreadable ones", [t for t, _ in unreadable],
               sum(r.status == READ for _, r in unreadable))
        report("identity, all", [t for t, _ in results], sum(r.status == READ for _, r in results))
        kbis = []
        for n in range(options.kbis):
            path = Path(folder) / f"kbis-{n}.pdf"
            path.write_bytes(kbis_pdf("552032534", f"Société {n}", dt.date(2025, 1, 1 + n)))
            kbis.append(timed(path, PDF, KBIS))
        if kbis:
            report("KBIS (text layer)", [t for t, _ in kbis],
                   sum(r.status == READ for _, r in kbis))


if __name__ == "__main__":
    main()
