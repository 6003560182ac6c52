"""Where a webhook may go. An endpoint is ``https://`` (``http://`` only where the app's
``RADESK_WEBHOOKS_ALLOW_HTTP`` says so: tests, demos); its host is resolved and every address
it resolves to must be public — private, loopback, link-local, shared, reserved and multicast
ranges are refused unless the AE's admin ticked « Autoriser les adresses privées » for it.

The check runs when the admin saves the endpoint (the form says why it is refused) and again
before each try: the delivery then connects to the very addresses checked (services.webhooks.
transport), so a name that resolves elsewhere between the check and the request (DNS
rebinding) cannot reach the inside of the network.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_LENGTH = 2000
PRIVATE_LABEL = "Autoriser les adresses privées"


class RefusedUrl(Exception):
    """An endpoint's URL that may not be used; ``message`` says why, in French."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Target:
    """A checked URL: its parts, and the addresses the request may connect to."""
    url: str
    scheme: str
    host: str          # as sent in the Host header and checked against the TLS certificate
    port: int
    addresses: tuple[str, ...]


def check_syntax(url: str, *, allow_http: bool) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a well-formed URL allowed by the scheme rule."""
    if not url:
        raise RefusedUrl("L'adresse du webhook est obligatoire.")
    if len(url) > MAX_LENGTH:
        raise RefusedUrl("L'adresse du webhook est trop longue (2 000 caractères au plus).")
    schemes = ("https", "http") if allow_http else ("https",)
    parts = urlsplit(url)
    if parts.scheme.lower() not in schemes:
        raise RefusedUrl("L'adresse du webhook doit commencer par https://."
                         if not allow_http else
                         "L'adresse du webhook doit commencer par https:// ou http://.")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname or port == -1 or any(c.isspace() or ord(c) < 32 for c in url):
        raise RefusedUrl(f"L'adresse « {url} » n'est pas une adresse web valide.")
    if parts.username is not None or parts.password is not None:
        raise RefusedUrl("L'adresse du webhook ne doit contenir ni identifiant ni mot de passe.")
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone names a local link
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast and "%" not in address


def resolve(url: str, *, allow_http: bool, allow_private: bool) -> Target:
    """The checked target of ``url``; raises RefusedUrl with the French reason."""
    url = (url or "").strip()
    scheme, host, port = check_syntax(url, allow_http=allow_http)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        found = []
    addresses = tuple(dict.fromkeys(info[4][0] for info in found))
    if not addresses:
        raise RefusedUrl(f"Le nom « {host} » ne correspond à aucune adresse (DNS).")
    if not allow_private:
        private = next((address for address in addresses if not is_public(address)), None)
        if private is not None:
            raise RefusedUrl(
                f"L'adresse « {host} » mène à une adresse privée, locale ou réservée ({private}) : "
                f"elle est refusée, sauf si « {PRIVATE_LABEL} » est coché pour ce webhook.")
    return Target(url, scheme, _ascii_host(host), port, addresses)


def _ascii_host(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host
