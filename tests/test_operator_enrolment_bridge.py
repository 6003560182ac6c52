"""The token bridge's part of an operator's key, over its HTTP API on real SoftHSM2 keys:
signed instructions of the operator kinds only, what it says before acting, a whole enrolment
with its initial PIN, the operator's own PIN with its signed proof, and what it refuses. (The
server's side, with the same functions: tests/test_operator_enrolment.py.)"""
from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bridge_protocol import (INSTRUCTION_GENERATION, INSTRUCTION_OPERATOR_CLEANUP,
                             INSTRUCTION_OPERATOR_ENROLMENT, INSTRUCTION_OPERATOR_FINALIZATION,
                             INSTRUCTION_OPERATOR_PIN, INSTRUCTION_OPERATOR_RENEWAL,
                             build_pin_set_message, canonical_json)
from token_bridge import generation, provision
from token_bridge.server import create_bridge_app
from token_bridge.tokens import find_token, pkcs11_library

ORIGIN = "http://127.0.0.1:5000"
SERVER_KEY = ec.generate_private_key(ec.SECP384R1())
PIN = "1234"
NONCE = "N" * 43
HEADERS = {"Origin": ORIGIN, "Host": "127.0.0.1:8765"}


@pytest.fixture
def client(softhsm, tmp_path):
    keys = generation.InstructionKeys(fetch=lambda origin: SERVER_KEY.public_key())
    app = create_bridge_app(softhsm.module_path, [ORIGIN], tmp_path / "state", 3, port=8765,
                            instruction_keys=keys)
    return app.test_client()


@pytest.fixture
def blank(softhsm):
    return provision.init_token("vierge", PIN, "12345678", softhsm.conf_path)


def signed(data: dict, key=SERVER_KEY) -> dict:
    text = canonical_json(data)
    return {"instruction": text, "signature": base64.b64encode(
        key.sign(text.encode(), ec.ECDSA(hashes.SHA384()))).decode()}


def expires(minutes=10) -> str:
    moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)
    return moment.isoformat(timespec="seconds")


def key_pair_instruction(serial, kind=INSTRUCTION_OPERATOR_ENROLMENT, **more) -> dict:
    return {"v": 1, "kind": kind, "origin": ORIGIN, "nonce": NONCE, "expires_at": expires(),
            "operator": {"name": "Lucie Bernard", "organization": "BPOI"},
            "token": {"serial": serial, "label": "vierge"},
            "key": {"type": "EC-P256", "id": "a1b2c3d4e5f60718"}, **more}


def post(client, path, body):
    return client.post(path, json=body, headers=HEADERS)


def issue(csr: x509.CertificateSigningRequest) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AC de test")]))
        .public_key(csr.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
        .sign(SERVER_KEY, hashes.SHA384()))


