"""The OCSP responder as relying parties meet it: the real `openssl ocsp` against the app
served by gunicorn, at the URL written in the holder certificates."""
from __future__ import annotations

import base64
import subprocess
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from tests.e2e_support import AppInstance, pem, start_app_server

IDENTITY = dict(given_name="Sandra", surname="Boileau", organization="Boileau Colbert Conseil",
                siren="434202180", id_document_type="CNI", id_document_number="123456789012",
                validity_years=3)


def holder_certificate(ca) -> x509.Certificate:
    from adapters.ca import HolderIdentity
    key = ec.generate_private_key(ec.SECP256R1())
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name.from_rfc4514_string("CN=Porteur"))
               .sign(key, hashes.SHA256()))
    return ca.issue_holder_certificate(request, HolderIdentity(**IDENTITY))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from adapters.ca import get_ca, serial_to_hex
    directory = tmp_path_factory.mktemp("ocsp")
    with AppInstance.create(directory) as instance:
        with instance.seeding() as app:
            ca = get_ca(app)
            certificates = {name: holder_certificate(ca)
                            for name in ("good", "to_revoke", "held", "revoked")}
            ca.revoke(serial_to_hex(certificates["held"].serial_number), "certificateHold")
            ca.revoke(serial_to_hex(certificates["revoked"].serial_number), "unspecified")
            files = {"root": ca.root_certificate, "issuing": ca.issuing_certificate,
                     **certificates}
            for name, certificate in files.items():
                (directory / f"{name}.pem").write_text(pem(certificate))
        with start_app_server(instance) as server:
            yield SimpleNamespace(instance=instance, server=server, directory=directory,
                                  certificates=certificates, url=f"{instance.url}/pki/ocsp")


def openssl_ocsp(site, *arguments, issuer: str = "issuing") -> subprocess.CompletedProcess:
    directory = site.directory
    return subprocess.run(["openssl", "ocsp", "-issuer", directory / f"{issuer}.pem",
                           *arguments, "-url", site.url],
                          capture_output=True, text=True, timeout=30)


def status_of(site, name: str, *extra) -> subprocess.CompletedProcess:
    outcome = openssl_ocsp(site, "-cert", site.directory / f"{name}.pem",
                           "-CAfile", site.directory / "root.pem", *extra)
    assert "Response verify OK" in outcome.stderr, outcome.stdout + outcome.stderr
    assert "WARNING" not in outcome.stdout + outcome.stderr  # e.g. « no nonce in response »
    return outcome


def test_holder_certificates_name_the_responder(site):
    access = site.certificates["good"].extensions.get_extension_for_class(
        x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in access
            if d.access_method == x509.AuthorityInformationAccessOID.OCSP] == [site.url]
    shown = subprocess.run(["openssl", "x509", "-noout", "-ocsp_uri", "-in",
                            site.directory / "good.pem"], capture_output=True, text=True)
    assert shown.stdout.strip() == site.url


def test_good_then_revoked_after_a_revocation(site):
    from adapters.ca import get_ca, serial_to_hex
    before = status_of(site, "to_revoke")
    assert f"{site.directory / 'to_revoke.pem'}: good" in before.stdout

    with site.instance.seeding() as app:
        get_ca(app).revoke(serial_to_hex(site.certificates["to_revoke"].serial_number),
                           "keyCompromise")
    after = status_of(site, "to_revoke")
    assert f"{site.directory / 'to_revoke.pem'}: revoked" in after.stdout
    assert "Reason: keyCompromise" in after.stdout
    assert "Revocation Time:" in after.stdout


def test_the_nonce_of_openssl_is_echoed(site, tmp_path):
    status_of(site, "good", "-reqout", tmp_path / "request.der", "-respout", tmp_path / "response.der")
    request = ocsp.load_der_ocsp_request((tmp_path / "request.der").read_bytes())
    response = ocsp.load_der_ocsp_response((tmp_path / "response.der").read_bytes())
    sent = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == sent
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    lifetime = response.next_update_utc - response.this_update_utc
    assert 0 < lifetime.total_seconds() <= 3600


