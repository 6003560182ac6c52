"""Text messages (the activation code to a mobile Contact OTP), behind a pluggable gateway.

A gateway is any object with ``send(phone: str, text: str) -> None`` that raises ``SmsError``
with a French reason when the message cannot go. ``RADESK_SMS_GATEWAY`` names a factory
("module:callable", called with the app); without it, messages are written as text files
under ``<instance>/sms/`` and logged (development and demo), as e-mails go to ``mail/``.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flask import Flask


@dataclass(frozen=True)
class SmsText:
    """A text message an outbox composer wrote (the outbox hands it to the gateway)."""
    phone: str
    text: str


class SmsError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SmsGateway(Protocol):
    def send(self, phone: str, text: str) -> None:
        """Send ``text`` to ``phone`` (E.164), or raise SmsError."""


class FolderSmsGateway:
    """Development gateway: one ``.txt`` file per message, written atomically, and a log line."""

    def __init__(self, folder: Path, logger=None):
        self.folder = Path(folder)
        self.logger = logger

    def send(self, phone: str, text: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        digest = hashlib.sha256(f"{phone}\0{text}\0{time.time_ns()}".encode()).hexdigest()[:12]
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".txt", dir=self.folder)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(f"À : {phone}\n\n{text}\n")
            os.replace(temporary, self.folder / f"{stamp}-{digest}.txt")
        except OSError as error:
            raise SmsError(f"SMS non enregistré dans {self.folder} : {error.strerror or error}.") from error
        if self.logger is not None:
            self.logger.info("SMS (passerelle de développement) pour %s écrit dans %s", phone, self.folder)


def sms_folder(app: Flask) -> Path:
    return Path(app.config["INSTANCE_PATH"]) / "sms"


def gateway(app: Flask) -> SmsGateway:
    configured = app.config.get("RADESK_SMS_GATEWAY")
    if not configured:
        return FolderSmsGateway(sms_folder(app), app.logger)
    module_name, _, attribute = configured.partition(":")
    return getattr(importlib.import_module(module_name), attribute)(app)
