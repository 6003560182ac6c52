"""What the bridge signs and names it shares with the server.

The bridge never signs data handed to it: it builds this domain-separated message itself from
the requesting page's Origin and the server's nonce, so a signature made for one site, or for
one login attempt, proves nothing anywhere else.
"""
import re

API_VERSION = 1
LOGIN_DOMAIN = b"RA-LOGIN-v1\0"

ALGORITHM_RSA = "rsa-pkcs1v15-sha256"
ALGORITHM_ECDSA = "ecdsa-sha256"
ALGORITHMS = (ALGORITHM_RSA, ALGORITHM_ECDSA)

# An origin as browsers send it: scheme, host (name, IPv4 or bracketed IPv6), optional port;
# no path, no user info, no trailing slash.
_ORIGIN = re.compile(r"https?://(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# secrets.token_urlsafe(32) gives 43 characters; unpadded base64url only.
_NONCE = re.compile(r"[A-Za-z0-9_-]{32,128}")


def is_valid_origin(origin: str) -> bool:
    if not isinstance(origin, str) or _ORIGIN.fullmatch(origin) is None:
        return False
    host_and_port = origin.split("://", 1)[1]
    port = host_and_port.rsplit(":", 1)[1] if re.search(r":[0-9]+$", host_and_port) else None
    return port is None or 0 < int(port) <= 65535


def is_valid_nonce(nonce: str) -> bool:
    return isinstance(nonce, str) and _NONCE.fullmatch(nonce) is not None


def build_login_message(origin: str, nonce: str) -> bytes:
    """The exact bytes signed on the key to prove possession at login."""
    if not is_valid_origin(origin):
        raise ValueError(f"origine invalide : {origin!r}")
    if not is_valid_nonce(nonce):
        raise ValueError("nonce invalide : base64url de 32 à 128 caractères attendu")
    return LOGIN_DOMAIN + origin.encode("ascii") + b"\0" + nonce.encode("ascii")