def test_delegated_signer_verifies_with_vafile_and_cafile(site, tmp_path):
    signer = site.instance.instance_path / "ca" / "ocsp.crt"
    for trust in (["-VAfile", signer], ["-CAfile", site.directory / "root.pem"]):
        outcome = openssl_ocsp(site, "-cert", site.directory / "good.pem", *trust)
        assert outcome.returncode == 0, outcome.stdout + outcome.stderr
        assert "Response verify OK" in outcome.stderr
    # Trusting something else than the signer's chain fails: the check means something.
    other = openssl_ocsp(site, "-cert", site.directory / "good.pem",
                         "-VAfile", site.directory / "good.pem")
    assert "Response verify OK" not in other.stderr
    assert "Response Verify Failure" in other.stderr


def test_signer_certificate_profile_as_openssl_reads_it(site):
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                           site.instance.instance_path / "ca" / "ocsp.crt"],
                          capture_output=True, text=True).stdout
    assert "OCSP Signing" in text and "OCSP No Check" in text
    assert "Digital Signature" in text
    assert "Issuer: C = FR, O = RA Desk, CN = RA Desk Issuing CA" in text


def test_certificate_hold_and_unspecified_revocations(site):
    held = status_of(site, "held")
    assert "held.pem: revoked" in held.stdout and "Reason: certificateHold" in held.stdout
    revoked = status_of(site, "revoked")
    assert "revoked.pem: revoked" in revoked.stdout and "Reason:" not in revoked.stdout


def test_unknown_serial_is_unknown(site):
    outcome = openssl_ocsp(site, "-serial", "0x5eed1234abcd", "-CAfile", site.directory / "root.pem")
    assert "0x5eed1234abcd: unknown" in outcome.stdout, outcome.stdout + outcome.stderr
    assert "Response verify OK" in outcome.stderr


def test_another_issuer_is_unauthorized(site):
    outcome = openssl_ocsp(site, "-cert", site.directory / "issuing.pem", issuer="root")
    assert "Responder Error: unauthorized (6)" in outcome.stdout


def test_malformed_request(site):
    response = requests.post(site.url, data=b"\x30\x03garbage",
                             headers={"Content-Type": "application/ocsp-request"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(response.content).response_status == \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_several_certificates_in_one_request_are_refused_as_malformed(site):
    outcome = openssl_ocsp(site, "-cert", site.directory / "good.pem",
                           "-cert", site.directory / "held.pem")
    assert "Responder Error: malformedrequest (1)" in outcome.stdout, outcome.stdout + outcome.stderr


def test_get_form_with_cache_headers(site):
    issuing = x509.load_pem_x509_certificate((site.directory / "issuing.pem").read_bytes())
    request = (ocsp.OCSPRequestBuilder()
               .add_certificate(site.certificates["good"], issuing, hashes.SHA1())
               .add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
               .build())
    encoded = base64.b64encode(request.public_bytes(Encoding.DER)).decode("ascii")
    answer = requests.get(f"{site.url}/{quote(encoded, safe='')}", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/ocsp-response"
    cache = answer.headers["Cache-Control"]
    assert "public" in cache and "no-transform" in cache and "must-revalidate" in cache
    assert 0 < int(cache.split("max-age=")[1].split(",")[0]) <= 600
    assert answer.headers["ETag"] and answer.headers["Last-Modified"] and answer.headers["Expires"]

    response = ocsp.load_der_ocsp_response(answer.content)
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == site.certificates["good"].serial_number
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == \
        b"0123456789abcdef"
    signer = response.certificates[0]
    signer.verify_directly_issued_by(issuing)
    signer.public_key().verify(response.signature, response.tbs_response_bytes,
                               ec.ECDSA(response.signature_hash_algorithm))
