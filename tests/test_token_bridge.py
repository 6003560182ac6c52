"""The token bridge against real SoftHSM2 tokens: listing, login signatures checked by the
server-side proof, PIN retry limits, unlock, and the local HTTP API's guards."""
import base64
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pkcs11
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pkcs11 import TokenFlag

from token_bridge import provision
from services.operator_auth.login_proof import InvalidProof, parse_login_proof, verify_login_proof
from bridge_protocol import (ALGORITHM_ECDSA, ALGORITHM_RSA, LOGIN_DOMAIN,
                             build_login_message)
from token_bridge.server import create_bridge_app
from token_bridge.tokens import (BridgeError, PinAttempts, list_tokens, sign_login_challenge,
                                 unlock_token)

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = "http://127.0.0.1:5000"
OTHER_ORIGIN = "http://evil.example"
NONCE = "n0nce-" + "A" * 40
PORT = 8765
BRIDGE_URL = f"http://127.0.0.1:{PORT}"
PIN_FLAGS = TokenFlag.USER_PIN_COUNT_LOW | TokenFlag.USER_PIN_FINAL_TRY | TokenFlag.USER_PIN_LOCKED


@pytest.fixture
def attempts(tmp_path):
    return PinAttempts(tmp_path / "bridge-state", max_tries=3)


@pytest.fixture
def bridge(softhsm, tmp_path):
    app = create_bridge_app(softhsm.module_path, [ORIGIN], tmp_path / "bridge-state", 3, port=PORT)
    return app.test_client()


def sign(softhsm, token, pin=None, attempts=None, origin=ORIGIN, nonce=NONCE):
    return sign_login_challenge(
        softhsm.module_path, token.serial, token.pin if pin is None else pin,
        build_login_message(origin, nonce), attempts,
    )


