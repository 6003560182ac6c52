"""« Enrôler sur une clé »: an admin enrols an operator on a blank SoftHSM2 key through the
routes (the token bridge's functions called in between), the operator's first login sets their
own PIN, « Renouveler » on the same key, and the refusals and failures that leave nothing
half-done."""
from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AttributeOID, ExtendedKeyUsageOID, NameOID

from adapters.ca import get_ca
from bridge_protocol import csr_binding
from models import (AuditEvent, IssuedCertificate, LoginSession, OperatorCertificate,
                    OperatorEnrolment)
from services.operator_auth.login import trust_embedded_ca
from services.operator_enrolment import issuance, steps as enrolment_steps
from tests.e2e_support import make_operator_key
from tests.enrolment_support import EnrolmentSteps, choose_first_pin, log_in_with_key
from tests.conftest import csrf_token_from
from tests.generation_support import PIN, blank_key, post_json
from tests.text import text
from token_bridge.tokens import BridgeError, PinAttempts, pkcs11_library
from token_bridge.tokens import read_token_certificates, find_token

NEW_PIN = "24681357"


@pytest.fixture
def admin(app, bpoi, make_operator):
    trust_embedded_ca(bpoi, get_ca(app))
    return make_operator(bpoi, "Camille Martin", roles="AEA,admin")


@pytest.fixture
def target(bpoi, make_operator):
    """A new AET of BPOI, created without any usable certificate."""
    operator = make_operator(bpoi, "Lucie Bernard", roles="AET", email="lucie@bpoi.example")
    OperatorCertificate.delete().where(OperatorCertificate.operator == operator.id).execute()
    return operator


@pytest.fixture
def page(app, client, admin, target, softhsm):
    return EnrolmentSteps(app, client, admin, target, softhsm)


def actions(*codes) -> list[str]:
    return [e.action for e in AuditEvent.select().where(AuditEvent.action.in_(codes))
            .order_by(AuditEvent.id)]


def opens(softhsm, serial: str, pin: str) -> bool:
    with pkcs11_library(softhsm.module_path) as lib:
        try:
            with find_token(lib, serial).open(user_pin=pin):
                return True
        except Exception:  # noqa: BLE001 — a refused PIN, whichever PKCS#11 error says it
            return False


def key_certificates(softhsm, serial: str) -> list[x509.Certificate]:
    with pkcs11_library(softhsm.module_path) as lib, find_token(lib, serial).open() as session:
        certificates = read_token_certificates(session)
        return [certificates.auth.certificate] if certificates.auth else []


# --- the page ------------------------------------------------------------------------------

def test_the_page_is_for_the_admins_of_the_operators_ae(client, admin, target, make_ae,
                                                         make_operator):
    from tests.conftest import login_as
    login_as(client, admin)
    html = text(client.get(f"/parametres/operateurs/{target.id}/enrolement"))
    for words in ("Enrôler sur une clé", "Lucie Bernard", "Clé USB vierge", "Code PIN de la clé vierge",
                 "Enrôler sur la clé", "Associer le certificat d'une clé",
                 "Associer le certificat de cette clé", "Aucun certificat de connexion"):
        assert words in html
    other = make_operator(make_ae("AE Atlantique", ("Nantes",)), "Yann Le Goff", roles="AET")
    assert client.get(f"/parametres/operateurs/{other.id}/enrolement").status_code == 404
    csrf = csrf_token_from(client.get(f"/parametres/operateurs/{target.id}/enrolement")
                           .get_data(as_text=True))
    for step in ("enrolement/instruction", "enrolement/demande", "association/defi"):
        assert post_json(client, f"/parametres/operateurs/{other.id}/{step}", {}, csrf).status_code == 404
    assert OperatorEnrolment.select().count() == 0
    login_as(client, make_operator(admin.ae, "Julien Roux", roles="AEA,AET"))
    assert client.get(f"/parametres/operateurs/{target.id}/enrolement").status_code == 403


# --- enrolment, then the operator's first login ------------------------------------------

