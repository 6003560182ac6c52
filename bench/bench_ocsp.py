"""The OCSP responder as a relying party sees it: `openssl ocsp` round trips to the app
served by gunicorn (one worker, four threads, as deploy/README.md runs it).

    .venv/bin/python -m bench.bench_ocsp [--requests 1000] [--certificates 40] [--postgres URL]

A fresh instance (SQLite, or with ``--postgres`` a throwaway database on that server) gets
``--certificates`` operator certificates from the embedded CA, every third one revoked (some
on hold), and 10,000 other revoked rows in the register so the serial lookup is not on a toy
table. Then ``--requests`` runs of
``openssl ocsp -issuer issuing.pem -cert <one of them> -url …/pki/ocsp -CAfile root.pem``
(nonce, signature and chain verified by openssl), the certificates in turn, each answer checked
(good or revoked as expected). The time of a run is the whole round trip: the openssl process,
its request, the server's answer and its verification. ``openssl version`` run as many times
gives the part the process start takes, `openssl ocsp -reqout` (the request built, not sent)
the client's own part, and the same requests POSTed over one kept-alive
HTTP connection (requests) the server's part. Target: p95 ≤ 20 ms (openssl round trips).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.baseline import percentiles  # noqa: E402
from bench.bench_crl import insert_revoked  # noqa: E402

TARGET_P95 = 0.020
WARMUP = 20


def seed(app, folder: Path, count: int) -> list[tuple[Path, str]]:
    """The certificates' files and the status each must get."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from adapters.ca import get_ca, serial_to_hex
    from tests.e2e_support import pem

    ca = get_ca(app)
    (folder / "root.pem").write_text(pem(ca.root_certificate))
    (folder / "issuing.pem").write_text(pem(ca.issuing_certificate))
    key = ec.generate_private_key(ec.SECP256R1())
    files = []
    for n in range(count):
        certificate = ca.issue_operator_certificate(
            key.public_key(), given_name="Camille", surname=f"Martin{n}",
            email=f"c{n}@bpoi.example", organization="BPOI")
        expected = "good"
        if n % 3 == 2:
            ca.revoke(serial_to_hex(certificate.serial_number),
                      "certificateHold" if n % 2 else "keyCompromise")
            expected = "revoked"
        path = folder / f"leaf-{n}.pem"
        path.write_text(pem(certificate))
        files.append((path, expected))
    insert_revoked(10_000, ca._issuing.key_id.hex())
    return files


