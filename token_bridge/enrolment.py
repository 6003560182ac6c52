"""Bridge side of an operator's login key: enrolment on a blank key, renewal on the operator's
key, and the operator's own PIN at first use.

Every operation follows an instruction the server signed (bridge_protocol.py), checked first
like a holder's (token_bridge.generation.verify_instruction) with this module's field checks:

    generate_key_pair   enrolment: on the blank key; renewal: on the key carrying the
                        certificate renewed. A sign-only key pair (private half sensitive,
                        never extractable) and a certificate request signed there, carrying
                        the instruction's digest
    write_certificate   the issued login certificate (label « auth », so the login page takes
                        it) and its CA chain; enrolment: the key's PIN becomes the initial PIN
    abandon             a failed try's key pair (and certificate) removed; an enrolment's key
                        made blank again, its PIN put back
    clean_up            renewal confirmed by the server: the replaced certificate and its key
                        pair removed from the key
    set_first_pin       the operator's PIN replaces the initial one, then the key signs the
                        PIN_SET message, the server's proof that it happened

The bridge still signs nothing handed to it: a request it builds for a key pair it has just
generated, and a message it builds itself once the PIN is changed.
"""
from __future__ import annotations

import base64

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11

from bridge_protocol import (INSTRUCTION_OPERATOR_CLEANUP, INSTRUCTION_OPERATOR_ENROLMENT,
                             INSTRUCTION_OPERATOR_FINALIZATION, INSTRUCTION_OPERATOR_PIN,
                             INSTRUCTION_OPERATOR_RENEWAL, KEY_TYPES,
                             build_pin_set_message)
from token_bridge import generation
from token_bridge.generation import (MAX_NEW_PIN, MIN_NEW_PIN, _hex,
                                     _key_id, _no_pin, _not_blank, _on_key, _pin_ok, _refused,
                                     _require, _text, _token_fields)
from token_bridge.tokens import (AUTH_LABEL, BridgeError, PinAttempts, StoredCertificate,
                                 _sign_with_matching_key, _stored_certificates, login,
                                 looks_blank)

EXPIRED = ("Instruction expirée : recommencez depuis la page « Enrôler sur une clé » de "
           "l'opérateur.")
EXPIRED_AT_LOGIN = "Le délai pour choisir votre code PIN est dépassé : reconnectez-vous."


# --- instructions -----------------------------------------------------------------------------

def _sha256(data: dict, name: str, what: str) -> None:
    _require(_hex(data.get(name), 64, 64), what)


def _operator(data: dict) -> None:
    operator = data.get("operator")
    _require(isinstance(operator, dict) and _text(operator.get("name"), 128)
             and _text(operator.get("organization"), 128), "opérateur")


def _key_pair_fields(data: dict) -> None:
    _token_fields(data)
    _key_id(data)
    _operator(data)
    _require(data["key"].get("type") in KEY_TYPES, "type de clé")


def _renewal_fields(data: dict) -> None:
    _key_pair_fields(data)
    _sha256(data, "renews", "certificat renouvelé")


def _finalization_fields(data: dict) -> None:
    _token_fields(data)
    _key_id(data)
    _sha256(data, "certificate_sha256", "empreinte du certificat")
    if "initial_pin" in data:
        _require(_pin_ok(data["initial_pin"]), "code PIN initial")


def _cleanup_fields(data: dict) -> None:
    _token_fields(data)
    _sha256(data, "keep", "certificat gardé")
    _sha256(data, "remove", "certificat retiré")


def _pin_fields(data: dict) -> None:
    _sha256(data, "certificate_sha256", "empreinte du certificat")


FIELD_CHECKS = {
    INSTRUCTION_OPERATOR_ENROLMENT: _key_pair_fields,
    INSTRUCTION_OPERATOR_RENEWAL: _renewal_fields,
    INSTRUCTION_OPERATOR_FINALIZATION: _finalization_fields,
    INSTRUCTION_OPERATOR_CLEANUP: _cleanup_fields,
    INSTRUCTION_OPERATOR_PIN: _pin_fields,
}


def verify_instruction(text: object, signature_b64: object, *, kind: str, origin: str,
                       keys: generation.InstructionKeys, now=None) -> dict:
    """An operator key's instruction, checked like a holder's, with its own fields."""
    try:
        return generation.verify_instruction(text, signature_b64, kind=kind, origin=origin,
                                             keys=keys, now=now, fields=FIELD_CHECKS[kind])
    except BridgeError as error:
        if error.code != "instruction_expired":
            raise
        raise BridgeError(error.code, EXPIRED_AT_LOGIN if kind == INSTRUCTION_OPERATOR_PIN
                          else EXPIRED) from error


