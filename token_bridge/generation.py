"""Bridge side of a holder's key: generation on a blank key, then activation by the holder.

Every operation follows an instruction the server signed (see bridge_protocol.py) and checks it first:
signature by the server of the calling origin, kind, origin, expiry, and the shape of every
field used. Then:

    generate_key_pair    on the blank key named by the instruction: a sign-only key pair whose
                         private half is sensitive and never extractable, and a certificate
                         request signed on the key, carrying the instruction's digest
    write_certificate    the issued certificate (and its CA chain) onto the key, under the key
                         pair's id, then the user PIN replaced by the server's activation PIN
    abandon_generation   the key pair of a failed try removed, if no certificate was written
    activate             the holder replaces the activation PIN by their own

The bridge never signs data handed to it: the certificate request is built here, for a key
pair generated here a moment before.
"""
from __future__ import annotations

import base64
import contextlib
import binascii
import datetime as dt
import hashlib
import json
import threading
import time
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AttributeOID, NameOID
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11

from bridge_protocol import (INSTRUCTION_ACTIVATION, INSTRUCTION_FINALIZATION,
                             INSTRUCTION_GENERATION, INSTRUCTION_KEY_PATH, INSTRUCTION_VERSION,
                             KEY_EC_P256, KEY_TYPES, MAX_INSTRUCTION_CHARS, csr_binding,
                             is_valid_nonce, is_valid_serial)
from token_bridge import provision, replacement
from token_bridge.tokens import (_TOKEN_GONE, BridgeError, PinAttempts, _tries_left,
                                 find_token, login, looks_blank,
                                 pin_locked, pkcs11_library, public_key_info_der)

KEY_FETCH_TIMEOUT = 5.0
KEY_CACHE_SECONDS = 600
MAX_PEM_CHARS = 16_384
MAX_CHAIN = 4
MIN_NEW_PIN, MAX_NEW_PIN = 6, 16


def _refused(message: str) -> BridgeError:
    return BridgeError("instruction_refused", message)


# --- the server's instruction key, per origin -------------------------------------------------

class InstructionKeys:
    """The public key each allowed origin signs its instructions with, fetched from that
    origin (the bridge already trusts it: only its pages may call) and kept a few minutes."""

    def __init__(self, fetch=None, cache_seconds: float = KEY_CACHE_SECONDS):
        self._fetch = fetch or fetch_instruction_key
        self._cache: dict[str, tuple[float, ec.EllipticCurvePublicKey]] = {}
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()

    def public_key(self, origin: str, refresh: bool = False) -> ec.EllipticCurvePublicKey:
        with self._lock:
            cached = self._cache.get(origin)
            if cached and not refresh and time.monotonic() - cached[0] < self._cache_seconds:
                return cached[1]
        key = self._fetch(origin)
        with self._lock:
            self._cache[origin] = (time.monotonic(), key)
        return key


def fetch_instruction_key(origin: str) -> ec.EllipticCurvePublicKey:
    session = requests.Session()
    # A loopback extranet (demo, tests) must not be sent through a proxy from the environment.
    session.trust_env = urlsplit(origin).hostname not in ("127.0.0.1", "localhost", "::1")
    try:
        response = session.get(origin + INSTRUCTION_KEY_PATH, timeout=KEY_FETCH_TIMEOUT)
        response.raise_for_status()
        key = serialization.load_pem_public_key(response.content)
    except (requests.RequestException, ValueError) as error:
        raise BridgeError(
            "server_unreachable",
            f"Le pont n'a pas pu obtenir du serveur RA Desk ({origin}) la clé qui vérifie ses "
            f"instructions. Vérifiez la connexion au serveur et réessayez.",
        ) from error
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise BridgeError("server_unreachable", "Clé de vérification des instructions inattendue.")
    return key


# --- instructions -----------------------------------------------------------------------------

