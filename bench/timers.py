"""Timing a function inside a larger measure: ``module.name`` wrapped for a with-block."""
from __future__ import annotations

import time


class FunctionTimer:
    """While the block runs, each call of ``module.name`` is timed: ``seconds`` in all,
    ``last`` for the latest call. The module's own name is wrapped, so its callers see it."""

    def __init__(self, module, name: str):
        self.module, self.name = module, name
        self.seconds = self.last = 0.0
        self._original = getattr(module, name)

    def __enter__(self):
        def timed(*arguments, **keywords):
            started = time.perf_counter()
            try:
                return self._original(*arguments, **keywords)
            finally:
                self.last = time.perf_counter() - started
                self.seconds += self.last
        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc):
        setattr(self.module, self.name, self._original)
