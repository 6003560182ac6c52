"""A consistent copy of the database while the application runs, and putting one back.

SQLite goes through the sqlite3 online backup API: one read transaction (WAL readers do not
stop writers) copies every page, so the copy is the database at one instant; it is then made a
self-contained file (journal mode DELETE). PostgreSQL goes through ``pg_dump`` in its custom
format, which reads in one snapshot, and comes back through ``pg_restore`` in one transaction.
The password of a PostgreSQL URL goes to the tools through PGPASSWORD, never on a command
line that ``ps`` shows.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SQLITE, POSTGRESQL = "sqlite", "postgresql"
DUMP_NAMES = {SQLITE: "database.sqlite3", POSTGRESQL: "database.pgdump"}


class DumpFailed(Exception):
    """A dump or restore tool failed; ``message`` is French, with the tool's own words."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def engine_of(url: str) -> str:
    scheme = url.partition("://")[0].split("+")[0]
    return SQLITE if scheme.startswith("sqlite") else POSTGRESQL


def sqlite_path(url: str) -> Path:
    """The file of ``sqlite:///relative`` or ``sqlite:////absolute``, read as peewee does."""
    return Path(urlsplit(url).path[1:])


def dump(url: str, target: Path) -> None:
    """Write the database ``url`` names to ``target`` (a new file)."""
    if engine_of(url) == SQLITE:
        _sqlite_dump(sqlite_path(url), target)
    else:
        _run_tool("pg_dump", ["--format=custom", "--compress=6", f"--file={target}"], url)


def restore(url: str, source: Path) -> None:
    """Load ``source`` (a file ``dump`` wrote) into the database ``url`` names, which must have
    no table the dump brings (the caller made sure it held no data and dropped its schema)."""
    if engine_of(url) == SQLITE:
        with _connect(source, read_only=True) as origin, _connect(sqlite_path(url)) as target:
            origin.backup(target)
    else:
        _run_tool("pg_restore", ["--single-transaction", "--exit-on-error", "--no-owner",
                                 "--no-privileges", "--clean", "--if-exists", str(source)], url)


def _sqlite_dump(database: Path, target: Path) -> None:
    with _connect(database, read_only=True) as origin, _connect(target) as copy:
        origin.backup(copy)  # all pages in one step: a single snapshot of the database
        copy.execute("PRAGMA journal_mode = DELETE")  # one file, readable without -wal/-shm
        problem = copy.execute("PRAGMA quick_check").fetchone()[0]
    if problem != "ok":
        raise DumpFailed(f"la copie de la base SQLite est endommagée : {problem}")


class _connect:
    """A sqlite3 connection closed on exit (sqlite3's own context manager only commits)."""

    def __init__(self, path: Path, read_only: bool = False):
        self.connection = (sqlite3.connect(f"file:{path}?mode=ro", uri=True) if read_only
                           else sqlite3.connect(path))

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, *exc) -> None:
        self.connection.close()


def _run_tool(tool: str, arguments: list[str], url: str) -> None:
    executable = shutil.which(tool)
    if executable is None:
        raise DumpFailed(f"{tool} introuvable : installez le paquet postgresql-client "
                         f"(de la version du serveur ou plus récente).")
    dsn, password = _dsn_and_password(url)
    environment = dict(os.environ)
    if password is not None:
        environment["PGPASSWORD"] = password
    result = subprocess.run([executable, *arguments, f"--dbname={dsn}"], env=environment,
                            capture_output=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        words = result.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise DumpFailed(f"{tool} a échoué (code {result.returncode}) : {words}")


def _dsn_and_password(url: str) -> tuple[str, str | None]:
    """A libpq URI without its password, and the password (taken as written, as peewee's
    URL parsing does)."""
    parts = urlsplit(url)
    scheme = "postgresql"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    netloc = host + (f":{parts.port}" if parts.port else "")
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    password = parts.password
    return urlunsplit((scheme, netloc, parts.path, parts.query, "")), password