def verify_instruction(text: object, signature_b64: object, *, kind: str, origin: str,
                       keys: InstructionKeys, now: dt.datetime | None = None,
                       fields=None) -> dict:
    """The instruction as a dict, once its signature, kind, origin, expiry and fields check out
    (``fields(data)``: the kind's own checks, for kinds other modules define)."""
    if not isinstance(text, str) or not text or len(text) > MAX_INSTRUCTION_CHARS \
            or not isinstance(signature_b64, str) or len(signature_b64) > 512:
        raise _refused("Instruction du serveur absente ou illisible : rechargez la page.")
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError) as error:
        raise _refused("Signature de l'instruction illisible : rechargez la page.") from error
    if not _signature_valid(keys, origin, signature, text):
        raise _refused("Instruction refusée : elle n'est pas signée par le serveur RA Desk ou a "
                       "été modifiée en chemin. Aucune opération n'a été faite sur la clé.")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise _refused("Instruction du serveur illisible.") from error
    if not isinstance(data, dict) or data.get("v") != INSTRUCTION_VERSION \
            or data.get("kind") != kind:
        raise _refused("Cette instruction n'est pas destinée à cette opération.")
    if data.get("origin") != origin:
        raise _refused("Cette instruction a été émise pour un autre site.")
    if not is_valid_nonce(data.get("nonce")):
        raise _refused("Instruction sans nonce valable.")
    _check_expiry(data.get("expires_at"), now)
    (fields or _FIELD_CHECKS[kind])(data)
    return data


def _signature_valid(keys: InstructionKeys, origin: str, signature: bytes, text: str) -> bool:
    for refresh in (False, True):  # the server may have a new key since it was cached
        try:
            keys.public_key(origin, refresh=refresh).verify(
                signature, text.encode("utf-8"), ec.ECDSA(hashes.SHA384()))
            return True
        except InvalidSignature:
            continue
    return False


def _check_expiry(value: object, now: dt.datetime | None) -> None:
    try:
        expires_at = dt.datetime.fromisoformat(str(value))
    except ValueError as error:
        raise _refused("Instruction sans date d'expiration valable.") from error
    if expires_at.tzinfo is None:
        raise _refused("Instruction sans date d'expiration valable.")
    if (now or dt.datetime.now(dt.timezone.utc)) > expires_at:
        raise BridgeError("instruction_expired",
                          "Instruction expirée : recommencez depuis la fiche de commande.")