def load_pem(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


def pem_of(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --- protocol ----------------------------------------------------------------------------

def test_login_message_is_domain_separated():
    assert build_login_message(ORIGIN, NONCE) == LOGIN_DOMAIN + ORIGIN.encode() + b"\0" + NONCE.encode()
    assert build_login_message("https://ra.example.fr", NONCE).startswith(b"RA-LOGIN-v1\0https://ra.example.fr\0")


@pytest.mark.parametrize("origin", [
    "", "127.0.0.1:5000", "ftp://host", "http://host/", "http://host/path", "http://user@host",
    "http://host:99999", "http://ho st", "null", "http://host\0x",
])
def test_login_message_refuses_malformed_origins(origin):
    with pytest.raises(ValueError):
        build_login_message(origin, NONCE)


@pytest.mark.parametrize("nonce", ["", "short", "A" * 31, "A" * 129, "A" * 40 + "=", "A" * 40 + "+/", "A" * 40 + "\0"])
def test_login_message_refuses_malformed_nonces(nonce):
    with pytest.raises(ValueError):
        build_login_message(ORIGIN, nonce)


# --- what SoftHSM 2.6.1 reports about PIN tries ----------------------------------------------

def test_softhsm_flags_wrong_pins_but_never_locks(softhsm):
    """Why the bridge keeps its own counter: SoftHSM sets COUNT_LOW after a failure, never
    FINAL_TRY or LOCKED, and accepts the right PIN after any number of wrong ones."""
    token = softhsm.make_token("flags", cert_builder=None)
    lib = pkcs11.lib(softhsm.module_path)
    lib.reinitialize()

    def pin_flags():
        return lib.get_token(token_serial=token.serial.encode()).flags & PIN_FLAGS

    assert pin_flags() == 0
    for _ in range(10):
        with pytest.raises(pkcs11.PinIncorrect):
            lib.get_token(token_serial=token.serial.encode()).open(user_pin="0000")
        assert pin_flags() == TokenFlag.USER_PIN_COUNT_LOW
    lib.get_token(token_serial=token.serial.encode()).open(user_pin=token.pin).close()
    assert pin_flags() == 0


# --- listing -------------------------------------------------------------------------------

def test_list_tokens_gives_auth_certificate_chain_and_pin_state(softhsm, attempts):
    ec_token = softhsm.make_token("operateur-ec")
    rsa_token = softhsm.make_token("operateur-rsa", key_type="RSA")

    listed = {t["serial"]: t for t in list_tokens(softhsm.module_path, attempts)}

    assert set(listed) == {ec_token.serial, rsa_token.serial}  # SoftHSM's blank slot is skipped
    for token in (ec_token, rsa_token):
        entry = listed[token.serial]
        assert entry["label"] == token.label
        assert entry["manufacturer"] == "SoftHSM project"
        assert entry["model"] == "SoftHSM v2"
        assert entry["certificate_pem"] == token.certificate_pem
        assert entry["chain_pem"] == [pem_of(softhsm.ca.certificate)]
        assert entry["pin_state"] == "ok"
        assert entry["tries_left"] == 3


def test_list_tokens_sees_a_token_created_after_the_first_listing(softhsm):
    softhsm.make_token("premiere")
    assert [t["label"] for t in list_tokens(softhsm.module_path)] == ["premiere"]
    softhsm.make_token("seconde")
    assert sorted(t["label"] for t in list_tokens(softhsm.module_path)) == ["premiere", "seconde"]


def test_list_tokens_offers_only_a_client_auth_certificate_of_a_key_on_the_token(softhsm):
    def signing_only(public_key, label, ca):
        return ca.issue_client_certificate(public_key, label, extended_key_usages=[ExtendedKeyUsageOID.EMAIL_PROTECTION])

    softhsm.make_token("sans-certificat", cert_builder=None)
    softhsm.make_token("signature-seule", cert_builder=signing_only)
    stranger = softhsm.make_token("etranger")
    # A colleague's certificate copied onto a key that does not hold its private key.
    softhsm.make_token("copie", cert_builder=None)
    with provision.pkcs11_library(softhsm.module_path) as lib:
        token = lib.get_token(token_label="copie")
        with token.open(rw=True, user_pin="1234") as session:
            session.create_object(provision._certificate_template(
                stranger.certificate.public_bytes(serialization.Encoding.DER), b"\x02", "auth"))

    listed = {t["label"]: t for t in list_tokens(softhsm.module_path)}

    assert listed["sans-certificat"]["certificate_pem"] is None
    assert listed["signature-seule"]["certificate_pem"] is None
    assert listed["copie"]["certificate_pem"] is None
    assert listed["etranger"]["certificate_pem"] == stranger.certificate_pem


# --- signing and the server-side proof ------------------------------------------------------

@pytest.mark.parametrize("key_type, algorithm", [("EC", ALGORITHM_ECDSA), ("RSA", ALGORITHM_RSA)])
def test_login_signature_verifies_with_the_proof_check(softhsm, attempts, key_type, algorithm):
    token = softhsm.make_token("operateur", key_type=key_type)

    signature, used_algorithm, certificate_pem, chain_pem = sign(softhsm, token, attempts=attempts)

    assert used_algorithm == algorithm
    assert certificate_pem == token.certificate_pem
    assert chain_pem == [pem_of(softhsm.ca.certificate)]
    verify_login_proof(load_pem(certificate_pem), ORIGIN, NONCE, signature, algorithm)


@pytest.mark.parametrize("key_type", ["EC", "RSA"])
def test_a_proof_for_another_origin_or_nonce_is_refused(softhsm, key_type):
    token = softhsm.make_token("operateur", key_type=key_type)
    signature, algorithm, certificate_pem, _ = sign(softhsm, token)
    certificate = load_pem(certificate_pem)

    for origin, nonce in [(OTHER_ORIGIN, NONCE), (ORIGIN, "B" * 43), ("http://127.0.0.1:5001", NONCE)]:
        with pytest.raises(InvalidProof) as refused:
            verify_login_proof(certificate, origin, nonce, signature, algorithm)
        assert "ne correspond pas" in refused.value.message
    tampered = signature[:-1] + bytes([signature[-1] ^ 1])
    with pytest.raises(InvalidProof):
        verify_login_proof(certificate, ORIGIN, NONCE, tampered, algorithm)


def test_the_proof_requires_the_algorithm_of_the_key(softhsm):
    ec_token = softhsm.make_token("operateur-ec")
    rsa_token = softhsm.make_token("operateur-rsa", key_type="RSA")
    for token, wrong in [(ec_token, ALGORITHM_RSA), (rsa_token, ALGORITHM_ECDSA), (ec_token, "ecdsa-sha1")]:
        signature, _, certificate_pem, _ = sign(softhsm, token)
        with pytest.raises(InvalidProof) as refused:
            verify_login_proof(load_pem(certificate_pem), ORIGIN, NONCE, signature, wrong)
        assert "Algorithme" in refused.value.message


def test_the_proof_refuses_a_malformed_challenge(softhsm):
    token = softhsm.make_token("operateur")
    signature, algorithm, certificate_pem, _ = sign(softhsm, token)
    with pytest.raises(InvalidProof):
        verify_login_proof(load_pem(certificate_pem), ORIGIN, "court", signature, algorithm)


def test_parse_login_proof_decodes_what_the_page_relays(softhsm):
    token = softhsm.make_token("operateur")
    signature, algorithm, certificate_pem, chain_pem = sign(softhsm, token)
    proof = parse_login_proof({
        "certificate_pem": certificate_pem, "chain_pem": chain_pem,
        "signature": base64.b64encode(signature).decode(), "algorithm": algorithm,
    })
    assert proof.certificate == token.certificate
    assert proof.chain == [softhsm.ca.certificate]
    verify_login_proof(proof.certificate, ORIGIN, NONCE, proof.signature, proof.algorithm)

    for broken in [None, {}, {"certificate_pem": certificate_pem, "signature": "!!", "algorithm": algorithm},
                   {"certificate_pem": "pas un PEM", "signature": "AA==", "algorithm": algorithm},
                   {"certificate_pem": certificate_pem, "signature": "AA==", "algorithm": "md5"}]:
        with pytest.raises(InvalidProof):
            parse_login_proof(broken)


# --- PIN failures, the bridge's own lockout, unlock ------------------------------------------

def test_wrong_pins_count_down_then_lock_the_key(softhsm, attempts):
    token = softhsm.make_token("operateur")

    with pytest.raises(BridgeError) as first:
        sign(softhsm, token, pin="0000", attempts=attempts)
    assert (first.value.code, first.value.tries_left) == ("pin_incorrect", 2)
    assert first.value.message == "Code PIN incorrect. Il reste 2 essais."
    assert list_tokens(softhsm.module_path, attempts)[0]["pin_state"] == "count_low"

    with pytest.raises(BridgeError) as second:
        sign(softhsm, token, pin="0000", attempts=attempts)
    assert (second.value.code, second.value.tries_left) == ("pin_incorrect", 1)
    assert second.value.message == "Code PIN incorrect. Il reste 1 essai."
    assert list_tokens(softhsm.module_path, attempts)[0]["pin_state"] == "final_try"

    with pytest.raises(BridgeError) as third:
        sign(softhsm, token, pin="0000", attempts=attempts)
    assert (third.value.code, third.value.tries_left) == ("pin_locked", 0)
    assert third.value.message.startswith("Clé bloquée : trop de codes PIN erronés.")

    # Locked: even the right PIN is refused, and it is not presented to the token at all.
    with pytest.raises(BridgeError) as locked:
        sign(softhsm, token, attempts=PinAttempts(attempts.state_dir, 3))  # survives a restart
    assert locked.value.code == "pin_locked"
    listed = list_tokens(softhsm.module_path, attempts)[0]
    assert (listed["pin_state"], listed["tries_left"]) == ("locked", 0)


def test_a_right_pin_resets_the_count(softhsm, attempts):
    token = softhsm.make_token("operateur")
    for _ in range(2):
        with pytest.raises(BridgeError):
            sign(softhsm, token, pin="0000", attempts=attempts)
    sign(softhsm, token, attempts=attempts)
    assert attempts.tries_left(token.serial) == 3
    with pytest.raises(BridgeError) as again:
        sign(softhsm, token, pin="0000", attempts=attempts)
    assert again.value.tries_left == 2


def test_counters_are_kept_per_key(softhsm, attempts):
    first = softhsm.make_token("premiere")
    second = softhsm.make_token("seconde")
    for _ in range(3):
        with pytest.raises(BridgeError):
            sign(softhsm, first, pin="0000", attempts=attempts)
    sign(softhsm, second, attempts=attempts)
    assert attempts.is_locked(first.serial) and not attempts.is_locked(second.serial)


def test_empty_pin_is_refused_without_spending_a_try(softhsm, attempts):
    token = softhsm.make_token("operateur")
    with pytest.raises(BridgeError) as refused:
        sign(softhsm, token, pin="", attempts=attempts)
    assert refused.value.code == "pin_empty"
    assert attempts.tries_left(token.serial) == 3


def test_unlock_command_sets_a_new_pin_and_resets_the_count(softhsm, attempts):
    token = softhsm.make_token("operateur")
    for _ in range(3):
        with pytest.raises(BridgeError):
            sign(softhsm, token, pin="0000", attempts=attempts)

    wrong_so = run_bridge_command(softhsm, attempts, "unlock", "--serial", token.serial,
                                  "--so-pin", "00000000", "--new-pin", "4321")
    assert wrong_so.returncode == 1
    assert "Code PIN administrateur incorrect." in wrong_so.stderr
    assert attempts.is_locked(token.serial)

    unlocked = run_bridge_command(softhsm, attempts, "unlock", "--serial", token.serial,
                                  "--so-pin", token.so_pin, "--new-pin", "4321")
    assert unlocked.returncode == 0, unlocked.stderr
    assert attempts.tries_left(token.serial) == 3
    signature, algorithm, certificate_pem, _ = sign(softhsm, token, pin="4321", attempts=attempts)
    verify_login_proof(load_pem(certificate_pem), ORIGIN, NONCE, signature, algorithm)
    with pytest.raises(BridgeError):
        sign(softhsm, token, attempts=attempts)  # the old PIN is gone


def test_list_command_shows_keys(softhsm, attempts):
    token = softhsm.make_token("operateur")
    listed = run_bridge_command(softhsm, attempts, "list")
    assert listed.returncode == 0, listed.stderr
    assert f"{token.serial}\toperateur\tok\tcertificat d'authentification" in listed.stdout


def test_unlock_of_an_unknown_key(softhsm, attempts):
    with pytest.raises(BridgeError) as refused:
        unlock_token(softhsm.module_path, "0123456789abcdef", "12345678", "4321", attempts)
    assert refused.value.code == "no_token"


def run_bridge_command(softhsm, attempts, *arguments):
    return subprocess.run(
        [sys.executable, "-m", "token_bridge", *arguments, "--module", softhsm.module_path,
         "--state-dir", str(attempts.state_dir)],
        cwd=ROOT, env=softhsm.environment, capture_output=True, text=True, timeout=60,
    )


# --- missing key, missing certificate ---------------------------------------------------------

def test_a_removed_or_unknown_key_is_reported(softhsm, attempts):
    token = softhsm.make_token("operateur")
    assert list_tokens(softhsm.module_path)
    softhsm.remove_token(token.serial)

    assert list_tokens(softhsm.module_path) == []
    with pytest.raises(BridgeError) as removed:
        sign(softhsm, token, attempts=attempts)
    assert (removed.value.code, removed.value.message) == (
        "no_token", "Clé USB introuvable : elle a peut-être été retirée.")
    with pytest.raises(BridgeError) as unknown:
        sign_login_challenge(softhsm.module_path, "0000000000000000", "1234", build_login_message(ORIGIN, NONCE))
    assert unknown.value.code == "no_token"


def test_a_key_without_certificate_is_reported_before_asking_the_pin(softhsm, attempts):
    token = softhsm.make_token("vierge", cert_builder=None)
    with pytest.raises(BridgeError) as refused:
        sign(softhsm, token, pin="0000", attempts=attempts)
    assert (refused.value.code, refused.value.message) == (
        "no_certificate", "Aucun certificat d'authentification sur cette clé.")
    assert attempts.tries_left(token.serial) == 3


# --- provisioning ---------------------------------------------------------------------------

@pytest.mark.parametrize("key_type", ["EC", "RSA"])
def test_csr_signed_on_the_token(softhsm, key_type):
    token = softhsm.make_token("titulaire", key_type=key_type, cert_builder=None)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Marie DUPONT")])

    csr = provision.csr_on_token(softhsm.module_path, token.label, token.pin, subject)

    assert csr.is_signature_valid
    assert csr.subject == subject
    listed = list_tokens(softhsm.module_path)[0]
    assert listed["certificate_pem"] is None  # a CSR writes nothing


def test_the_private_key_never_leaves_the_token(softhsm):
    token = softhsm.make_token("operateur")
    with provision.token_private_key(softhsm.module_path, token.label, token.pin) as private_key:
        with pytest.raises(TypeError):
            private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    with provision.pkcs11_library(softhsm.module_path) as lib:
        with lib.get_token(token_label=token.label).open(user_pin=token.pin) as session:
            key = session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, id=b"\x01")
            assert key[pkcs11.Attribute.SENSITIVE] and not key[pkcs11.Attribute.EXTRACTABLE]
            assert not key[pkcs11.Attribute.DECRYPT] and key[pkcs11.Attribute.SIGN]


def test_write_certificate_refuses_a_certificate_of_another_key(softhsm):
    holder = softhsm.make_token("titulaire", cert_builder=None)
    other = softhsm.make_token("autre")
    with pytest.raises(ValueError):
        provision.write_certificate(softhsm.module_path, holder.label, holder.pin, other.certificate)


def test_write_certificate_replaces_the_previous_one(softhsm):
    token = softhsm.make_token("operateur")
    public_key = token.certificate.public_key()
    renewed = softhsm.ca.issue_client_certificate(public_key, "operateur", days=30)
    provision.write_certificate(softhsm.module_path, token.label, token.pin, renewed)
    assert list_tokens(softhsm.module_path)[0]["certificate_pem"] == pem_of(renewed)


def test_init_token_refuses_a_label_in_use(softhsm):
    softhsm.make_token("operateur", cert_builder=None)
    with pytest.raises(ValueError):
        provision.init_token("operateur", "1234", "12345678", softhsm.conf_path)


# --- the HTTP API (Flask test client) --------------------------------------------------------

def call(bridge, method, path, origin=ORIGIN, host=f"127.0.0.1:{PORT}", **options):
    headers = dict(options.pop("headers", {}))
    if origin is not None:
        headers["Origin"] = origin
    headers["Host"] = host
    return bridge.open(path, method=method, headers=headers, base_url=BRIDGE_URL, **options)


def test_status_answers_the_allowed_origin_with_cors_headers(bridge):
    response = call(bridge, "GET", "/v1/status")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "version": 1}
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize("origin", [None, OTHER_ORIGIN, "null", "http://127.0.0.1:5000/", "http://localhost:5000"])
@pytest.mark.parametrize("method, path", [("GET", "/v1/status"), ("GET", "/v1/tokens"),
                                          ("POST", "/v1/login-signature"), ("OPTIONS", "/v1/login-signature")])
