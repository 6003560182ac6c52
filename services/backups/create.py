"""``flask backup create DIR``: the database first, then the instance folder's files.

In that order because an import writes its document before the row that names it: every
document the dumped database names is already on disk when the files are copied. Documents
never change once written (their name is their hash), so a file copied while the application
runs is whole.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from adapters import database_dump
from adapters.database_dump import DUMP_NAMES, SQLITE, DumpFailed
from database import current_version
from models import db
from services.backups import BackupRefused, instance_files, manifest

INSTANCE_FOLDER = "instance"  # where the instance folder's files go in the backup


@dataclass(frozen=True)
class Created:
    folder: Path
    files: int
    size: int  # bytes


def create_backup(app: Flask, folder: Path) -> Created:
    instance = Path(app.config["INSTANCE_PATH"]).resolve()
    folder = folder.resolve()
    if folder == instance or instance in folder.parents:
        raise BackupRefused("Le dossier de sauvegarde ne peut pas être dans le dossier "
                            f"d'instance ({instance}).")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupRefused(f"Le dossier {folder} existe déjà et n'est pas vide : chaque "
                            "sauvegarde va dans un nouveau dossier.")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        return _write(app, instance, folder)
    except DumpFailed as failure:
        shutil.rmtree(folder, ignore_errors=True)
        raise BackupRefused(f"Sauvegarde impossible : {failure.message}") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # no half backup left behind
        raise


def _write(app: Flask, instance: Path, folder: Path) -> Created:
    url = app.config["DATABASE_URL"]
    engine = database_dump.engine_of(url)
    with db.connection_context():
        schema_version = current_version(db.obj)
    dump_name = DUMP_NAMES[engine]
    database_dump.dump(url, folder / dump_name)
    os.chmod(folder / dump_name, 0o600)
    hashes = {dump_name: manifest.sha256_of(folder / dump_name)}
    skip = instance_files.database_files(database_dump.sqlite_path(url)) \
        if engine == SQLITE else set()
    for relative in instance_files.listed(instance, skip):
        target = f"{INSTANCE_FOLDER}/{relative}"
        try:
            hashes[target] = instance_files.copy_hashing(instance / relative, folder / target)
        except FileNotFoundError:
            continue  # removed since the listing (a cleanup job): not part of this backup
    manifest.write(folder, hashes, {
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "database": {"engine": engine, "file": dump_name, "schema_version": schema_version},
        "instance_folder": INSTANCE_FOLDER,
        "excluded_folders": sorted(instance_files.EXCLUDED_FOLDERS),
    })
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    return Created(folder, len(hashes) + 1, size)
