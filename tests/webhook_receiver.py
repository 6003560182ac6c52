"""For the webhook tests: a real HTTP(S) server on loopback (http.server in a thread) that
records every request it receives and answers as told; and the shortcuts to declare an
endpoint and run the delivery job."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from models import WebhookDelivery, WebhookEvent, db
from services.webhooks import delivery, endpoints, events
from tests.e2e_support import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class _QuietServer(ThreadingHTTPServer):
    """Drops a broken connection (a TLS handshake the client refused, a client that gave up)
    without printing its traceback: on Python 3.11 printing one parses source (ast) in the
    handler's thread, which can crash the next test's ast use in the main thread (CPython
    gh-106905, « AST constructor recursion depth mismatch »)."""

    def handle_error(self, request, client_address) -> None:
        pass


class Receiver:
    """``with Receiver() as receiver:`` — ``receiver.url`` takes POSTs until the block ends.
    A port may be given (to come back on the port a stopped receiver used)."""

    def __init__(self, port: int | None = None, reply: Reply | None = None, tls=None,
                 host: str = "127.0.0.1"):
        self.port = port or free_port()
        self.reply = reply or Reply()
        self.received: list[Received] = []
        self._tls, self._host = tls, host
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self._host}:{self.port}/hooks"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(Received(self.path, dict(self.headers), body))
                time.sleep(receiver.reply.delay)
                self.send_response(receiver.reply.status)
                for name, value in receiver.reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.reply.body)))
                self.end_headers()
                self.wfile.write(receiver.reply.body)

            def log_message(self, *args):
                pass

        self._server = _QuietServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        if self._tls is not None:
            self._server.socket = self._tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]


def declare(app, ae, url: str, types=tuple(events.EVENT_TYPES), *, allow_private=True,
            by=None):
    """An endpoint of ``ae`` declared as the admin's form does; returns (endpoint, secret)."""
    form = endpoints.EndpointForm(url=url, description="", event_types=list(types),
                                  allow_private_network=allow_private)
    return endpoints.create(app, ae.id, form, by=by)


def emit(order, event_type, data=None):
    """An event written in a transaction of its own, as a service's change would."""
    with db.atomic():
        return events.emit(order, event_type, data)


def deliver(app) -> delivery.Report:
    """One run of the webhooks job, as the scheduler makes it."""
    with app.app_context():
        return delivery.run(app)


def deliveries(**where) -> list[WebhookDelivery]:
    query = WebhookDelivery.select(WebhookDelivery, WebhookEvent).join(WebhookEvent)
    for name, value in where.items():
        query = query.where(getattr(WebhookDelivery, name) == value)
    return list(query.order_by(WebhookDelivery.id))
