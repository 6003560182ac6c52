"""Which certificates may log an operator in: real certificates, real verifier."""
from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from formatting import paris_date
from adapters.ca import EmbeddedCA, serial_to_hex
from services.operator_auth.certcheck import (CertificateRefused, check_login_certificate, crl_lookup,
                                load_certificate, load_certificates)

PUBLIC_URL = "http://localhost"
KEY = ec.generate_private_key(ec.SECP256R1())
UTC = dt.timezone.utc


@pytest.fixture
def ca(app, tmp_path):
    return EmbeddedCA.open(tmp_path / "ours", PUBLIC_URL)


@pytest.fixture
def foreign(app, tmp_path):
    """Another CA with the very same names, in another folder: trusted by nobody here."""
    return EmbeddedCA.open(tmp_path / "theirs", PUBLIC_URL)


def issue(ca: EmbeddedCA, key=KEY, **overrides) -> x509.Certificate:
    fields = dict(given_name="Julien", surname="Roux", email="julien.roux@bpoi.example",
                  organization="BPOI")
    fields.update(overrides)
    return ca.issue_operator_certificate(key.public_key(), **fields)


def check(ca: EmbeddedCA, leaf, *, intermediates=None, roots=None, crl_for=None, now=None):
    check_login_certificate(
        leaf,
        [ca.issuing_certificate] if intermediates is None else intermediates,
        [ca.root_certificate] if roots is None else roots,
        crl_lookup(ca) if crl_for is None else crl_for,
        now=now)


def forged_crl(ca: EmbeddedCA, signer_ca: EmbeddedCA, *, next_update: dt.datetime):
    """A CRL naming our issuing CA, signed by whichever key ``signer_ca`` holds."""
    now = dt.datetime.now(UTC)
    return (x509.CertificateRevocationListBuilder()
            .issuer_name(ca.issuing_certificate.subject)
            .last_update(now - dt.timedelta(days=10))
            .next_update(next_update)
            .sign(signer_ca._issuing.key, hashes.SHA384()))