def describe(instruction: dict) -> list[str]:
    """What the bridge is about to do, in French, shown to the admin before anything happens."""
    token, key, operator = instruction["token"], instruction["key"], instruction["operator"]
    name = f"« {token['label'] or token['serial']} » (n° de série {token['serial']})"
    who = f"{operator['name']} ({operator['organization']})"
    if instruction["kind"] == INSTRUCTION_OPERATOR_RENEWAL:
        return [
            f"Clé USB {name} : elle doit porter le certificat de connexion à renouveler "
            f"(empreinte {instruction['renews'][:16]}…).",
            f"Générer sur cette clé une nouvelle paire de clés {KEY_TYPES[key['type']]} : la clé "
            f"privée reste sur la clé USB, non exportable, et ne sert qu'à signer.",
            f"Faire signer par cette clé une demande de certificat de connexion pour {who}.",
            "Inscrire le nouveau certificat sur la clé ; l'ancien certificat et son ancienne "
            "paire de clés n'en seront retirés qu'une fois le nouveau enregistré par le serveur. "
            "Le code PIN de la clé ne change pas.",
        ]
    return [
        f"Clé USB {name} : elle doit être vierge.",
        f"Générer sur cette clé une paire de clés {KEY_TYPES[key['type']]} : la clé privée reste "
        f"sur la clé USB, non exportable, et ne sert qu'à signer.",
        f"Faire signer par cette clé une demande de certificat de connexion pour {who}.",
        "Inscrire ensuite sur la clé le certificat émis et poser un code PIN initial, que "
        "l'opérateur remplacera par le sien à sa première connexion.",
    ]


# --- operations on the key ----------------------------------------------------------------------

def _wrong_key() -> BridgeError:
    return BridgeError("wrong_key", "Cette clé USB ne porte pas le certificat à renouveler : "
                                    "insérez la clé de l'opérateur.")


def _certificates_by_digest(session) -> dict[str, StoredCertificate]:
    return {stored.certificate.fingerprint(hashes.SHA256()).hex(): stored
            for stored in _stored_certificates(session)}


def generate_key_pair(module_path: str, instruction_text: str, instruction: dict, pin: str,
                      attempts: PinAttempts | None = None) -> dict:
    """A key pair on the instruction's key and a certificate request signed there. Returns the
    request (PEM) and the digest of its public key."""
    if not pin:
        raise _no_pin()
    renewal = instruction["kind"] == INSTRUCTION_OPERATOR_RENEWAL
    serial, key = instruction["token"]["serial"], instruction["key"]
    key_id = bytes.fromhex(key["id"])
    with _on_key(module_path, serial, attempts, action="générer la paire de clés",
                 gone="Clé USB retirée pendant la génération : rien n'a été émis. Réinsérez "
                      "la clé et recommencez.") as (lib, token):
        with token.open() as session:  # seen before the PIN: no try spent on the wrong key
            if renewal and instruction["renews"] not in _certificates_by_digest(session):
                raise _wrong_key()
            if not renewal and not looks_blank(session):
                raise _not_blank()
        with login(lib, token, pin, attempts, rw=True) as session:
            if attempts is not None:
                attempts.reset(serial)
            if not renewal and not looks_blank(session):
                raise _not_blank()
            if any(True for _ in session.get_objects({Attribute.ID: key_id})):
                raise _refused("Identifiant de clé déjà utilisé sur cette clé USB : recommencez.")
            return generation.key_pair_and_request(session, key["type"], key_id, AUTH_LABEL,
                                                   instruction_text, instruction["operator"])


def write_certificate(module_path: str, finalization: dict, pin: str, certificate_pem: object,
                      chain_pem: object, attempts: PinAttempts | None = None) -> dict:
    """Write the login certificate the finalization names, for the key pair generated under its
    id, and its CA chain; an enrolment's key then takes the initial PIN."""
    if not pin:
        raise _no_pin()
    certificate, chain, digest = generation.issued_certificate(finalization, certificate_pem,
                                                               chain_pem)
    serial = finalization["token"]["serial"]
    key_id = bytes.fromhex(finalization["key"]["id"])
    with _on_key(module_path, serial, attempts, action="recevoir le certificat",
                 gone="Clé USB retirée avant la fin de l'inscription du certificat.") as (lib, token):
        with login(lib, token, pin, attempts, rw=True) as session:
            if attempts is not None:
                attempts.reset(serial)
            generation.write_issued(session, certificate, chain, key_id, AUTH_LABEL)
            if "initial_pin" in finalization:
                session.set_pin(pin, finalization["initial_pin"])
    return {"written": True, "certificate_sha256": digest}


