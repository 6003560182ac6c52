"""Real SoftHSM2 USB keys for tests: an isolated configuration per test, tokens carrying an
authentication key pair (generated on the token) and a certificate from a software test CA.
Tests take the ``softhsm`` fixture of tests/conftest.py:

    def test_something(softhsm):
        token = softhsm.make_token("operateur", key_type="RSA")
        ... token.serial, token.pin, token.certificate, softhsm.module_path, softhsm.ca ...
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from token_bridge import provision
from token_bridge.tokens import DEFAULT_MODULE

MODULE_PATH = os.environ.get("PKCS11_MODULE") or DEFAULT_MODULE
DEFAULT_PIN = "1234"
DEFAULT_SO_PIN = "12345678"

# cert_builder(public_key, label, ca) -> certificate, or None for a key without certificate.
CertBuilder = Callable[[object, str, "TestCA"], "x509.Certificate | None"]


class TestCA:
    """A software root CA (EC P-256) issuing operator authentication certificates."""

    __test__ = False  # not a pytest test class

    def __init__(self, common_name: str = "RA Desk Test CA"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "RA Desk tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ])
        now = _now()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def issue_client_certificate(
        self,
        public_key,
        common_name: str,
        email: str | None = None,
        days: int = 365,
        extended_key_usages=(ExtendedKeyUsageOID.CLIENT_AUTH,),
    ) -> x509.Certificate:
        now = _now()
        email = email or f"{common_name}@example.com"
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage(list(extended_key_usages)), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )


def client_certificate(public_key, label: str, ca: TestCA) -> x509.Certificate:
    """The default cert_builder: a clientAuth certificate for `label` from the test CA."""
    return ca.issue_client_certificate(public_key, label)


@dataclass
class SoftToken:
    label: str
    serial: str
    pin: str
    so_pin: str
    key_type: str
    certificate: x509.Certificate | None
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def certificate_pem(self) -> str | None:
        if self.certificate is None:
            return None
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


class SoftHSM:
    """One SoftHSM2 configuration and token directory, and a test CA for its certificates."""

    def __init__(self, directory: Path, module_path: str = MODULE_PATH):
        self.directory = Path(directory)
        self.module_path = module_path
        self.token_dir = self.directory / "tokens"
        self.conf_path = provision.write_softhsm_conf(self.directory / "softhsm2.conf", self.token_dir)
        self.ca = TestCA()

    @classmethod
    def start(cls, directory: Path, monkeypatch, module_path: str = MODULE_PATH) -> "SoftHSM":
        """Create it and point SOFTHSM2_CONF at it for the current test only."""
        softhsm = cls(directory, module_path)
        monkeypatch.setenv("SOFTHSM2_CONF", str(softhsm.conf_path))
        return softhsm

    @property
    def environment(self) -> dict[str, str]:
        """os.environ plus SOFTHSM2_CONF, for subprocesses (the bridge, flask commands)."""
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf_path), "PKCS11_MODULE": self.module_path}

    def make_token(
        self,
        label: str,
        pin: str = DEFAULT_PIN,
        so_pin: str = DEFAULT_SO_PIN,
        key_type: str = "EC",
        cert_builder: CertBuilder | None = client_certificate,
        with_chain: bool = True,
    ) -> SoftToken:
        """A token with an auth key pair (id 01, label "auth"); its certificate unless
        cert_builder is None; the test CA certificate as chain when with_chain."""
        serial = provision.init_token(label, pin, so_pin, self.conf_path)
        public_key = provision.generate_auth_keypair(self.module_path, label, pin, key_type)
        certificate = cert_builder(public_key, label, self.ca) if cert_builder else None
        chain = []
        if certificate is not None:
            provision.write_certificate(self.module_path, label, pin, certificate)
            if with_chain:
                provision.write_ca_certificate(self.module_path, label, pin, self.ca.certificate)
                chain = [self.ca.certificate]
        return SoftToken(label, serial, pin, so_pin, key_type, certificate, chain)

    def remove_token(self, serial: str) -> None:
        """Pull the key out: SoftHSM2 names a token's folder by a UUID ending with its serial."""
        for folder in self.token_dir.iterdir():
            if folder.name.replace("-", "").endswith(serial):
                shutil.rmtree(folder)
                return
        raise FileNotFoundError(f"aucun dossier de jeton pour le numéro de série {serial}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _key_usage(digital_signature=False, key_cert_sign=False, crl_sign=False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=crl_sign,
        encipher_only=False, decipher_only=False,
    )
