"""The holder's qualified signing certificate issued by the embedded CA: subject rebuilt from
the order, ETSI profile checked by pkilint, chain and CRL checked by openssl."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from models import IssuedCertificate
from adapters.ca import holder as profile
from adapters.ca import HolderIdentity, HolderRequestRefused, get_ca, serial_to_hex

PKI_URL = "https://pki.radesk.example.fr"
LINT = Path(sys.executable).with_name("lint_etsi_cert")
RSA_KEY = rsa.generate_private_key(65537, 3072)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
IDENTITY = HolderIdentity(given_name="Sandra", surname="Boileau",
                          organization="Boileau Colbert Conseil", siren="434202180",
                          id_document_type="CNI", id_document_number="123456789012",
                          validity_years=3, policy_oid="1.2.250.1.999.1.2.3")


@pytest.fixture
def ca(app):
    app.config["RADESK_PKI_URL"] = PKI_URL
    return get_ca(app)


def request_for(key, subject="CN=Quelqu'un d'autre,O=Pas la société") -> x509.CertificateSigningRequest:
    name = x509.Name.from_rfc4514_string(subject)
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())


def pem(certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def attribute(name: x509.Name, oid) -> str:
    return name.get_attributes_for_oid(oid)[0].value


def test_subject_comes_from_the_order_not_from_the_request(ca):
    certificate = ca.issue_holder_certificate(request_for(RSA_KEY), IDENTITY)
    subject = certificate.subject
    assert attribute(subject, NameOID.COUNTRY_NAME) == "FR"
    assert attribute(subject, NameOID.ORGANIZATION_NAME) == "Boileau Colbert Conseil"
    assert attribute(subject, NameOID.ORGANIZATION_IDENTIFIER) == "NTRFR-434202180"
    assert attribute(subject, NameOID.GIVEN_NAME) == "Sandra"
    assert attribute(subject, NameOID.SURNAME) == "Boileau"
    assert attribute(subject, NameOID.COMMON_NAME) == "Sandra BOILEAU"
    assert attribute(subject, NameOID.SERIAL_NUMBER) == "IDCFR-123456789012"
    assert "Quelqu'un" not in subject.rfc4514_string()
    assert certificate.public_key().public_numbers() == RSA_KEY.public_key().public_numbers()
    row = IssuedCertificate.get(IssuedCertificate.serial_hex == serial_to_hex(certificate.serial_number))
    assert row.kind == "holder"


def test_profile_extensions(ca):
    certificate = ca.issue_holder_certificate(request_for(EC_KEY), IDENTITY)
    extensions = certificate.extensions
    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.content_commitment and not usage.value.digital_signature
    assert not extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    policies = [p.policy_identifier.dotted_string
                for p in extensions.get_extension_for_class(x509.CertificatePolicies).value]
    assert policies == ["0.4.0.194112.1.2", "1.2.250.1.999.1.2.3"]
    crl = extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    assert crl == "http://pki.radesk.example.fr/pki/issuing.crl"
    aia = extensions.get_extension_for_class(x509.AuthorityInformationAccess).value[0]
    assert aia.access_location.value == "http://pki.radesk.example.fr/pki/issuing.crt"
    with pytest.raises(x509.ExtensionNotFound):
        extensions.get_extension_for_class(x509.ExtendedKeyUsage)

    qc = extensions.get_extension_for_oid(x509.ObjectIdentifier(profile.QC_STATEMENTS_OID))
    statements = profile._QcStatements.load(qc.value.value)
    ids = [s["statement_id"].dotted for s in statements]
    assert ids == [profile.QC_SYNTAX_V2, profile.QC_COMPLIANCE, profile.QC_SSCD,
                   profile.QC_TYPE, profile.QC_PDS]
    semantics = profile._SemanticsInformation.load(statements[0]["statement_info"].dump())
    assert semantics["semantics_identifier"].dotted == profile.SEMANTICS_NATURAL
    types = profile._QcTypes.load(statements[3]["statement_info"].dump())
    assert [t.dotted for t in types] == [profile.QC_TYPE_ESIGN]
    pds = profile._PdsLocations.load(statements[4]["statement_info"].dump())
    assert {(p["language"].native, p["url"].native) for p in pds} == {
        ("en", "https://pki.radesk.example.fr/pki/pds/en"),
        ("fr", "https://pki.radesk.example.fr/pki/pds/fr")}


@pytest.mark.parametrize("years", [1, 2, 3])
def test_validity_follows_the_order(ca, years):
    identity = HolderIdentity(**{**IDENTITY.__dict__, "validity_years": years})
    certificate = ca.issue_holder_certificate(request_for(EC_KEY), identity)
    days = (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days
    assert 365 * years - 1 <= days <= 366 * years


@pytest.mark.parametrize("key", [RSA_KEY, EC_KEY], ids=["rsa3072", "ec-p256"])
def test_pkilint_finds_nothing_and_openssl_verifies(ca, tmp_path, key):
    certificate = ca.issue_holder_certificate(request_for(key), IDENTITY)
    (tmp_path / "leaf.pem").write_bytes(pem(certificate))
    lint = subprocess.run([str(LINT), "lint", "-d", "-o", "-s", "WARNING", str(tmp_path / "leaf.pem")],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "QCP-N-QSCD-EIDAS-FINAL-CERTIFICATE" in lint.stderr
    (tmp_path / "root.pem").write_bytes(pem(ca.root_certificate))
    (tmp_path / "issuing.pem").write_bytes(pem(ca.issuing_certificate))
    (tmp_path / "crls.pem").write_bytes(ca.current_crl().public_bytes(serialization.Encoding.PEM)
                                        + ca.current_root_crl().public_bytes(serialization.Encoding.PEM))
    verify = subprocess.run(["openssl", "verify", "-x509_strict", "-crl_check_all",
                             "-CRLfile", tmp_path / "crls.pem", "-CAfile", tmp_path / "root.pem",
                             "-untrusted", tmp_path / "issuing.pem", tmp_path / "leaf.pem"],
                            capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stdout.strip().endswith(": OK"), verify.stdout + verify.stderr


def test_a_request_whose_signature_does_not_verify_is_refused(ca):
    genuine = request_for(EC_KEY).public_bytes(serialization.Encoding.DER)
    tampered = bytearray(genuine)
    tampered[-5] ^= 0x01  # inside the signature
    csr = x509.load_der_x509_csr(bytes(tampered))
    with pytest.raises(HolderRequestRefused, match="signature de la demande"):
        ca.issue_holder_certificate(csr, IDENTITY)


@pytest.mark.parametrize("key, message", [
    (rsa.generate_private_key(65537, 2048), "Clé RSA de 2048 bits refusée"),
    (ec.generate_private_key(ec.SECP384R1()), "P-256 attendue"),
])
def test_weak_or_unexpected_keys_are_refused(ca, key, message):
    with pytest.raises(HolderRequestRefused, match=message):
        ca.issue_holder_certificate(request_for(key), IDENTITY)


def test_validity_and_identity_document_are_required(ca):
    with pytest.raises(HolderRequestRefused, match="1 à 3 ans"):
        ca.issue_holder_certificate(request_for(EC_KEY), HolderIdentity(**{**IDENTITY.__dict__, "validity_years": 4}))
    with pytest.raises(HolderRequestRefused, match="justificatif d'identité"):
        ca.issue_holder_certificate(request_for(EC_KEY), HolderIdentity(**{**IDENTITY.__dict__, "id_document_number": ""}))
    assert IssuedCertificate.select().where(IssuedCertificate.kind == "holder").count() == 0


def test_passport_gives_a_pas_identifier(ca):
    identity = HolderIdentity(**{**IDENTITY.__dict__, "id_document_type": "PASSEPORT",
                                 "id_document_number": "19AB12345"})
    certificate = ca.issue_holder_certificate(request_for(EC_KEY), identity)
    assert attribute(certificate.subject, NameOID.SERIAL_NUMBER) == "PASFR-19AB12345"


def test_pds_pages_are_served(client):
    english = client.get("/pki/pds/en")
    assert english.status_code == 200 and "PKI Disclosure Statement" in english.get_data(as_text=True)
    assert "Déclaration de divulgation" in client.get("/pki/pds/fr").get_data(as_text=True)
    assert client.get("/pki/pds/de").status_code == 404


def test_asn1_any_round_trip_is_der():
    # The qcStatements are DER: re-encoding what was parsed gives the same bytes.
    extension = profile.qc_statements({"en": "https://a.example.fr/pds"})
    assert profile._QcStatements.load(extension.value).dump(force=True) == extension.value
