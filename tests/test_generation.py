"""Génération du certificat from the order file: the AET's list, the server's steps through
the routes (with the token bridge's functions on real SoftHSM2 keys in between), the refusals,
the failures that leave nothing half-done, and revocation by an AEA."""
from __future__ import annotations

import json
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AttributeOID, NameOID

import workflow
from models import AuditEvent, GenerationAttempt, HolderCertificate, IssuedCertificate, Order
from services.certificates import generation
from adapters.ca import get_ca
from tests.conftest import csrf_token_from, login_as
from tests.generation_support import PageSteps, blank_key, validated_order
from bridge_protocol import csr_binding
from token_bridge.tokens import BridgeError


@pytest.fixture
def aea(bpoi, make_operator):
    return make_operator(bpoi, roles="AEA", name="Camille Martin")


@pytest.fixture
def order(bpoi, make_order):
    return validated_order(make_order, bpoi)


def page_for(client, operator, order):
    login_as(client, operator)
    response = client.get(f"/commandes/{order.id}")
    return response.get_data(as_text=True), csrf_token_from(response.get_data(as_text=True))


@pytest.fixture
def steps(app, client, aet, order, softhsm):
    _, token = page_for(client, aet, order)
    return PageSteps(app, client, order, softhsm, token)


def actions(order) -> list[str]:
    return [e.action for e in AuditEvent.select().where(AuditEvent.order == order.id).order_by(AuditEvent.id)]


def details(order, action: str) -> dict:
    event = (AuditEvent.select().where((AuditEvent.order == order.id) & (AuditEvent.action == action))
             .order_by(AuditEvent.id.desc()).first())
    return json.loads(event.details)


# --- the AET's screens ---------------------------------------------------------------------------

def test_aet_lists_the_orders_to_generate_of_its_ae(client, bpoi, aet, aea, order, make_ae, make_order):
    waiting = validated_order(make_order, bpoi, number=960100, first_name="Alice", last_name="Colbert")
    make_order(bpoi, number=960101, first_name="Pas", last_name="Encore")  # still in validation
    validated_order(make_order, make_ae("AE Atlantique", ("Nantes",)), number=970001,
                    first_name="Yann", last_name="Le Goff")
    login_as(client, aet)
    html = client.get("/generation").get_data(as_text=True)
    assert "Certificats à générer" in html
    assert str(order.number) in html and "Alice Colbert" in html
    assert "960101" not in html and "Le Goff" not in html
    assert f'href="/commandes/{waiting.id}#certificat"' in html
    login_as(client, aea)
    assert client.get("/generation").status_code == 403


def test_the_order_file_offers_generation_to_the_aet_only(client, aet, aea, order):
    html, _ = page_for(client, aet, order)
    assert "Certificat du porteur" in html
    assert 'id="generation-form"' in html
    for label in ("Clé USB vierge", "Type de clé", "Code PIN de la clé vierge", "Générer le certificat",
                  "RSA 3072 bits", "EC P-256"):
        assert label in html
    assert re.search(r'<option value="RSA-3072"\s+selected>', html)
    assert "/static/js/generation.js" in html
    html, _ = page_for(client, aea, order)
    assert 'id="generation-form"' not in html and "Rôle AET requis." in html


def test_the_instruction_key_is_public(client, app):
    response = client.get("/pont/instructions.pem")
    assert response.status_code == 200
    assert response.data == generation.instruction_public_pem(app)


# --- the whole generation --------------------------------------------------------------------------