def test_admin_enrols_then_the_key_logs_in_once_the_operator_chose_a_pin(app, client, page, softhsm,
                                                                         target, bpoi):
    serial = blank_key(softhsm)
    done = page.run(serial)

    # The certificate: bound to the operator, issued by the embedded CA for login.
    bound = OperatorCertificate.get(OperatorCertificate.operator == target.id)
    certificate = x509.load_pem_x509_certificate(bound.pem.encode())
    assert certificate.fingerprint(hashes.SHA256()).hex() == done["issued"]["certificate_sha256"]
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Lucie BERNARD"
    assert certificate.issuer == get_ca(app).issuing_certificate.subject
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    # On the key: that certificate; the key opens with the initial PIN shown to the admin.
    assert key_certificates(softhsm, serial) == [certificate]
    assert done["initial_pin"] == enrolment_steps.initial_pin(app, bound.serial_hex)
    assert opens(softhsm, serial, done["initial_pin"]) and not opens(softhsm, serial, PIN)
    assert actions("operator_enrolment_started", "operator_certificate_issued",
                   "operator_key_enrolled") == ["operator_enrolment_started",
                                                "operator_certificate_issued",
                                                "operator_key_enrolled"]
    html = text(client.get(f"/parametres/operateurs/{target.id}/enrolement"))
    assert "Code PIN initial pas encore remplacé par l'opérateur" in html
    assert done["initial_pin"] not in html  # shown once, in the step's answer only

    # The operator's first login: no session before they chose their PIN.
    operator_client = app.test_client()
    answer, csrf = log_in_with_key(operator_client, softhsm.module_path, serial, done["initial_pin"])
    assert answer.status_code == 200 and "first_pin" in answer.get_json()
    assert "choisissez votre code PIN" in answer.get_json()["message"]
    assert operator_client.get("/commandes").status_code == 302
    chosen = choose_first_pin(operator_client, csrf, softhsm.module_path, serial, answer.get_json(),
                              page.keys, done["initial_pin"], NEW_PIN)
    assert chosen.status_code == 200, chosen.get_json()
    assert chosen.get_json()["redirect"] == "/commandes"
    assert operator_client.get("/commandes").status_code == 200
    assert opens(softhsm, serial, NEW_PIN) and not opens(softhsm, serial, done["initial_pin"])
    assert OperatorEnrolment.get().pin_set_at is not None
    assert LoginSession.get(LoginSession.operator == target.id).certificate_fingerprint == \
        bound.fingerprint_sha256
    assert "operator_first_pin_set" in actions("operator_first_pin_set")

    # From now on the key logs in at once with the operator's PIN.
    again, _ = log_in_with_key(app.test_client(), softhsm.module_path, serial, NEW_PIN)
    assert again.get_json() == {"redirect": "/commandes"}


def test_the_first_pin_proof_is_checked_and_used_once(app, page, softhsm):
    serial = blank_key(softhsm)
    done = page.run(serial)
    operator_client = app.test_client()
    answer, csrf = log_in_with_key(operator_client, softhsm.module_path, serial, done["initial_pin"])
    instruction = json.loads(answer.get_json()["first_pin"]["instruction"])
    forged = operator_client.post("/connexion/premier-code-pin", json={
        "nonce": instruction["nonce"], "signature": "QUJD", "algorithm": "ecdsa-sha256"},
        headers={"Origin": "http://127.0.0.1:5000", "X-CSRFToken": csrf})
    assert forged.status_code == 422
    assert operator_client.get("/commandes").status_code == 302
    # The nonce was bound to that browser session and is spent: reconnect.
    answer, csrf = log_in_with_key(operator_client, softhsm.module_path, serial, done["initial_pin"])
    with pytest.raises(BridgeError, match="différent"):
        choose_first_pin(operator_client, csrf, softhsm.module_path, serial, answer.get_json(),
                         page.keys, done["initial_pin"], done["initial_pin"])
    assert choose_first_pin(operator_client, csrf, softhsm.module_path, serial, answer.get_json(),
                            page.keys, done["initial_pin"], NEW_PIN).status_code == 200


# --- refusals and failures ----------------------------------------------------------------

def test_a_key_that_is_not_blank_is_refused_before_its_pin_is_tried(page, softhsm, admin):
    token = softhsm.make_token("utilisee")
    text, instruction = page.instruction(page.start(token.serial))
    with pytest.raises(BridgeError, match="n'est pas vierge"):
        page.key_pair(text, instruction, pin="0000")
    failure = page.failed(instruction["nonce"], "key_pair", "not_blank", "Cette clé USB n'est pas vierge.")
    assert failure.get_json()["undo"] is True
    row = OperatorEnrolment.get()
    assert row.state == "failed" and "n'est pas vierge" in row.failure
    assert OperatorCertificate.select().count() == 1  # the admin's only