def test_other_origins_are_refused_everywhere(bridge, origin, method, path):
    response = call(bridge, method, path, origin=origin, json={"serial": "x", "pin": "1234", "nonce": NONCE})
    assert response.status_code == 403
    assert response.get_json()["error"] == "origin_refused"
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("host", ["evil.example:8765", "127.0.0.1:9999", "127.0.0.1", "localhost", "[::1]:8765"])
def test_unexpected_host_names_are_refused(bridge, host):
    response = call(bridge, "GET", "/v1/status", host=host)
    assert response.status_code == 403
    assert response.get_json()["error"] == "host_refused"


def test_localhost_host_name_is_accepted(bridge):
    assert call(bridge, "GET", "/v1/status", host=f"localhost:{PORT}").status_code == 200


def test_preflight_allows_private_network_access(bridge):
    response = call(bridge, "OPTIONS", "/v1/login-signature", headers={
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
        "Access-Control-Request-Private-Network": "true",
    })
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Private-Network"] == "true"
    assert set(response.headers["Access-Control-Allow-Methods"].replace(" ", "").split(",")) == {"GET", "POST", "OPTIONS"}
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type"

    plain = call(bridge, "OPTIONS", "/v1/tokens", headers={"Access-Control-Request-Method": "GET"})
    assert plain.status_code == 204
    assert "Access-Control-Allow-Private-Network" not in plain.headers