def round_trip(url: str, folder: Path, certificate: Path, expected: str) -> float:
    started = time.perf_counter()
    outcome = subprocess.run(["openssl", "ocsp", "-issuer", folder / "issuing.pem",
                              "-cert", certificate, "-url", url, "-CAfile", folder / "root.pem"],
                             capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if f"{certificate}: {expected}" not in outcome.stdout or \
            "Response verify OK" not in outcome.stderr or "WARNING" in outcome.stdout:
        raise RuntimeError(f"réponse inattendue : {outcome.stdout}{outcome.stderr}")
    return elapsed


def request_bodies(folder: Path, files: list[tuple[Path, str]]) -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import ocsp

    issuing = x509.load_pem_x509_certificate((folder / "issuing.pem").read_bytes())
    bodies = []
    for path, _ in files:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        bodies.append(ocsp.OCSPRequestBuilder().add_certificate(certificate, issuing, hashes.SHA1())
                      .build().public_bytes(Encoding.DER))
    return bodies


def in_process(app, bodies: list[bytes], runs: int) -> tuple[list[float], list[float]]:
    """The responder alone (query, answer, signature), then the whole Flask request (test
    client, which opens and closes its connection as a served request does): the server's
    work without the network."""
    from adapters.ca import get_ca
    from models import db

    alone, flask = [], []
    with app.app_context():
        with db.connection_context():
            responder = get_ca(app).ocsp_responder
            for n in range(WARMUP + runs):
                started = time.perf_counter()
                responder.respond(bodies[n % len(bodies)])
                alone.append(time.perf_counter() - started)
        client = app.test_client()
        for n in range(WARMUP + runs):
            started = time.perf_counter()
            client.post("/pki/ocsp", data=bodies[n % len(bodies)],
                        content_type="application/ocsp-request")
            flask.append(time.perf_counter() - started)
    return alone[WARMUP:], flask[WARMUP:]


def http_only(url: str, bodies: list[bytes], runs: int) -> list[float]:
    """The same questions POSTed over one kept-alive connection: the server's share."""
    import requests
    from cryptography.x509 import ocsp

    session = requests.Session()
    session.trust_env = False
    headers = {"Content-Type": "application/ocsp-request"}
    samples = []
    for n in range(WARMUP + runs):
        started = time.perf_counter()
        answer = session.post(url, data=bodies[n % len(bodies)], headers=headers, timeout=10)
        elapsed = time.perf_counter() - started
        assert ocsp.load_der_ocsp_response(answer.content).response_status == \
            ocsp.OCSPResponseStatus.SUCCESSFUL
        if n >= WARMUP:
            samples.append(elapsed)
    return samples


def client_alone(argv: list, runs: int) -> list[float]:
    """Times of a command that never reaches the server: openssl's own share."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return samples


@contextlib.contextmanager
def instance(folder: Path, postgres: str | None):
    from tests import e2e_support
    if postgres:  # AppInstance.create reads the server from here
        e2e_support.PG_BASE_URL = postgres
    with e2e_support.AppInstance.create(folder) as created:
        yield created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--certificates", type=int, default=40)
    parser.add_argument("--postgres", help="PostgreSQL server URL (a database is made there)")
    args = parser.parse_args()

    from tests.e2e_support import start_app_server

    folder = Path(tempfile.mkdtemp(prefix="bench-ocsp-"))
    with instance(folder, args.postgres) as app_instance:
        with app_instance.seeding() as app:
            files = seed(app, folder, args.certificates)
        bodies = request_bodies(folder, files)
        responder_alone, flask_request = in_process(app_instance.open_app(), bodies,
                                                    args.requests)
        url = f"{app_instance.url}/pki/ocsp"
        with start_app_server(app_instance):
            for n in range(WARMUP):
                round_trip(url, folder, *files[n % len(files)])
            samples = {"good": [], "revoked": []}
            for n in range(args.requests):
                path, expected = files[n % len(files)]
                samples[expected].append(round_trip(url, folder, path, expected))
            http = http_only(url, bodies, args.requests)
        runs = min(args.requests, 300)
        spawn = client_alone(["openssl", "version"], runs)
        request_only = client_alone(["openssl", "ocsp", "-issuer", folder / "issuing.pem",
                                     "-cert", files[0][0], "-reqout", os.devnull], runs)
    every = samples["good"] + samples["revoked"]
    median, p95 = percentiles(every)
    print(f"{len(every)} openssl ocsp round trips "
          f"({'PostgreSQL' if args.postgres else 'SQLite'}): median {median * 1000:.1f} ms, "
          f"p95 {p95 * 1000:.1f} ms, max {max(every) * 1000:.1f} ms")
    for status, values in samples.items():
        status_median, status_p95 = percentiles(values)
        print(f"  {status} ({len(values)}): median {status_median * 1000:.1f} ms, "
              f"p95 {status_p95 * 1000:.1f} ms")
    spawn_median, spawn_p95 = percentiles(spawn)
    print(f"`openssl version` alone (process start): median {spawn_median * 1000:.1f} ms, "
          f"p95 {spawn_p95 * 1000:.1f} ms; round trip beyond it: "
          f"median {(median - spawn_median) * 1000:.1f} ms")
    alone_median, alone_p95 = percentiles(request_only)
    print(f"`openssl ocsp … -reqout` (the request built, nothing sent): "
          f"median {alone_median * 1000:.1f} ms, p95 {alone_p95 * 1000:.1f} ms")
    for label, values in (("responder alone (in process)", responder_alone),
                          ("whole Flask request (test client)", flask_request)):
        value_median, value_p95 = percentiles(values)
        print(f"{label}: median {value_median * 1000:.2f} ms, p95 {value_p95 * 1000:.2f} ms")
    http_median, http_p95 = percentiles(http)
    print(f"HTTP alone (one kept-alive connection, {len(http)} POSTs): "
          f"median {http_median * 1000:.1f} ms, p95 {http_p95 * 1000:.1f} ms")
    print(f"target p95 ≤ {TARGET_P95 * 1000:.0f} ms: {'met' if p95 <= TARGET_P95 else 'NOT met'}")
    print(f"(mean {statistics.fmean(every) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
