"""E-mails: composed in French (HTML with a plain-text part), sent over SMTP with Flask-Mail,
or written as ``.eml`` files under ``<instance>/mail/`` when no ``MAIL_SERVER`` is configured
(the demo default).

Sending is the outbox's business (services.messaging.outbox): this module only turns a notification into
a ``flask_mail.Message`` and hands messages to a transport, which reports each failure as a
``DeliveryError`` saying, in French, why, and whether trying again later can help.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import smtplib
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import flask_mail
from flask import Flask
from markupsafe import Markup, escape

from adapters.atomic_files import replace_file
from formatting import paris_date

mail = flask_mail.Mail()

LINK_VARIABLE = "{lien}"


def init_app(app: Flask) -> None:
    mail.init_app(app)


# --- Composing -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Letter:
    """What one notification e-mail says."""
    message_id: str
    queued_at: dt.datetime  # naive UTC; the Date header (RFC 5322: when it was ready to go)
    recipient: str
    subject: str
    body: str               # the operator's text; ``{lien}`` stands for the follow-up link
    order_number: int
    ae_name: str
    link: str
    link_expires_on: dt.date
    signature: tuple[str, ...] = ()  # the AE's name, address and contacts, a line each


def _body_html(body: str, link: str) -> Markup:
    """Paragraphs from blank lines, line breaks kept, the link made clickable; all else escaped."""
    anchor = Markup('<a href="{0}">{0}</a>').format(link)
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", body.strip()):
        lines = [escape(line).replace(escape(LINK_VARIABLE), anchor)
                 for line in paragraph.split("\n")]
        paragraphs.append(Markup("<p>{}</p>").format(Markup("<br>\n").join(lines)))
    return Markup("\n").join(paragraphs)


def _context(letter: Letter) -> dict:
    return dict(letter=letter, expires=paris_date(letter.link_expires_on),
                text_body=letter.body.replace(LINK_VARIABLE, letter.link),
                html_body=_body_html(letter.body, letter.link))


def text_part(app: Flask, letter: Letter) -> str:
    """The plain-text part: what the requester reads (also the operator's preview)."""
    # Rendered straight from the environment: a background job has no request, and the app's
    # context processors (the logged-in operator) need one.
    return app.jinja_env.get_template("mail/notification.txt").render(**_context(letter))


def compose(app: Flask, letter: Letter) -> flask_mail.Message:
    """The e-mail: French, HTML with a plain-text part, with the order number and the link."""
    text = text_part(app, letter)
    html = app.jinja_env.get_template("mail/notification.html").render(**_context(letter))
    message = flask_mail.Message(
        subject=letter.subject, recipients=[letter.recipient], body=text, html=html,
        sender=app.config["MAIL_DEFAULT_SENDER"],
        extra_headers={"Content-Language": "fr", "Auto-Submitted": "auto-generated",
                       "X-RADesk-Commande": str(letter.order_number)})
    message.msgId = letter.message_id
    message.date = letter.queued_at.replace(tzinfo=dt.timezone.utc).timestamp()
    return message


def _plain_html(text: str) -> str:
    def line(value: str) -> Markup:
        if value.startswith(("http://", "https://")):
            return Markup('<a href="{0}">{0}</a>').format(value)
        return escape(value)
    return str(Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>\n").join(line(part) for part in paragraph.split("\n")))
        for paragraph in text.split("\n\n")))


def plain_message(app: Flask, notification, subject: str, text: str) -> flask_mail.Message:
    """An e-mail written whole when it leaves (a code, a signer's link): the text as given,
    its HTML part made from it, a line starting with a URL made a link."""
    message = flask_mail.Message(
        subject=subject, recipients=[notification.recipient], body=text, html=_plain_html(text),
        sender=app.config["MAIL_DEFAULT_SENDER"],
        extra_headers={"Content-Language": "fr", "Auto-Submitted": "auto-generated",
                       "X-RADesk-Commande": str(notification.order.number),
                       "X-RADesk-Type": notification.type})
    message.msgId = notification.message_id
    message.date = notification.created_at.replace(tzinfo=dt.timezone.utc).timestamp()
    return message


# --- Delivering ----------------------------------------------------------------------------

