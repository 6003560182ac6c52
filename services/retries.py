"""What the two senders that retry share (the outbox's e-mails, the webhooks' deliveries): the
report of a run, and the delay before the next try, doubled after each failed one."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar


@dataclass
class Report:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    sent_word: ClassVar[str] = "envoyé(s)"  # agrees with what is sent (« envoyée(s) » e-mails)

    @property
    def attempted(self) -> int:
        return self.sent + self.retried + self.failed

    def __str__(self) -> str:
        return (f"{self.sent} {self.sent_word}, {self.retried} à réessayer, "
                f"{self.failed} en échec définitif.")


def backoff(base_seconds: float, tries: int, cap: dt.timedelta) -> dt.timedelta:
    """``base_seconds`` after the first failed try, doubled after each, at most ``cap``."""
    return min(dt.timedelta(seconds=base_seconds * 2 ** max(0, tries - 1)), cap)
