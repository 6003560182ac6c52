"""The token bridge's protocol: what the bridge signs and the names it shares with the server.
Both programs import this module, and it imports neither of them.

The bridge never signs data handed to it: it builds this domain-separated message itself from
the requesting page's Origin and the server's nonce, so a signature made for one site, or for
one login attempt, proves nothing anywhere else.
"""
import hashlib
import json
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
# A key's serial as PKCS#11 reports it: printable ASCII, at most 64 characters.
_SERIAL = re.compile(r"[\x21-\x7e]{1,64}")


def is_valid_origin(origin: str) -> bool:
    if not isinstance(origin, str) or _ORIGIN.fullmatch(origin) is None:
        return False
    host_and_port = origin.split("://", 1)[1]
    port = host_and_port.rsplit(":", 1)[1] if re.search(r":[0-9]+$", host_and_port) else None
    return port is None or 0 < int(port) <= 65535


def is_valid_nonce(nonce: str) -> bool:
    return isinstance(nonce, str) and _NONCE.fullmatch(nonce) is not None


def is_valid_serial(serial: object) -> bool:
    return isinstance(serial, str) and _SERIAL.fullmatch(serial) is not None


def build_login_message(origin: str, nonce: str) -> bytes:
    """The exact bytes signed on the key to prove possession at login."""
    if not is_valid_origin(origin):
        raise ValueError(f"origine invalide : {origin!r}")
    if not is_valid_nonce(nonce):
        raise ValueError("nonce invalide : base64url de 32 à 128 caractères attendu")
    return LOGIN_DOMAIN + origin.encode("ascii") + b"\0" + nonce.encode("ascii")


# --- Certificate generation and activation: the server's signed instructions -------------
#
# The server tells the bridge what to do on a holder's key with an instruction: canonical JSON
# naming the order, the key, a single-use nonce, an expiry and the page's origin, signed
# (ECDSA P-384, SHA-384) with the server's instruction key, whose public half the server
# publishes at INSTRUCTION_KEY_PATH. The bridge acts only on a valid, unexpired instruction
# for the calling origin, and signs nothing but a certificate request it builds itself for a
# key pair it has just generated; the request carries the instruction's digest, so the server
# knows which instruction (and order) the key was generated for.

INSTRUCTION_KEY_PATH = "/pont/instructions.pem"
INSTRUCTION_VERSION = 1
INSTRUCTION_GENERATION = "generation"      # generate a key pair and a request on a blank key
INSTRUCTION_FINALIZATION = "finalization"  # write the issued certificate, set the activation PIN
INSTRUCTION_ACTIVATION = "activation"      # the holder replaces the activation PIN by their own
INSTRUCTION_KINDS = (INSTRUCTION_GENERATION, INSTRUCTION_FINALIZATION, INSTRUCTION_ACTIVATION)
MAX_INSTRUCTION_CHARS = 4096
CSR_BINDING_PREFIX = "radesk-generation-v1:"

# Key pairs the bridge generates for holders: RSA 3072 by default, EC P-256 allowed.
KEY_RSA_3072 = "RSA-3072"
KEY_EC_P256 = "EC-P256"
KEY_TYPES = {KEY_RSA_3072: "RSA 3072 bits", KEY_EC_P256: "EC P-256"}


def canonical_json(data: dict) -> str:
    """The one text form of an instruction: what is signed, sent and stored."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def csr_binding(instruction: str) -> str:
    """The challengePassword of a holder's certificate request: the instruction's digest."""
    return CSR_BINDING_PREFIX + hashlib.sha256(instruction.encode("utf-8")).hexdigest()


# --- Operators' keys: enrolment, renewal and the operator's first PIN ------------------------
#
# The same signed instructions, for an operator's login key instead of a holder's. The admin's
# page has the bridge generate a key pair on a blank key (enrolment) or beside the certificate
# being renewed, the request carrying the instruction's digest (csr_binding); the server issues
# the login certificate and a finalization has the bridge write it (enrolment: and set the
# one-time initial PIN). A renewal ends with a cleanup that removes the replaced certificate and
# its key pair, once the server has bound the new one. At the first login on a key still
# carrying its initial PIN, an operator_pin instruction has the bridge replace that PIN by the
# operator's own and sign PIN_SET_DOMAIN ‖ origin ‖ nonce with the key: the server's proof
# that the key's PIN was changed, which the bridge signs for nothing else.

INSTRUCTION_OPERATOR_ENROLMENT = "operator_enrolment"
INSTRUCTION_OPERATOR_RENEWAL = "operator_renewal"
INSTRUCTION_OPERATOR_FINALIZATION = "operator_finalization"
INSTRUCTION_OPERATOR_CLEANUP = "operator_cleanup"
INSTRUCTION_OPERATOR_PIN = "operator_pin"
OPERATOR_INSTRUCTION_KINDS = (INSTRUCTION_OPERATOR_ENROLMENT, INSTRUCTION_OPERATOR_RENEWAL,
                              INSTRUCTION_OPERATOR_FINALIZATION, INSTRUCTION_OPERATOR_CLEANUP,
                              INSTRUCTION_OPERATOR_PIN)
PIN_SET_DOMAIN = b"RA-PIN-SET-v1\0"


def build_pin_set_message(origin: str, nonce: str) -> bytes:
    """The exact bytes the bridge signs on an operator's key once it has set their own PIN."""
    if not is_valid_origin(origin):
        raise ValueError(f"origine invalide : {origin!r}")
    if not is_valid_nonce(nonce):
        raise ValueError("nonce invalide : base64url de 32 à 128 caractères attendu")
    return PIN_SET_DOMAIN + origin.encode("ascii") + b"\0" + nonce.encode("ascii")