def test_tokens_endpoint(bridge, softhsm):
    token = softhsm.make_token("operateur")
    response = call(bridge, "GET", "/v1/tokens")
    assert response.status_code == 200
    [listed] = response.get_json()["tokens"]
    assert listed["serial"] == token.serial
    assert listed["certificate_pem"] == token.certificate_pem
    assert listed["pin_state"] == "ok"


@pytest.mark.parametrize("key_type", ["EC", "RSA"])
def test_login_signature_endpoint_signs_the_bridge_message_for_the_calling_origin(bridge, softhsm, key_type):
    token = softhsm.make_token("operateur", key_type=key_type)
    # Anything else the page sends is ignored: the bridge signs only its own message.
    response = call(bridge, "POST", "/v1/login-signature", json={
        "serial": token.serial, "pin": token.pin, "nonce": NONCE,
        "message": base64.b64encode(b"pay 1000 EUR").decode(), "data": "pay 1000 EUR", "origin": OTHER_ORIGIN,
    })
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"certificate_pem", "chain_pem", "signature", "algorithm"}
    proof = parse_login_proof(body)
    verify_login_proof(proof.certificate, ORIGIN, NONCE, proof.signature, proof.algorithm)
    with pytest.raises(InvalidProof):
        verify_login_proof(proof.certificate, OTHER_ORIGIN, NONCE, proof.signature, proof.algorithm)
    assert body["chain_pem"] == [pem_of(softhsm.ca.certificate)]