def tampered(certificate: x509.Certificate) -> x509.Certificate:
    der = bytearray(certificate.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # inside the signature value, at the very end of the DER
    return x509.load_der_x509_certificate(bytes(der))


def today() -> str:
    return paris_date(dt.datetime.now(UTC))


# Each case: how to call the check, and the exact refusal expected.
def case_expired(ca, foreign):
    leaf = issue(ca, not_before=dt.datetime(2020, 1, 1, tzinfo=UTC),
                 not_after=dt.datetime(2021, 3, 15, 12, tzinfo=UTC))
    return dict(leaf=leaf), "expired", "Certificat expiré le 15/03/2021."


def case_expired_late_evening_is_shown_in_paris_time(ca, foreign):
    leaf = issue(ca, not_before=dt.datetime(2020, 1, 1, tzinfo=UTC),
                 not_after=dt.datetime(2021, 6, 30, 23, 30, tzinfo=UTC))
    return dict(leaf=leaf), "expired", "Certificat expiré le 01/07/2021."


def case_not_yet_valid(ca, foreign):
    start = dt.datetime.now(UTC) + dt.timedelta(days=10)
    leaf = issue(ca, not_before=start)
    return (dict(leaf=leaf), "not_yet_valid",
            f"Certificat pas encore valide : utilisable à partir du {paris_date(start)}.")


def case_foreign_ca(ca, foreign):
    return (dict(leaf=issue(foreign), intermediates=[foreign.issuing_certificate]), "untrusted",
            "Certificat émis par une autorité non reconnue par votre AE.")


def case_foreign_ca_without_its_intermediate(ca, foreign):
    return (dict(leaf=issue(foreign)), "untrusted",
            "Certificat émis par une autorité non reconnue par votre AE.")


def case_no_trusted_root_at_all(ca, foreign):
    return (dict(leaf=issue(ca), roots=[]), "untrusted",
            "Certificat émis par une autorité non reconnue par votre AE.")


def case_no_client_auth(ca, foreign):
    return (dict(leaf=issue(ca, client_auth=False)), "no_client_auth",
            "Ce certificat ne permet pas l'authentification (usage « clientAuth » absent).")


def case_revoked(ca, foreign):
    leaf = issue(ca)
    ca.revoke(serial_to_hex(leaf.serial_number))
    return dict(leaf=leaf), "revoked", f"Certificat révoqué le {today()}."


def case_issuing_ca_revoked(ca, foreign):
    ca.revoke(serial_to_hex(ca.issuing_certificate.serial_number), reason="cACompromise")
    return (dict(leaf=issue(ca)), "revoked",
            f"L'autorité qui a émis ce certificat a été révoquée le {today()}.")


CRL_UNAVAILABLE = ("Impossible de vérifier la révocation du certificat : "
                   "liste de révocation indisponible ou périmée.")


def case_no_crl(ca, foreign):
    return dict(leaf=issue(ca), crl_for=lambda issuer: None), "crl_unavailable", CRL_UNAVAILABLE


def case_stale_crl(ca, foreign):
    stale = forged_crl(ca, ca, next_update=dt.datetime.now(UTC) - dt.timedelta(hours=1))
    return dict(leaf=issue(ca), crl_for=lambda issuer: stale), "crl_unavailable", CRL_UNAVAILABLE


def case_crl_outlived_at_check_time(ca, foreign):
    # The published CRL is valid for 7 days: a week later, it no longer vouches for anything.
    later = dt.datetime.now(UTC) + dt.timedelta(days=8)
    return dict(leaf=issue(ca), now=later), "crl_unavailable", CRL_UNAVAILABLE


def case_crl_signed_by_another_key(ca, foreign):
    forged = forged_crl(ca, foreign, next_update=dt.datetime.now(UTC) + dt.timedelta(days=1))
    return dict(leaf=issue(ca), crl_for=lambda issuer: forged), "crl_unavailable", CRL_UNAVAILABLE


def case_tampered_signature(ca, foreign):
    return (dict(leaf=tampered(issue(ca))), "untrusted",
            "Certificat émis par une autorité non reconnue par votre AE.")


REFUSALS = [case_expired, case_expired_late_evening_is_shown_in_paris_time, case_not_yet_valid,
            case_foreign_ca, case_foreign_ca_without_its_intermediate, case_no_trusted_root_at_all,
            case_no_client_auth, case_revoked, case_issuing_ca_revoked, case_no_crl,
            case_stale_crl, case_crl_outlived_at_check_time, case_crl_signed_by_another_key,
            case_tampered_signature]


@pytest.mark.parametrize("case", REFUSALS, ids=lambda case: case.__name__[5:])
def test_refusals_carry_a_precise_french_message(ca, foreign, case):
    call, code, message = case(ca, foreign)
    leaf = call.pop("leaf")
    with pytest.raises(CertificateRefused) as refused:
        check(ca, leaf, **call)
    assert (refused.value.code, refused.value.message) == (code, message)


@pytest.mark.parametrize("key", [KEY, rsa.generate_private_key(65537, 2048)],
                         ids=["ec-p256", "rsa-2048"])
def test_a_good_certificate_passes(ca, key):
    check(ca, issue(ca, key=key))


def test_another_operator_being_revoked_does_not_matter(ca):
    ca.revoke(serial_to_hex(issue(ca).serial_number))
    check(ca, issue(ca))


def test_a_check_at_a_given_time_uses_that_time(ca):
    leaf = issue(ca, not_before=dt.datetime.now(UTC) + dt.timedelta(days=1))
    check(ca, leaf, now=dt.datetime.now(UTC) + dt.timedelta(days=2))


def test_crl_lookup_knows_only_the_embedded_cas(ca, foreign):
    lookup = crl_lookup(ca)
    assert lookup(ca.issuing_certificate).issuer == ca.issuing_certificate.subject
    assert lookup(ca.root_certificate).issuer == ca.root_certificate.subject
    assert lookup(foreign.issuing_certificate) is None
    assert lookup(issue(ca)) is None


def test_unreadable_pem_is_malformed():
    with pytest.raises(CertificateRefused) as refused:
        load_certificate("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    assert (refused.value.code, refused.value.message) == ("malformed", "Certificat illisible ou mal formé.")
    with pytest.raises(CertificateRefused):
        load_certificates("garbage")
    assert load_certificates("") == [] and load_certificates(None) == []
