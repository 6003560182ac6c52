"""How many renders and document checks may run at once on this server, across its processes.

A render slot is one of N files under ``<instance>/render-slots/``; holding it is holding an
exclusive ``flock`` on it. The kernel drops the lock when its holder exits, even killed, so a
crashed worker never keeps a slot (a POSIX named semaphore would stay taken). A request that
finds no free slot within the wait gives up without starting a process: a deflate bomb sent
many times over occupies N cores at most, and the other pages keep answering.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

BUSY_MESSAGE = "Aperçu indisponible : le serveur est très chargé, réessayez dans un instant."
POLL_SECONDS = (0.02, 0.08)  # between two looks at the slots, jittered so waiters do not march


class RenderBusy(Exception):
    """No render slot came free within the wait."""


def default_slots() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class RenderSlots:
    folder: Path
    count: int
    wait_seconds: float

    @classmethod
    def for_app(cls, app: Flask | None = None) -> "RenderSlots":
        config = (app or current_app).config
        return cls(Path(config["INSTANCE_PATH"]) / "render-slots",
                   max(1, int(config.get("RENDER_SLOTS") or default_slots())),
                   float(config.get("RENDER_WAIT_SECONDS", 10)))

    @classmethod
    def for_background(cls, app: Flask | None = None) -> "RenderSlots":
        """The slots background work may take: all but the last, which stays for the pages'
        previews (with a single slot, that one)."""
        slots = cls.for_app(app)
        return cls(slots.folder, max(1, slots.count - 1), slots.wait_seconds)

    @contextlib.contextmanager
    def held(self):
        """Hold one slot for the block; RenderBusy when none came free within the wait."""
        fd = self._acquire()
        try:
            yield
        finally:
            os.close(fd)  # closing the file releases its lock

    def _acquire(self) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait_seconds
        # Each process starts at its own slot, so waiters do not all fight over slot 0.
        start = random.randrange(self.count)
        while True:
            for offset in range(self.count):
                fd = self._try(self.folder / f"slot-{(start + offset) % self.count}")
                if fd is not None:
                    return fd
            if time.monotonic() >= deadline:
                raise RenderBusy(self.count)
            time.sleep(min(random.uniform(*POLL_SECONDS), max(0.0, deadline - time.monotonic())))

    @staticmethod
    def _try(path: Path) -> int | None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise
        return fd
