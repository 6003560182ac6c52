"""Requests per second of the Commandes list under load, against Flask's « hello world » served
by the same gunicorn (2 workers, sync) in the same run: ``wrk`` with 16 connections on each in
turn, round after round. Target: the list page (50 rows, no filter, an operator's session) at
least 8 % of hello world's rate.

The list runs on the archive made by bench.generate (DATABASE_URL, RADESK_INSTANCE_PATH);
the operator « Opérateur Banc » gets a session as the login would give it (a login_session row,
Flask's signed cookie naming it), sent by wrk in its Cookie header.

    RADESK_INSTANCE_PATH=/tmp/bench DATABASE_URL=postgresql://…/radesk_bench \\
        .venv/bin/python -m bench.bench_wrk [--seconds 15] [--rounds 2] [--path /commandes]
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app import create_app  # noqa: E402
from models import Operator, db  # noqa: E402
from services.operator_auth.sessions import open_session  # noqa: E402

TARGET = 0.08
GUNICORN = ["--workers", "2", "--worker-class", "sync", "--backlog", "2048"]


def session_cookie(secret: str) -> str:
    """Flask's signed session cookie of a fresh login session of the bench operator."""
    app = create_app({"SECRET_KEY": secret, "RADESK_SCHEDULER": False})
    with app.app_context(), db.connection_context():
        operator = Operator.get(Operator.display_name == "Opérateur Banc")
        certificate = operator.certificates.get()
        _, token = open_session(operator, certificate.fingerprint_sha256, method="bridge")
    return app.session_interface.get_signing_serializer(app).dumps({"_user_id": token})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(app: str, port: int, secret: str, check: str, cookie: str) -> subprocess.Popen:
    environment = {**os.environ, "SECRET_KEY": secret, "RADESK_SCHEDULER": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", *GUNICORN, app],
        cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            answer = requests.get(f"http://127.0.0.1:{port}{check}", timeout=10,
                                  cookies={"session": cookie}, allow_redirects=False)
        except requests.RequestException:  # not listening yet, or still starting the app
            time.sleep(0.2)
            continue
        if answer.status_code != 200:
            stop(server)
            raise RuntimeError(f"{check} : HTTP {answer.status_code} (session refusée ?)")
        return server
    stop(server)
    raise RuntimeError("le serveur ne démarre pas")


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(30)


def wrk(url: str, seconds: int, connections: int, cookie: str) -> float:
    """Requests per second; a non-2xx answer or a socket error makes the run void."""
    output = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s",
         "-H", f"Cookie: session={cookie}", url],
        capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk : réponses en erreur\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def warm(url: str, cookie: str, count: int = 20) -> None:
    """First requests of each worker (imports, pool, plans) are not measured."""
    for _ in range(count):
        requests.get(url, cookies={"session": cookie}, timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--path", default="/commandes")
    arguments = parser.parse_args()
    secret = secrets.token_hex(16)
    cookie = session_cookie(secret)
    servers = {"hello": ("bench.hello_app:app", "/"),
               "liste": ("app:create_app()", arguments.path)}
    rates: dict[str, list[float]] = {name: [] for name in servers}
    load = os.getloadavg()
    for round_ in range(arguments.rounds):
        for name, (app, path) in servers.items():
            port = free_port()
            server = start(app, port, secret, path, cookie)
            try:
                url = f"http://127.0.0.1:{port}{path}"
                warm(url, cookie)
                rates[name].append(wrk(url, arguments.seconds, arguments.connections, cookie))
            finally:
                stop(server)
            print(f"tour {round_ + 1}, {name} : {rates[name][-1]:.0f} req/s", flush=True)
    hello, page = statistics.median(rates["hello"]), statistics.median(rates["liste"])
    ratio = page / hello
    verdict = "OK" if ratio >= TARGET else "NON ATTEINTE"
    print(f"== wrk, {arguments.connections} connexions, gunicorn {' '.join(GUNICORN)}, "
          f"{arguments.rounds} tours de {arguments.seconds} s ; charge de la machine au départ "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} ==")
    print(f"hello world Flask : {hello:.0f} req/s (médiane)")
    print(f"{arguments.path} : {page:.0f} req/s (médiane)")
    print(f"rapport : {ratio:.1%} [cible ≥ {TARGET:.0%} : {verdict}]")


if __name__ == "__main__":
    main()
