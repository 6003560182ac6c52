"""gunicorn's access lines without the keys some paths are: a follow-up, signing, activation,
renewal or revocation link, or an order being placed, is opened by whoever holds its URL, so
the journal (and whoever reads or ships it) must not hold one. deploy/gunicorn.conf.py and
scripts/demo.sh name this logger class.
"""
from __future__ import annotations

import re

from gunicorn.glogging import Logger

MASK = "[masqué]"
# The path segment that is the key: /suivi/<token>…, /commander/<portal>/<token>/…
_LINK_KEY = re.compile(
    r"(/(?:suivi|signature|activation|renouveler|revoquer)/|/commander/[^/?\s\"]+/)[^/?\s\"]+")


def redact(text: str) -> str:
    return _LINK_KEY.sub(lambda match: match.group(1) + MASK, text)


class RedactingLogger(Logger):
    """The request line, path, query and referer of each access line with the keys masked."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {name: redact(value) if isinstance(value, str) else value
                for name, value in atoms.items()}
