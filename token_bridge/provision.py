"""Preparing USB keys: SoftHSM2 configuration, blank tokens, key pairs, certificates, CSRs.

Used by the demo seeding, the tests and certificate generation. Key pairs are generated on
the token and never leave it; a certificate request is signed on the token through
TokenPrivateKey, a cryptography private key whose sign() calls the token.
"""
import hashlib
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

from asn1crypto.algos import DigestInfo
from asn1crypto.core import Null
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_ecdsa_signature, encode_named_curve_parameters
from pkcs11.util.x509 import decode_x509_certificate

from token_bridge.tokens import (
    AUTH_KEY_ID,
    AUTH_LABEL,
    find_token_by_label,
    login,
    pkcs11_library,
    public_key_info_der,
)

SOFTHSM2_UTIL = "softhsm2-util"
DEFAULT_RSA_BITS = 2048


# --- SoftHSM2 ------------------------------------------------------------------------------

def write_softhsm_conf(conf_path: Path | str, token_dir: Path | str) -> Path:
    """A SoftHSM2 configuration keeping its tokens in `token_dir` (point SOFTHSM2_CONF at it)."""
    conf_path, token_dir = Path(conf_path), Path(token_dir)
    token_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    conf_path.parent.mkdir(parents=True, exist_ok=True)
    conf_path.write_text(
        f"directories.tokendir = {token_dir.resolve()}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
    )
    return conf_path


def activate_softhsm_conf(conf_path: Path | str) -> None:
    """Point this process's PKCS#11 calls at `conf_path`.

    softhsm2-util gets the configuration explicitly, but the SoftHSM2 module loaded in this
    process reads SOFTHSM2_CONF when (re)initialized, which every call here does.
    """
    os.environ["SOFTHSM2_CONF"] = str(Path(conf_path).resolve())


def init_token(label: str, pin: str, so_pin: str, softhsm_conf: Path | str) -> str:
    """Initialize a new SoftHSM2 token and return its serial.

    python-pkcs11 has no C_InitToken, hence softhsm2-util. `--free` picks a random slot id:
    tokens are found again by label or serial, never by slot.
    """
    if any(existing_label == label for _, existing_label in softhsm_tokens(softhsm_conf)):
        raise ValueError(f"un jeton porte déjà le libellé {label!r}")
    _softhsm2_util(
        softhsm_conf,
        "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", pin,
    )
    serials = [serial for serial, existing_label in softhsm_tokens(softhsm_conf) if existing_label == label]
    if len(serials) != 1:
        raise RuntimeError(f"jeton {label!r} introuvable après son initialisation")
    return serials[0]


def delete_token(label: str, softhsm_conf: Path | str) -> None:
    """Remove a SoftHSM2 token (and its keys) by label, e.g. one left by an interrupted run."""
    _softhsm2_util(softhsm_conf, "--delete-token", "--token", label)


def softhsm_tokens(softhsm_conf: Path | str) -> list[tuple[str, str]]:
    """(serial, label) of the initialized tokens, as softhsm2-util --show-slots reports them."""
    output = _softhsm2_util(softhsm_conf, "--show-slots")
    tokens, serial = [], None
    for line in output.splitlines():
        name, _, value = line.strip().partition(":")
        if name == "Serial number":
            serial = value.strip()
        elif name == "Label" and serial:
            tokens.append((serial, value.strip()))
            serial = None
    return tokens


def _softhsm2_util(softhsm_conf: Path | str, *arguments: str) -> str:
    environment = {**os.environ, "SOFTHSM2_CONF": str(softhsm_conf)}
    completed = subprocess.run(
        [SOFTHSM2_UTIL, *arguments], env=environment, capture_output=True, text=True, timeout=60
    )
    if completed.returncode != 0:
        # The command line holds PINs: report only softhsm2-util's own words.
        raise RuntimeError(f"softhsm2-util a échoué : {completed.stderr.strip() or completed.stdout.strip()}")
    return completed.stdout


# --- Key pairs and certificates on a token ---------------------------------------------------