@pytest.mark.parametrize("key_type", ["EC-P256", "RSA-3072"])
def test_generation_moves_the_order_to_remise(app, client, steps, order, softhsm, key_type):
    serial = blank_key(softhsm)
    issued = steps.run(serial, key_type)

    assert Order.get_by_id(order.id).phase == workflow.PHASE_HANDOVER
    row = HolderCertificate.get(HolderCertificate.order == order.id)
    certificate = x509.load_pem_x509_certificate(issued["certificate_pem"].encode())
    assert row.written_at is not None and row.token_serial == serial and row.key_type == key_type
    assert row.fingerprint_sha256 == certificate.fingerprint(hashes.SHA256()).hex()
    assert issued["chain_pem"][0].startswith("-----BEGIN CERTIFICATE")
    certificate.verify_directly_issued_by(get_ca(app).issuing_certificate)
    assert IssuedCertificate.get(IssuedCertificate.serial_hex == row.serial_hex).kind == "holder"
    assert actions(order)[-3:] == ["generation_started", "certificate_issued", "certificate_generated"]
    assert details(order, "certificate_generated")["serial"] == row.serial_hex

    html = client.get(f"/commandes/{order.id}").get_data(as_text=True)
    assert row.serial_hex in html and row.fingerprint_sha256 in html
    assert "Certificat inscrit sur la clé USB" in html  # the audit trail
    assert re.search(r"Valide du</dt><dd>\d\d/\d\d/\d{4} \d\d:\d\d", html)
    assert "Clé remise au porteur : envoyer le code d'activation" in html
    assert 'id="generation-form"' not in html


def test_an_order_not_validated_is_refused_and_audited(client, aet, bpoi, make_order, softhsm):
    pending = make_order(bpoi, phase="validation", substate="to_validate")
    _, token = page_for(client, aet, pending)
    steps = PageSteps(client.application, client, pending, softhsm, token)
    response = steps.start(blank_key(softhsm))
    assert response.status_code == 409
    message = response.get_json()["message"]
    assert "n'est pas en phase « Génération du certificat »" in message
    assert "La commande n'a pas été validée." in message
    assert actions(pending)[-1] == "generation_refused"
    assert GenerationAttempt.select().count() == 0


def test_another_ae_s_order_answers_404(client, aet, make_ae, make_order, softhsm):
    theirs = validated_order(make_order, make_ae("AE Atlantique", ("Nantes",)), number=970001)
    login_as(client, aet)
    token = csrf_token_from(client.get("/generation").get_data(as_text=True))
    steps = PageSteps(client.application, client, theirs, softhsm, token)
    assert steps.start(blank_key(softhsm)).status_code == 404
    assert GenerationAttempt.select().count() == 0
    refused = AuditEvent.select().where(AuditEvent.action == "generation_refused").get()
    assert refused.ae_id == aet.ae_id and refused.order_id is None
    assert json.loads(refused.details)["order_id"] == theirs.id


def test_bad_choices_are_refused(steps, softhsm):
    refused = steps.start("", key_type="RSA-1024")
    assert refused.status_code == 409
    assert refused.get_json()["reasons"] == [
        "Type de clé non pris en charge : RSA 3072 bits ou EC P-256.",
        "Choisissez la clé USB ou la carte à puce vierge sur laquelle générer le certificat."]


def test_a_tampered_instruction_is_refused_and_nothing_issued(steps, order, softhsm):
    text, instruction = steps.instruction(steps.start(blank_key(softhsm)))
    made = steps.key_pair(text, instruction)
    forged = text.replace("EC-P256", "RSA-3072")
    assert forged != text
    response = steps.submit(instruction["nonce"], forged, made["csr_pem"])
    assert response.status_code == 409 and "ne correspond pas" in response.get_json()["message"]
    assert HolderCertificate.select().count() == 0
    assert GenerationAttempt.get().state == "failed"
    assert details(order, "generation_failed")["code"] == "tampered"
    assert Order.get_by_id(order.id).phase == workflow.PHASE_GENERATION


def test_a_request_made_for_another_instruction_is_refused(steps, order, softhsm):
    first_text, first = steps.instruction(steps.start(blank_key(softhsm, "cle-1")))
    made = steps.key_pair(first_text, first)
    second_text, second = steps.instruction(steps.start(blank_key(softhsm, "cle-2")))
    stale = steps.submit(first["nonce"], first_text, made["csr_pem"])
    assert stale.status_code == 409 and "plus en cours" in stale.get_json()["message"]
    mixed = steps.submit(second["nonce"], second_text, made["csr_pem"])
    assert mixed.status_code == 409
    assert "n'a pas été faite pour cette instruction" in mixed.get_json()["message"]
    assert HolderCertificate.select().count() == 0


