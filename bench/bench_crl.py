"""The issuing CA's CRL re-issued with 100,000 revoked certificates in the register.

    .venv/bin/python -m bench.bench_crl [--rows 100000] [--runs 3] [--postgres URL]

On a fresh SQLite database (or, with ``--postgres``, a throwaway database on that server,
dropped afterwards), ``--rows`` revoked rows of the issuing CA are inserted in bulk (reasons
in turn, a tenth on hold), then the CRL is re-issued ``--runs`` times as the scheduled job and
a revocation do it (``Authority.publish``: read the entries, build, sign, write). Each run also
times the query and entries alone. Target: one re-issue ≤ 5 s.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_SECONDS = 5.0
REASONS = ["keyCompromise", "superseded", "affiliationChanged", "cessationOfOperation",
           "privilegeWithdrawn", "unspecified", "superseded", "keyCompromise", "superseded",
           "certificateHold"]


def insert_revoked(rows: int, issuer_key_id: str) -> float:
    from models import IssuedCertificate, db
    started = time.perf_counter()
    moment = dt.datetime(2026, 1, 1)
    batch = []
    with db.atomic():
        for n in range(rows):
            batch.append({"serial_hex": format(0x7000_0000_0000 + n, "x"), "kind": "holder",
                          "subject": f"CN=Porteur {n}", "not_before": moment,
                          "not_after": moment + dt.timedelta(days=1095), "pem": "",
                          "revoked_at": moment + dt.timedelta(seconds=n * 97),
                          "revocation_reason": REASONS[n % len(REASONS)],
                          "issuer_key_id": issuer_key_id})
            if len(batch) == 1000:
                IssuedCertificate.insert_many(batch).execute()
                batch = []
        if batch:
            IssuedCertificate.insert_many(batch).execute()
    return time.perf_counter() - started


@contextlib.contextmanager
def database(postgres: str | None, folder: Path):
    if not postgres:
        yield f"sqlite:///{folder / 'radesk.db'}"
        return
    from tests.e2e_support import throwaway_postgres
    with throwaway_postgres(postgres, "radesk_bench_crl") as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", help="PostgreSQL server URL (a database is made there)")
    args = parser.parse_args()

    from cryptography import x509

    from app import create_app
    from adapters.ca import get_ca
    from database import close_pooled_connections
    from models import db

    folder = Path(tempfile.mkdtemp(prefix="bench-crl-"))
    with database(args.postgres, folder) as url:
        app = create_app({"INSTANCE_PATH": folder / "instance", "DATABASE_URL": url,
                          "SECRET_KEY": "bench"})
        with app.app_context(), db.connection_context():
            ca = get_ca(app)
            issuing = ca._issuing
            inserted = insert_revoked(args.rows, issuing.key_id.hex())
            print(f"{args.rows:,} revoked rows inserted in {inserted:.1f} s "
                  f"({'PostgreSQL' if args.postgres else 'SQLite'})")
            reissue, query = [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                entries = issuing.revoked_entries()
                query.append(time.perf_counter() - started)
                started = time.perf_counter()
                path = ca.publish_crl()
                reissue.append(time.perf_counter() - started)
            crl = x509.load_der_x509_crl(path.read_bytes())
            listed = len(crl)
            assert listed == len(entries) == args.rows, (listed, len(entries))
            size = path.stat().st_size
        close_pooled_connections(db.obj)
    best, median = min(reissue), statistics.median(reissue)
    print(f"query + {args.rows:,} entries: median {statistics.median(query):.2f} s")
    print(f"one re-issue (query, entries, build, sign, write {size / 1e6:.1f} MB): "
          f"median {median:.2f} s, best {best:.2f} s, worst {max(reissue):.2f} s "
          f"over {args.runs} runs; {listed:,} entries listed")
    verdict = "met" if max(reissue) <= TARGET_SECONDS else "NOT met"
    print(f"target ≤ {TARGET_SECONDS:.0f} s: {verdict}")


if __name__ == "__main__":
    main()
