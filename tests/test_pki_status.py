"""Certificate status kept fresh: the delegated OCSP signer (profile, key file, renewal), the
responder's edge cases through the app, the scheduled CRL re-issue, a CRL of many entries, and
migration 28 naming each register row's issuer."""
from __future__ import annotations

import base64
import datetime as dt
import random
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from playhouse.db_url import connect
from playhouse.migrate import migrate

import scheduler
from adapters.ca import authority, get_ca, serial_to_hex
from adapters.ca import ocsp as responder_module
from adapters.ca.embedded import EmbeddedCA
from models import IssuedCertificate, db

KEY = ec.generate_private_key(ec.SECP256R1())
NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def ca(app):
    return get_ca(app)


def operator_certificate(ca) -> x509.Certificate:
    return ca.issue_operator_certificate(KEY.public_key(), given_name="Camille", surname="Martin",
                                         email="camille@bpoi.example", organization="BPOI")


def request_for(ca, certificate, *, nonce: bytes | None = None, algorithm=hashes.SHA1()) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, ca.issuing_certificate,
                                                        algorithm)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


def crl_number(crl) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def published(ca, name: str) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl((ca.directory / f"{name}.crl").read_bytes())


def key_id(certificate: x509.Certificate) -> str:
    return certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value.digest.hex()


def later(monkeypatch, **delta) -> dt.datetime:
    moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(**delta)
    monkeypatch.setattr(authority, "now_utc", lambda: moment)
    return moment


# --- the delegated OCSP signer --------------------------------------------------------------

def test_delegated_signer_profile_key_file_and_register(ca):
    signer = ca.ocsp_responder.signer
    certificate = signer.certificate
    certificate.verify_directly_issued_by(ca.issuing_certificate)
    extensions = certificate.extensions
    assert list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.OCSP_SIGNING]
    assert extensions.get_extension_for_class(x509.OCSPNoCheck)
    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not usage.value.content_commitment and not usage.value.key_cert_sign
    assert not extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert dt.timedelta(days=29) < lifetime <= dt.timedelta(days=31)

    key_file = ca.directory / "ocsp.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert certificate.public_key() == signer.key.public_key()
    row = IssuedCertificate.get(IssuedCertificate.serial_hex == serial_to_hex(certificate.serial_number))
    assert row.kind == "ocsp" and row.issuer_key_id == key_id(ca.issuing_certificate)


def test_signer_is_renewed_before_its_end_and_adopted_by_other_processes(ca, monkeypatch):
    first = ca.ocsp_responder.signer.certificate
    moment = later(monkeypatch, days=21)  # 9 days left: within the renewal margin
    answer = ocsp.load_der_ocsp_response(
        ca.ocsp_responder.respond(request_for(ca, operator_certificate(ca))).der)
    renewed = answer.certificates[0]
    assert renewed.serial_number != first.serial_number
    assert renewed.public_key() == first.public_key()  # same key file, new certificate
    assert renewed.not_valid_after_utc > moment + dt.timedelta(days=29)
    assert x509.load_pem_x509_certificate((ca.directory / "ocsp.crt").read_bytes()) == renewed

    # Another process (its own CA object) reads the renewed file rather than renewing again.
    other = EmbeddedCA.open(ca.directory.parent, "http://localhost")
    assert other.ocsp_responder.signer.certificate == renewed
    assert IssuedCertificate.select().where(IssuedCertificate.kind == "ocsp").count() == 2


def test_refresh_job_renews_signer_and_republishes_due_crls(app, ca, monkeypatch):
    issuing, root = crl_number(ca.current_crl()), crl_number(ca.current_root_crl())
    signer = ca.ocsp_responder.signer.certificate
    job = {job.id: job for job in scheduler.jobs(app)}[scheduler.PKI_REFRESH_JOB]
    assert job.trigger == {"trigger": "interval", "hours": 1.0}

    assert scheduler.run_job(app, job) == []  # all fresh: nothing re-issued
    assert crl_number(ca.current_crl()) == issuing

    later(monkeypatch, days=6, hours=1)  # less than a day before the CRLs' nextUpdate
    assert scheduler.run_job(app, job) == ["issuing.crl", "root.crl"]
    assert crl_number(published(ca, "issuing")) == issuing + 1
    assert crl_number(published(ca, "root")) == root + 1
    assert ca.ocsp_responder.signer.certificate == signer

    later(monkeypatch, days=21)  # and the signer's certificate has 9 days left
    assert scheduler.run_job(app, job) == ["issuing.crl", "root.crl", "ocsp.crt"]
    assert ca.ocsp_responder.signer.certificate != signer