def test_an_operator_without_email_cannot_be_enrolled(page, target, softhsm):
    target.email = None
    target.save()
    refused = page.start(blank_key(softhsm))
    assert refused.status_code == 422
    assert "n'a pas d'adresse e-mail" in refused.get_json()["message"]
    assert OperatorEnrolment.select().count() == 0
    assert actions("operator_enrolment_refused") == ["operator_enrolment_refused"]


def test_an_expired_instruction_issues_nothing(page, softhsm):
    serial = blank_key(softhsm)
    text, instruction = page.instruction(page.start(serial))
    made = page.key_pair(text, instruction)
    OperatorEnrolment.update(expires_at=OperatorEnrolment.created_at).execute()
    refused = page.submit(instruction["nonce"], text, made["csr_pem"])
    assert refused.status_code == 422 and "a expiré" in refused.get_json()["message"]
    assert IssuedCertificate.select().where(IssuedCertificate.kind == "operator").count() == 0
    assert OperatorEnrolment.get().state == "failed"


def test_a_request_must_carry_its_instruction_and_a_new_key(page, softhsm):
    serial = blank_key(softhsm)
    text, instruction = page.instruction(page.start(serial))
    software = ec.generate_private_key(ec.SECP256R1())
    other = (x509.CertificateSigningRequestBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
             .add_attribute(AttributeOID.CHALLENGE_PASSWORD, csr_binding(text + " ").encode())
             .sign(software, hashes.SHA256()).public_bytes(Encoding.PEM).decode())
    refused = page.submit(instruction["nonce"], text, other)
    assert refused.status_code == 422
    assert "n'a pas été faite pour cette instruction" in refused.get_json()["message"]

    # A key pair certified once is refused the second time, whatever the instruction.
    def request_for(text):
        return (x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
                .add_attribute(AttributeOID.CHALLENGE_PASSWORD, csr_binding(text).encode())
                .sign(software, hashes.SHA256()).public_bytes(Encoding.PEM).decode())

    text, instruction = page.instruction(page.start(serial))
    assert page.submit(instruction["nonce"], text, request_for(text)).status_code == 200
    text, instruction = page.instruction(page.start(serial))
    refused = page.submit(instruction["nonce"], text, request_for(text))
    assert "déjà été certifiée" in refused.get_json()["message"]
    # The second start revoked what the first had issued and nobody bound.
    assert IssuedCertificate.select().where(IssuedCertificate.kind == "operator",
                                            IssuedCertificate.revoked_at.is_null(False)).count() == 1


def test_a_write_that_fails_revokes_the_certificate_and_the_key_is_blank_again(page, softhsm, target):
    serial = blank_key(softhsm)
    text, instruction = page.instruction(page.start(serial))
    made = page.key_pair(text, instruction)
    issued = page.submit(instruction["nonce"], text, made["csr_pem"]).get_json()
    page.write(issued)  # written (initial PIN set), then the server could not be told
    failure = page.failed(instruction["nonce"], "record", "server_unavailable",
                          "Le serveur RA Desk ne répond pas.")
    assert failure.get_json()["undo"] is True
    assert "il a été révoqué" in failure.get_json()["message"]
    row = OperatorEnrolment.get()
    assert row.state == "failed"
    assert IssuedCertificate.get(IssuedCertificate.serial_hex == row.serial_hex).revoked_at
    assert not OperatorCertificate.select().where(OperatorCertificate.operator == target.id).exists()
    initial = json.loads(issued["finalization"]["instruction"])["initial_pin"]
    from token_bridge import enrolment as bridge
    assert bridge.abandon(softhsm.module_path, instruction, initial, PIN)["removed"] == 4
    with pkcs11_library(softhsm.module_path) as lib, find_token(lib, serial).open(user_pin=PIN) as session:
        assert list(session.get_objects()) == []  # blank, with its delivery PIN again
    # The key can be enrolled again.
    assert page.run(serial)["initial_pin"]


