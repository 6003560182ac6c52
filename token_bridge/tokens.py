"""Bridge side: the operator's USB keys through PKCS#11 — list them, sign a login challenge.

Every call takes the module path and reloads the token list, so a key plugged in or pulled
out since the previous call is seen. PKCS#11 access is serialized for the whole process:
reinitializing the library closes every open session, and one workstation needs no more.
"""
import hashlib
import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pkcs11
from asn1crypto.keys import PublicKeyInfo, RSAPublicKey
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass, TokenFlag
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_ec_public_key, encode_ecdsa_signature
from pkcs11.util.rsa import encode_rsa_public_key

from bridge_protocol import ALGORITHM_ECDSA, ALGORITHM_RSA

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
DEFAULT_MAX_PIN_TRIES = 3
AUTH_LABEL = "auth"
AUTH_KEY_ID = b"\x01"

# Errors meaning the key went away between listing and use.
_TOKEN_GONE = (p11.TokenNotPresent, p11.DeviceRemoved, p11.SessionHandleInvalid, p11.SlotIDInvalid)


class BridgeError(Exception):
    """A failure the operator can act on: `code` for programs, `message` (French) for people."""

    def __init__(self, code: str, message: str, tries_left: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.tries_left = tries_left


def pin_incorrect(tries_left: int | None) -> BridgeError:
    message = "Code PIN incorrect."
    if tries_left == 1:
        message += " Il reste 1 essai."
    elif tries_left is not None:
        message += f" Il reste {tries_left} essais."
    return BridgeError("pin_incorrect", message, tries_left)


def pin_locked() -> BridgeError:
    return BridgeError(
        "pin_locked",
        "Clé bloquée : trop de codes PIN erronés. Contactez votre administrateur pour la débloquer.",
        0,
    )


def no_token() -> BridgeError:
    return BridgeError("no_token", "Clé USB introuvable : elle a peut-être été retirée.")


def no_certificate() -> BridgeError:
    return BridgeError("no_certificate", "Aucun certificat d'authentification sur cette clé.")


# --- Library access ------------------------------------------------------------------------

_library_lock = threading.RLock()
_library_depth = threading.local()


@contextmanager
def pkcs11_library(module_path: str):
    """The loaded module, reinitialized on entry, held exclusively by this thread.

    Nested uses (a helper calling another) share the outer reinitialization, which would
    otherwise close the outer sessions.
    """
    with _library_lock:
        depth = getattr(_library_depth, "value", 0)
        try:
            lib = pkcs11.lib(module_path)
            if depth == 0:
                lib.reinitialize()
        except p11.PKCS11Error as error:
            raise BridgeError(
                "module_unavailable",
                f"Pilote des clés USB (PKCS#11) inutilisable : {module_path}.",
            ) from error
        _library_depth.value = depth + 1
        try:
            yield lib
        finally:
            _library_depth.value = depth


def token_serial(token) -> str:
    return token.serial.decode("ascii", "replace").strip()


def present_tokens(lib) -> list:
    """Initialized tokens only: SoftHSM always shows one blank slot, readers show empty ones."""
    return [token for token in lib.get_tokens() if token.flags & TokenFlag.TOKEN_INITIALIZED]


def find_token(lib, serial: str):
    for token in present_tokens(lib):
        if token_serial(token) == serial:
            return token
    raise no_token()


def find_token_by_label(lib, label: str):
    matches = [token for token in present_tokens(lib) if token.label == label]
    if len(matches) != 1:
        raise no_token()
    return matches[0]


# --- Certificates on a token, read without logging in -------------------------------------

@dataclass
class StoredCertificate:
    certificate: x509.Certificate
    object_id: bytes
    label: str

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass
class TokenCertificates:
    auth: StoredCertificate | None
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def chain_pem(self) -> list[str]:
        return [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in self.chain]


def read_token_certificates(session) -> TokenCertificates:
    stored = list(_stored_certificates(session))
    authorities = [s.certificate for s in stored if _is_ca(s.certificate)]
    candidates = [s for s in stored if not _is_ca(s.certificate) and _fits_client_auth(s.certificate)]
    key_infos = _public_key_infos(session)
    if key_infos:
        # Keep certificates whose key pair is on this token, not a colleague's certificate.
        candidates = [s for s in candidates if _spki(s.certificate) in key_infos]
    if not candidates:
        return TokenCertificates(None, authorities)
    auth = min(candidates, key=_auth_preference)
    return TokenCertificates(auth, _order_chain(auth.certificate, authorities))


def _stored_certificates(session):
    for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
        try:
            certificate = x509.load_der_x509_certificate(obj[Attribute.VALUE])
        except (ValueError, p11.PKCS11Error):
            continue  # not X.509 or unreadable: not ours to judge
        yield StoredCertificate(certificate, _attribute(obj, Attribute.ID, b""), _attribute(obj, Attribute.LABEL, ""))


def _attribute(obj, attribute, default):
    try:
        return obj[attribute]
    except (p11.PKCS11Error, RuntimeError):  # RuntimeError: python-pkcs11 cannot decode that type
        return default


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _fits_client_auth(certificate: x509.Certificate) -> bool:
    """Never offer a non-repudiation signing key for login: it needs digitalSignature/clientAuth."""
    extensions = certificate.extensions
    try:
        if not extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return False
    except x509.ExtensionNotFound:
        pass
    try:
        usages = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        return ExtendedKeyUsageOID.CLIENT_AUTH in usages
    except x509.ExtensionNotFound:
        return True


def _auth_preference(stored: StoredCertificate):
    named_auth = stored.label == AUTH_LABEL or stored.object_id in (AUTH_KEY_ID, AUTH_LABEL.encode())
    return (not named_auth, -stored.certificate.not_valid_after_utc.timestamp())


def _public_key_infos(session) -> set[bytes]:
    infos = set()
    for key in session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY}):
        try:
            infos.add(public_key_info_der(key))
        except (p11.PKCS11Error, ValueError, KeyError):
            continue
    return infos


