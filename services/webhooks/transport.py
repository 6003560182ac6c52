"""One webhook POST to a checked target (services.webhooks.urls.Target).

* The connection goes to an address the check accepted, never to a fresh DNS answer: the URL
  names the address, the ``Host`` header and TLS (SNI and the certificate's name) the host.
* No redirect is followed, no proxy or credentials are taken from the environment.
* Bounded: ``timeout`` for connecting and for each read, at most ``EXCERPT_BYTES`` of the
  answer read (one chunk at a time, within the timeout), then the connection is dropped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from services.webhooks.urls import Target

EXCERPT_BYTES = 1024
MAX_ADDRESSES = 3  # a name's addresses tried when one refuses the connection
USER_AGENT = "RA-Desk-Webhooks/1"


class Failure(Exception):
    """A try that did not end in a 2xx: ``message`` in French, the answer's status and
    excerpt when there was an answer."""

    def __init__(self, message: str, status: int | None = None, excerpt: str | None = None):
        super().__init__(message)
        self.message, self.status, self.excerpt = message, status, excerpt


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str


class _PinnedAdapter(HTTPAdapter):
    """TLS for the endpoint's host name while the socket goes to the checked address."""

    def __init__(self, host: str):
        self._host = host
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        pool_kwargs["server_hostname"] = self._host  # dropped by urllib3 for http://
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def post(target: Target, body: bytes, headers: dict[str, str], *, timeout: float,
         ca_bundle: str | None = None) -> Answer:
    """POST ``body`` once; a 2xx answer is returned, anything else raises Failure."""
    refused: Failure | None = None
    for address in target.addresses[:MAX_ADDRESSES]:
        try:
            return _post_to(target, address, body, headers, timeout, ca_bundle)
        except _NotConnected as problem:  # nothing was sent: the next address may answer
            refused = Failure(problem.message)
    raise refused or Failure("Aucune adresse à joindre.")


class _NotConnected(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _post_to(target: Target, address: str, body: bytes, headers: dict[str, str],
             timeout: float, ca_bundle: str | None) -> Answer:
    session = requests.Session()
    session.trust_env = False
    session.mount(f"{target.scheme}://", _PinnedAdapter(target.host))
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    try:
        response = session.post(
            _pinned_url(target, address), data=body, timeout=timeout, allow_redirects=False,
            stream=True, verify=ca_bundle or True,
            headers={**headers, "Host": host_header, "User-Agent": USER_AGENT,
                     "Content-Type": "application/json", "Accept-Encoding": "identity"})
    except requests.exceptions.ConnectTimeout:
        raise _NotConnected(f"Connexion impossible à {address} : pas de réponse en "
                            f"{timeout:g} s.") from None
    except requests.exceptions.SSLError as problem:
        raise Failure(f"Connexion TLS refusée : {_short(problem)}") from None
    except requests.exceptions.ReadTimeout:
        raise Failure(f"Pas de réponse dans le délai de {timeout:g} s.") from None
    except requests.exceptions.ConnectionError as problem:
        if _never_connected(problem):
            raise _NotConnected(f"Connexion refusée par {address}.") from None
        raise Failure(f"Connexion interrompue : {_short(problem)}") from None
    except requests.exceptions.RequestException as problem:
        raise Failure(f"Envoi impossible : {_short(problem)}") from None
    try:
        excerpt = _excerpt(response, time.monotonic() + timeout)
    finally:
        response.close()
        session.close()
    if 200 <= response.status_code < 300:
        return Answer(response.status_code, excerpt)
    if 300 <= response.status_code < 400:
        location = response.headers.get("Location", "")[:300]
        raise Failure(f"Redirection non suivie (HTTP {response.status_code} vers « {location} »).",
                      response.status_code, excerpt)
    raise Failure(f"Réponse HTTP {response.status_code}.", response.status_code, excerpt)


def _pinned_url(target: Target, address: str) -> str:
    literal = f"[{quote(address, safe=':')}]" if ":" in address else address
    parts = urlsplit(target.url)
    return urlunsplit((target.scheme, f"{literal}:{target.port}", parts.path or "/", parts.query,
                       ""))


def _excerpt(response: requests.Response, deadline: float) -> str:
    """At most EXCERPT_BYTES of the body, cut on a character boundary."""
    data = b""
    try:
        while len(data) < EXCERPT_BYTES and time.monotonic() < deadline:
            chunk = response.raw.read1(EXCERPT_BYTES - len(data))
            if not chunk:
                break
            data += chunk
    except Exception:  # noqa: BLE001 — the status is the answer; the excerpt is a courtesy
        pass
    return data[:EXCERPT_BYTES].decode("utf-8", "ignore")


def _never_connected(problem: requests.exceptions.ConnectionError) -> bool:
    cause = problem.args[0] if problem.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError)


def _short(problem: Exception) -> str:
    cause = problem.args[0] if problem.args else problem
    reason = getattr(cause, "reason", cause)
    return str(reason)[:300]
