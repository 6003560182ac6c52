"""What a reader sees, for assertions: a page's visible text (tags dropped, entities decoded,
blanks collapsed), its source with entities decoded, and the plain-text part of an e-mail.
A page is HTML as a string, a Flask test response or a requests response."""
from __future__ import annotations

import html
import re


def _html(page) -> str:
    if isinstance(page, str):
        return page
    return page.get_data(as_text=True) if hasattr(page, "get_data") else page.text


def source(page) -> str:
    """The HTML of ``page`` with its entities decoded (tags kept)."""
    return html.unescape(_html(page))


def text(page) -> str:
    """What a reader sees of ``page``."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", _html(page))).split())


def mail_text(message) -> str:
    """The text/plain body of an email.message.EmailMessage."""
    return message.get_body(preferencelist=("plain",)).get_content()