def public_key_info_der(key) -> bytes:
    """SubjectPublicKeyInfo DER of a PKCS#11 public key object."""
    if key.key_type == KeyType.RSA:
        return PublicKeyInfo({"algorithm": {"algorithm": "rsa"}, "public_key": _rsa_public(key)}).dump()
    if key.key_type == KeyType.EC:
        return encode_ec_public_key(key)
    raise ValueError(f"type de clé non pris en charge : {key.key_type!r}")


def _rsa_public(key) -> RSAPublicKey:
    return RSAPublicKey.load(encode_rsa_public_key(key))


def _spki(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _order_chain(leaf: x509.Certificate, authorities: list[x509.Certificate]) -> list[x509.Certificate]:
    """Issuer first after the leaf, then its issuer…; authorities off the path come last."""
    remaining = list(authorities)
    ordered, current = [], leaf
    while True:
        issuer = next((c for c in remaining if c.subject == current.issuer), None)
        if issuer is None:
            break
        ordered.append(issuer)
        remaining.remove(issuer)
        if issuer.subject == issuer.issuer:
            break
        current = issuer
    return ordered + remaining


# --- PIN retry counter kept by the bridge --------------------------------------------------

def default_state_dir() -> Path:
    configured = os.environ.get("RADESK_BRIDGE_STATE")
    if configured:
        return Path(configured)
    state_home = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state_home) / "radesk-bridge"