def generate_keypair(
    module_path: str,
    token_label: str,
    pin: str,
    key_type: str = "EC",
    key_id: bytes = AUTH_KEY_ID,
    label: str = AUTH_LABEL,
    rsa_bits: int = DEFAULT_RSA_BITS,
):
    """Generate a signing key pair on the token; return its public key (cryptography object)."""
    with pkcs11_library(module_path) as lib:
        token = find_token_by_label(lib, token_label)
        with login(lib, token, pin, rw=True) as session:
            if any(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: key_id})):
                raise ValueError(f"une clé privée d'identifiant {key_id.hex()} existe déjà sur {token_label!r}")
            public, _ = generate_keypair_in_session(session, key_type, key_id, label, rsa_bits)
            return serialization.load_der_public_key(public_key_info_der(public))


def generate_keypair_in_session(session, key_type: str, key_id: bytes, label: str,
                                rsa_bits: int = DEFAULT_RSA_BITS):
    """A signing key pair stored on the token of a read-write user session: the private key
    sensitive, never extractable, sign-only. Returns the PKCS#11 (public, private) objects."""
    private_template = {
        Attribute.EXTRACTABLE: False,
        Attribute.SENSITIVE: True,
        Attribute.PRIVATE: True,
    }
    common = {
        "id": key_id,
        "label": label,
        "store": True,  # the default is a session key that vanishes
        "capabilities": MechanismFlag.SIGN | MechanismFlag.VERIFY,  # the default adds decrypt/unwrap
        "private_template": private_template,
    }
    if key_type == "EC":
        return session.generate_keypair(
            KeyType.EC,
            public_template={Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            **common,
        )
    if key_type == "RSA":
        return session.generate_keypair(KeyType.RSA, rsa_bits, **common)
    raise ValueError(f"type de clé inconnu : {key_type!r} (EC ou RSA)")


def generate_auth_keypair(module_path: str, token_label: str, pin: str, key_type: str = "EC"):
    """The operator's authentication key pair: id 01, label "auth"."""
    return generate_keypair(module_path, token_label, pin, key_type, AUTH_KEY_ID, AUTH_LABEL)


def write_certificate(
    module_path: str,
    token_label: str,
    pin: str,
    certificate: x509.Certificate,
    key_id: bytes = AUTH_KEY_ID,
    label: str = AUTH_LABEL,
) -> None:
    """Store the certificate of the key pair `key_id`, replacing a previous one with that id."""
    with pkcs11_library(module_path) as lib:
        token = find_token_by_label(lib, token_label)
        with login(lib, token, pin, rw=True) as session:
            write_certificate_in_session(session, certificate, key_id, label)


def write_certificate_in_session(session, certificate: x509.Certificate, key_id: bytes,
                                 label: str) -> None:
    der = certificate.public_bytes(serialization.Encoding.DER)
    for public in session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: key_id}):
        if public_key_info_der(public) != _spki(certificate):
            raise ValueError("le certificat ne correspond pas à la clé publique de ce jeton")
    for previous in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.ID: key_id}):
        previous.destroy()
    session.create_object(_certificate_template(der, key_id, label))


def write_ca_certificate(
    module_path: str, token_label: str, pin: str, certificate: x509.Certificate, label: str | None = None
) -> None:
    """Store an authority certificate of the holder's chain (once: an identical copy is skipped)."""
    with pkcs11_library(module_path) as lib:
        token = find_token_by_label(lib, token_label)
        with login(lib, token, pin, rw=True) as session:
            write_ca_certificate_in_session(session, certificate, label)


def write_ca_certificate_in_session(session, certificate: x509.Certificate,
                                    label: str | None = None) -> None:
    der = certificate.public_bytes(serialization.Encoding.DER)
    object_id = hashlib.sha1(_spki(certificate)).digest()  # distinct from key pair ids, stable
    if label is None:
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        label = str(names[0].value) if names else "ca"
    for existing in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
        if existing[Attribute.VALUE] == der:
            return
    session.create_object(_certificate_template(der, object_id, label))


def _certificate_template(der: bytes, object_id: bytes, label: str) -> dict:
    template = decode_x509_certificate(der)
    template.update({
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,  # readable before login, to pick the key at the login page
        Attribute.ID: object_id,
        Attribute.LABEL: label,
    })
    return template