def test_a_key_removed_or_locked_says_why_and_leaves_nothing(app, client, admin, target, softhsm, tmp_path):
    attempts = PinAttempts(tmp_path / "state", 2)
    page = EnrolmentSteps(app, client, admin, target, softhsm, attempts)
    serial = blank_key(softhsm)
    text, instruction = page.instruction(page.start(serial))
    for _ in range(2):
        with pytest.raises(BridgeError):
            page.key_pair(text, instruction, pin="9999")
    with pytest.raises(BridgeError, match="Clé bloquée") as locked:
        page.key_pair(text, instruction)
    reason = page.failed(instruction["nonce"], "key_pair", locked.value.code,
                         locked.value.message).get_json()["message"]
    assert reason.startswith("Échec à l'étape « génération de la paire de clés sur la clé USB »")

    serial = blank_key(softhsm, "vierge-2")
    text, instruction = page.instruction(page.start(serial))
    softhsm.remove_token(serial)
    with pytest.raises(BridgeError, match="introuvable|retirée") as gone:
        page.key_pair(text, instruction)
    page.failed(instruction["nonce"], "key_pair", gone.value.code, gone.value.message)
    assert [row.state for row in OperatorEnrolment.select().order_by(OperatorEnrolment.id)] == \
        ["failed", "failed"]
    assert IssuedCertificate.select().where(IssuedCertificate.kind == "operator").count() == 0
    assert not OperatorCertificate.select().where(OperatorCertificate.operator == target.id).exists()


# --- « Renouveler » --------------------------------------------------------------------------

def test_renewal_on_the_same_key_replaces_the_certificate_once_written(app, page, softhsm, target):
    token = make_operator_key(app, softhsm, target, label="cle-lucie")
    old = OperatorCertificate.get(OperatorCertificate.operator == target.id)
    # Another key is not the one carrying the certificate.
    stranger = blank_key(softhsm, "autre")
    text, instruction = page.instruction(page.start(stranger, renews=old.id))
    with pytest.raises(BridgeError, match="ne porte pas le certificat à renouveler"):
        page.key_pair(text, instruction)

    text, instruction = page.instruction(page.start(token.serial, renews=old.id))
    made = page.key_pair(text, instruction)
    issued = page.submit(instruction["nonce"], text, made["csr_pem"]).get_json()
    assert "initial_pin" not in json.loads(issued["finalization"]["instruction"])
    page.write(issued)
    # Written, not yet recorded: the old certificate is still bound and valid.
    assert OperatorCertificate.get_by_id(old.id)
    assert IssuedCertificate.get(IssuedCertificate.serial_hex == old.serial_hex).revoked_at is None
    done = page.written(instruction["nonce"], issued["certificate_sha256"]).get_json()
    bound = OperatorCertificate.get(OperatorCertificate.operator == target.id)
    assert bound.fingerprint_sha256 == issued["certificate_sha256"]
    revoked = IssuedCertificate.get(IssuedCertificate.serial_hex == old.serial_hex)
    assert revoked.revoked_at and revoked.revocation_reason == "superseded"
    assert page.clean_up(done)["removed"] == 3
    assert [c.fingerprint(hashes.SHA256()).hex() for c in key_certificates(softhsm, token.serial)] == \
        [bound.fingerprint_sha256]
    assert opens(softhsm, token.serial, PIN)  # the operator's PIN did not change
    assert "operator_certificate_renewed" in actions("operator_certificate_renewed")
    answer, _ = log_in_with_key(app.test_client(), softhsm.module_path, token.serial, PIN)
    assert answer.get_json() == {"redirect": "/commandes"}  # no first-PIN step after a renewal


def test_an_expired_certificate_is_not_renewed(page, target, softhsm):
    from models import utcnow
    import datetime as dt
    certificate = OperatorCertificate.create(
        operator=target, fingerprint_sha256="ab" * 32, subject="CN=Lucie", issuer="CN=x",
        serial_hex="99", not_after=utcnow() - dt.timedelta(days=1), pem="")
    refused = page.start(blank_key(softhsm), renews=certificate.id)
    assert refused.status_code == 422 and "a expiré" in refused.get_json()["message"]