class PinAttempts:
    """Consecutive wrong PINs per token serial, kept on disk across bridge restarts.

    SoftHSM (and some cheap tokens) never lock a user PIN, so the bridge enforces the limit
    itself: after `max_tries` consecutive failures it refuses without presenting the PIN.
    A token that enforces its own counter still has the last word (see sign_login_challenge).
    """

    def __init__(self, state_dir: Path | str, max_tries: int = DEFAULT_MAX_PIN_TRIES):
        if max_tries < 1:
            raise ValueError("max_tries doit valoir au moins 1")
        self.state_dir = Path(state_dir)
        self.max_tries = max_tries
        self._lock = threading.Lock()

    def failures(self, serial: str) -> int:
        try:
            data = json.loads(self._path(serial).read_text())
            return max(0, int(data["failures"]))
        except FileNotFoundError:
            return 0
        except (ValueError, KeyError, TypeError):
            return self.max_tries  # a corrupted counter must not grant fresh tries

    def tries_left(self, serial: str) -> int:
        return max(0, self.max_tries - self.failures(serial))

    def is_locked(self, serial: str) -> bool:
        return self.tries_left(serial) == 0

    def record_failure(self, serial: str) -> int:
        with self._lock:
            self._write(serial, self.failures(serial) + 1)
            return self.tries_left(serial)

    def reset(self, serial: str) -> None:
        with self._lock:
            self._path(serial).unlink(missing_ok=True)

    def _path(self, serial: str) -> Path:
        # Serials are vendor strings: hex-encode them into a safe file name.
        return self.state_dir / f"pin-failures-{serial.encode('utf-8').hex()}.json"

    def _write(self, serial: str, failures: int) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(serial)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"serial": serial, "failures": failures}))
        os.replace(temporary, path)


def pin_state(flags: TokenFlag, tries_left: int | None) -> str:
    if flags & TokenFlag.USER_PIN_LOCKED or tries_left == 0:
        return "locked"
    if flags & TokenFlag.USER_PIN_FINAL_TRY or tries_left == 1:
        return "final_try"
    if flags & TokenFlag.USER_PIN_COUNT_LOW:
        return "count_low"
    return "ok"


def _tries_left(flags: TokenFlag, serial: str, attempts: PinAttempts | None) -> int | None:
    """The tighter of the token's report and the bridge's counter; None when neither knows."""
    known = []
    if attempts is not None:
        known.append(attempts.tries_left(serial))
    if flags & TokenFlag.USER_PIN_LOCKED:
        known.append(0)
    elif flags & TokenFlag.USER_PIN_FINAL_TRY:
        known.append(1)
    return min(known) if known else None


# --- Public operations ----------------------------------------------------------------------

def list_tokens(module_path: str, attempts: PinAttempts | None = None) -> list[dict]:
    with pkcs11_library(module_path) as lib:
        listed = []
        for token in present_tokens(lib):
            try:
                listed.append(_describe(token, attempts))
            except _TOKEN_GONE:
                continue
        return listed


def _describe(token, attempts: PinAttempts | None) -> dict:
    serial = token_serial(token)
    with token.open() as session:
        certificates = read_token_certificates(session)
        blank = looks_blank(session)
    tries_left = _tries_left(token.flags, serial, attempts)
    return {
        "serial": serial,
        "label": token.label,
        "manufacturer": token.manufacturer_id,
        "model": token.model,
        "certificate_pem": certificates.auth.pem if certificates.auth else None,
        "chain_pem": certificates.chain_pem,
        "pin_state": pin_state(token.flags, tries_left),
        "tries_left": tries_left,
        "blank": blank,
    }


def looks_blank(session) -> bool:
    """No certificate and no key seen by this session (a public session sees no private key:
    generation checks again once logged in)."""
    for object_class in (ObjectClass.CERTIFICATE, ObjectClass.PUBLIC_KEY, ObjectClass.PRIVATE_KEY):
        if any(True for _ in session.get_objects({Attribute.CLASS: object_class})):
            return False
    return True


def sign_login_challenge(
    module_path: str, serial: str, pin: str, message: bytes, attempts: PinAttempts | None = None
) -> tuple[bytes, str, str, list[str]]:
    """Log in to the key and sign `message` with the authentication key.

    Returns (signature, algorithm, certificate_pem, chain_pem). The caller builds `message`
    with bridge_protocol.build_login_message; this function signs whatever it is given.
    """
    if not pin:
        raise BridgeError("pin_empty", "Saisissez le code PIN de la clé USB.")
    with pkcs11_library(module_path) as lib:
        token = find_token(lib, serial)
        if _tries_left(token.flags, serial, attempts) == 0:
            raise pin_locked()
        try:
            # Read the certificate before logging in: no certificate, no PIN try spent.
            with token.open() as session:
                certificates = read_token_certificates(session)
            if certificates.auth is None:
                raise no_certificate()
            session = login(lib, token, pin, attempts)
            with session:
                if attempts is not None:
                    attempts.reset(serial)
                signature, algorithm = _sign_with_matching_key(session, certificates.auth, message)
        except _TOKEN_GONE as error:
            raise no_token() from error
        except p11.PKCS11Error as error:
            raise BridgeError(
                "token_error", "La clé USB n'a pas pu signer : retirez-la, réinsérez-la et réessayez."
            ) from error
    return signature, algorithm, certificates.auth.pem, certificates.chain_pem


