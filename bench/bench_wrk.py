"""Requests per second of the Commandes list under load, against Flask's « hello world » served
by the same gunicorn (2 workers, sync) in the same run: ``wrk`` with 16 connections on each in
turn, round after round. Target: the list page (50 rows, no filter, an operator's session) at
least 8 % of hello world's rate.

The machine is shared: the rate of each run follows the others' load, so each round's ratio
is printed and the median of the rounds' ratios kept; the CPU time the gunicorn workers (and
PostgreSQL's backends for the list) spent per request is printed too, which the load moves
far less.

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
from peewee import PostgresqlDatabase

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
    # With the CSRF token a browser's session already holds after its first page: without it
    # every answer would make one and send the session cookie again.
    session = {"_user_id": token, "csrf_token": secrets.token_hex(20)}
    return app.session_interface.get_signing_serializer(app).dumps(session)


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


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def workers(server: subprocess.Popen) -> list[int]:
    return [int(pid) for pid in
            Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]


def postgres_backends() -> list[int]:
    """The server processes of this database's connections (PostgreSQL on this machine)."""
    with db.connection_context():
        return [pid for (pid,) in db.execute_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()").fetchall()]


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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--path", default="/commandes")
    arguments = parser.parse_args()
    secret = secrets.token_hex(16)
    cookie = session_cookie(secret)
    servers = {"hello": ("bench.hello_app:app", "/"),
               "liste": ("app:create_app()", arguments.path)}
    rates: dict[str, list[float]] = {name: [] for name in servers}
    cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
    postgres = isinstance(db.obj, PostgresqlDatabase)
    load = os.getloadavg()
    for round_ in range(arguments.rounds):
        for name, (app, path) in servers.items():
            port = free_port()
            server = start(app, port, secret, path, cookie)
            try:
                url = f"http://127.0.0.1:{port}{path}"
                warm(url, cookie)
                processes = workers(server)
                backends = postgres_backends() if name == "liste" and postgres else []
                before = cpu_seconds(processes), cpu_seconds(backends)
                rate = wrk(url, arguments.seconds, arguments.connections, cookie)
                after = cpu_seconds(processes), cpu_seconds(backends)
            finally:
                stop(server)
            requests_served = rate * arguments.seconds
            rates[name].append(rate)
            cpu[name].append(tuple((b - a) / requests_served * 1000
                                   for a, b in zip(before, after)))
            print(f"tour {round_ + 1}, {name} : {rate:.0f} req/s, CPU par requête "
                  f"{cpu[name][-1][0]:.2f} ms (gunicorn)"
                  + (f" + {cpu[name][-1][1]:.2f} ms (PostgreSQL)" if backends else ""),
                  flush=True)
        print(f"tour {round_ + 1} : rapport {rates['liste'][-1] / rates['hello'][-1]:.1%}",
              flush=True)
    ratios = [page / hello for hello, page in zip(rates["hello"], rates["liste"])]
    ratio = statistics.median(ratios)
    verdict = "OK" if ratio >= TARGET else "NON ATTEINTE"
    print(f"== wrk, {arguments.connections} connexions, gunicorn {' '.join(GUNICORN)}, "
          f"{arguments.rounds} tours de {arguments.seconds} s ; charge de la machine au départ "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, à la fin "
          f"{os.getloadavg()[0]:.1f} ==")
    for name, label in (("hello", "hello world Flask"), ("liste", arguments.path)):
        server_cpu = statistics.median(c[0] for c in cpu[name])
        database_cpu = statistics.median(c[1] for c in cpu[name])
        print(f"{label} : {statistics.median(rates[name]):.0f} req/s (médiane), CPU par requête "
              f"{server_cpu:.2f} ms (gunicorn)"
              + (f" + {database_cpu:.2f} ms (PostgreSQL)" if name == "liste" and postgres else ""))
    print(f"rapport : {ratio:.1%} (médiane des tours : "
          f"{', '.join(f'{r:.1%}' for r in ratios)}) [cible ≥ {TARGET:.0%} : {verdict}]")


if __name__ == "__main__":
    main()
