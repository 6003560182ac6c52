"""The embedded CA: its files, the operator certificate profile, revocation and CRLs."""
from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from adapters.atomic_files import publish_new
from adapters.ca import authority
from models import AuditEvent, IssuedCertificate
from adapters.ca import EmbeddedCA, UnknownCertificate, get_ca, serial_to_hex

PUBLIC_URL = "http://localhost"
OPERATOR_KEY = ec.generate_private_key(ec.SECP256R1())


def issue(ca: EmbeddedCA, **overrides) -> x509.Certificate:
    fields = dict(given_name="Camille", surname="Martin", email="camille.martin@bpoi.example",
                  organization="BPOI")
    fields.update(overrides)
    return ca.issue_operator_certificate(OPERATOR_KEY.public_key(), **fields)


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def ca(app):
    return get_ca(app)


# --- files ---------------------------------------------------------------------

def test_first_open_creates_root_and_issuing_ca(app, tmp_path):
    ca = EmbeddedCA.open(tmp_path / "inst", PUBLIC_URL)
    folder = tmp_path / "inst" / "ca"
    assert {p.name for p in folder.iterdir() if not p.name.startswith(".")} >= {
        "root.key", "root.crt", "issuing.key", "issuing.crt"}

    root, issuing = ca.root_certificate, ca.issuing_certificate
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "RA Desk Root CA"
    assert issuing.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "RA Desk Issuing CA"
    assert issuing.issuer == root.subject
    issuing.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    assert 19.9 < (root.not_valid_after_utc - root.not_valid_before_utc).days / 365.25 < 20.1
    assert 7.9 < (issuing.not_valid_after_utc - issuing.not_valid_before_utc).days / 365.25 < 8.1
    constraints = issuing.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert root.public_key().curve.name == "secp384r1"
    assert ca.crl_url == "http://localhost/pki/issuing.crl"
    assert ca.chain() == [issuing, root]

    rows = IssuedCertificate.select().where(IssuedCertificate.kind == "ca")
    assert {row.serial_hex for row in rows} == {serial_to_hex(root.serial_number),
                                                serial_to_hex(issuing.serial_number)}