def test_login_signature_errors_are_json_in_french(bridge, softhsm):
    token = softhsm.make_token("operateur")
    payload = {"serial": token.serial, "pin": "0000", "nonce": NONCE}

    first = call(bridge, "POST", "/v1/login-signature", json=payload)
    assert first.status_code == 401
    assert first.get_json() == {"error": "pin_incorrect", "message": "Code PIN incorrect. Il reste 2 essais.",
                                "tries_left": 2}
    assert first.headers["Access-Control-Allow-Origin"] == ORIGIN
    call(bridge, "POST", "/v1/login-signature", json=payload)
    locked = call(bridge, "POST", "/v1/login-signature", json=payload)
    assert locked.status_code == 423
    assert locked.get_json()["error"] == "pin_locked"
    assert locked.get_json()["tries_left"] == 0

    empty = call(bridge, "POST", "/v1/login-signature", json={**payload, "pin": ""})
    assert (empty.status_code, empty.get_json()["error"]) == (400, "pin_empty")
    missing = call(bridge, "POST", "/v1/login-signature", json={**payload, "serial": "0000000000000000"})
    assert (missing.status_code, missing.get_json()["error"]) == (404, "no_token")
    bad_nonce = call(bridge, "POST", "/v1/login-signature", json={**payload, "nonce": "x"})
    assert (bad_nonce.status_code, bad_nonce.get_json()["error"]) == (400, "bad_request")
    not_json = call(bridge, "POST", "/v1/login-signature", data="serial=1&pin=1234",
                    content_type="application/x-www-form-urlencoded")
    assert (not_json.status_code, not_json.get_json()["error"]) == (400, "bad_request")
    too_large = call(bridge, "POST", "/v1/login-signature", data=json.dumps({**payload, "pad": "x" * 10_000}),
                     content_type="application/json")
    assert (too_large.status_code, too_large.get_json()["error"]) == (413, "too_large")
    unknown = call(bridge, "GET", "/v1/sign-anything")
    assert (unknown.status_code, unknown.get_json()["error"]) == (404, "not_found")
    wrong_method = call(bridge, "GET", "/v1/login-signature")
    assert wrong_method.status_code == 405


