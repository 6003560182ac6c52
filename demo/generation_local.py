"""The whole generation without a browser: the steps generation.js runs, with the token
bridge's functions called in this process instead of over HTTP. Used by the demo seeding
(holder keys on SoftHSM2), the benchmark and the tests; the checks are the same ones."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Flask

import workflow
from models import HolderCertificate, Operator, Order
from services.certificates import generation
from token_bridge import generation as bridge
from bridge_protocol import INSTRUCTION_FINALIZATION, INSTRUCTION_GENERATION


@dataclass(frozen=True)
class LocalResult:
    certificate: HolderCertificate
    activation_pin: str


def instruction_keys(app: Flask) -> bridge.InstructionKeys:
    """The bridge's view of this app's instruction key, without fetching it over HTTP."""
    return bridge.InstructionKeys(fetch=lambda origin: generation.instruction_key(app).public_key())


def generate(app: Flask, order: Order, operator: Operator, *, module_path: str, token_serial: str,
             token_label: str, pin: str, key_type: str = generation.DEFAULT_KEY_TYPE,
             origin: str | None = None, ip: str = "",
             valid_from: dt.datetime | None = None) -> LocalResult:
    """Generate ``order``'s certificate onto the blank token ``token_serial``, as the page does
    (``valid_from``: a back-dated start, see HolderIdentity).
    Raises Refused or the bridge's BridgeError; a failure is reported like the page
    reports it (the order keeps its phase, an unwritten certificate is revoked)."""
    origin = origin or app.config["RADESK_LOGIN_ORIGINS"][0]
    keys = instruction_keys(app)
    signed = generation.start(app, order, operator, token_serial=token_serial,
                              token_label=token_label, key_type=key_type, origin=origin, ip=ip)
    instruction = bridge.verify_instruction(signed.text, signed.signature,
                                            kind=INSTRUCTION_GENERATION, origin=origin, keys=keys)
    stage = "key_pair"
    try:
        made = bridge.generate_key_pair(module_path, signed.text, instruction, pin)
        stage = "request"
        issued = generation.accept_request(app, order, operator, nonce=instruction["nonce"],
                                           instruction_text=signed.text, csr_pem=made["csr_pem"],
                                           ip=ip, valid_from=valid_from)
        stage = "write"
        finalization = bridge.verify_instruction(
            issued.finalization.text, issued.finalization.signature,
            kind=INSTRUCTION_FINALIZATION, origin=origin, keys=keys)
        bridge.write_certificate(module_path, finalization, pin, _pem(issued.certificate),
                                 [_pem(c) for c in issued.chain])
        row = generation.confirm_written(app, order, operator, nonce=instruction["nonce"],
                                         certificate_sha256=finalization["certificate_sha256"],
                                         ip=ip)
    except workflow.Refused:
        raise  # decided and recorded by the server already
    except bridge.BridgeError as error:
        generation.report_failure(app, order, operator, nonce=instruction["nonce"], stage=stage,
                                  code=error.code, message=error.message, ip=ip)
        raise
    return LocalResult(row, finalization["activation_pin"])


def _pem(certificate) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding
    return certificate.public_bytes(Encoding.PEM).decode("ascii")
