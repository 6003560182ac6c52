"""Page previews rendered on the server: operators' browsers get images, never the PDF.

One page at a time, at a width taken from a fixed ladder (so zoom levels share renders),
rotated clockwise by quarter turns; the width is that of the image served, after rotation. Each render runs in a subprocess with time and memory limits
(adapters.sandbox): ``pdftoppm`` for a PDF page, the Pillow worker for an image (EXIF
orientation applied) and for turning a rendered page. Results are cached under
``<instance>/previews/<sha[:2]>/<sha>/`` keyed by content hash, page, width and rotation; a
failed render is remembered for a while, so a broken file costs one attempt, not one per view.
A render holds one of the server's render slots (adapters.render_slots): none free within the
wait, it raises RenderBusy without starting a process. A cache hit notes the access time, which
the cache pruning (adapters.preview_cache) goes by.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from adapters.document_store import JPEG, MIB, PDF, PNG
from adapters.render_slots import RenderSlots
from adapters.sandbox import BoundedTimeout, python_worker, run_bounded

WIDTHS = (160, 400, 600, 800, 1000, 1200, 1600, 2000, 2400)
THUMBNAIL_WIDTH = 160
DEFAULT_WIDTH = 1000
ROTATIONS = (0, 90, 180, 270)
FAILURE_MEMORY_SECONDS = 600  # a failed render is tried again after this
ACCESS_RESOLUTION_SECONDS = 3600  # a cache hit rewrites the access time at most this often
RENDERABLE = (PDF, JPEG, PNG)


def snap_width(width: int | None) -> int:
    """The smallest width of the ladder that is at least ``width`` (or the largest)."""
    if not width or width <= 0:
        return DEFAULT_WIDTH
    return next((w for w in WIDTHS if w >= width), WIDTHS[-1])


def normalize_rotation(rotation: int | None) -> int:
    return (rotation or 0) % 360 // 90 * 90


@dataclass(frozen=True)
class Preview:
    path: Path
    media_type: str
    etag: str


@dataclass(frozen=True)
class PreviewRenderer:
    cache_root: Path
    store_root: Path
    timeout: float = 20.0
    memory_bytes: int = 1024 * MIB
    max_pixels: int = 40_000_000
    slots: RenderSlots | None = None  # None: no cap (scripts, benchmarks)

    @classmethod
    def for_app(cls, app: Flask | None = None) -> "PreviewRenderer":
        config = (app or current_app).config
        instance = Path(config["INSTANCE_PATH"])
        return cls(instance / "previews", instance / "documents",
                   timeout=float(config.get("PREVIEW_TIMEOUT_SECONDS", 20)),
                   memory_bytes=int(config.get("PREVIEW_MEMORY_MB", 1024)) * MIB,
                   max_pixels=int(config.get("DOCUMENT_MAX_PIXELS", 40_000_000)),
                   slots=RenderSlots.for_app(app))

    # --- cache layout -----------------------------------------------------------

    def _folder(self, sha256: str) -> Path:
        return self.cache_root / sha256[:2] / sha256

    def _key(self, page: int, width: int, rotation: int) -> str:
        return f"p{page}-w{width}-r{rotation}"

    @staticmethod
    def _suffix(media_type: str) -> str:
        return ".jpg" if media_type == JPEG else ".png"  # text pages stay sharp in PNG

    @staticmethod
    def etag(sha256: str, page: int, width: int, rotation: int) -> str:
        return f"{sha256[:32]}-{page}-{width}-{rotation}"

    def cached(self, sha256: str, media_type: str, page: int, width: int,
               rotation: int) -> Preview | None:
        path = self._folder(sha256) / (self._key(page, width, rotation) + self._suffix(media_type))
        if path.is_file():
            _note_access(path)
            return Preview(path, "image/jpeg" if path.suffix == ".jpg" else "image/png",
                           self.etag(sha256, page, width, rotation))
        return None

    # --- rendering --------------------------------------------------------------

    def render(self, sha256: str, media_type: str, page: int, width: int,
               rotation: int = 0) -> Preview | None:
        """The preview of ``page`` (1-based), from the cache or rendered now; None when the
        file cannot be rendered (« aperçu indisponible »); RenderBusy when no render slot came
        free in time (nothing remembered: the next view tries again)."""
        if media_type not in RENDERABLE or page < 1 or (media_type != PDF and page != 1):
            return None
        width, rotation = snap_width(width), normalize_rotation(rotation)
        preview = self.cached(sha256, media_type, page, width, rotation)
        if preview is not None:
            return preview
        folder = self._folder(sha256)
        folder.mkdir(parents=True, exist_ok=True)
        key = self._key(page, width, rotation)
        failed = folder / f"{key}.failed"
        with _locked(folder / f"{key}.lock"):
            # Someone may have rendered it while we waited for the lock.
            preview = self.cached(sha256, media_type, page, width, rotation)
            if preview is not None:
                return preview
            if _recent(failed):
                return None
            target = folder / (key + self._suffix(media_type))
            with self.slots.held() if self.slots else contextlib.nullcontext():
                rendered = self._render_to(sha256, media_type, page, width, rotation, target)
            if rendered:
                failed.unlink(missing_ok=True)
                return self.cached(sha256, media_type, page, width, rotation)
            failed.touch()
            return None

    def _render_to(self, sha256: str, media_type: str, page: int, width: int, rotation: int,
                   target: Path) -> bool:
        source = self.store_root / sha256[:2] / sha256[2:4] / sha256
        if not source.is_file():
            return False
        if media_type != PDF:
            return self._run_into(target, python_worker(
                "image", str(source), "{out}", str(width), str(rotation), str(self.max_pixels)))
        if not rotation:
            return self._run_pdftoppm(source, page, width, False, target)
        # Turned a quarter, the page's height becomes the served width.
        with _temporary(target.parent, ".png") as upright:
            return (self._run_pdftoppm(source, page, width, rotation in (90, 270), upright)
                    and self._run_into(target, python_worker("rotate", str(upright), "{out}",
                                                             str(rotation))))

    def _run_pdftoppm(self, source: Path, page: int, size: int, by_height: bool,
                      target: Path) -> bool:
        scale = (["-scale-to-x", "-1", "-scale-to-y", str(size)] if by_height
                 else ["-scale-to-x", str(size), "-scale-to-y", "-1"])
        with _temporary(target.parent, "") as base:
            argv = ["pdftoppm", "-png", "-f", str(page), "-l", str(page), "-singlefile",
                    *scale, str(source), str(base)]
            if not self._run(argv):
                return False
            produced = base.with_name(base.name + ".png")
            try:
                if produced.stat().st_size == 0:
                    return False
                os.replace(produced, target)
            finally:
                produced.unlink(missing_ok=True)
        return True

    def _run_into(self, target: Path, argv: list[str]) -> bool:
        with _temporary(target.parent, target.suffix) as temporary:
            argv = [str(temporary) if part == "{out}" else part for part in argv]
            if not self._run(argv) or not temporary.is_file() or temporary.stat().st_size == 0:
                return False
            os.replace(temporary, target)
        return True

    def _run(self, argv: list[str]) -> bool:
        try:
            result = run_bounded(argv, timeout=self.timeout, memory_bytes=self.memory_bytes,
                                 output_bytes=256 * MIB)
        except BoundedTimeout:
            return False
        return result.returncode == 0


@contextlib.contextmanager
def _locked(path: Path):
    """One render of a given preview at a time, across threads and processes."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _temporary(folder: Path, suffix: str):
    """A fresh path in ``folder`` (same file system, for an atomic rename), removed after."""
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _note_access(path: Path) -> None:
    """Mark a cache hit in the file's access time (mounts with noatime or relatime would not,
    or not reliably): the pruning removes the previews viewed longest ago first."""
    try:
        stat = path.stat()
        now = time.time()
        if now - stat.st_atime > ACCESS_RESOLUTION_SECONDS:
            os.utime(path, (now, stat.st_mtime))
    except OSError:
        pass  # pruned meanwhile, or a read-only cache: the view goes on


def _recent(marker: Path) -> bool:
    try:
        return time.time() - marker.stat().st_mtime < FAILURE_MEMORY_SECONDS
    except FileNotFoundError:
        return False