def test_no_certificate_over_http(bridge, softhsm):
    token = softhsm.make_token("vierge", cert_builder=None)
    response = call(bridge, "POST", "/v1/login-signature", json={"serial": token.serial, "pin": token.pin, "nonce": NONCE})
    assert (response.status_code, response.get_json()["error"]) == (409, "no_certificate")


# --- the real process -----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def bridge_process(softhsm, tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "token_bridge", "--port", str(port), "--module", softhsm.module_path,
         "--origin", ORIGIN, "--state-dir", str(tmp_path / "bridge-state")],
        cwd=ROOT, env=softhsm.environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if requests.get(f"{url}/v1/status", headers={"Origin": ORIGIN}, timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"le pont n'a pas démarré : {process.stderr.read()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def test_bridge_process_over_http(bridge_process, softhsm):
    token = softhsm.make_token("operateur", key_type="RSA")  # created while the bridge runs
    headers = {"Origin": ORIGIN}

    status = requests.get(f"{bridge_process}/v1/status", headers=headers, timeout=10)
    assert status.json() == {"ok": True, "version": 1}
    assert status.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert requests.get(f"{bridge_process}/v1/status", timeout=10).status_code == 403

    tokens = requests.get(f"{bridge_process}/v1/tokens", headers=headers, timeout=10).json()["tokens"]
    assert [t["serial"] for t in tokens] == [token.serial]

    nonce = base64.urlsafe_b64encode(b"\x07" * 32).decode().rstrip("=")
    signed = requests.post(f"{bridge_process}/v1/login-signature", headers=headers, timeout=30,
                           json={"serial": token.serial, "pin": token.pin, "nonce": nonce})
    assert signed.status_code == 200, signed.text
    proof = parse_login_proof(signed.json())
    verify_login_proof(proof.certificate, ORIGIN, nonce, proof.signature, proof.algorithm)
    assert proof.certificate == token.certificate


def test_bridge_refuses_to_listen_beyond_loopback(softhsm, tmp_path):
    refused = subprocess.run(
        [sys.executable, "-m", "token_bridge", "--host", "0.0.0.0", "--state-dir", str(tmp_path)],
        cwd=ROOT, env=softhsm.environment, capture_output=True, text=True, timeout=30,
    )
    assert refused.returncode == 2
    assert "127.0.0.1" in refused.stderr