def test_a_software_request_with_a_valid_binding_still_needs_the_right_key_type(steps, softhsm):
    text, instruction = steps.instruction(steps.start(blank_key(softhsm), key_type="RSA-3072"))
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
           .add_attribute(AttributeOID.CHALLENGE_PASSWORD, csr_binding(text).encode())
           .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    response = steps.submit(instruction["nonce"], text, csr.public_bytes(Encoding.PEM).decode())
    assert response.status_code == 409 and "pas du type demandé" in response.get_json()["message"]


def test_a_nonce_cannot_be_used_twice(steps, softhsm):
    serial = blank_key(softhsm)
    text, instruction = steps.instruction(steps.start(serial))
    made = steps.key_pair(text, instruction)
    assert steps.submit(instruction["nonce"], text, made["csr_pem"]).status_code == 200
    again = steps.submit(instruction["nonce"], text, made["csr_pem"])
    assert again.status_code == 409
    assert HolderCertificate.select().count() == 1


def test_key_removed_before_writing_revokes_the_certificate(app, client, steps, order, softhsm):
    serial = blank_key(softhsm)
    text, instruction = steps.instruction(steps.start(serial))
    made = steps.key_pair(text, instruction)
    issued = steps.submit(instruction["nonce"], text, made["csr_pem"]).get_json()
    softhsm.remove_token(serial)
    with pytest.raises(BridgeError) as gone:
        steps.write(issued)
    reason = steps.failed(instruction["nonce"], "write", gone.value.code, gone.value.message).get_json()["message"]
    assert "inscription du certificat sur la clé USB" in reason and "il a été révoqué" in reason

    row = HolderCertificate.get()
    assert row.written_at is None
    assert IssuedCertificate.get(IssuedCertificate.serial_hex == row.serial_hex).revoked_at is not None
    assert row.issued.revocation_reason == "cessationOfOperation"
    assert Order.get_by_id(order.id).phase == workflow.PHASE_GENERATION
    crl = get_ca(app).current_crl()
    assert crl.get_revoked_certificate_by_serial_number(int(row.serial_hex, 16)) is not None
    html = client.get(f"/commandes/{order.id}").get_data(as_text=True)
    assert "La dernière génération a échoué" in html and "il a été révoqué" in html
    assert "révoqué" in html and 'id="generation-form"' in html  # and one may try again


def test_wrong_pin_is_reported_and_audited(steps, order, softhsm):
    text, instruction = steps.instruction(steps.start(blank_key(softhsm)))
    with pytest.raises(BridgeError) as refused:
        steps.key_pair(text, instruction, pin="0000")
    steps.failed(instruction["nonce"], "key_pair", refused.value.code, refused.value.message)
    failure = details(order, "generation_failed")
    assert failure["code"] == "pin_incorrect" and "Code PIN incorrect" in failure["reason"]
    assert GenerationAttempt.get().state == "failed"


def test_no_key_at_all_is_audited(steps, order):
    steps.failed(None, "bridge", "no_token", "Aucune clé USB vierge détectée.")
    assert details(order, "generation_failed")["code"] == "no_token"


def test_an_unwritten_certificate_is_revoked_at_the_next_try(steps, order, softhsm):
    text, instruction = steps.instruction(steps.start(blank_key(softhsm, "cle-1")))
    made = steps.key_pair(text, instruction)
    steps.submit(instruction["nonce"], text, made["csr_pem"])  # the page closed here
    first = HolderCertificate.get()
    steps.run(blank_key(softhsm, "cle-2"))
    assert IssuedCertificate.get(IssuedCertificate.serial_hex == first.serial_hex).revoked_at is not None
    assert details(order, "generation_started")["revoked"] == [first.serial_hex]
    current = generation.current_certificate(order)
    assert current.row.id != first.id and current.revoked_at is None


class RefusingCA:
    crl_url = "http://pki.example.fr/pki/issuing.crl"

    def __init__(self, app):
        pass

    def issue_holder_certificate(self, csr, identity):
        from adapters.ca import HolderRequestRefused
        raise HolderRequestRefused("quota de certificats atteint pour cette AE.")


