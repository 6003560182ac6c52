"""Server side: check that a login challenge was signed by the certificate's private key.

This is only the proof of possession. The caller still verifies the certificate itself (chain,
dates, clientAuth, revocation), and that the nonce is the one it issued, once.
"""
import base64
import binascii
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

import workflow
from bridge_protocol import ALGORITHM_ECDSA, ALGORITHM_RSA, build_login_message

MIN_RSA_BITS = 2048
# Bounds for what a browser relays from the bridge: a login proof is a few kilobytes.
MAX_PEM_CHARS = 16_384
MAX_CHAIN_LENGTH = 4
MAX_SIGNATURE_CHARS = 2_048


class InvalidProof(workflow.Refused):
    """The login proof is not acceptable; `message` is shown to the operator."""


@dataclass(frozen=True)
class LoginProof:
    """What the bridge answered, as relayed by the login page."""

    certificate: x509.Certificate
    chain: list[x509.Certificate]
    signature: bytes
    algorithm: str


def verify_login_proof(
    certificate: x509.Certificate, origin: str, nonce: str, signature: bytes, algorithm: str
) -> None:
    """Raise InvalidProof unless `signature` signs build_login_message(origin, nonce)."""
    try:
        message = build_login_message(origin, nonce)
    except ValueError as error:
        raise InvalidProof("Défi de connexion invalide : rechargez la page et réessayez.") from error
    verify_signature(certificate, message, signature, algorithm)


def verify_signature(
    certificate: x509.Certificate, message: bytes, signature: bytes, algorithm: object
) -> None:
    """Raise InvalidProof unless the certificate's key made `signature` over `message` (a
    message the bridge builds itself: the login's, or another of bridge_protocol's)."""
    public_key = certificate.public_key()
    try:
        if algorithm == ALGORITHM_RSA and isinstance(public_key, rsa.RSAPublicKey):
            if public_key.key_size < MIN_RSA_BITS:
                raise InvalidProof("Clé RSA trop courte pour se connecter.")
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == ALGORITHM_ECDSA and isinstance(public_key, ec.EllipticCurvePublicKey):
            if not isinstance(public_key.curve, ec.SECP256R1):
                raise InvalidProof("Courbe elliptique non prise en charge (P-256 attendue).")
            public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            raise InvalidProof("Algorithme de signature incompatible avec la clé du certificat.")
    except InvalidSignature as error:
        raise InvalidProof(
            "La signature de connexion ne correspond pas au certificat présenté."
        ) from error


def parse_login_proof(data: object) -> LoginProof:
    """Decode the bridge's JSON answer relayed by the browser (untrusted input)."""
    if not isinstance(data, dict):
        raise InvalidProof("Réponse de la clé illisible.")
    certificate_pem = data.get("certificate_pem")
    chain_pem = data.get("chain_pem") or []
    signature_b64 = data.get("signature")
    algorithm = data.get("algorithm")
    if not isinstance(certificate_pem, str) or not isinstance(signature_b64, str):
        raise InvalidProof("Réponse de la clé incomplète.")
    if not isinstance(chain_pem, list) or len(chain_pem) > MAX_CHAIN_LENGTH:
        raise InvalidProof("Chaîne de certificats illisible.")
    if algorithm not in (ALGORITHM_RSA, ALGORITHM_ECDSA):
        raise InvalidProof("Algorithme de signature non pris en charge.")
    if len(signature_b64) > MAX_SIGNATURE_CHARS:
        raise InvalidProof("Signature de connexion illisible.")
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidProof("Signature de connexion illisible.") from error
    return LoginProof(
        certificate=_load_pem_certificate(certificate_pem),
        chain=[_load_pem_certificate(pem) for pem in chain_pem],
        signature=signature,
        algorithm=algorithm,
    )


def _load_pem_certificate(pem: object) -> x509.Certificate:
    if not isinstance(pem, str) or len(pem) > MAX_PEM_CHARS:
        raise InvalidProof("Certificat illisible.")
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise InvalidProof("Certificat illisible.") from error
