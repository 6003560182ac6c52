"""A portal's ordering code: the last part of /commander/<code>, made from its name."""
from __future__ import annotations

import re

from models.base import search_key

CODE_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
CODE_MAX = 40


def code_from_name(name: str) -> str:
    """« BPOI-Rhône » → « bpoi-rhone »: lower case, no accent, words joined by hyphens."""
    words = re.findall(r"[a-z0-9]+", search_key(name))
    return "-".join(words)[:CODE_MAX].strip("-") or "portail"


def unique_code(name: str, taken: set[str]) -> str:
    """The name's code, numbered (« -2 », « -3 »…) when another portal has it."""
    base = code_from_name(name)
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base[:CODE_MAX - len(str(n)) - 1].rstrip('-')}-{n}"
    return code
