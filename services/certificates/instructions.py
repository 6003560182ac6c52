"""What the server tells the token bridge: instructions signed with the server's key, which
the bridge fetches and checks every instruction against, and the activation PIN a key carries
between its generation and its activation.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from adapters.atomic_files import load_or_create_key
from bridge_protocol import canonical_json
from models import HolderCertificate

INSTRUCTION_TTL = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class SignedInstruction:
    text: str        # canonical JSON, exactly as signed
    signature: str   # base64 ECDSA-P384-SHA384

    def as_json(self) -> dict:
        return {"instruction": self.text, "signature": self.signature}


_key_lock = threading.Lock()


def instruction_key(app: Flask) -> ec.EllipticCurvePrivateKey:
    """The key the server signs the bridge's instructions with (``<instance>/bridge/``)."""
    key = app.extensions.get("radesk_instruction_key")
    if key is None:
        with _key_lock:
            key = app.extensions.get("radesk_instruction_key")
            if key is None:
                folder = Path(app.config["INSTANCE_PATH"]) / "bridge"
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                key = load_or_create_key(folder / "instructions.key")
                app.extensions["radesk_instruction_key"] = key
    return key


def instruction_public_pem(app: Flask) -> bytes:
    return instruction_key(app).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign_instruction(app: Flask, data: dict) -> SignedInstruction:
    text = canonical_json(data)
    signature = instruction_key(app).sign(text.encode("utf-8"), ec.ECDSA(hashes.SHA384()))
    return SignedInstruction(text, base64.b64encode(signature).decode("ascii"))


def expires_at(now: dt.datetime) -> str:
    """An instruction's ``expires_at`` when made at ``now`` (naive UTC), in ISO 8601."""
    moment = now + INSTRUCTION_TTL
    return moment.replace(tzinfo=dt.timezone.utc).isoformat(timespec="seconds")


def activation_pin(app: Flask, certificate: HolderCertificate) -> str:
    """The PIN the key carries between generation and activation: eight digits derived from
    the instance secret and the certificate, so that it is stored nowhere."""
    digest = hmac.new(app.config["SECRET_KEY"].encode("utf-8"),
                      f"radesk-activation-pin-v1:{certificate.serial_hex}".encode("ascii"),
                      hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**8:08d}"
