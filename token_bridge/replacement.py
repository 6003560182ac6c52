"""A renewal onto the holder's own key: the generation instruction names the old certificate
(``replace``), and the bridge, once the AET confirmed, removes that certificate, its key pair
and the CA certificates written with it, so the key is blank again before the new key pair.
Nothing else is ever removed: a key holding anything more stays refused as « not blank »."""
from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11

from token_bridge.tokens import BridgeError


def replacement_problem(replace: object) -> str | None:
    """Why an instruction's ``replace`` field is malformed (None when absent or well formed)."""
    if replace is None:
        return None
    if not isinstance(replace, dict):
        return "certificat à remplacer"
    digest, serial = replace.get("certificate_sha256"), replace.get("serial")
    if not (isinstance(digest, str) and len(digest) == 64 and _is_hex(digest)):
        return "empreinte du certificat à remplacer"
    if not (isinstance(serial, str) and 0 < len(serial) <= 40 and _is_hex(serial)):
        return "N° de série du certificat à remplacer"
    return None


def _is_hex(value: str) -> bool:
    try:
        bytes.fromhex(value if len(value) % 2 == 0 else "0" + value)
        return True
    except ValueError:
        return False


def describe(token_name: str, token_serial: str, replace: dict) -> list[str]:
    return [
        f"Clé USB « {token_name} » (n° de série {token_serial}) : elle porte le certificat "
        f"actuel du porteur (N° {replace['serial']}).",
        "Supprimer de cette clé ce certificat et sa paire de clés : le porteur ne pourra plus "
        "signer avec cette clé avant l'activation du nouveau certificat.",
    ]


def not_the_holders_key() -> BridgeError:
    return BridgeError("wrong_key", "Cette clé USB ne porte pas le certificat à renouveler : "
                                    "insérez la clé du porteur, ou une clé vierge.")


def _certificate_objects(session):
    for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
        try:
            yield obj, x509.load_der_x509_certificate(obj[Attribute.VALUE])
        except (ValueError, p11.PKCS11Error):
            yield obj, None


def holds(session, certificate_sha256: str) -> bool:
    """Whether the key carries the certificate with this SHA-256 (public objects: no PIN)."""
    return any(certificate is not None
               and certificate.fingerprint(hashes.SHA256()).hex() == certificate_sha256
               for _, certificate in _certificate_objects(session))


def remove(session, certificate_sha256: str) -> None:
    """In a logged-in read-write session: the old certificate, the key pair under its id, and
    the CA certificates beside it. Raises not_the_holders_key when it is not there."""
    found = [(obj, certificate) for obj, certificate in _certificate_objects(session)
             if certificate is not None
             and certificate.fingerprint(hashes.SHA256()).hex() == certificate_sha256]
    if not found:
        raise not_the_holders_key()
    old, _ = found[0]
    key_id = old[Attribute.ID]
    doomed = [obj for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
              for obj in session.get_objects({Attribute.CLASS: object_class,
                                              Attribute.ID: key_id})]
    doomed.append(old)
    doomed += [obj for obj, certificate in _certificate_objects(session)
               if certificate is not None and _is_authority(certificate)]
    for obj in doomed:
        obj.destroy()


def _is_authority(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
