"""Request bodies through the real server: gunicorn as deploy/README.md runs it, fed by a raw
socket with Transfer-Encoding: chunked (no Content-Length to refuse up front). A 23 MB body
sent without any login gets the French 413 — on a form route after a mebibyte, on the
follow-up page's upload route at RADESK_DOCUMENT_MAX_MB plus the multipart envelope — and a
chunked file a little over the documents' size gets the page's own message."""
from __future__ import annotations

import re
import socket
import threading
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import csrf_token_from
from tests.e2e_support import AppInstance, start_app_server
from tests.factories import make_ae, make_order
from tests.text import text

MIB = 1024 * 1024
CHUNK = 64 * 1024
BOUNDARY = "radesk-test-boundary"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corps")
    with AppInstance.create(directory) as instance:
        with instance.seeding() as app:
            from models import Document
            from services.messaging import followup
            order = make_order(make_ae("BPOI"), number=960072, substate="in_signature",
                               requester_email="alice.colbert@exemple.fr")
            Document.create(order=order, kind="kbis", category="justificatif",
                            status="not_imported")
            link, _ = followup.make_link(app, order.id)
        with start_app_server(instance):
            yield SimpleNamespace(instance=instance, followup=urlsplit(link).path)


def multipart(fields: dict[str, str], file_size: int) -> tuple[bytes, bytes]:
    """The multipart body around a file of ``file_size`` zero bytes: (before it, after it)."""
    head = "".join(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                   f"{value}\r\n" for name, value in fields.items())
    head += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
             f'filename="kbis.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF-')
    return head.encode(), f"\r\n--{BOUNDARY}--\r\n".encode()


def chunked_post(site, path: str, size: int, *, fields=None, cookie: str = "") -> tuple[int, str]:
    """POST ``size`` bytes in 64 KiB chunks while reading the answer; returns (status, body)."""
    head, tail = multipart(fields or {}, size)
    sock = socket.create_connection(("127.0.0.1", site.instance.port), timeout=60)
    request_head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{site.instance.port}\r\n"
                    f"Transfer-Encoding: chunked\r\n"
                    f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                    + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n")

    def send():
        try:
            sock.sendall(request_head.encode())
            for piece in [head, *[b"\0" * CHUNK] * (size // CHUNK), tail]:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: what is tested is its answer

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            assert data, "connection closed without an answer"
            answer += data
        headers, _, body = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", headers).group(1))
        while len(body) < length:
            data = sock.recv(65536)
            assert data, "connection closed in the middle of the answer"
            body += data
        return int(headers.split()[1]), body.decode("utf-8", "replace")
    finally:
        sock.close()
        sender.join(timeout=30)


def test_a_23_mb_chunked_form_without_login_is_cut_off_with_a_french_413(site):
    status, body = chunked_post(site, "/connexion/defi", 23 * MIB)
    assert status == 413
    assert "Envoi trop volumineux" in text(body)


def test_a_23_mb_chunked_upload_without_login_gets_the_413(site):
    status, body = chunked_post(site, site.followup + "/pieces", 23 * MIB)
    assert status == 413
    assert "20 Mo au plus pour un document" in text(body)


def test_a_chunked_file_over_the_documents_size_gets_the_pages_message(site):
    session = requests.Session()
    session.trust_env = False
    page = session.get(site.instance.url + site.followup)
    token = csrf_token_from(page.text)
    cookie = "; ".join(f"{name}={value}" for name, value in session.cookies.items())
    status, body = chunked_post(site, site.followup + "/pieces", 20 * MIB + MIB // 2,
                                fields={"csrf_token": token, "kind": "kbis"}, cookie=cookie)
    assert status == 422
    assert "Fichier trop volumineux" in text(body)
    with site.instance.query():
        from models import Document
        assert Document.get(Document.kind == "kbis").status == "not_imported"