def test_crls_are_reissued_at_least_daily(ca, monkeypatch):
    number = crl_number(ca.current_crl())
    ca.current_root_crl()
    later(monkeypatch, hours=23)
    assert ca.refresh() == []
    later(monkeypatch, days=1, minutes=1)
    assert ca.refresh() == ["issuing.crl", "root.crl"]
    crl = published(ca, "issuing")
    assert crl_number(crl) == number + 1
    assert crl.next_update_utc - crl.last_update_utc > dt.timedelta(days=7)


# --- the responder's answers, through the app ------------------------------------------------

def test_post_answers_with_the_revocation_and_nonce(ca, client):
    certificate = operator_certificate(ca)
    ca.revoke(serial_to_hex(certificate.serial_number), "superseded")
    response = client.post("/pki/ocsp", data=request_for(ca, certificate, nonce=b"n" * 16),
                           content_type="application/ocsp-request")
    assert response.status_code == 200 and response.mimetype == "application/ocsp-response"
    answer = ocsp.load_der_ocsp_response(response.data)
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.superseded
    row = IssuedCertificate.get(IssuedCertificate.serial_hex == serial_to_hex(certificate.serial_number))
    assert answer.revocation_time_utc == authority.aware_utc(row.revoked_at).replace(microsecond=0)
    assert answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n" * 16
    assert answer.responder_key_hash == ca.ocsp_responder.signer.certificate.extensions \
        .get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def test_sha256_cert_ids_are_answered_too(ca, client):
    certificate = operator_certificate(ca)
    response = client.post("/pki/ocsp", data=request_for(ca, certificate, algorithm=hashes.SHA256()))
    answer = ocsp.load_der_ocsp_response(response.data)
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert isinstance(answer.hash_algorithm, hashes.SHA256)


def test_ca_certificate_serials_are_unknown_to_the_issuing_ca(ca, client):
    # The issuing CA's own serial is in the register, but the root signed it.
    fake = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        *_issuing_hashes(ca), ca.issuing_certificate.serial_number, hashes.SHA1()).build()
    answer = ocsp.load_der_ocsp_response(
        client.post("/pki/ocsp", data=fake.public_bytes(Encoding.DER)).data)
    assert answer.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def _issuing_hashes(ca):
    probe = ocsp.load_der_ocsp_request(request_for(ca, operator_certificate(ca)))
    return probe.issuer_name_hash, probe.issuer_key_hash


@pytest.mark.parametrize("body", [b"", b"\x30\x82\xff\xff", b"not DER at all", b"\x30" * 20000])
def test_malformed_requests(client, body):
    answer = ocsp.load_der_ocsp_response(client.post("/pki/ocsp", data=body).data)
    assert answer.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_get_form_survives_double_slashes_and_url_safe_base64(ca, client):
    certificate = operator_certificate(ca)
    # A nonce whose request's base64 holds "//": routing must not merge the slashes.
    for attempt in range(20000):
        der = request_for(ca, certificate, nonce=random.randbytes(16))
        encoded = base64.b64encode(der).decode()
        if "//" in encoded:
            break
    else:
        pytest.skip("no request with '//' found")
    for path in (encoded, base64.urlsafe_b64encode(der).decode().rstrip("=")):
        response = client.get(f"/pki/ocsp/{path}")
        assert response.status_code == 200, path
        answer = ocsp.load_der_ocsp_response(response.data)
        assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert "max-age=" in response.headers["Cache-Control"]
    bad = client.get("/pki/ocsp/not*base64!")
    assert ocsp.load_der_ocsp_response(bad.data).response_status == \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert bad.headers["Cache-Control"] == "no-store"


# --- CRLs at scale --------------------------------------------------------------------------

REASONS = ["keyCompromise", "certificateHold", "superseded", "unspecified", "affiliationChanged"]


