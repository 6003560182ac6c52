"""Files written whole or not at all, and the private keys and secrets kept in such files.

The data goes to a temporary file in the target folder, synced, then takes its final name in
one step (``link`` to create a file that must not be overwritten, ``rename`` to replace one),
and the folder is synced so that the name survives a power cut. A reader sees the old file or
the new one, never half of one. Temporary names start with ``TEMP_PREFIX`` so that a sweep can
find what a crash left behind.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

TEMP_PREFIX = ".tmp-"


def publish_new(path: Path, data: bytes, mode: int) -> bytes:
    """Create ``path`` holding ``data`` unless it exists; return what the file then holds.

    ``link`` fails when the name exists, like ``O_EXCL``: of two processes creating the same
    file, one wins and the other adopts the winner's file."""
    temporary = _write_temporary(path, data, mode)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return path.read_bytes()
    finally:
        _discard(temporary)
    fsync_folder(path.parent)
    return data


def replace_file(path: Path, data: bytes, mode: int) -> None:
    """Atomically create or replace ``path`` with ``data``."""
    temporary = _write_temporary(path, data, mode)
    try:
        os.replace(temporary, path)
    except BaseException:
        _discard(temporary)
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make the folder's entries (a new or removed name) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_or_create_key(path: Path,
                       curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    """The EC key kept in ``path`` (PEM, mode 0600; P-384 unless ``curve`` says otherwise),
    generated on first use."""
    return load_or_create_private_key(path, lambda: ec.generate_private_key(curve or ec.SECP384R1()))


def load_or_create_private_key(path: Path, generate: Callable[[], PrivateKeyTypes]):
    """The private key kept in ``path`` (PKCS#8 PEM, mode 0600), made by ``generate`` on first
    use; of two processes creating it at once, both end up with the winner's key."""
    if not path.exists():
        key = generate()
        publish_new(path, key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()), 0o600)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    """The random secret kept in ``path`` (hexadecimal, mode 0600), drawn on first use."""
    if not path.exists():
        publish_new(path, secrets.token_hex(size).encode("ascii") + b"\n", 0o600)
    return bytes.fromhex(path.read_text().strip())


def _write_temporary(path: Path, data: bytes, mode: int) -> str:
    fd, temporary = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", suffix=".tmp",
                                     dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # exactly this mode, whatever the umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _discard(temporary)
        raise
    return temporary


def _discard(temporary: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