def _text(value: object, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()


def _hex(value: object, low: int, high: int) -> bool:
    if not isinstance(value, str) or not low <= len(value) <= high:
        return False
    try:
        bytes.fromhex(value)
        return True
    except ValueError:
        return False


def _pin_ok(value: object) -> bool:
    return isinstance(value, str) and value.isdigit() and 6 <= len(value) <= 16


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise _refused(f"Instruction incomplète : {what}.")


def _token_fields(data: dict) -> None:
    token = data.get("token")
    _require(isinstance(token, dict) and is_valid_serial(token.get("serial"))
             and isinstance(token.get("label"), str) and len(token["label"]) <= 64, "clé USB")


def _key_id(data: dict) -> None:
    key = data.get("key")
    _require(isinstance(key, dict) and _hex(key.get("id"), 2, 64), "identifiant de clé")


def _generation_fields(data: dict) -> None:
    _token_fields(data)
    _key_id(data)
    key, holder = data["key"], data.get("holder")
    _require(key.get("type") in KEY_TYPES, "type de clé")
    _require(_text(key.get("label"), 64), "libellé de clé")
    _require(isinstance(data.get("order_number"), int), "N° de commande")
    _require(isinstance(holder, dict) and _text(holder.get("name"), 128)
             and _text(holder.get("organization"), 128), "porteur")
    problem = replacement.replacement_problem(data.get("replace"))
    _require(problem is None, problem or "")


def _finalization_fields(data: dict) -> None:
    _token_fields(data)
    _key_id(data)
    _require(_hex(data.get("certificate_sha256"), 64, 64), "empreinte du certificat")
    _require(_pin_ok(data.get("activation_pin")), "code PIN d'activation")


def _activation_fields(data: dict) -> None:
    _require(_hex(data.get("certificate_sha256"), 64, 64), "empreinte du certificat")
    _require(_pin_ok(data.get("activation_pin")), "code PIN d'activation")
    _require(isinstance(data.get("order_number"), int), "N° de commande")


_FIELD_CHECKS = {
    INSTRUCTION_GENERATION: _generation_fields,
    INSTRUCTION_FINALIZATION: _finalization_fields,
    INSTRUCTION_ACTIVATION: _activation_fields,
}


def describe_generation(instruction: dict) -> list[str]:
    """What the bridge is about to do, in French, shown to the AET before anything happens."""
    token, key, holder = instruction["token"], instruction["key"], instruction["holder"]
    replace = instruction.get("replace")
    first = (replacement.describe(token["label"] or token["serial"], token["serial"], replace)
             if replace else
             [f"Clé USB « {token['label'] or token['serial']} » (n° de série {token['serial']}) : "
              f"elle doit être vierge."])
    return [
        *first,
        f"Générer sur cette clé une paire de clés {KEY_TYPES[key['type']]} : la clé privée "
        f"reste sur la clé USB, non exportable, et ne sert qu'à signer.",
        f"Faire signer par cette clé une demande de certificat pour {holder['name']} "
        f"({holder['organization']}), commande N° {instruction['order_number']}.",
        "Inscrire ensuite sur la clé le certificat émis et poser le code PIN d'activation "
        "du porteur.",
    ]


# --- operations on the key ----------------------------------------------------------------------

def _no_pin() -> BridgeError:
    return BridgeError("pin_empty", "Saisissez le code PIN de la clé USB.")


def _not_blank() -> BridgeError:
    return BridgeError("not_blank", "Cette clé USB n'est pas vierge : elle porte déjà des clés ou "
                                    "des certificats. Insérez une clé vierge.")


def _token_error(action: str) -> BridgeError:
    return BridgeError("token_error", f"La clé USB n'a pas pu {action} : retirez-la, "
                                      f"réinsérez-la et réessayez.")


def _checked_token(lib, serial: str, attempts: PinAttempts | None):
    token = find_token(lib, serial)
    if _tries_left(token.flags, serial, attempts) == 0:
        raise pin_locked()
    return token


_GONE = "Clé USB introuvable : elle a peut-être été retirée."


@contextlib.contextmanager
def _on_key(module_path: str, serial: str, attempts: PinAttempts | None, *, action: str,
            gone: str = _GONE):
    """The module's token ``serial``, its PIN not locked. A key removed meanwhile, or any other
    PKCS#11 failure of the block, becomes the BridgeError the page shows."""
    with pkcs11_library(module_path) as lib:
        token = _checked_token(lib, serial, attempts)
        try:
            yield lib, token
        except _TOKEN_GONE as error:
            raise BridgeError("no_token", gone) from error
        except p11.PKCS11Error as error:
            raise _token_error(action) from error


def generate_key_pair(module_path: str, instruction_text: str, instruction: dict, pin: str,
                      attempts: PinAttempts | None = None) -> dict:
    """On the blank key of the instruction: a key pair and a certificate request signed there.
    Returns the request (PEM) and the digest of its public key."""
    if not pin:
        raise _no_pin()
    serial, key = instruction["token"]["serial"], instruction["key"]
    key_id = bytes.fromhex(key["id"])
    old = (instruction.get("replace") or {}).get("certificate_sha256")
    with _on_key(module_path, serial, attempts, action="générer la paire de clés",
                 gone="Clé USB retirée pendant la génération : rien n'a été émis. Réinsérez "
                      "une clé vierge et recommencez.") as (lib, token):
        with token.open() as session:  # seen before the PIN: no try spent on a wrong key
            if old and not replacement.holds(session, old):
                raise replacement.not_the_holders_key()
            if not old and not looks_blank(session):
                raise _not_blank()
        with login(lib, token, pin, attempts, rw=True) as session:
            if attempts is not None:
                attempts.reset(serial)
            if old:
                replacement.remove(session, old)
            if not looks_blank(session):
                raise _not_blank()
            return key_pair_and_request(session, key["type"], key_id, key["label"],
                                        instruction_text, instruction["holder"])


def key_pair_and_request(session, key_type: str, key_id: bytes, label: str,
                         instruction_text: str, person: dict) -> dict:
    """A key pair generated in the open session and a certificate request signed by it for
    ``person`` (name, organization); returns the request (PEM) and its public key's digest.
    Nothing is left on the key when the request cannot be made."""
    algorithm = "EC" if key_type == KEY_EC_P256 else "RSA"
    public, private = provision.generate_keypair_in_session(session, algorithm, key_id, label,
                                                            rsa_bits=3072)
    try:
        public_key = serialization.load_der_public_key(public_key_info_der(public))
        csr = _certificate_request(private, public_key, instruction_text, person)
    except Exception:
        _destroy_quietly(private, public)
        raise
    spki = public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"csr_pem": csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            "public_key_sha256": hashlib.sha256(spki).hexdigest()}