def _spki(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- The token's private key as a cryptography key -------------------------------------------

class TokenPrivateKey:
    """A private key that stays on the token; sign() runs there.

    Use TokenPrivateKey.wrap() (or token_private_key()) to get the RSA or EC flavour that
    cryptography's builders accept. Valid only while its PKCS#11 session is open.
    """

    def __init__(self, pkcs11_key, public_key):
        self._pkcs11_key = pkcs11_key
        self._public_key = public_key

    @staticmethod
    def wrap(pkcs11_key, public_key) -> "TokenRSAPrivateKey | TokenECPrivateKey":
        if isinstance(public_key, rsa.RSAPublicKey):
            return TokenRSAPrivateKey(pkcs11_key, public_key)
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            return TokenECPrivateKey(pkcs11_key, public_key)
        raise UnsupportedAlgorithm("seules les clés RSA et EC sont prises en charge")

    def public_key(self):
        return self._public_key

    @property
    def key_size(self) -> int:
        return self._public_key.key_size

    def private_bytes(self, *arguments, **keywords):
        raise TypeError("la clé privée ne peut pas quitter la clé USB")

    def private_numbers(self):
        raise TypeError("la clé privée ne peut pas quitter la clé USB")

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def _digest(data: bytes, algorithm) -> tuple[bytes, hashes.HashAlgorithm]:
    if isinstance(algorithm, utils.Prehashed):
        return data, algorithm._algorithm
    hasher = hashes.Hash(algorithm)
    hasher.update(data)
    return hasher.finalize(), algorithm


class TokenRSAPrivateKey(TokenPrivateKey, rsa.RSAPrivateKey):
    def sign(self, data: bytes, padding_: padding.AsymmetricPadding, algorithm) -> bytes:
        if not isinstance(padding_, padding.PKCS1v15):
            raise UnsupportedAlgorithm("seul le remplissage PKCS#1 v1.5 est pris en charge")
        digest, hash_algorithm = _digest(data, algorithm)
        # Hash here and sign the DigestInfo with raw CKM_RSA_PKCS: one path for every hash.
        digest_info = DigestInfo({
            "digest_algorithm": {"algorithm": hash_algorithm.name, "parameters": Null()},  # PKCS#1 wants an explicit NULL
            "digest": digest,
        }).dump()
        return self._pkcs11_key.sign(digest_info, mechanism=Mechanism.RSA_PKCS)

    def decrypt(self, ciphertext: bytes, padding_: padding.AsymmetricPadding) -> bytes:
        raise UnsupportedAlgorithm("clé de signature uniquement")


class TokenECPrivateKey(TokenPrivateKey, ec.EllipticCurvePrivateKey):
    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public_key.curve

    def sign(self, data: bytes, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise UnsupportedAlgorithm("seul ECDSA est pris en charge")
        digest, _ = _digest(data, signature_algorithm.algorithm)
        # SoftHSM has no CKM_ECDSA_SHA256: sign the digest, then DER-encode r‖s.
        raw = self._pkcs11_key.sign(digest, mechanism=Mechanism.ECDSA)
        return encode_ecdsa_signature(raw)

    def exchange(self, algorithm, peer_public_key) -> bytes:
        raise UnsupportedAlgorithm("clé de signature uniquement")


@contextmanager
def token_private_key(module_path: str, token_label: str, pin: str, key_id: bytes = AUTH_KEY_ID):
    """Log in and yield the key pair `key_id` as a TokenPrivateKey, for the session's lifetime."""
    with pkcs11_library(module_path) as lib:
        token = find_token_by_label(lib, token_label)
        with login(lib, token, pin) as session:
            try:
                private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
                public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=key_id)
            except (p11.NoSuchKey, p11.MultipleObjectsReturned) as error:
                raise ValueError(f"pas de paire de clés unique d'identifiant {key_id.hex()} sur {token_label!r}") from error
            yield TokenPrivateKey.wrap(private, serialization.load_der_public_key(public_key_info_der(public)))


def csr_on_token(
    module_path: str, token_label: str, pin: str, subject: x509.Name, key_id: bytes = AUTH_KEY_ID
) -> x509.CertificateSigningRequest:
    """A certificate request for the key pair `key_id`, signed on the token (SHA-256)."""
    with token_private_key(module_path, token_label, pin, key_id) as private_key:
        return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(private_key, hashes.SHA256())