def pem(certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def opens(softhsm, serial, pin) -> bool:
    with pkcs11_library(softhsm.module_path) as lib:
        try:
            with find_token(lib, serial).open(user_pin=pin):
                return True
        except Exception:  # noqa: BLE001
            return False


def test_the_bridge_says_what_it_will_do_before_anything(client, blank, softhsm):
    enrol = post(client, "/v1/operator/preview", signed(key_pair_instruction(blank)))
    assert enrol.status_code == 200
    text = " ".join(enrol.get_json()["description"])
    assert "elle doit être vierge" in text and "Lucie Bernard (BPOI)" in text
    assert "code PIN initial" in text
    renew = post(client, "/v1/operator/preview", signed(key_pair_instruction(
        blank, INSTRUCTION_OPERATOR_RENEWAL, renews="ab" * 32)))
    assert "certificat de connexion à renouveler" in " ".join(renew.get_json()["description"])


@pytest.mark.parametrize("change, status, message", [
    (lambda d: d.update(kind=INSTRUCTION_GENERATION), 403, "pas destinée"),
    (lambda d: d.update(expires_at=expires(-1)), 410, "« Enrôler sur une clé »"),
    (lambda d: d.update(origin="http://evil.example"), 403, "autre site"),
    (lambda d: d["operator"].update(name=""), 403, "opérateur"),
])
def test_instructions_out_of_their_kind_or_time_are_refused(client, blank, change, status, message):
    data = key_pair_instruction(blank)
    change(data)
    refused = post(client, "/v1/operator/key-pair", {**signed(data), "pin": PIN})
    assert refused.status_code == status and message in refused.get_json()["message"]


def test_an_instruction_not_signed_by_the_server_does_nothing(client, blank, softhsm):
    other = ec.generate_private_key(ec.SECP384R1())
    refused = post(client, "/v1/operator/key-pair",
                   {**signed(key_pair_instruction(blank), key=other), "pin": PIN})
    assert refused.status_code == 403 and "pas signée par le serveur" in refused.get_json()["message"]
    with pkcs11_library(softhsm.module_path) as lib, \
            find_token(lib, blank).open(user_pin=PIN) as session:
        assert list(session.get_objects()) == []


def test_a_whole_enrolment_then_the_operators_own_pin(client, blank, softhsm):
    made = post(client, "/v1/operator/key-pair", {**signed(key_pair_instruction(blank)), "pin": PIN})
    assert made.status_code == 200, made.get_json()
    certificate = issue(x509.load_pem_x509_csr(made.get_json()["csr_pem"].encode()))
    sha256 = certificate.fingerprint(hashes.SHA256()).hex()
    finalization = {"v": 1, "kind": INSTRUCTION_OPERATOR_FINALIZATION, "origin": ORIGIN,
                    "nonce": NONCE, "expires_at": expires(), "token": {"serial": blank, "label": ""},
                    "key": {"id": "a1b2c3d4e5f60718"}, "certificate_sha256": sha256,
                    "initial_pin": "87654321"}
    wrong = post(client, "/v1/operator/certificate", {**signed(finalization), "pin": PIN,
                                                      "certificate_pem": pem(issue(x509.load_pem_x509_csr(
                                                          made.get_json()["csr_pem"].encode())))})
    assert wrong.status_code == 403  # not the certificate the finalization names
    written = post(client, "/v1/operator/certificate", {**signed(finalization), "pin": PIN,
                                                        "certificate_pem": pem(certificate),
                                                        "chain_pem": []})
    assert written.get_json() == {"written": True, "certificate_sha256": sha256}
    assert opens(softhsm, blank, "87654321") and not opens(softhsm, blank, PIN)
    tokens = client.get("/v1/tokens", headers=HEADERS).get_json()["tokens"]
    assert tokens[0]["certificate_pem"] == pem(certificate)  # the login page will offer it

    pin_instruction = {"v": 1, "kind": INSTRUCTION_OPERATOR_PIN, "origin": ORIGIN,
                       "nonce": "P" * 43, "expires_at": expires(), "certificate_sha256": sha256}
    same = post(client, "/v1/operator/pin", {**signed(pin_instruction), "serial": blank,
                                             "pin": "87654321", "new_pin": "87654321"})
    assert same.status_code == 400 and "différent" in same.get_json()["message"]
    short = post(client, "/v1/operator/pin", {**signed(pin_instruction), "serial": blank,
                                              "pin": "87654321", "new_pin": "12"})
    assert short.status_code == 400 and "de 6 à 16 caractères" in short.get_json()["message"]
    done = post(client, "/v1/operator/pin", {**signed(pin_instruction), "serial": blank,
                                             "pin": "87654321", "new_pin": "13572468"})
    assert done.status_code == 200, done.get_json()
    signature = base64.b64decode(done.get_json()["signature"])
    certificate.public_key().verify(signature, build_pin_set_message(ORIGIN, "P" * 43),
                                    ec.ECDSA(hashes.SHA256()))
    assert opens(softhsm, blank, "13572468") and not opens(softhsm, blank, "87654321")


def test_the_pin_step_wants_the_key_of_that_certificate(client, softhsm):
    token = softhsm.make_token("operateur")
    other = softhsm.make_token("autre")
    instruction = {"v": 1, "kind": INSTRUCTION_OPERATOR_PIN, "origin": ORIGIN, "nonce": "P" * 43,
                   "expires_at": expires(),
                   "certificate_sha256": token.certificate.fingerprint(hashes.SHA256()).hex()}
    refused = post(client, "/v1/operator/pin", {**signed(instruction), "serial": other.serial,
                                                "pin": PIN, "new_pin": "13572468"})
    assert refused.status_code == 409 and "ne porte pas le certificat" in refused.get_json()["message"]
    assert opens(softhsm, other.serial, PIN)


def test_abandon_and_cleanup_touch_only_what_they_should(client, softhsm):
    token = softhsm.make_token("operateur")  # a key pair, its certificate and the CA's
    instruction = signed(key_pair_instruction(token.serial))
    refused = post(client, "/v1/operator/abandon", {**instruction, "pin": PIN})
    assert refused.status_code == 403 and "d'autres objets" in refused.get_json()["message"]
    cleanup = {"v": 1, "kind": INSTRUCTION_OPERATOR_CLEANUP, "origin": ORIGIN, "nonce": NONCE,
               "expires_at": expires(), "token": {"serial": token.serial, "label": ""},
               "keep": "cd" * 32,
               "remove": token.certificate.fingerprint(hashes.SHA256()).hex()}
    kept = post(client, "/v1/operator/cleanup", {**signed(cleanup), "pin": PIN})
    assert kept.status_code == 403 and "l'ancien y reste" in kept.get_json()["message"]
    tokens = client.get("/v1/tokens", headers=HEADERS).get_json()["tokens"]
    assert tokens[0]["certificate_pem"] == pem(token.certificate)
