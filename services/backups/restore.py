"""``flask backup restore DIR``: a verified backup put back onto an empty instance.

Refused, with nothing changed, when the backup does not verify, was made from the other
database engine, or when the target already holds data: a row in any table (a freshly started
instance has only its schema's version, its audit head at zero and its order counter), or a
file in its instance folder but those every start writes (instance_files.START_FILES). The
instance's files are put back first, then the database in one step (sqlite3 backup API, or
``pg_restore`` in one transaction); if the database fails, the files put back are taken away
again and the start files get their former content back.

No audit event is added: the restored trail is exactly the backup's, as ``flask audit verify``
checks, and this process still holds the keys of the instance it replaced.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from peewee import Database, PostgresqlDatabase

from adapters import database_dump
from adapters.database_dump import SQLITE, DumpFailed
from database import close_pooled_connections, migrate_database
from models import AuditHead, OrderNumber, SchemaVersion, db
from services import audit_anchor
from services.backups import BackupRefused, instance_files, manifest
from services.backups.create import INSTANCE_FOLDER

NOTHING_CHANGED = "Rien n'a été modifié."
ENGINES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@dataclass(frozen=True)
class Restored:
    files: int
    created_at: str
    schema_version: int | None


def restore_backup(app: Flask, folder: Path) -> Restored:
    folder = folder.resolve()
    _, problems = manifest.verify(folder)
    if problems:
        more = f" (et {len(problems) - 3} autre(s) problème(s))" if len(problems) > 3 else ""
        raise BackupRefused("Sauvegarde invalide : " + " ".join(problems[:3]) + more + " "
                            + NOTHING_CHANGED)
    metadata = manifest.read_metadata(folder)
    url = app.config["DATABASE_URL"]
    engine, made_with = database_dump.engine_of(url), metadata["database"]["engine"]
    if made_with != engine:
        raise BackupRefused(f"Cette sauvegarde est celle d'une base {ENGINES[made_with]} ; la "
                            f"base cible est {ENGINES[engine]}. {NOTHING_CHANGED}")
    if not manifest.is_safe(metadata["database"]["file"]):
        raise BackupRefused(f"Sauvegarde invalide : nom de fichier de base refusé. "
                            f"{NOTHING_CHANGED}")
    instance = Path(app.config["INSTANCE_PATH"]).resolve()
    _refuse_unless_empty(url, instance)
    saved = folder / INSTANCE_FOLDER
    relatives = sorted(path.relative_to(saved).as_posix()
                       for path in saved.rglob("*") if path.is_file()) if saved.is_dir() else []
    undo = _put_files(saved, instance, relatives)
    try:
        _restore_database(url, folder / metadata["database"]["file"])
    except BaseException as failure:
        undo()
        if isinstance(failure, DumpFailed):
            raise BackupRefused(f"Restauration impossible : {failure.message} Les fichiers "
                                f"restaurés ont été retirés.") from None
        raise
    audit_anchor.init_app(app)  # this process now appends to the restored chain, with its key
    return Restored(len(relatives), metadata.get("created_at", ""),
                    metadata["database"].get("schema_version"))


def _refuse_unless_empty(url: str, instance: Path) -> None:
    with db.connection_context():
        table = first_table_with_rows(db.obj)
    if table is not None:
        raise BackupRefused(f"La base de données cible contient déjà des données (table "
                            f"« {table} ») : une sauvegarde ne se restaure que sur une "
                            f"instance vide. {NOTHING_CHANGED}")
    skip = instance_files.database_files(database_dump.sqlite_path(url)) \
        if database_dump.engine_of(url) == SQLITE else set()
    present = [relative for relative in instance_files.listed(instance, skip)
               if relative not in instance_files.START_FILES]
    if present:
        others = f" et {len(present) - 1} autre(s)" if len(present) > 1 else ""
        raise BackupRefused(f"Le dossier d'instance {instance} contient déjà des fichiers "
                            f"({present[0]}{others}) : une sauvegarde ne se restaure que sur "
                            f"une instance vide. {NOTHING_CHANGED}")


def first_table_with_rows(database: Database) -> str | None:
    """The first table holding data, beyond the rows every new schema starts with."""
    start_rows = {SchemaVersion._meta.table_name, OrderNumber._meta.table_name,
                  AuditHead._meta.table_name}
    for table in sorted(database.get_tables()):
        if table.startswith("sqlite_") or table in start_rows:
            continue
        if database.execute_sql(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone():
            return table
    head = AuditHead.get_or_none(AuditHead.id == 1)
    if head is not None and head.seq:
        return AuditHead._meta.table_name
    return None


def _put_files(saved: Path, instance: Path, relatives: list[str]):
    """Copy the backup's files into the instance (each written aside, then renamed); returns
    what takes them away again."""
    written: list[Path] = []
    former: dict[Path, tuple[bytes, int]] = {}

    def undo() -> None:
        for path in written:
            if path in former:
                content, mode = former[path]
                path.write_bytes(content)
                os.chmod(path, mode)
            else:
                path.unlink(missing_ok=True)

    try:
        for relative in relatives:
            target = instance / relative
            if target.is_file():  # a start file (the only ones allowed to be there)
                former[target] = (target.read_bytes(), target.stat().st_mode & 0o777)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
            os.close(fd)
            os.unlink(temporary)
            instance_files.copy_hashing(saved / relative, Path(temporary))
            os.replace(temporary, target)
            written.append(target)
    except BaseException:
        undo()
        raise
    return undo


def _restore_database(url: str, dump: Path) -> None:
    if not db.is_closed():
        db.close()
    close_pooled_connections(db.obj)  # SQLite: the backup API needs the file to itself
    if database_dump.engine_of(url) == SQLITE:
        database_dump.restore(url, dump)
        return
    with db.connection_context(), db.atomic():
        _drop_empty_schema(db.obj)
    close_pooled_connections(db.obj)
    try:
        database_dump.restore(url, dump)
    except BaseException:
        with db.connection_context():
            migrate_database(db.obj)  # the empty schema back, as it was
        raise


def _drop_empty_schema(database: PostgresqlDatabase) -> None:
    """The tables the start created (found empty): the dump brings its own, at its version."""
    tables = database.get_tables()
    if tables:
        database.execute_sql("DROP TABLE IF EXISTS "
                             + ", ".join(f'"{table}"' for table in tables) + " CASCADE")

