"""Shared by the operator-key tests: what enrolment.js and the login page do, step by step,
through the routes, with the token bridge's functions on real SoftHSM2 keys in between."""
from __future__ import annotations

import base64
import json

from demo.generation_local import instruction_keys
from token_bridge import enrolment as bridge
from token_bridge.tokens import PinAttempts, sign_login_challenge
from bridge_protocol import (INSTRUCTION_OPERATOR_CLEANUP, INSTRUCTION_OPERATOR_FINALIZATION,
                             INSTRUCTION_OPERATOR_PIN, build_login_message)
from tests.conftest import csrf_token_from, login_as
from tests.generation_support import ORIGIN, PIN, post_json


class EnrolmentSteps:
    """The admin's page for ``target``, the bridge called in this process."""

    def __init__(self, app, client, admin, target, softhsm, attempts: PinAttempts | None = None):
        self.app, self.client, self.target, self.softhsm = app, client, target, softhsm
        self.keys = instruction_keys(app)
        self.attempts = attempts
        login_as(client, admin)
        self.base = f"/parametres/operateurs/{target.id}"
        self.csrf = csrf_token_from(client.get(f"{self.base}/enrolement").get_data(as_text=True))

    def post(self, path: str, body: dict):
        return post_json(self.client, self.base + path, body, self.csrf)

    def start(self, serial: str, key_type: str = "EC-P256", renews: int | None = None,
              label: str = "vierge"):
        body = {"serial": serial, "label": label, "key_type": key_type}
        if renews is not None:
            body["renews"] = renews
        return self.post("/enrolement/instruction", body)

    def instruction(self, response) -> tuple[str, dict]:
        data = response.get_json()
        assert response.status_code == 200, data
        kind = json.loads(data["instruction"])["kind"]
        return data["instruction"], bridge.verify_instruction(
            data["instruction"], data["signature"], kind=kind, origin=ORIGIN, keys=self.keys)

    def key_pair(self, text: str, instruction: dict, pin: str = PIN) -> dict:
        return bridge.generate_key_pair(self.softhsm.module_path, text, instruction, pin,
                                        self.attempts)

    def submit(self, nonce: str, text: str, csr_pem: str):
        return self.post("/enrolement/demande", {"nonce": nonce, "instruction": text,
                                                 "csr_pem": csr_pem})

    def write(self, issued: dict, pin: str = PIN) -> dict:
        finalization = self.verified(issued["finalization"], INSTRUCTION_OPERATOR_FINALIZATION)
        return bridge.write_certificate(self.softhsm.module_path, finalization, pin,
                                        issued["certificate_pem"], issued["chain_pem"],
                                        self.attempts)

    def written(self, nonce: str, sha256: str):
        return self.post("/enrolement/inscrit", {"nonce": nonce, "certificate_sha256": sha256})

    def failed(self, nonce, stage: str, code: str, message: str):
        return self.post("/enrolement/echec", {"nonce": nonce, "stage": stage, "code": code,
                                               "message": message})

    def verified(self, signed: dict, kind: str) -> dict:
        return bridge.verify_instruction(signed["instruction"], signed["signature"], kind=kind,
                                         origin=ORIGIN, keys=self.keys)

    def clean_up(self, done: dict, pin: str = PIN) -> dict:
        return bridge.clean_up(self.softhsm.module_path,
                               self.verified(done["cleanup"], INSTRUCTION_OPERATOR_CLEANUP), pin)

    def run(self, serial: str, *, renews: int | None = None, pin: str = PIN) -> dict:
        """The whole enrolment (or renewal); returns the server's last answer and more."""
        text, instruction = self.instruction(self.start(serial, renews=renews))
        made = self.key_pair(text, instruction, pin)
        issued = self.submit(instruction["nonce"], text, made["csr_pem"])
        assert issued.status_code == 200, issued.get_json()
        data = issued.get_json()
        self.write(data, pin)
        done = self.written(instruction["nonce"], data["certificate_sha256"])
        assert done.status_code == 200, done.get_json()
        return {**done.get_json(), "issued": data, "instruction": instruction, "text": text}


def log_in_with_key(client, module_path: str, serial: str, pin: str,
                    attempts: PinAttempts | None = None):
    """The login page's gesture: the server's nonce signed on the key, the proof posted."""
    page = client.get("/connexion").get_data(as_text=True)
    csrf = csrf_token_from(page)
    nonce = post_json(client, "/connexion/defi", {}, csrf).get_json()["nonce"]
    signature, algorithm, certificate_pem, chain_pem = sign_login_challenge(
        module_path, serial, pin, build_login_message(ORIGIN, nonce), attempts)
    answer = post_json(client, "/connexion/cle", {
        "nonce": nonce, "certificate_pem": certificate_pem, "chain_pem": chain_pem,
        "signature": base64.b64encode(signature).decode("ascii"), "algorithm": algorithm,
    }, csrf)
    return answer, csrf


def choose_first_pin(client, csrf: str, module_path: str, serial: str, answer: dict,
                     keys, pin: str, new_pin: str):
    """first_pin.js: the bridge changes the PIN and signs the nonce, the server checks it."""
    signed = answer["first_pin"]
    instruction = bridge.verify_instruction(signed["instruction"], signed["signature"],
                                            kind=INSTRUCTION_OPERATOR_PIN, origin=ORIGIN,
                                            keys=keys)
    proof = bridge.set_first_pin(module_path, serial, instruction, ORIGIN, pin, new_pin)
    return post_json(client, "/connexion/premier-code-pin", {
        "nonce": instruction["nonce"], "signature": proof["signature"],
        "algorithm": proof["algorithm"]}, csrf)