def test_a_crl_with_many_revoked_rows_lists_them_all_with_reasons(ca):
    issuing_key_id = key_id(ca.issuing_certificate)
    revoked_at = dt.datetime(2026, 11, 2, 8, 30)
    rows = [{"serial_hex": format(0x10_0000 + n, "x"), "kind": "holder", "subject": "CN=x",
             "not_before": revoked_at, "not_after": revoked_at, "pem": "",
             "revoked_at": revoked_at + dt.timedelta(seconds=n),
             "revocation_reason": REASONS[n % len(REASONS)], "issuer_key_id": issuing_key_id}
            for n in range(3000)]
    # Not listed: a row signed by another CA, and one not revoked.
    rows.append({**rows[0], "serial_hex": "abc0001", "issuer_key_id": "00" * 20})
    rows.append({**rows[0], "serial_hex": "abc0002", "revoked_at": None})
    with db.atomic():
        for start in range(0, len(rows), 500):
            IssuedCertificate.insert_many(rows[start:start + 500]).execute()

    crl = x509.load_der_x509_crl(ca.publish_crl().read_bytes())
    assert crl.is_signature_valid(ca.issuing_certificate.public_key())
    entries = {entry.serial_number: entry for entry in crl}
    assert len(entries) == 3000
    assert 0xabc0001 not in entries and 0xabc0002 not in entries
    for n in (0, 1, 2, 3, 4, 2999):
        entry = entries[0x10_0000 + n]
        assert entry.revocation_date_utc == (revoked_at + dt.timedelta(seconds=n)).replace(
            tzinfo=dt.timezone.utc)
        reasons = [e.value.reason for e in entry.extensions if isinstance(e.value, x509.CRLReason)]
        expected = authority.REVOCATION_REASONS[REASONS[n % len(REASONS)]]
        assert reasons == ([] if expected is x509.ReasonFlags.unspecified else [expected])


# --- migration 28 -------------------------------------------------------------------------------

def test_migration_28_names_the_issuer_of_existing_rows(tmp_path, database_url):
    from database import LATEST_VERSION, migrate_database
    from migrations import _migrator
    from models import SchemaVersion

    database = connect(database_url)
    db.initialize(database)
    database.connect(reuse_if_open=True)
    migrate_database(database)
    ca = EmbeddedCA.open(tmp_path / "inst", "http://localhost")
    leaf = operator_certificate(ca)
    IssuedCertificate.create(serial_hex="feed", kind="holder", subject="CN=x", pem="",
                             not_before=NOW, not_after=NOW)  # no certificate kept: left as is
    # Back to version 27: the column and its index did not exist.
    migrator = _migrator(database)
    migrate(migrator.drop_index("issued_certificate", "issued_certificate_issuer_key_id_revoked_at"),
            migrator.drop_column("issued_certificate", "issuer_key_id"))
    SchemaVersion.update(version=27).execute()

    assert migrate_database(database) == LATEST_VERSION
    key_ids = dict(IssuedCertificate.select(IssuedCertificate.serial_hex,
                                            IssuedCertificate.issuer_key_id).tuples())
    issuing_id = key_id(ca.issuing_certificate)
    assert key_ids[serial_to_hex(leaf.serial_number)] == issuing_id
    assert key_ids[serial_to_hex(ca.issuing_certificate.serial_number)] == key_id(ca.root_certificate)
    assert key_ids[serial_to_hex(ca.root_certificate.serial_number)] is None  # self-signed
    assert key_ids["feed"] is None
    assert "issued_certificate_issuer_key_id_revoked_at" in {
        index.name for index in database.get_indexes("issued_certificate")}
    database.close()


def test_a_signer_certificate_not_matching_its_key_is_replaced(ca):
    old = ca.ocsp_responder.signer.certificate
    (ca.directory / "ocsp.key").unlink()  # e.g. restored from another backup than ocsp.crt
    reopened = EmbeddedCA.open(ca.directory.parent, "http://localhost")
    signer = reopened.ocsp_responder.signer
    assert signer.certificate != old
    assert signer.certificate.public_key() == signer.key.public_key()
    assert stat.S_IMODE((ca.directory / "ocsp.key").stat().st_mode) == 0o600