def issued_certificate(finalization: dict, certificate_pem: object, chain_pem: object):
    """The certificate sent to be written, with its chain and digest: refused unless it is the
    very one the server's finalization names."""
    certificate = _certificate(certificate_pem)
    chain = [_certificate(pem) for pem in _chain_list(chain_pem)]
    digest = certificate.fingerprint(hashes.SHA256()).hex()
    if digest != finalization["certificate_sha256"]:
        raise _refused("Ce certificat n'est pas celui que le serveur a émis pour cette clé.")
    return certificate, chain, digest


def write_issued(session, certificate: x509.Certificate, chain: list, key_id: bytes,
                 label: str) -> None:
    """The issued certificate beside the key pair it certifies (refused when the key holds no
    such pair), and its CA chain, written in the open session."""
    publics = list(session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                                        Attribute.ID: key_id}))
    if len(publics) != 1 or public_key_info_der(publics[0]) != _spki(certificate):
        raise _refused("Le certificat émis ne correspond pas à la paire de clés générée sur "
                       "cette clé USB.")
    provision.write_certificate_in_session(session, certificate, key_id, label)
    for authority in chain:
        provision.write_ca_certificate_in_session(session, authority)


def _certificate_request(private, public_key, instruction_text: str, person: dict):
    # The CA names the person from the server's records: this subject only helps a human read
    # the request. The challengePassword binds the key to this very instruction.
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, person["organization"][:64]),
        x509.NameAttribute(NameOID.COMMON_NAME, person["name"][:64]),
    ])
    signing_key = provision.TokenPrivateKey.wrap(private, public_key)
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(subject)
            .add_attribute(AttributeOID.CHALLENGE_PASSWORD,
                           csr_binding(instruction_text).encode("ascii"))
            .sign(signing_key, hashes.SHA256()))


def _destroy_quietly(*objects) -> None:
    for obj in objects:
        try:
            obj.destroy()
        except p11.PKCS11Error:
            pass


