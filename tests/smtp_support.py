"""E-mails in tests: a real SMTP server (aiosmtpd on a free loopback port) whose received
messages are parsed back, the helpers that point an app at it, and the .eml files the app
writes when no SMTP server is configured."""
from __future__ import annotations

import contextlib
import email
import email.policy
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller

from tests.e2e_support import free_port
from tests.text import mail_text


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        return mail_text(self.message)

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()


@dataclass
class Inbox:
    """What the SMTP server accepted. ``refuse`` maps a recipient to an SMTP reply to refuse it."""
    messages: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} message(s) reçu(s) sur {count} attendu(s)")


class SmtpServer:
    """aiosmtpd in a thread, on ``port`` (a free one by default); start/stop at will."""

    def __init__(self, port: int | None = None, inbox: Inbox | None = None):
        self.port = port or free_port()
        self.inbox = inbox or Inbox()
        self.controller: Controller | None = None

    def start(self) -> "SmtpServer":
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> "SmtpServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def use_smtp(app, port: int, **settings) -> None:
    """Point ``app`` (and its Flask-Mail state) at an SMTP server on 127.0.0.1:``port``."""
    from adapters import mail
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=5, **settings)
    mail.init_app(app)


@contextlib.contextmanager
def running_smtp(app, **settings):
    with SmtpServer() as server:
        use_smtp(app, server.port, **settings)
        yield server


def eml_messages(instance_path: Path) -> list[EmailMessage]:
    """The .eml files the app wrote in its instance folder (no MAIL_SERVER), parsed, oldest
    first."""
    files = sorted((Path(instance_path) / "mail").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in files]
