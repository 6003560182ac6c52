"""Running a tool on an untrusted file with bounded time and memory.

The limits are set by util-linux's ``prlimit`` on itself before it executes the tool, so they
hold from the tool's first instruction, and no ``preexec_fn`` runs in our (threaded) server
process. On expiry of the wall-clock timeout the tool is killed.
"""
from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

PRLIMIT = shutil.which("prlimit") or "/usr/bin/prlimit"
NICE = shutil.which("nice") or "/usr/bin/nice"
MIB = 1024 * 1024
WORKER = Path(__file__).with_name("preview_worker.py")


class BoundedTimeout(Exception):
    """The tool ran out of time and was killed."""


def run_bounded(argv: list[str], *, timeout: float, memory_bytes: int,
                output_bytes: int = 512 * MIB, input: bytes | None = None,
                cwd: str | Path | None = None, niceness: int = 0) -> subprocess.CompletedProcess:
    """Run ``argv`` with at most ``memory_bytes`` of address space, ``timeout`` seconds of CPU
    and of wall-clock time, files of at most ``output_bytes``, and no core dump; ``niceness``
    above 0 lowers its priority (and its children's): background work that must leave the CPU
    to the requests."""
    limits = [f"--as={int(memory_bytes)}", f"--cpu={max(1, math.ceil(timeout))}",
              f"--fsize={int(output_bytes)}", "--core=0"]
    if niceness > 0:
        argv = [NICE, "-n", str(int(niceness)), *argv]
    try:
        return subprocess.run([PRLIMIT, *limits, "--", *argv], input=input, capture_output=True,
                              timeout=timeout, cwd=cwd, close_fds=True,
                              stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BoundedTimeout(argv[0]) from None


def python_worker(*arguments: str) -> list[str]:
    """The command line of the image worker (Pillow only, no app code), run by path."""
    return [sys.executable, "-I", str(WORKER), *arguments]