def test_a_ca_refusal_leaves_nothing_issued(app, steps, order, softhsm):
    app.config["RADESK_HOLDER_CA"] = "tests.test_generation:RefusingCA"
    text, instruction = steps.instruction(steps.start(blank_key(softhsm)))
    made = steps.key_pair(text, instruction)
    response = steps.submit(instruction["nonce"], text, made["csr_pem"])
    assert response.status_code == 409
    assert response.get_json()["message"] == ("L'AC a refusé la demande de certificat : quota de "
                                              "certificats atteint pour cette AE. Aucun certificat "
                                              "n'a été émis.")
    assert HolderCertificate.select().count() == 0
    assert details(order, "generation_failed")["code"] == "ca_refused"
    assert Order.get_by_id(order.id).phase == workflow.PHASE_GENERATION


# --- revocation by an AEA ---------------------------------------------------------------------------

def test_aea_revokes_with_a_reason_and_the_crl_is_served(app, client, steps, order, aea, softhsm):
    steps.run(blank_key(softhsm))
    row = HolderCertificate.get()
    html, token = page_for(client, aea, order)
    assert "Révoquer le certificat" in html and "Motif de la révocation" in html

    unconfirmed = client.post(f"/commandes/{order.id}/revocation",
                              data={"csrf_token": token, "reason": "keyCompromise"}, follow_redirects=True)
    assert "Cochez la case qui confirme la révocation" in unconfirmed.get_data(as_text=True)
    assert row.issued.revoked_at is None

    done = client.post(f"/commandes/{order.id}/revocation",
                       data={"csrf_token": token, "reason": "keyCompromise", "confirm": "1"},
                       follow_redirects=True)
    page = done.get_data(as_text=True)
    assert f"Certificat n° {row.serial_hex} révoqué (Compromission de la clé)" in page
    assert "Motif</dt><dd>Compromission de la clé" in page
    assert IssuedCertificate.get_by_id(row.issued_id).revocation_reason == "keyCompromise"
    event = details(order, "certificate_revoked")
    assert event["serial"] == row.serial_hex and event["reason"] == "keyCompromise"

    certificate = x509.load_pem_x509_certificate(row.pem.encode())
    crl_url = certificate.extensions.get_extension_for_class(
        x509.CRLDistributionPoints).value[0].full_name[0].value
    served = client.get("/" + crl_url.split("/", 3)[3])
    crl = x509.load_der_x509_crl(served.data)
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert "Révoquer le certificat" not in client.get(f"/commandes/{order.id}").get_data(as_text=True)


def test_only_an_aea_may_revoke(client, steps, order, aet, softhsm):
    steps.run(blank_key(softhsm))
    _, token = page_for(client, aet, order)
    response = client.post(f"/commandes/{order.id}/revocation",
                           data={"csrf_token": token, "reason": "keyCompromise", "confirm": "1"})
    assert response.status_code == 403


# --- the rules ------------------------------------------------------------------------------------

def test_workflow_guards_for_certificates():
    from types import SimpleNamespace as NS
    aet = NS(has_role=lambda role: role == "AET", id=1)
    aea = NS(has_role=lambda role: role == "AEA", id=2)
    order = NS(process="generation", phase="handover", otp_contact="0612345678", validated_at=1,
               id_doc_type="CNI", id_doc_number="123456789012")
    written = NS(written_at=1, revoked_at=None)
    assert workflow.delivery_blockers(order, aet, written) == []
    assert workflow.delivery_blockers(order, aet, None) == ["Aucun certificat n'a été généré pour cette commande."]
    assert workflow.delivery_blockers(order, aet, NS(written_at=None, revoked_at=None)) == [
        "Le certificat émis n'a pas été inscrit sur la clé USB."]
    assert "n'est ni un numéro de mobile" in workflow.delivery_blockers(
        NS(**{**order.__dict__, "otp_contact": "01 23"}), aet, written)[0]
    assert workflow.activation_blockers(order, NS(written_at=1, revoked_at=2)) == [
        "Le certificat de la commande a été révoqué."]
    assert workflow.after_activation(order, written) == ("done", None)
    assert workflow.holder_revocation_blockers(order, aet, written) == ["Rôle AEA requis."]
    assert workflow.holder_revocation_blockers(order, aea, NS(written_at=None, revoked_at=None)) == []
    generating = NS(**{**order.__dict__, "phase": "generation", "id_doc_number": None})
    assert workflow.generation_start_blockers(generating, aet) == [
        "Le N° de justificatif d'identité du porteur n'est pas renseigné."]