def test_a_revoked_certificate_is_shown_revoked_and_is_not_renewed(app, client, page, softhsm,
                                                                     target, admin):
    from formatting import paris_date
    from services.admin import operator_certificates

    token = make_operator_key(app, softhsm, target, label="cle-lucie")
    certificate = OperatorCertificate.get(OperatorCertificate.operator == target.id)
    html = client.get(f"{page.base}/enrolement").get_data(as_text=True)
    assert f"Renouveler le certificat n° {certificate.serial_hex}" in html
    revoked = operator_certificates.revoke(app, certificate, reason="keyCompromise",
                                           confirmed=True, by=admin)

    # The page says « révoqué » with its date and offers no « Renouveler ».
    row = text(client.get(f"{page.base}/enrolement")).split("Certificats de connexion")[1]
    assert f"révoqué le {paris_date(revoked.revoked_at)}" in row
    assert "Révoqué : enrôlez sur une clé vierge." in row
    html = client.get(f"{page.base}/enrolement").get_data(as_text=True)
    assert f"Renouveler le certificat n° {certificate.serial_hex}" not in html
    assert "renew-button" not in html

    # The step itself refuses it, in French, audited, with nothing started.
    refused = page.start(token.serial, renews=certificate.id)
    assert refused.status_code == 422
    assert (f"Ce certificat a été révoqué le {paris_date(revoked.revoked_at)} : il ne peut pas "
            "être renouvelé.") in refused.get_json()["message"]
    assert OperatorEnrolment.select().count() == 0
    assert actions("operator_enrolment_refused") == ["operator_enrolment_refused"]
    issued = IssuedCertificate.select().where(IssuedCertificate.kind == "operator").count()

    # Revoked after « Renouveler » was clicked: the key's request gets no certificate.
    OperatorCertificate.update(revoked_at=None).where(
        OperatorCertificate.id == certificate.id).execute()
    text_, instruction = page.instruction(page.start(token.serial, renews=certificate.id))
    made = page.key_pair(text_, instruction)
    OperatorCertificate.update(revoked_at=revoked.revoked_at).where(
        OperatorCertificate.id == certificate.id).execute()
    refused = page.submit(instruction["nonce"], text_, made["csr_pem"])
    assert refused.status_code == 422 and "a été révoqué le" in refused.get_json()["message"]
    assert IssuedCertificate.select().where(IssuedCertificate.kind == "operator").count() == issued
    attempt = OperatorEnrolment.get()
    assert attempt.state == "failed" and "a été révoqué le" in attempt.failure

    # Revoked once the new certificate is on the key: it is not bound, and reported, revoked.
    OperatorCertificate.update(revoked_at=None).where(
        OperatorCertificate.id == certificate.id).execute()
    text_, instruction = page.instruction(page.start(token.serial, renews=certificate.id))
    made = page.key_pair(text_, instruction)
    issued = page.submit(instruction["nonce"], text_, made["csr_pem"]).get_json()
    page.write(issued)
    OperatorCertificate.update(revoked_at=revoked.revoked_at).where(
        OperatorCertificate.id == certificate.id).execute()
    refused = page.written(instruction["nonce"], issued["certificate_sha256"])
    assert refused.status_code == 422 and "a été révoqué le" in refused.get_json()["message"]
    assert [c.id for c in OperatorCertificate.select().where(
        OperatorCertificate.operator == target.id)] == [certificate.id]
    page.failed(instruction["nonce"], "record", "state", refused.get_json()["message"])
    new = IssuedCertificate.get(IssuedCertificate.serial_hex == OperatorEnrolment.get(
        OperatorEnrolment.nonce == instruction["nonce"]).serial_hex)
    assert new.revoked_at is not None


def test_never_certified_reads_the_operators_certificates_too(app, target, softhsm):
    make_operator_key(app, softhsm, target, label="cle-lucie")
    bound = OperatorCertificate.get(OperatorCertificate.operator == target.id)
    key = x509.load_pem_x509_certificate(bound.pem.encode()).public_key()
    assert issuance.ever_certified(issuance.key_digest(key))
    assert not issuance.ever_certified(issuance.key_digest(
        ec.generate_private_key(ec.SECP256R1()).public_key()))


def test_the_upgrade_creates_the_enrolment_table_as_a_fresh_database_has_it(database_url):
    from tests.test_migrations import upgraded_from_v1

    database = upgraded_from_v1(database_url)
    table = OperatorEnrolment._meta.table_name
    assert ({column.name for column in database.get_columns(table)}
            == {field.column_name for field in OperatorEnrolment._meta.sorted_fields})
    assert ({index.name[:63] for index in database.get_indexes(table)
             if not index.name.endswith("_pkey")}
            == {index._name[:63] for index in OperatorEnrolment._meta.fields_to_index()})
    database.close()


def test_a_key_renewed_before_its_first_login_still_asks_for_the_operators_pin(app, page, softhsm):
    serial = blank_key(softhsm)
    done = page.run(serial)
    first = OperatorCertificate.get(OperatorCertificate.fingerprint_sha256
                                    == done["issued"]["certificate_sha256"])
    renewed = page.run(serial, renews=first.id, pin=done["initial_pin"])
    page.clean_up(renewed, pin=done["initial_pin"])
    answer, csrf = log_in_with_key(app.test_client(), softhsm.module_path, serial,
                                   done["initial_pin"])
    assert "first_pin" in answer.get_json()
