"""The token bridge's part of certificate generation and activation, on real SoftHSM2 keys:
signed instructions, key pairs generated on a blank key, the certificate request signed there,
the certificate and activation PIN written back, the holder's own PIN, and the HTTP API."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AttributeOID, NameOID
from pkcs11 import Attribute, KeyType, ObjectClass

from token_bridge import generation as bridge
from token_bridge import provision
from bridge_protocol import (INSTRUCTION_ACTIVATION, INSTRUCTION_FINALIZATION,
                             INSTRUCTION_GENERATION, KEY_EC_P256, KEY_RSA_3072,
                             canonical_json, csr_binding)
from token_bridge.server import create_bridge_app
from token_bridge.tokens import BridgeError, PinAttempts, list_tokens, pkcs11_library

ORIGIN = "http://127.0.0.1:5000"
SERVER_KEY = ec.generate_private_key(ec.SECP384R1())
PIN = "1234"


@pytest.fixture
def keys():
    return bridge.InstructionKeys(fetch=lambda origin: SERVER_KEY.public_key())


@pytest.fixture
def attempts(tmp_path):
    return PinAttempts(tmp_path / "state", 3)


@pytest.fixture
def blank(softhsm):
    serial = provision.init_token("vierge", PIN, "12345678", softhsm.conf_path)
    return serial


def signed(data: dict, key=SERVER_KEY) -> tuple[str, str]:
    text = canonical_json(data)
    signature = key.sign(text.encode(), ec.ECDSA(hashes.SHA384()))
    return text, base64.b64encode(signature).decode()


def expires(minutes=10) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)).isoformat(timespec="seconds")


def generation_instruction(serial, key_type=KEY_EC_P256, **overrides) -> dict:
    data = {"v": 1, "kind": INSTRUCTION_GENERATION, "origin": ORIGIN, "nonce": "N" * 43,
            "expires_at": expires(), "order_number": 960072,
            "holder": {"name": "Sandra BOILEAU", "organization": "Boileau Colbert Conseil"},
            "token": {"serial": serial, "label": "vierge"},
            "key": {"type": key_type, "id": "a1b2c3d4e5f60718", "label": "Signature 960072"}}
    data.update(overrides)
    return data


def verified(data: dict, keys, kind=INSTRUCTION_GENERATION) -> tuple[str, dict]:
    text, signature = signed(data)
    return text, bridge.verify_instruction(text, signature, kind=kind, origin=ORIGIN, keys=keys)


def issue_for(csr: x509.CertificateSigningRequest) -> x509.Certificate:
    """A stand-in CA (the embedded one has its own tests)."""
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AC de test")]))
        .public_key(csr.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
        .sign(SERVER_KEY, hashes.SHA384()))


def software_certificate() -> x509.Certificate:
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])).sign(
        ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    return issue_for(csr)


def finalization_for(serial, certificate, activation_pin="87654321") -> dict:
    return {"v": 1, "kind": INSTRUCTION_FINALIZATION, "origin": ORIGIN, "nonce": "N" * 43,
            "expires_at": expires(), "order_number": 960072,
            "token": {"serial": serial, "label": "vierge"}, "key": {"id": "a1b2c3d4e5f60718"},
            "certificate_sha256": certificate.fingerprint(hashes.SHA256()).hex(),
            "activation_pin": activation_pin}


def pem(certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


# --- instructions ------------------------------------------------------------------------------

def test_a_valid_instruction_is_accepted(keys, blank):
    _, instruction = verified(generation_instruction(blank), keys)
    assert instruction["token"]["serial"] == blank


@pytest.mark.parametrize("change, message", [
    (lambda d: d["key"].update(type="RSA-1024"), "type de clé"),
    (lambda d: d.update(origin="http://evil.example"), "autre site"),
    (lambda d: d.update(kind=INSTRUCTION_ACTIVATION), "pas destinée"),
    (lambda d: d.update(nonce="court"), "nonce"),
    (lambda d: d["token"].update(serial="\n"), "clé USB"),
])
def test_malformed_instructions_are_refused(keys, blank, change, message):
    data = generation_instruction(blank)
    change(data)
    with pytest.raises(BridgeError, match=message):
        verified(data, keys)


def test_a_tampered_instruction_is_refused(keys, blank):
    text, signature = signed(generation_instruction(blank))
    tampered = text.replace(KEY_EC_P256, KEY_RSA_3072)
    with pytest.raises(BridgeError, match="modifiée en chemin") as refused:
        bridge.verify_instruction(tampered, signature, kind=INSTRUCTION_GENERATION, origin=ORIGIN, keys=keys)
    assert refused.value.code == "instruction_refused"


def test_an_instruction_signed_by_another_key_is_refused(keys, blank):
    text, signature = signed(generation_instruction(blank), key=ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(BridgeError, match="pas signée par le serveur"):
        bridge.verify_instruction(text, signature, kind=INSTRUCTION_GENERATION, origin=ORIGIN, keys=keys)


def test_an_expired_instruction_is_refused(keys, blank):
    with pytest.raises(BridgeError, match="expirée") as refused:
        verified(generation_instruction(blank, expires_at=expires(-1)), keys)
    assert refused.value.code == "instruction_expired"


def test_a_new_server_key_is_fetched_again():
    old, new = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    served = [old, new]
    keys = bridge.InstructionKeys(fetch=lambda origin: served.pop(0).public_key())
    text, signature = signed(generation_instruction("1234"), key=new)
    keys.public_key(ORIGIN)  # caches the old key
    assert bridge.verify_instruction(text, signature, kind=INSTRUCTION_GENERATION, origin=ORIGIN,
                                     keys=keys)["order_number"] == 960072


def test_the_description_says_what_will_happen(keys, blank):
    _, instruction = verified(generation_instruction(blank, key_type=KEY_RSA_3072), keys)
    text = " ".join(bridge.describe_generation(instruction))
    for expected in ("« vierge »", blank, "RSA 3072 bits", "non exportable", "Sandra BOILEAU",
                     "N° 960072", "code PIN d'activation"):
        assert expected in text


# --- on the key --------------------------------------------------------------------------------

@pytest.mark.parametrize("key_type, key_class", [(KEY_EC_P256, ec.EllipticCurvePublicKey),
                                                 (KEY_RSA_3072, rsa.RSAPublicKey)])
def test_key_pair_and_request_are_made_on_the_blank_key(softhsm, keys, blank, attempts, key_type, key_class):
    text, instruction = verified(generation_instruction(blank, key_type=key_type), keys)
    made = bridge.generate_key_pair(softhsm.module_path, text, instruction, PIN, attempts)
    csr = x509.load_pem_x509_csr(made["csr_pem"].encode())
    assert csr.is_signature_valid
    assert isinstance(csr.public_key(), key_class)
    if key_type == KEY_RSA_3072:
        assert csr.public_key().key_size == 3072
    challenge = csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value
    assert challenge.decode() == csr_binding(text)
    spki = csr.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    assert made["public_key_sha256"] == hashlib.sha256(spki).hexdigest()

    with pkcs11_library(softhsm.module_path) as lib:
        token = next(t for t in lib.get_tokens() if t.label == "vierge")
        with token.open(user_pin=PIN) as session:
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY,
                                      id=bytes.fromhex("a1b2c3d4e5f60718"))
            assert private[Attribute.SENSITIVE] and not private[Attribute.EXTRACTABLE]
            assert private[Attribute.SIGN] and not private[Attribute.DECRYPT]
            assert not private[Attribute.UNWRAP]
            assert private[Attribute.TOKEN]
            assert private.key_type == (KeyType.EC if key_type == KEY_EC_P256 else KeyType.RSA)


def test_a_key_that_is_not_blank_is_refused_before_the_pin(softhsm, keys, attempts):
    used = softhsm.make_token("utilisee")
    text, instruction = verified(generation_instruction(used.serial), keys)
    with pytest.raises(BridgeError, match="pas vierge") as refused:
        bridge.generate_key_pair(softhsm.module_path, text, instruction, "0000", attempts)
    assert refused.value.code == "not_blank"
    assert attempts.failures(used.serial) == 0


def test_a_wrong_pin_is_counted_and_nothing_is_generated(softhsm, keys, blank, attempts):
    text, instruction = verified(generation_instruction(blank), keys)
    with pytest.raises(BridgeError, match="Code PIN incorrect. Il reste 2 essais."):
        bridge.generate_key_pair(softhsm.module_path, text, instruction, "0000", attempts)
    assert [t["blank"] for t in list_tokens(softhsm.module_path)] == [True]


def test_a_key_locked_by_wrong_pins_asks_for_no_more(softhsm, keys, blank, attempts):
    text, instruction = verified(generation_instruction(blank), keys)
    for _ in range(2):
        with pytest.raises(BridgeError, match="Code PIN incorrect"):
            bridge.generate_key_pair(softhsm.module_path, text, instruction, "0000", attempts)
    with pytest.raises(BridgeError, match="Clé bloquée") as locked:
        bridge.generate_key_pair(softhsm.module_path, text, instruction, "0000", attempts)
    assert locked.value.code == "pin_locked"
    with pytest.raises(BridgeError, match="Clé bloquée"):  # even the right PIN is not tried
        bridge.generate_key_pair(softhsm.module_path, text, instruction, PIN, attempts)
    assert list_tokens(softhsm.module_path, attempts)[0]["blank"]


def test_a_removed_key_is_reported(softhsm, keys, blank, attempts):
    text, instruction = verified(generation_instruction(blank), keys)
    softhsm.remove_token(blank)
    with pytest.raises(BridgeError) as refused:
        bridge.generate_key_pair(softhsm.module_path, text, instruction, PIN, attempts)
    assert refused.value.code == "no_token"


def test_certificate_written_then_activation_pin_then_holder_pin(softhsm, keys, blank, attempts):
    text, instruction = verified(generation_instruction(blank), keys)
    made = bridge.generate_key_pair(softhsm.module_path, text, instruction, PIN, attempts)
    certificate = issue_for(x509.load_pem_x509_csr(made["csr_pem"].encode()))
    _, finalization = verified(finalization_for(blank, certificate), keys, INSTRUCTION_FINALIZATION)
    chain = [pem(softhsm.ca.certificate)]
    result = bridge.write_certificate(softhsm.module_path, finalization, PIN, pem(certificate), chain, attempts)
    assert result == {"written": True, "certificate_sha256": finalization["certificate_sha256"]}

    listed = list_tokens(softhsm.module_path)[0]
    assert not listed["blank"]
    with pkcs11_library(softhsm.module_path) as lib:
        token = next(t for t in lib.get_tokens() if t.label == "vierge")
        with token.open() as session:  # certificates are public objects
            stored = {bytes(o[Attribute.ID]).hex(): x509.load_der_x509_certificate(o[Attribute.VALUE])
                      for o in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})}
    assert stored["a1b2c3d4e5f60718"] == certificate
    assert softhsm.ca.certificate in stored.values()

    # The transport PIN no longer opens the key; the activation PIN does, until the holder's own.
    with pytest.raises(BridgeError, match="Code PIN incorrect"):
        bridge.abandon_generation(softhsm.module_path, instruction, PIN, attempts)
    _, activation = verified({"v": 1, "kind": INSTRUCTION_ACTIVATION, "origin": ORIGIN,
                              "nonce": "A" * 43, "expires_at": expires(), "order_number": 960072,
                              "certificate_sha256": finalization["certificate_sha256"],
                              "activation_pin": "87654321"}, keys, INSTRUCTION_ACTIVATION)
    assert bridge.activate(softhsm.module_path, blank, activation, "24681357", attempts) == {"activated": True}
    with pkcs11_library(softhsm.module_path) as lib:
        token = next(t for t in lib.get_tokens() if t.label == "vierge")
        with token.open(user_pin="24681357") as session:
            assert len(list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))) == 1
    with pytest.raises(BridgeError, match="déjà été activée") as again:
        bridge.activate(softhsm.module_path, blank, activation, "11112222", attempts)
    assert again.value.code == "already_activated"


def test_a_certificate_for_another_key_is_not_written(softhsm, keys, blank, attempts):
    text, instruction = verified(generation_instruction(blank), keys)
    bridge.generate_key_pair(softhsm.module_path, text, instruction, PIN, attempts)
    stranger = software_certificate()
    _, finalization = verified(finalization_for(blank, stranger), keys, INSTRUCTION_FINALIZATION)
    with pytest.raises(BridgeError, match="ne correspond pas"):
        bridge.write_certificate(softhsm.module_path, finalization, PIN, pem(stranger), [], attempts)
    # Not the certificate the server named: refused before touching the key.
    with pytest.raises(BridgeError, match="pas celui que le serveur"):
        bridge.write_certificate(softhsm.module_path, finalization, PIN, pem(software_certificate()),
                                 [], attempts)


def test_abandon_removes_the_key_pair_of_a_failed_try(softhsm, keys, blank, attempts):
    text, instruction = verified(generation_instruction(blank), keys)
    bridge.generate_key_pair(softhsm.module_path, text, instruction, PIN, attempts)
    assert not list_tokens(softhsm.module_path)[0]["blank"]
    assert bridge.abandon_generation(softhsm.module_path, instruction, PIN, attempts) is True
    assert list_tokens(softhsm.module_path)[0]["blank"]


def test_activation_needs_the_key_with_the_certificate(softhsm, keys, attempts):
    other = softhsm.make_token("autre")
    _, activation = verified({"v": 1, "kind": INSTRUCTION_ACTIVATION, "origin": ORIGIN,
                              "nonce": "A" * 43, "expires_at": expires(), "order_number": 960072,
                              "certificate_sha256": "ab" * 32, "activation_pin": "87654321"},
                             keys, INSTRUCTION_ACTIVATION)
    with pytest.raises(BridgeError, match="ne porte pas le certificat"):
        bridge.activate(softhsm.module_path, other.serial, activation, "24681357", attempts)
    with pytest.raises(BridgeError, match="de 6 à 16 caractères"):
        bridge.activate(softhsm.module_path, other.serial, activation, "123", attempts)


# --- over HTTP ---------------------------------------------------------------------------------

@pytest.fixture
def client(softhsm, keys, tmp_path):
    app = create_bridge_app(softhsm.module_path, [ORIGIN], tmp_path / "state", 3, port=8765,
                            instruction_keys=keys)
    return app.test_client()


def post(client, path, body, origin=ORIGIN):
    return client.post(path, json=body, headers={"Origin": origin, "Host": "127.0.0.1:8765"})


def test_http_tokens_say_which_keys_are_blank(client, softhsm, blank):
    softhsm.make_token("operateur")
    response = client.get("/v1/tokens", headers={"Origin": ORIGIN, "Host": "127.0.0.1:8765"})
    assert {t["label"]: t["blank"] for t in response.get_json()["tokens"]} == {
        "vierge": True, "operateur": False}


def test_http_generation_round_trip(client, softhsm, blank):
    text, signature = signed(generation_instruction(blank))
    preview = post(client, "/v1/generation/preview", {"instruction": text, "signature": signature})
    assert preview.status_code == 200
    assert any("Sandra BOILEAU" in line for line in preview.get_json()["description"])
    made = post(client, "/v1/generation/key-pair", {"instruction": text, "signature": signature, "pin": PIN})
    assert made.status_code == 200, made.get_json()
    certificate = issue_for(x509.load_pem_x509_csr(made.get_json()["csr_pem"].encode()))
    fin_text, fin_signature = signed(finalization_for(blank, certificate))
    written = post(client, "/v1/generation/certificate", {
        "instruction": fin_text, "signature": fin_signature, "pin": PIN,
        "certificate_pem": pem(certificate), "chain_pem": [pem(softhsm.ca.certificate)]})
    assert written.status_code == 200, written.get_json()
    assert written.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_http_refusals_are_french_json(client, softhsm, blank):
    text, signature = signed(generation_instruction(blank))
    tampered = post(client, "/v1/generation/key-pair",
                    {"instruction": text.replace("960072", "960073"), "signature": signature, "pin": PIN})
    assert tampered.status_code == 403 and tampered.get_json()["error"] == "instruction_refused"
    assert "Aucune opération" in tampered.get_json()["message"]
    other_site = post(client, "/v1/generation/preview", {"instruction": text, "signature": signature},
                      origin="http://evil.example")
    assert other_site.status_code == 403 and other_site.get_json()["error"] == "origin_refused"
    wrong_pin = post(client, "/v1/generation/key-pair", {"instruction": text, "signature": signature, "pin": "0000"})
    assert wrong_pin.status_code == 401 and wrong_pin.get_json()["tries_left"] == 2
    not_json = client.post("/v1/generation/key-pair", data="x",
                           headers={"Origin": ORIGIN, "Host": "127.0.0.1:8765"})
    assert not_json.status_code == 400 and not_json.get_json()["message"].startswith("Requête invalide")


def test_http_login_requests_stay_small(client):
    big = post(client, "/v1/login-signature", {"pad": "x" * 10_000})
    assert big.status_code == 413
