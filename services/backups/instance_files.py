"""Which files of the instance folder a backup holds, and copying them with their hash.

Everything is taken but what the application can do without: caches and outputs it writes
again (previews, the demo's mail and SMS folders), lock and slot files, the exports of
« Actions sur la sélection » (copies of documents, kept a few days), temporary files, and the
database itself when it lives there (dumped apart, consistently). Whatever else appears in the
folder — documents, the CA, the seals, the bridge's key, the secret key, the audit trail's
keys and checkpoints, keys a later version adds — is in the backup without anyone listing it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

# Top-level folders left out, and why: each is rebuilt or of no use after a restore.
EXCLUDED_FOLDERS = {
    "previews": "cache des aperçus, refait à la demande",
    "mail": "e-mails écrits en fichiers (démo)",
    "sms": "SMS écrits en fichiers (démo)",
    "locks": "verrous",
    "render-slots": "verrous des rendus",
    "bulk": "exports des actions sur la sélection (copies, gardées quelques jours)",
}
TEMPORARY_PREFIXES = (".tmp-", ".secret_key.")
# Written by every start of the application when missing (config.instance_secret, the audit
# chain's key): a freshly started, empty instance holds them, and a restore replaces them.
START_FILES = {"secret_key", "audit/chain.key"}
CHUNK = 1024 * 1024


def listed(instance: Path, skip: set[Path] = frozenset()) -> list[str]:
    """The instance's files a backup holds, as sorted POSIX paths relative to ``instance``."""
    skip = {path.resolve() for path in skip}
    found = []
    for folder, subfolders, names in os.walk(instance):
        here = Path(folder)
        if here == instance:
            subfolders[:] = [name for name in subfolders if name not in EXCLUDED_FOLDERS]
        for name in names:
            path = here / name
            if (name.startswith(TEMPORARY_PREFIXES) or not path.is_file()
                    or path.is_symlink() or path.resolve() in skip):
                continue
            found.append(path.relative_to(instance).as_posix())
    return sorted(found)


def copy_hashing(source: Path, target: Path) -> str:
    """Copy ``source`` to a new file ``target`` (its permissions and times kept, folders made
    private); returns the SHA-256 of the bytes written."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(source, "rb") as reader:
        info = os.fstat(reader.fileno())
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as writer:
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                writer.write(chunk)
            writer.flush()
            os.fsync(writer.fileno())
    os.chmod(target, info.st_mode & 0o777)
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    return digest.hexdigest()


def database_files(database: Path) -> set[Path]:
    """An SQLite database and its companions (WAL, shared memory, rollback journal)."""
    return {database, *(database.with_name(database.name + suffix)
                        for suffix in ("-wal", "-shm", "-journal"))}