class DeliveryError(Exception):
    """A message not delivered. ``permanent``: trying again cannot help (address refused).
    ``server_down``: the server cannot be reached at all, so the next messages need not try."""

    def __init__(self, reason: str, *, permanent: bool = False, server_down: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.server_down = server_down


class _TimedConnection(flask_mail.Connection):
    """Flask-Mail's connection, with a timeout: a server that hangs must not hang the job."""

    def __init__(self, state, timeout: float):
        super().__init__(state)
        self.timeout = timeout

    def configure_host(self):
        state = self.mail
        smtp_class = smtplib.SMTP_SSL if state.use_ssl else smtplib.SMTP
        host = smtp_class(state.server, state.port, timeout=self.timeout)
        host.set_debuglevel(int(state.debug))
        if state.use_tls:
            host.starttls()
        if state.username and state.password:
            host.login(state.username, state.password)
        return host


def _smtp_reply(error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{error.smtp_code} {' '.join(str(text).split())}"[:300]


def describe(error: BaseException, server: str, port: int) -> DeliveryError:
    """The French reason of an SMTP failure, and whether it is worth trying again."""
    where = f"{server}:{port}"
    if isinstance(error, DeliveryError):
        return error
    if isinstance(error, flask_mail.BadHeaderError):
        return DeliveryError("En-tête refusé (retour à la ligne dans l'objet ou l'adresse).",
                             permanent=True)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = list(error.recipients.values())
        codes = [code for code, _ in replies]
        reply = " ".join(f"{code} {(msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg)}"
                         for code, msg in replies)[:300]
        return DeliveryError(f"Adresse du destinataire refusée par le serveur de messagerie : "
                             f"{reply}.", permanent=all(code >= 500 for code in codes))
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"Authentification refusée par le serveur de messagerie "
                             f"({_smtp_reply(error)}).", server_down=True)
    if isinstance(error, smtplib.SMTPResponseException):
        return DeliveryError(f"Message refusé par le serveur de messagerie : {_smtp_reply(error)}.",
                             permanent=error.smtp_code >= 500)
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"Connexion au serveur de messagerie {where} interrompue.",
                             server_down=True)
    if isinstance(error, socket.gaierror):
        return DeliveryError(f"Serveur de messagerie introuvable ({server}).", server_down=True)
    if isinstance(error, ConnectionRefusedError):
        return DeliveryError(f"Serveur de messagerie injoignable ({where}) : connexion refusée.",
                             server_down=True)
    if isinstance(error, (socket.timeout, TimeoutError)):
        return DeliveryError(f"Serveur de messagerie injoignable ({where}) : délai dépassé.",
                             server_down=True)
    if isinstance(error, OSError):
        return DeliveryError(f"Serveur de messagerie injoignable ({where}) : "
                             f"{error.strerror or error}.", server_down=True)
    if isinstance(error, smtplib.SMTPException):
        return DeliveryError(f"Erreur du serveur de messagerie : {error}.")
    raise error


class SmtpTransport:
    """One SMTP connection for a batch, opened on the first message. Once the server proved
    unreachable, the following messages of the batch fail at once with the same reason."""

    def __init__(self, app: Flask):
        self.state = app.extensions["mail"]
        self.timeout = float(app.config.get("MAIL_TIMEOUT", 30))
        self.connection: _TimedConnection | None = None
        self.down: DeliveryError | None = None

    def send(self, message: flask_mail.Message) -> None:
        if self.down is not None:
            raise self.down
        try:
            if self.connection is None:
                connection = _TimedConnection(self.state, self.timeout)
                self.connection = connection.__enter__()
            self.connection.send(message)
        except Exception as error:  # noqa: BLE001 — classified, or re-raised, by describe()
            failure = describe(error, self.state.server, self.state.port)
            if failure.server_down:
                self.down = failure
                self._drop_connection()
            raise failure from error

    def _drop_connection(self) -> None:
        if self.connection is not None and self.connection.host is not None:
            with contextlib.suppress(Exception):
                self.connection.host.close()
        self.connection = None

    def close(self) -> None:
        if self.connection is not None and self.connection.host is not None:
            with contextlib.suppress(Exception):
                self.connection.host.quit()
        self.connection = None


class FolderTransport:
    """No MAIL_SERVER: each message becomes ``<folder>/<date>-<id>.eml``, written atomically.
    The name derives from the Message-ID, so writing the same message again replaces it."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path_for(self, message: flask_mail.Message) -> Path:
        digest = hashlib.sha256(message.msgId.encode()).hexdigest()[:16]
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(message.date))
        return self.folder / f"{stamp}-{digest}.eml"

    def send(self, message: flask_mail.Message) -> None:
        if message.has_bad_headers():
            raise DeliveryError("En-tête refusé (retour à la ligne dans l'objet ou l'adresse).",
                                permanent=True)
        message.date = message.date or time.time()  # stable across tries: compose() sets it
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.path_for(message)
            replace_file(target, message.as_bytes(), 0o600)
        except OSError as error:
            raise DeliveryError(f"Écriture du message impossible dans {self.folder} : "
                                f"{error.strerror or error}.", server_down=True) from error

    def close(self) -> None:
        pass


def mail_folder(app: Flask) -> Path:
    return Path(app.config["INSTANCE_PATH"]) / "mail"


@contextlib.contextmanager
def transport(app: Flask):
    """SMTP when MAIL_SERVER is set, else the instance's mail folder."""
    chosen = SmtpTransport(app) if app.config.get("MAIL_SERVER") else FolderTransport(mail_folder(app))
    try:
        yield chosen
    finally:
        chosen.close()