def login(lib, token, pin: str, attempts: PinAttempts | None = None, rw: bool = False):
    """Open a user session, turning PIN failures into French errors and counting them."""
    serial = token_serial(token)
    try:
        return token.open(rw=rw, user_pin=pin)
    except p11.PinLocked as error:
        raise pin_locked() from error
    except (p11.PinLenRange, p11.PinInvalid) as error:
        # Not a PIN this key could hold: the token does not count it, neither do we.
        raise pin_incorrect(_tries_left(token.flags, serial, attempts)) from error
    except p11.PinIncorrect as error:
        if attempts is not None:
            attempts.record_failure(serial)
        refreshed = find_token(lib, serial)  # flags are a snapshot: read them again
        tries_left = _tries_left(refreshed.flags, serial, attempts)
        if tries_left == 0:
            raise pin_locked() from error
        raise pin_incorrect(tries_left) from error


def _sign_with_matching_key(session, auth: StoredCertificate, message: bytes) -> tuple[bytes, str]:
    """Sign with the private key whose public half is in the certificate, checked by verifying."""
    public_key = auth.certificate.public_key()
    for private_key in _private_key_candidates(session, auth.object_id):
        try:
            signature, algorithm = _sign(private_key, public_key, message)
        except _TOKEN_GONE:
            raise
        except p11.PKCS11Error:
            continue  # not a signing key, or not for this mechanism: try the next one
        if signature is not None and _verifies(public_key, signature, message):
            return signature, algorithm
    raise no_certificate()


def _private_key_candidates(session, object_id: bytes):
    """Keys with the certificate's CKA_ID first, then any other signing key on the token."""
    keys = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
    return sorted(keys, key=lambda key: _attribute(key, Attribute.ID, b"") != object_id)


def _sign(private_key, public_key, message: bytes) -> tuple[bytes | None, str]:
    if isinstance(public_key, rsa.RSAPublicKey) and private_key.key_type == KeyType.RSA:
        return private_key.sign(message, mechanism=Mechanism.SHA256_RSA_PKCS), ALGORITHM_RSA
    if isinstance(public_key, ec.EllipticCurvePublicKey) and private_key.key_type == KeyType.EC:
        # SoftHSM has no CKM_ECDSA_SHA256: hash here, sign the digest, DER-encode r‖s.
        raw = private_key.sign(hashlib.sha256(message).digest(), mechanism=Mechanism.ECDSA)
        return encode_ecdsa_signature(raw), ALGORITHM_ECDSA
    return None, ""


def _verifies(public_key, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def unlock_token(
    module_path: str, serial: str, so_pin: str, new_pin: str, attempts: PinAttempts | None = None
) -> None:
    """Security officer sets a new user PIN (which unblocks it) and the bridge counter restarts."""
    if not new_pin:
        raise BridgeError("pin_empty", "Saisissez le nouveau code PIN.")
    with pkcs11_library(module_path) as lib:
        token = find_token(lib, serial)
        try:
            with token.open(rw=True, so_pin=so_pin) as session:
                session.init_pin(new_pin)
        except p11.PinIncorrect as error:
            raise BridgeError("so_pin_incorrect", "Code PIN administrateur incorrect.") from error
        except p11.PinLocked as error:
            raise BridgeError(
                "so_pin_locked", "Code PIN administrateur bloqué : la clé doit être réinitialisée."
            ) from error
        except (p11.PinLenRange, p11.PinInvalid) as error:
            raise BridgeError(
                "pin_invalid", "Nouveau code PIN refusé par la clé (longueur ou caractères)."
            ) from error
        except _TOKEN_GONE as error:
            raise no_token() from error
    if attempts is not None:
        attempts.reset(serial)