def abandon(module_path: str, instruction: dict, pin: str, restore_pin: object = None,
            attempts: PinAttempts | None = None) -> dict:
    """Undo a failed try on the key: the objects of its key pair go (its certificate too: the
    server revoked it or never issued it). An enrolment's key is made blank again — the CA
    certificates written with it go as well — and, when ``restore_pin`` is given (the key had
    already taken the initial PIN), the key's PIN becomes that one again."""
    if not pin:
        raise _no_pin()
    serial, key_id = instruction["token"]["serial"], bytes.fromhex(instruction["key"]["id"])
    enrolment = instruction["kind"] == INSTRUCTION_OPERATOR_ENROLMENT
    if restore_pin is not None and not (enrolment and _text(restore_pin, 64)):
        raise BridgeError("bad_request", "Code PIN à rétablir invalide.")
    with _on_key(module_path, serial, attempts, action="être remise en état") as (lib, token):
        with login(lib, token, pin, attempts, rw=True) as session:
            if attempts is not None:
                attempts.reset(serial)
            doomed = list(session.get_objects({Attribute.ID: key_id}))
            if enrolment:
                doomed += [obj for obj in session.get_objects(
                               {Attribute.CLASS: ObjectClass.CERTIFICATE})
                           if _object_id(obj) != key_id and _is_authority(obj)]
                if len(doomed) != sum(1 for _ in session.get_objects()):
                    raise _refused("Cette clé USB porte d'autres objets que ceux de cet "
                                   "enrôlement : elle n'est pas remise à blanc.")
            for obj in doomed:
                obj.destroy()
            if restore_pin is not None:
                session.set_pin(pin, restore_pin)
    return {"removed": len(doomed)}


def _object_id(obj) -> bytes:
    try:
        return obj[Attribute.ID]
    except (p11.PKCS11Error, RuntimeError):
        return b""


def _is_authority(obj) -> bool:
    try:
        certificate = x509.load_der_x509_certificate(obj[Attribute.VALUE])
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (ValueError, p11.PKCS11Error, x509.ExtensionNotFound):
        return False


def _object_of(session, stored: StoredCertificate):
    der = stored.certificate.public_bytes(serialization.Encoding.DER)
    return next(obj for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})
                if obj[Attribute.VALUE] == der)


def clean_up(module_path: str, instruction: dict, pin: str,
             attempts: PinAttempts | None = None) -> dict:
    """After a renewal the server recorded: the replaced certificate and its key pair leave the
    key, provided the new certificate is there."""
    if not pin:
        raise _no_pin()
    serial = instruction["token"]["serial"]
    with _on_key(module_path, serial, attempts, action="retirer l'ancien certificat") as (lib, token):
        with login(lib, token, pin, attempts, rw=True) as session:
            if attempts is not None:
                attempts.reset(serial)
            stored = _certificates_by_digest(session)
            if instruction["keep"] not in stored:
                raise _refused("Le nouveau certificat n'est pas sur cette clé USB : l'ancien y "
                               "reste.")
            old = stored.get(instruction["remove"])
            if old is None:
                return {"removed": 0}
            doomed = [_object_of(session, old)]
            if old.object_id and old.object_id != stored[instruction["keep"]].object_id:
                doomed += [obj for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
                           for obj in session.get_objects({Attribute.CLASS: object_class,
                                                           Attribute.ID: old.object_id})]
            for obj in doomed:
                obj.destroy()
    return {"removed": len(doomed)}


def set_first_pin(module_path: str, serial: str, instruction: dict, origin: str, pin: str,
                  new_pin: object, attempts: PinAttempts | None = None) -> dict:
    """The operator's own PIN replaces the initial one on the key carrying the instruction's
    certificate; the key then signs the PIN_SET message for the instruction's nonce."""
    if not pin:
        raise _no_pin()
    if not isinstance(new_pin, str) or not MIN_NEW_PIN <= len(new_pin) <= MAX_NEW_PIN \
            or not new_pin.isprintable():
        raise BridgeError("pin_invalid", f"Le nouveau code PIN doit compter de {MIN_NEW_PIN} à "
                                         f"{MAX_NEW_PIN} caractères.")
    if new_pin == pin:
        raise BridgeError("pin_invalid", "Choisissez un code PIN différent du code PIN initial.")
    message = build_pin_set_message(origin, instruction["nonce"])
    with _on_key(module_path, serial, attempts, action="changer de code PIN") as (lib, token):
        with token.open() as session:
            stored = _certificates_by_digest(session).get(instruction["certificate_sha256"])
        if stored is None:
            raise BridgeError("wrong_key", "Cette clé USB ne porte pas le certificat avec lequel "
                                           "vous venez de vous connecter.")
        with login(lib, token, pin, attempts, rw=True) as session:
            if attempts is not None:
                attempts.reset(serial)
            try:
                session.set_pin(pin, new_pin)
            except (p11.PinLenRange, p11.PinInvalid) as error:
                raise BridgeError("pin_invalid", "Nouveau code PIN refusé par la clé (longueur "
                                                 "ou caractères).") from error
            signature, algorithm = _sign_with_matching_key(session, stored, message)
    return {"signature": base64.b64encode(signature).decode("ascii"), "algorithm": algorithm,
            "certificate_sha256": instruction["certificate_sha256"]}
