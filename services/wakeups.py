"""Waking a background job right after the commit that gave it work. app.py registers each
job's hook (the scheduler running it now); services only call ``wake``. With no hook (scripts,
the scheduler's own process, most tests) nothing happens: the job's next tick does the work."""
from __future__ import annotations

from typing import Callable

from flask import Flask

HOOKS_KEY = "radesk_wakeups"
Hook = Callable[[Flask], None]


def register(app: Flask, job: str, hook: Hook) -> None:
    app.extensions.setdefault(HOOKS_KEY, {})[job] = hook


def wake(app: Flask, job: str) -> None:
    hook = app.extensions.get(HOOKS_KEY, {}).get(job)
    if hook is not None:
        hook(app)
