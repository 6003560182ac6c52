"""Clients of the real servers over plain HTTP (requests), for tests that run many at once: an
operator logged in with a SoftHSM2 key through the real token bridge (what login.js does), and
a signer following the link of their e-mail. Each client has its own cookie jar and address
(``X-Real-IP``, believed from the trusted proxy 127.0.0.1), and keeps every answer it got so a
test can check that none was a server error."""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import requests

CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
VERSION_FIELD = re.compile(r'name="version" value="([0-9a-f]+)"')


@dataclass
class Answer:
    method: str
    url: str
    status: int


@dataclass
class HttpClient:
    """One browser's worth of state: cookies, the address the proxy vouches for, the answers."""
    base_url: str
    address: str
    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment for 127.0.0.1
        self.session.headers["X-Real-IP"] = self.address

    def request(self, method: str, path: str, **options) -> requests.Response:
        url = path if path.startswith("http") else self.base_url + path
        options.setdefault("timeout", 60)
        options.setdefault("allow_redirects", False)
        response = self.session.request(method, url, **options)
        with self.lock:
            self.answers.append(Answer(method, url, response.status_code))
        return response

    def get(self, path: str, **options) -> requests.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options) -> requests.Response:
        return self.request("POST", path, **options)

    def page(self, path: str) -> str:
        response = self.get(path, allow_redirects=True)
        assert response.status_code == 200, f"GET {path} : {response.status_code}"
        return response.text

    def form_post(self, path: str, html: str, **data) -> requests.Response:
        """A form POST with the CSRF token of ``html`` (the page it was on)."""
        token = CSRF_FIELD.search(html) or CSRF_META.search(html)
        assert token, f"pas de jeton CSRF avant POST {path}"
        return self.post(path, data={"csrf_token": token.group(1), **data})

    def server_errors(self) -> list[Answer]:
        return [answer for answer in self.answers if answer.status >= 500]


class Operator(HttpClient):
    """An operator in their browser: ``log_in`` signs the server's challenge on the USB key
    through the bridge, as login.js does."""

    def log_in(self, origin: str, bridge_url: str, serial: str, pin: str = "1234") -> None:
        html = self.page("/connexion")
        headers = {"X-CSRFToken": CSRF_META.search(html).group(1), "Origin": origin}
        challenge = self.post("/connexion/defi", json={}, headers=headers)
        assert challenge.status_code == 200, challenge.text
        nonce = challenge.json()["nonce"]
        bridge = requests.Session()
        bridge.trust_env = False
        signed = bridge.post(f"{bridge_url}/v1/login-signature", timeout=60,
                             json={"serial": serial, "pin": pin, "nonce": nonce},
                             headers={"Origin": origin})
        assert signed.status_code == 200, signed.text
        proof = signed.json()
        answer = self.post("/connexion/cle", headers=headers, json={
            "nonce": nonce, "certificate_pem": proof["certificate_pem"],
            "chain_pem": proof.get("chain_pem") or [], "signature": proof["signature"],
            "algorithm": proof["algorithm"], "next": None})
        assert answer.status_code == 200 and answer.json().get("redirect"), answer.text

    def validate(self, order_id: int, ready=lambda: None) -> requests.Response | None:
        """« Règlement (OK) », « Dossier complet (OK) », « Valider », then the confirmation;
        None when the order file offers no validation. ``ready()`` is called once the page
        is read (to have several operators click at once)."""
        html = self.page(f"/commandes/{order_id}")
        ready()
        if VERSION_FIELD.search(html) is None:
            return None
        confirmation = self.form_post(
            f"/commandes/{order_id}/validation/confirmation", html, payment_ok="1",
            dossier_complete_ok="1", version=VERSION_FIELD.search(html).group(1))
        if confirmation.status_code != 200:
            return confirmation
        page = confirmation.text
        return self.form_post(f"/commandes/{order_id}/validation", page,
                              version=VERSION_FIELD.search(page).group(1))


class Signer(HttpClient):
    """A signer: their link's page, « Recevoir un code », then « Signer » with it."""

    def sign(self, link: str, code_of) -> requests.Response:
        """``code_of()`` waits for the code the signer receives after asking for it."""
        html = self.page(link)
        asked = self.form_post(f"{link}/code", html)
        assert asked.status_code == 200, asked.text
        return self.form_post(f"{link}/signer", asked.text, code=code_of(), consent="yes")


def wait_until(condition, timeout: float, what: str, interval: float = 0.2):
    """``condition()``'s first true value, or fail after ``timeout`` seconds saying ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"toujours pas après {timeout:.0f} s : {what}")
