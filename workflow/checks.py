"""The generic machinery of guards: a ``Check`` is one condition, met or not, with its French
reason; a guard is a list of them, and its failed reasons are what the UI shows. A transition
runs its guard and returns the new ``(phase, substate)`` or raises ``Refused``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Check:
    """One condition of a guard: met or not, and why not, in French."""
    code: str           # stable identifier, e.g. "role", "state", "document:kbis"
    label: str          # the condition
    ok: bool
    reason: str | None  # why it is not met; None when ok

    @classmethod
    def of(cls, code: str, condition: str, problem: str | None) -> Check:
        """The condition, met exactly when there is no ``problem``."""
        return cls(code, condition, problem is None, problem)


def failed_reasons(checks: Iterable[Check]) -> list[str]:
    return [check.reason for check in checks if not check.ok]


class Refused(Exception):
    """An action was refused and nothing changed; ``reasons`` are the French sentences to show.
    The one refusal of the application: services raise it, each blueprint has one handler."""

    def __init__(self, reasons: Iterable[str] | str, code: str = "refused"):
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        self.code = code
        super().__init__(" ".join(self.reasons))

    @property
    def message(self) -> str:
        return " ".join(self.reasons)


State = tuple[str, str | None]  # (phase, substate)


def allowed(checks: list[Check], new_state: State) -> State:
    """``new_state`` when every check holds; else ``Refused`` with the failed reasons."""
    reasons = failed_reasons(checks)
    if reasons:
        raise Refused(reasons)
    return new_state