def test_key_files_are_private(app, tmp_path):
    EmbeddedCA.open(tmp_path / "inst", PUBLIC_URL)
    folder = tmp_path / "inst" / "ca"
    for name in ("root.key", "issuing.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert b"PRIVATE KEY" in (folder / "root.key").read_bytes()


def test_second_open_loads_the_same_ca(app, tmp_path):
    first = EmbeddedCA.open(tmp_path / "inst", PUBLIC_URL)
    second = EmbeddedCA.open(tmp_path / "inst", PUBLIC_URL)
    assert second.root_certificate == first.root_certificate
    assert second.issuing_certificate == first.issuing_certificate
    assert IssuedCertificate.select().where(IssuedCertificate.kind == "ca").count() == 2
    # The reloaded keys sign: a certificate from the second opening chains to the first.
    issue(second).verify_directly_issued_by(first.issuing_certificate)


def test_get_ca_caches_one_ca_per_app(app):
    assert get_ca(app) is get_ca(app)
    assert (Path(app.config["INSTANCE_PATH"]) / "ca" / "root.crt").exists()


def test_losing_writer_adopts_the_existing_file(tmp_path):
    target = tmp_path / "root.key"
    assert publish_new(target, b"winner", 0o600) == b"winner"
    assert publish_new(target, b"loser", 0o600) == b"winner"
    assert target.read_bytes() == b"winner"
    assert [p.name for p in tmp_path.iterdir()] == ["root.key"]  # no temporary file left


def _open_in_child(database_url: str, instance: str, barrier, results) -> None:
    from database import open_database
    from models import db

    open_database(database_url)
    db.connect()
    barrier.wait(timeout=60)  # both processes reach the empty folder together
    ca = EmbeddedCA.open(Path(instance), PUBLIC_URL)
    results.put((fingerprint(ca.root_certificate), fingerprint(ca.issuing_certificate)))
    db.close()


def test_two_processes_opening_together_end_with_one_ca(app, tmp_path):
    context = multiprocessing.get_context("spawn")  # no inherited database connection
    barrier, results = context.Barrier(2), context.Queue()
    instance = tmp_path / "shared-instance"
    children = [context.Process(target=_open_in_child,
                                args=(app.config["DATABASE_URL"], str(instance), barrier, results))
                for _ in range(2)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0

    assert outcomes[0] == outcomes[1]
    reopened = EmbeddedCA.open(instance, PUBLIC_URL)
    assert outcomes[0] == (fingerprint(reopened.root_certificate),
                           fingerprint(reopened.issuing_certificate))
    reopened.issuing_certificate.verify_directly_issued_by(reopened.root_certificate)
    assert not [p for p in (instance / "ca").iterdir() if p.name.endswith(".tmp")]
    assert IssuedCertificate.select().where(IssuedCertificate.kind == "ca").count() == 2


# --- the operator certificate profile ------------------------------------------------

def test_operator_certificate_profile(ca):
    certificate = issue(ca)
    ext = certificate.extensions

    subject = {attribute.oid: attribute.value for attribute in certificate.subject}
    assert subject == {NameOID.COUNTRY_NAME: "FR", NameOID.ORGANIZATION_NAME: "BPOI",
                       NameOID.GIVEN_NAME: "Camille", NameOID.SURNAME: "Martin",
                       NameOID.COMMON_NAME: "Camille MARTIN"}
    assert certificate.issuer == ca.issuing_certificate.subject
    certificate.verify_directly_issued_by(ca.issuing_certificate)

    key_usage = ext.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical
    assert key_usage.value.digital_signature and not key_usage.value.content_commitment
    assert not key_usage.value.key_cert_sign and not key_usage.value.key_encipherment
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ext.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.RFC822Name) == ["camille.martin@bpoi.example"]
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value == \
        x509.SubjectKeyIdentifier.from_public_key(OPERATOR_KEY.public_key())
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
        ca.issuing_certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier).value.digest
    points = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [name.value for point in points for name in point.full_name] == [
        "http://localhost/pki/issuing.crl"]
    access = ext.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [(d.access_method, d.access_location.value) for d in access] == [
        (x509.AuthorityInformationAccessOID.CA_ISSUERS, "http://localhost/pki/issuing.crt")]

    assert 0 < certificate.serial_number < 2 ** 159
    row = IssuedCertificate.get(IssuedCertificate.serial_hex == format(certificate.serial_number, "x"))
    assert row.kind == "operator" and row.subject == certificate.subject.rfc4514_string()
    assert x509.load_pem_x509_certificate(row.pem.encode()) == certificate
    assert 824 <= (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days <= 826


def test_client_auth_can_be_left_out_and_dates_chosen(ca):
    not_before = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    not_after = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)
    certificate = issue(ca, client_auth=False, not_before=not_before, not_after=not_after)
    with pytest.raises(x509.ExtensionNotFound):
        certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert (certificate.not_valid_before_utc, certificate.not_valid_after_utc) == (not_before, not_after)


def test_openssl_accepts_the_chain_and_the_crls(ca, tmp_path):
    leaf = issue(ca)
    (tmp_path / "root.pem").write_bytes(pem(ca.root_certificate))
    (tmp_path / "issuing.pem").write_bytes(pem(ca.issuing_certificate))
    (tmp_path / "leaf.pem").write_bytes(pem(leaf))
    (tmp_path / "crls.pem").write_bytes(
        ca.current_crl().public_bytes(serialization.Encoding.PEM)
        + ca.current_root_crl().public_bytes(serialization.Encoding.PEM))
    command = ["openssl", "verify", "-x509_strict", "-purpose", "sslclient",
               "-CAfile", tmp_path / "root.pem", "-untrusted", tmp_path / "issuing.pem"]
    for extra in ([], ["-crl_check_all", "-CRLfile", tmp_path / "crls.pem"]):
        outcome = subprocess.run([*command, *extra, tmp_path / "leaf.pem"],
                                 capture_output=True, text=True)
        assert outcome.returncode == 0, outcome.stdout + outcome.stderr
        assert outcome.stdout.strip().endswith(": OK")


# --- revocation and CRLs ---------------------------------------------------------------

def crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_revoked_certificate_is_listed_in_the_served_crl(ca, client):
    kept, revoked = issue(ca), issue(ca)
    first = ca.current_crl()
    row = ca.revoke(serial_to_hex(revoked.serial_number), reason="keyCompromise")
    assert row.revoked_at is not None and row.revocation_reason == "keyCompromise"

    response = client.get("/pki/issuing.crl")
    assert response.status_code == 200
    assert response.mimetype == "application/pkix-crl"
    crl = x509.load_der_x509_crl(response.data)
    assert crl.is_signature_valid(ca.issuing_certificate.public_key())
    assert crl.issuer == ca.issuing_certificate.subject
    assert crl_number(crl) > crl_number(first)
    assert dt.timedelta(days=6, hours=23) < crl.next_update_utc - dt.datetime.now(dt.timezone.utc) \
        <= dt.timedelta(days=7)
    entry = crl.get_revoked_certificate_by_serial_number(revoked.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(kept.serial_number) is None
    assert (Path(ca.directory) / "issuing.crl").read_bytes() == response.data

    event = AuditEvent.get(AuditEvent.action == "certificate_revoked")
    assert json.loads(event.details) == {
        "serial": serial_to_hex(revoked.serial_number), "kind": "operator",
        "subject": revoked.subject.rfc4514_string(), "reason": "keyCompromise"}


def test_revoking_twice_keeps_the_first_revocation(ca):
    serial = serial_to_hex(issue(ca).serial_number)
    first = ca.revoke(serial, reason="superseded")
    second = ca.revoke(serial.upper(), reason="keyCompromise")
    assert (second.revoked_at, second.revocation_reason) == (first.revoked_at, "superseded")
    assert AuditEvent.select().where(AuditEvent.action == "certificate_revoked").count() == 1


def test_revoking_an_unknown_serial_or_reason_is_refused(ca):
    with pytest.raises(UnknownCertificate, match="Aucun certificat"):
        ca.revoke("abcdef")
    with pytest.raises(ValueError, match="Motif de révocation inconnu"):
        ca.revoke(serial_to_hex(issue(ca).serial_number), reason="lost it")
    assert not AuditEvent.select().where(AuditEvent.action == "certificate_revoked").exists()


def test_revoked_issuing_ca_is_listed_by_the_root(ca, client):
    ca.revoke(serial_to_hex(ca.issuing_certificate.serial_number), reason="cACompromise")
    crl = x509.load_der_x509_crl(client.get("/pki/root.crl").data)
    assert crl.is_signature_valid(ca.root_certificate.public_key())
    assert crl.get_revoked_certificate_by_serial_number(ca.issuing_certificate.serial_number)
    assert not list(ca.current_crl())  # the issuing CA's own CRL lists only what it signed


def test_crl_numbers_increase_and_publish_writes_der(ca):
    numbers = []
    for _ in range(3):
        path = ca.publish_crl()
        numbers.append(crl_number(x509.load_der_x509_crl(path.read_bytes())))
    assert numbers == sorted(numbers) and len(set(numbers)) == 3


def test_current_crl_is_republished_when_missing_or_near_next_update(ca, monkeypatch):
    crl_path = Path(ca.directory) / "issuing.crl"
    crl_path.unlink(missing_ok=True)
    fresh = ca.current_crl()
    assert crl_path.exists()
    assert crl_number(ca.current_crl()) == crl_number(fresh)  # still fresh: served as is

    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=6, hours=1)
    monkeypatch.setattr(authority, "now_utc", lambda: later)
    renewed = ca.current_crl()
    assert crl_number(renewed) == crl_number(fresh) + 1
    assert renewed.next_update_utc > later + dt.timedelta(days=6)


def test_ca_certificates_are_served(ca, client):
    for url, certificate in (("/pki/root.crt", ca.root_certificate),
                             ("/pki/issuing.crt", ca.issuing_certificate)):
        response = client.get(url)
        assert response.status_code == 200
        assert response.mimetype == "application/pkix-cert"
        assert x509.load_der_x509_certificate(response.data) == certificate


def test_a_request_holding_the_write_lock_and_a_job_opening_the_ca_do_not_wait_on_each_other(
        app):
    """At a server's first start the scheduler's pki_refresh opened the CA (its files under a
    lock, then its certificates registered) while a login, in its transaction, asked for the
    CA: each waited for the other until SQLite's busy timeout, and the job failed."""
    import threading
    import time

    from models import Operator, db

    failures, done = [], {}

    def job():
        try:
            with app.app_context(), db.connection_context():
                get_ca(app)
            done["job"] = time.monotonic()
        except Exception as error:  # noqa: BLE001 — what the scheduler would log
            failures.append(error)

    started = time.monotonic()
    with db.atomic():
        Operator.update(active=True).where(Operator.id == 0).execute()  # holds the write lock
        worker = threading.Thread(target=job)
        worker.start()
        time.sleep(0.5)  # the job has the files and waits for the write lock
        get_ca(app)
    worker.join(30)
    assert failures == []
    assert done["job"] - started < 5
    assert IssuedCertificate.select().where(IssuedCertificate.kind == "ca").count() == 2