def write_certificate(module_path: str, finalization: dict, pin: str, certificate_pem: object,
                      chain_pem: object, attempts: PinAttempts | None = None) -> dict:
    """Write the certificate the server issued (it must be the one the finalization names, for
    the key pair generated under its id), its CA chain, then set the activation PIN."""
    if not pin:
        raise _no_pin()
    certificate, chain, digest = issued_certificate(finalization, certificate_pem, chain_pem)
    serial = finalization["token"]["serial"]
    key_id = bytes.fromhex(finalization["key"]["id"])
    label = finalization["token"].get("label") or "signature"
    gone = "Clé USB retirée avant la fin de l'inscription du certificat."
    with _on_key(module_path, serial, attempts, action="recevoir le certificat",
                 gone=gone) as (lib, token):
        with login(lib, token, pin, attempts, rw=True) as session:
            if attempts is not None:
                attempts.reset(serial)
            write_issued(session, certificate, chain, key_id, label)
            session.set_pin(pin, finalization["activation_pin"])
    if attempts is not None:
        attempts.reset(serial)
    return {"written": True, "certificate_sha256": digest}


def abandon_generation(module_path: str, instruction: dict, pin: str,
                       attempts: PinAttempts | None = None) -> bool:
    """Remove the key pair a failed try generated, unless a certificate was written for it."""
    if not pin:
        raise _no_pin()
    serial, key_id = instruction["token"]["serial"], bytes.fromhex(instruction["key"]["id"])
    with _on_key(module_path, serial, attempts, action="être remise à blanc") as (lib, token):
        with login(lib, token, pin, attempts, rw=True) as session:
            if any(True for _ in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE,
                                                      Attribute.ID: key_id})):
                return False
            keys = [obj for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
                    for obj in session.get_objects({Attribute.CLASS: object_class,
                                                    Attribute.ID: key_id})]
            for obj in keys:
                obj.destroy()
            return bool(keys)


def activate(module_path: str, serial: str, instruction: dict, new_pin: object,
             attempts: PinAttempts | None = None) -> dict:
    """The holder's own PIN replaces the activation PIN, on the key carrying the certificate."""
    if not isinstance(new_pin, str) or not MIN_NEW_PIN <= len(new_pin) <= MAX_NEW_PIN \
            or not new_pin.isprintable():
        raise BridgeError("pin_invalid", f"Le nouveau code PIN doit compter de {MIN_NEW_PIN} à "
                                         f"{MAX_NEW_PIN} caractères.")
    with _on_key(module_path, serial, attempts, action="changer de code PIN") as (lib, token):
        with token.open() as session:
            digests = {c.fingerprint(hashes.SHA256()).hex() for c in _certificates(session)}
        if instruction["certificate_sha256"] not in digests:
            raise BridgeError("wrong_key", "Cette clé USB ne porte pas le certificat de "
                                           "cette commande : choisissez la clé qui vous a "
                                           "été remise.")
        try:
            session = login(lib, token, instruction["activation_pin"], attempts, rw=True)
        except BridgeError as error:
            if error.code == "pin_incorrect":
                raise BridgeError("already_activated",
                                  "La clé n'accepte plus le code d'activation : elle a "
                                  "sans doute déjà été activée avec un code PIN personnel.",
                                  error.tries_left) from error
            raise
        try:
            with session:
                session.set_pin(instruction["activation_pin"], new_pin)
        except (p11.PinLenRange, p11.PinInvalid) as error:
            raise BridgeError("pin_invalid", "Nouveau code PIN refusé par la clé (longueur ou "
                                             "caractères).") from error
    if attempts is not None:
        attempts.reset(serial)
    return {"activated": True}


def _certificates(session):
    for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
        try:
            yield x509.load_der_x509_certificate(obj[Attribute.VALUE])
        except (ValueError, p11.PKCS11Error):
            continue


def _certificate(pem: object) -> x509.Certificate:
    if not isinstance(pem, str) or len(pem) > MAX_PEM_CHARS:
        raise BridgeError("bad_request", "Certificat illisible.")
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise BridgeError("bad_request", "Certificat illisible.") from error


def _chain_list(chain_pem: object) -> list:
    if chain_pem is None:
        return []
    if not isinstance(chain_pem, list) or len(chain_pem) > MAX_CHAIN:
        raise BridgeError("bad_request", "Chaîne de certificats illisible.")
    return chain_pem


def _spki(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

