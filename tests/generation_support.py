"""Shared by the generation tests: a validated order, blank SoftHSM2 keys, the page's steps
through the routes with the token bridge's functions in between, and the e-mails it sends."""
from __future__ import annotations

import re

from cryptography.hazmat.primitives import hashes

from models import utcnow
from demo.generation_local import instruction_keys
from token_bridge import generation as bridge
from token_bridge import provision
from bridge_protocol import INSTRUCTION_FINALIZATION, INSTRUCTION_GENERATION
from tests.text import mail_text

ORIGIN = "http://127.0.0.1:5000"
PIN = "1234"
SO_PIN = "12345678"


def validated_order(make_order, ae, **fields):
    values = dict(phase="generation", substate=None, validated_at=utcnow(), id_doc_type="CNI",
                  id_doc_number="123456789012", otp_contact="0612345678", payment_ok=True,
                  dossier_complete_ok=True, validity_years=2)
    values.update(fields)
    return make_order(ae, **values)


def blank_key(softhsm, label: str = "vierge", pin: str = PIN) -> str:
    return provision.init_token(label, pin, SO_PIN, softhsm.conf_path)


def hand_over_data(token: str, order, **changes) -> dict:
    """The hand-over form (« Remise en face à face ») as the AET fills it: the ID document the
    order records, shown by the holder today."""
    from services.key_stock.stock import today
    return {"csrf_token": token, "id_doc_type": order.id_doc_type,
            "id_doc_number": order.id_doc_number, "handed_on": today().isoformat(), **changes}


def post_json(client, url: str, body: dict, token: str):
    return client.post(url, json=body, headers={"Origin": ORIGIN, "X-CSRFToken": token})


class PageSteps:
    """What generation.js does, step by step, with the bridge's functions in this process."""

    def __init__(self, app, client, order, softhsm, csrf: str):
        self.app, self.client, self.order, self.softhsm, self.csrf = app, client, order, softhsm, csrf
        self.keys = instruction_keys(app)
        self.base = f"/commandes/{order.id}/generation"

    def start(self, serial: str, key_type: str = "EC-P256", label: str = "vierge"):
        return post_json(self.client, f"{self.base}/instruction",
                         {"serial": serial, "label": label, "key_type": key_type}, self.csrf)

    def instruction(self, response) -> tuple[str, dict]:
        data = response.get_json()
        verified = bridge.verify_instruction(data["instruction"], data["signature"],
                                             kind=INSTRUCTION_GENERATION, origin=ORIGIN, keys=self.keys)
        return data["instruction"], verified

    def key_pair(self, text: str, instruction: dict, pin: str = PIN) -> dict:
        return bridge.generate_key_pair(self.softhsm.module_path, text, instruction, pin)

    def submit(self, nonce: str, text: str, csr_pem: str):
        return post_json(self.client, f"{self.base}/demande",
                         {"nonce": nonce, "instruction": text, "csr_pem": csr_pem}, self.csrf)

    def write(self, issued: dict, pin: str = PIN) -> dict:
        finalization = bridge.verify_instruction(
            issued["finalization"]["instruction"], issued["finalization"]["signature"],
            kind=INSTRUCTION_FINALIZATION, origin=ORIGIN, keys=self.keys)
        return bridge.write_certificate(self.softhsm.module_path, finalization, pin,
                                        issued["certificate_pem"], issued["chain_pem"])

    def written(self, nonce: str, sha256: str):
        return post_json(self.client, f"{self.base}/inscrit",
                         {"nonce": nonce, "certificate_sha256": sha256}, self.csrf)

    def failed(self, nonce, stage: str, code: str, message: str):
        return post_json(self.client, f"{self.base}/echec",
                         {"nonce": nonce, "stage": stage, "code": code, "message": message}, self.csrf)

    def run(self, serial: str, key_type: str = "EC-P256") -> dict:
        """The whole generation; returns the server's answer to the request."""
        text, instruction = self.instruction(self.start(serial, key_type))
        made = self.key_pair(text, instruction)
        issued = self.submit(instruction["nonce"], text, made["csr_pem"])
        assert issued.status_code == 200, issued.get_json()
        data = issued.get_json()
        self.write(data)
        done = self.written(instruction["nonce"], data["certificate_sha256"])
        assert done.status_code == 200, done.get_json()
        return data


def activation_code(messages) -> str:
    code_mails = [m for m in messages if m["Subject"].startswith("Code d'activation")]
    return re.search(r"^(\d{6})\r?$", mail_text(code_mails[-1]), re.M).group(1)


def activation_link(messages) -> str:
    link_mails = [m for m in messages if m["Subject"].startswith("Activation de votre clé")]
    return re.search(r"https?://\S+/activation/[A-Za-z0-9_-]+", mail_text(link_mails[-1])).group(0)


def sha256_hex(certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()
