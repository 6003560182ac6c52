"""Pruning the preview cache (``<instance>/previews/``), an hourly job.

Previews are only a cache: any of them is rendered again at its next view. So the job removes
those not viewed for ``RADESK_PREVIEW_CACHE_MAX_DAYS``, then, while the cache is over
``RADESK_PREVIEW_CACHE_MAX_MB``, the least recently viewed first (the renderer marks each view
in the file's access time). Failure markers past their ten minutes, per-key lock files with
nothing left to guard, leftovers of killed renders and empty folders go too.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from adapters.previews import FAILURE_MEMORY_SECONDS

log = logging.getLogger("radesk.previews")

MIB = 1024 * 1024
DAY = 24 * 3600
IMAGE_SUFFIXES = (".png", ".jpg")
LEFTOVER_SECONDS = 3600  # a temporary file of a render older than this was left by a crash


@dataclass(frozen=True)
class PruneResult:
    removed: int  # previews removed
    freed_bytes: int
    kept: int
    kept_bytes: int


@dataclass(frozen=True)
class _Image:
    path: Path
    size: int
    last_viewed: float


def prune(root: Path, *, max_bytes: int, max_age_seconds: float,
          now: float | None = None) -> PruneResult:
    """Bring the cache under ``root`` within its age and size limits."""
    now = time.time() if now is None else now
    images: list[_Image] = []
    removed = freed = 0
    if not root.is_dir():
        return PruneResult(0, 0, 0, 0)
    for folder in _preview_folders(root):
        for path in folder.iterdir():
            try:
                info = path.stat()
            except FileNotFoundError:
                continue  # removed meanwhile
            if path.name.startswith(".tmp-"):
                if now - info.st_mtime > LEFTOVER_SECONDS:
                    path.unlink(missing_ok=True)
            elif path.suffix == ".failed":
                if now - info.st_mtime > FAILURE_MEMORY_SECONDS:
                    path.unlink(missing_ok=True)
            elif path.suffix in IMAGE_SUFFIXES:
                images.append(_Image(path, info.st_size, max(info.st_atime, info.st_mtime)))
    images.sort(key=lambda image: image.last_viewed)  # least recently viewed first
    total = sum(image.size for image in images)
    kept = []
    for image in images:
        if now - image.last_viewed > max_age_seconds or total > max_bytes:
            image.path.unlink(missing_ok=True)
            removed, freed, total = removed + 1, freed + image.size, total - image.size
        else:
            kept.append(image)
    for folder in _preview_folders(root):
        _remove_idle_locks(folder, now)
        _remove_if_empty(folder)
        _remove_if_empty(folder.parent)
    return PruneResult(removed, freed, len(kept), total)


def _preview_folders(root: Path):
    """``<root>/<sha[:2]>/<sha>/``: one folder per document content."""
    for prefix in sorted(root.iterdir()):
        if prefix.is_dir() and len(prefix.name) == 2:
            for folder in sorted(prefix.iterdir()):
                if folder.is_dir():
                    yield folder


def _remove_idle_locks(folder: Path, now: float) -> None:
    """A key's lock file goes once its preview and failure marker are gone and it has not been
    used for a day. Should a render open it at that very moment, the worst case is the same
    page rendered twice, each written atomically."""
    names = {path.name for path in folder.iterdir()}
    for name in names:
        if not name.endswith(".lock"):
            continue
        key = name[:-len(".lock")]
        if any(f"{key}{suffix}" in names for suffix in (*IMAGE_SUFFIXES, ".failed")):
            continue
        path = folder / name
        try:
            if now - path.stat().st_mtime > DAY:
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            pass


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (or already gone): kept


def prune_job(app: Flask) -> PruneResult:
    """The scheduled job: the app's cache within RADESK_PREVIEW_CACHE_MAX_MB and _MAX_DAYS."""
    result = prune(Path(app.config["INSTANCE_PATH"]) / "previews",
                   max_bytes=int(float(app.config["PREVIEW_CACHE_MAX_MB"]) * MIB),
                   max_age_seconds=float(app.config["PREVIEW_CACHE_MAX_DAYS"]) * DAY)
    if result.removed:
        log.info("Cache des aperçus : %d aperçu(s) retiré(s) (%d Mo libérés), %d gardé(s) "
                 "(%d Mo).", result.removed, result.freed_bytes // MIB, result.kept,
                 result.kept_bytes // MIB)
    return result
