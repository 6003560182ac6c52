"""An operator's certificates under Administration › Opérateurs: « Associer un certificat » from
a PEM or DER file, accepted only when login would accept it (each refusal with its reason);
« Retirer »; « Révoquer » one of the embedded CA's after an irreversible confirmation — the CRL
served at /pki/issuing.crl lists it at once, the sessions it opened end, its login is refused;
the admins' digest names the certificates that expire within 30 days; the schema upgrade."""
from __future__ import annotations

import datetime as dt
import json
from html import unescape

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from adapters.ca import fingerprint_sha256, get_ca
from formatting import paris_date
from models import (AE, AuditEvent, DigestRun, IssuedCertificate, LoginSession, Notification,
                    Operator, OperatorCertificate, utcnow)
from services import digest
from services.operator_auth import sessions
from services.operator_auth.login import bind_certificate, trust_embedded_ca
from tests.conftest import csrf_token_from, login_as
from tests.test_auth_routes import MemoryKey, key_login, logged_in
from tests.text import source, text

LIST = "/parametres/operateurs"
UTC = dt.timezone.utc


@pytest.fixture
def desk(app, client, make_ae, make_operator):
    ca = get_ca(app)
    ae = make_ae("BPOI")
    trust_embedded_ca(ae, ca)
    camille = make_operator(ae, "Camille Martin", roles="AEA,admin",
                            email="camille.martin@bpoi.example")
    julien = make_operator(ae, "Julien Roux", roles="AET", email="julien.roux@bpoi.example")
    other = make_ae("AE Atlantique", ("Atlantique-Nantes",))
    trust_embedded_ca(other, ca)
    login_as(client, camille)
    token = csrf_token_from(client.get(LIST).get_data(as_text=True))
    return {"app": app, "ca": ca, "ae": ae, "camille": camille, "julien": julien,
            "other": other, "token": token, "page": f"{LIST}/{julien.id}"}


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def issue(ca, **fields) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    return ca.issue_operator_certificate(
        key.public_key(), **{"given_name": "Julien", "surname": "Roux",
                             "email": "julien.roux@bpoi.example", "organization": "BPOI",
                             **fields})


def foreign_certificate() -> x509.Certificate:
    """A client-authentication certificate from a CA nobody trusts here."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Autre AC")])
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Julien ROUX")]))
            .issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(ca_key, hashes.SHA256()))


def upload(client, desk, data: bytes, name: str = "julien.pem", token: str | None = None,
           page: str | None = None):
    import io
    return client.post(f"{page or desk['page']}/certificats",
                       data={"csrf_token": desk["token"] if token is None else token,
                             "certificate": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def events(action: str) -> list[dict]:
    rows = AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id)
    return [{**json.loads(row.details), "by": row.operator_id, "ae": row.ae_id} for row in rows]


def bound_to(operator) -> list[str]:
    return [c.serial_hex for c in OperatorCertificate.select()
            .where(OperatorCertificate.operator == operator.id).order_by(OperatorCertificate.id)]


# --- « Associer un certificat » -------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["PEM", "DER", "PEM with its chain"])
def test_a_valid_certificate_is_associated(client, desk, encoding):
    ca, julien = desk["ca"], desk["julien"]
    certificate = issue(ca)
    data = {"PEM": pem(certificate),
            "DER": certificate.public_bytes(serialization.Encoding.DER),
            "PEM with its chain": pem(certificate) + pem(ca.issuing_certificate)}[encoding]
    placeholder = julien.certificates.get().serial_hex
    response = upload(client, desk, data)
    assert response.status_code == 303, text(response)
    serial = format(certificate.serial_number, "x")
    row = OperatorCertificate.get(OperatorCertificate.serial_hex == serial)
    assert row.operator_id == julien.id
    assert row.fingerprint_sha256 == fingerprint_sha256(certificate)
    page = text(client.get(desk["page"]))
    assert f"Certificat N° {serial} associé à « Julien Roux »." in page
    assert f"{serial} {paris_date(certificate.not_valid_after_utc)} valide" in page
    [event] = events("operator_certificate_bound")
    assert (event["by"], event["ae"], event["serial"]) == (desk["camille"].id, desk["ae"].id,
                                                          serial)
    assert event["avant"] == {"certificats": [placeholder]}
    assert event["après"] == {"certificats": [placeholder, serial]}


def _refusal_cases():
    now = dt.datetime.now(UTC)
    return [
        ("empty", lambda d: b"", "Choisissez le fichier du certificat (PEM ou DER)."),
        ("garbage", lambda d: b"%PDF-1.7 pas un certificat",
         "Ce fichier n'est pas un certificat lisible : un certificat X.509 au format PEM ou "
         "DER est attendu."),
        ("too big", lambda d: b"-----BEGIN CERTIFICATE-----\n" + b"A" * 70_000,
         "Fichier trop volumineux pour un certificat (64 Ko au plus)."),
        ("expired", lambda d: pem(issue(d["ca"], not_before=now - dt.timedelta(days=400),
                                        not_after=now - dt.timedelta(days=35))),
         f"Certificat expiré le {paris_date(now - dt.timedelta(days=35))}."),
        ("not yet valid", lambda d: pem(issue(d["ca"], not_before=now + dt.timedelta(days=3))),
         f"Certificat pas encore valide : utilisable à partir du "
         f"{paris_date(now + dt.timedelta(days=3))}."),
        ("no client auth", lambda d: pem(issue(d["ca"], client_auth=False)),
         "Ce certificat ne permet pas l'authentification (usage « clientAuth » absent)."),
        ("foreign CA", lambda d: pem(foreign_certificate()),
         "Certificat émis par une autorité non reconnue par votre AE."),
        ("revoked", lambda d: pem(_revoked(d["ca"])),
         f"Certificat révoqué le {paris_date(now)}."),
        ("bound in the AE", lambda d: pem(_bound(d["camille"], d["ca"])),
         "Ce certificat est déjà associé à un autre opérateur, « Camille Martin »."),
        ("bound in another AE", lambda d: pem(_bound(_their_operator(d), d["ca"])),
         "Ce certificat est déjà associé à un autre opérateur."),
        ("bound to them", lambda d: pem(_bound(d["julien"], d["ca"])),
         "Ce certificat est déjà associé à cet opérateur."),
    ]


def _revoked(ca) -> x509.Certificate:
    certificate = issue(ca)
    ca.revoke(format(certificate.serial_number, "x"), "keyCompromise")
    return certificate


def _bound(operator, ca) -> x509.Certificate:
    certificate = issue(ca)
    bind_certificate(operator, certificate)
    return certificate


def _their_operator(desk) -> Operator:
    return Operator.create(ae=desk["other"], display_name="Yann Le Goff", roles="AEA")


@pytest.mark.parametrize("case, make, message", _refusal_cases(),
                         ids=[case[0] for case in _refusal_cases()])
def test_a_certificate_login_would_refuse_is_not_associated(client, desk, case, make, message):
    data = make(desk)
    before = OperatorCertificate.select().count()
    response = upload(client, desk, data)
    assert response.status_code == 422
    shown = text(response)
    assert "Le certificat n'est pas associé :" in shown and message in shown, shown
    assert OperatorCertificate.select().count() == before
    assert events("operator_certificate_bound") == []


# --- « Retirer » ------------------------------------------------------------------------------

def test_removing_a_certificate_ends_the_sessions_it_opened(app, client, desk):
    julien = desk["julien"]
    certificate = _bound(julien, desk["ca"])
    row = OperatorCertificate.get(OperatorCertificate.fingerprint_sha256
                                  == fingerprint_sha256(certificate))
    browser = app.test_client()
    _, token = sessions.open_session(julien, row.fingerprint_sha256, method="bridge")
    with browser.session_transaction() as cookie:
        cookie["_user_id"] = token
    assert logged_in(browser)

    response = client.post(f"{desk['page']}/certificats/{row.id}/retrait",
                           data={"csrf_token": desk["token"]}, follow_redirects=True)
    assert (f"Certificat N° {row.serial_hex} retiré : il ne permet plus de se connecter "
            f"(1 session(s) fermée(s)).") in text(response)
    assert OperatorCertificate.get_or_none(OperatorCertificate.id == row.id) is None
    assert not logged_in(browser)
    [event] = events("certificate_unbound")
    assert event["by"] == desk["camille"].id
    assert event["avant"]["certificats"][-1] == row.serial_hex
    assert row.serial_hex not in event["après"]["certificats"]


# --- « Révoquer » -----------------------------------------------------------------------------

@pytest.fixture
def julien_key(app, desk):
    """Julien's key (in memory), its certificate from the embedded CA bound to him, and a
    browser logged in with it."""
    key = MemoryKey(desk["ca"], given_name="Julien", surname="Roux")
    row = bind_certificate(desk["julien"], key.certificate)
    browser = app.test_client()
    _, token = sessions.open_session(desk["julien"], row.fingerprint_sha256, method="bridge")
    with browser.session_transaction() as cookie:
        cookie["_user_id"] = token
    return {"key": key, "row": row, "browser": browser, "token": token,
            "url": f"{desk['page']}/certificats/{row.id}/revocation"}


def test_revoking_publishes_the_crl_ends_the_sessions_and_refuses_the_login(app, client, desk,
                                                                            julien_key):
    row, url = julien_key["row"], julien_key["url"]
    assert logged_in(julien_key["browser"])
    page = text(client.get(desk["page"]))
    assert "Révoquer" in page
    confirmation = client.get(url)
    assert confirmation.status_code == 200
    assert "Action irréversible." in text(confirmation)
    assert f"Révoquer le certificat N° {row.serial_hex}" in text(confirmation)

    response = client.post(url, data={"csrf_token": desk["token"], "reason": "keyCompromise",
                                      "confirm": "1"}, follow_redirects=True)
    assert response.status_code == 200
    assert (f"Certificat N° {row.serial_hex} révoqué (Compromission de la clé (clé USB perdue "
            f"ou volée, code PIN divulgué)) : liste de révocation publiée, sessions fermées."
            ) in text(response)
    assert f"{row.serial_hex} {paris_date(row.not_after)} révoqué" in text(response)

    # The CRL the PKI publishes lists it, with its reason.
    crl = x509.load_der_x509_crl(client.get("/pki/issuing.crl").data)
    serial_number = julien_key["key"].certificate.serial_number
    entry = crl.get_revoked_certificate_by_serial_number(serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason \
        == x509.ReasonFlags.key_compromise
    # Recorded on the operator's certificate and in the CA's register.
    stored = OperatorCertificate.get_by_id(row.id)
    assert stored.revoked_at is not None and stored.revocation_reason == "keyCompromise"
    assert IssuedCertificate.get(IssuedCertificate.serial_hex == row.serial_hex).revoked_at \
        == stored.revoked_at
    # The session it opened has ended.
    session_row = LoginSession.get(LoginSession.token_hash
                                   == sessions.token_hash(julien_key["token"]))
    assert session_row.end_reason == "certificate_revoked"
    assert not logged_in(julien_key["browser"])
    # Its login is refused.
    newcomer = app.test_client()
    refused = key_login(newcomer, julien_key["key"], app.config["RADESK_LOGIN_ORIGINS"][0])
    assert refused.status_code == 403
    assert refused.get_json()["message"].startswith("Certificat révoqué le ")
    assert not logged_in(newcomer)
    # Audited, with before and after.
    [event] = events("operator_certificate_revoked")
    assert (event["by"], event["serial"], event["reason"], event["sessions_ended"]) == (
        desk["camille"].id, row.serial_hex, "keyCompromise", 1)
    assert (event["avant"], event["après"]) == ({"état": "valide"}, {"état": "révoqué"})
    assert events("certificate_revoked")[-1]["by"] == desk["camille"].id

    # Once is enough: no « Révoquer » any more, and a second try is refused.
    assert 'aria-label="Révoquer le certificat' not in source(client.get(desk["page"]))
    again = client.post(url, data={"csrf_token": desk["token"], "reason": "superseded",
                                   "confirm": "1"})
    assert again.status_code == 422 and "Ce certificat est déjà révoqué." in text(again)
    assert OperatorCertificate.get_by_id(row.id).revocation_reason == "keyCompromise"


@pytest.mark.parametrize("data, message", [
    ({"reason": "keyCompromise"},
     "Cochez la case qui confirme la révocation : elle est irréversible."),
    ({"confirm": "1"}, "Choisissez le motif de la révocation."),
    ({"reason": "removeFromCRL", "confirm": "1"}, "Choisissez le motif de la révocation."),
])
def test_revocation_needs_a_reason_and_the_confirmation(client, desk, julien_key, data, message):
    response = client.post(julien_key["url"], data={"csrf_token": desk["token"], **data})
    assert response.status_code == 422
    assert "Le certificat n'est pas révoqué :" in text(response) and message in text(response)
    assert OperatorCertificate.get_by_id(julien_key["row"].id).revoked_at is None
    assert IssuedCertificate.get(IssuedCertificate.serial_hex
                                 == julien_key["row"].serial_hex).revoked_at is None
    assert logged_in(julien_key["browser"])


def test_a_certificate_of_another_ca_cannot_be_revoked_here(client, desk):
    placeholder = desk["julien"].certificates.get()  # issued by « CN=Test CA »
    assert 'aria-label="Révoquer le certificat' not in source(client.get(desk["page"]))
    response = client.post(f"{desk['page']}/certificats/{placeholder.id}/revocation",
                           data={"csrf_token": desk["token"], "reason": "keyCompromise",
                                 "confirm": "1"})
    assert response.status_code == 422
    assert "n'a pas été émis par l'AC intégrée de RA Desk" in text(response)
    assert OperatorCertificate.get_by_id(placeholder.id).revoked_at is None


def test_a_revoked_certificate_opens_no_session_even_before_the_crl_says_so(app, desk,
                                                                           julien_key):
    """Marked revoked in the database alone (the CRL not republished): the session check and
    the login both refuse it."""
    (OperatorCertificate.update(revoked_at=utcnow(), revocation_reason="keyCompromise")
     .where(OperatorCertificate.id == julien_key["row"].id).execute())
    assert not logged_in(julien_key["browser"])
    assert LoginSession.get(LoginSession.token_hash == sessions.token_hash(
        julien_key["token"])).end_reason == "certificate_revoked"
    refused = key_login(app.test_client(), julien_key["key"],
                        app.config["RADESK_LOGIN_ORIGINS"][0])
    assert refused.status_code == 403
    assert refused.get_json()["message"] == f"Certificat révoqué le {paris_date(utcnow())}."


# --- the admins' digest -----------------------------------------------------------------------

def test_the_admins_digest_names_the_certificates_expiring_within_30_days(app, desk,
                                                                          make_operator):
    now = utcnow().replace(microsecond=0)
    camille, julien = desk["camille"], desk["julien"]
    soon = now + dt.timedelta(days=12)
    OperatorCertificate.update(not_after=soon).where(
        OperatorCertificate.operator == julien.id).execute()
    serial = julien.certificates.get().serial_hex
    later = make_operator(desk["ae"], "Chloé Bernard", roles="AEA")  # 40 days: not yet
    OperatorCertificate.update(not_after=now + dt.timedelta(days=40)).where(
        OperatorCertificate.operator == later.id).execute()
    gone = make_operator(desk["ae"], "Hugo Petit", roles="AEA")  # revoked: no renewal to plan
    OperatorCertificate.update(not_after=soon, revoked_at=now).where(
        OperatorCertificate.operator == gone.id).execute()
    theirs = make_operator(desk["other"], "Yann Le Goff", roles="AEA,admin")
    OperatorCertificate.update(not_after=soon).where(
        OperatorCertificate.operator == theirs.id).execute()
    Operator.update(digest_enabled=True).execute()
    AE.update(digest_send_empty=False).execute()  # an all-zero digest goes only with news

    report = digest.run(app, now)
    bodies = {n.recipient: n.body for n in Notification.select()}
    line = (f"Julien Roux — certificat N° {serial} (CN=Julien Roux) : expire le "
            f"{paris_date(soon)}")
    assert "Certificats d'opérateur qui expirent dans les 30 jours" in bodies[camille.email]
    assert line in bodies[camille.email]
    assert "Chloé Bernard —" not in bodies[camille.email]
    assert "Hugo Petit —" not in bodies[camille.email]
    assert "Yann Le Goff —" not in bodies[camille.email]
    # Not an admin: nothing about certificates (and an empty digest is not sent).
    assert julien.email not in bodies
    assert "Julien Roux —" not in bodies[theirs.email]  # each AE's own certificates
    assert "Yann Le Goff — certificat N° 01" in bodies[theirs.email]
    assert report.queued == 2  # Camille's and Yann's (his own AE's certificate)
    # The e-mail's HTML part says it too.
    run = DigestRun.get(DigestRun.operator == camille.id)
    html = unescape(digest.html(app, json.loads(run.content)))
    assert "Certificats d'opérateur qui expirent dans les 30 jours" in html
    assert f"certificat N° {serial}" in html and paris_date(soon) in html


def test_the_digest_preview_shows_them_too(client, desk):
    soon = utcnow() + dt.timedelta(days=3)
    OperatorCertificate.update(not_after=soon).where(
        OperatorCertificate.operator == desk["julien"].id).execute()
    page = text(client.get(f"{LIST}/{desk['camille'].id}/apercu"))
    assert "Certificats d'opérateur qui expirent dans les 30 jours" in page
    assert f"Julien Roux — certificat N° 01 (CN=Julien Roux) : expire le {paris_date(soon)}" in page


def test_the_operators_list_flags_them_and_says_when_no_admin_gets_the_digest(client, desk,
                                                                             make_operator):
    now = utcnow()
    camille, julien = desk["camille"], desk["julien"]
    soon = now + dt.timedelta(days=12)
    OperatorCertificate.update(not_after=soon).where(
        OperatorCertificate.operator == julien.id).execute()
    later = make_operator(desk["ae"], "Chloé Bernard", roles="AEA")  # 40 days: not yet
    OperatorCertificate.update(not_after=now + dt.timedelta(days=40)).where(
        OperatorCertificate.operator == later.id).execute()

    # Camille's digest is off (the default): the page itself tells her.
    page = client.get(LIST).get_data(as_text=True)
    shown = text(page)
    assert (f"N° 01, expire le {paris_date(soon)} bientôt expiré") in shown
    assert "Chloé Bernard" in shown  # 40 days: « valide » only
    assert page.count('class="cert-state cert-bientot-expire">bientôt expiré<') == 1
    assert "Certificats de connexion bientôt expirés, et personne n'est prévenu" in shown
    assert f"Julien Roux : certificat n° 01, expire le {paris_date(soon)}" in shown
    assert "Chloé Bernard : certificat" not in shown
    # Julien's own page says it too.
    assert "bientôt expiré" in text(client.get(desk["page"]))

    # An admin with the digest on but no e-mail address, or deactivated, is told nothing.
    other_admin = make_operator(desk["ae"], "Paul Second", roles="AEA,admin")
    Operator.update(digest_enabled=True, email=None).where(Operator.id == other_admin.id).execute()
    assert "personne n'est prévenu" in text(client.get(LIST))
    Operator.update(email="paul@bpoi.example", active=False).where(
        Operator.id == other_admin.id).execute()
    assert "personne n'est prévenu" in text(client.get(LIST))

    # « Activer » Camille's digest (htmx): her row, and the notice gone out of band.
    answer = client.post(f"{LIST}/{camille.id}/resume",
                         data={"csrf_token": desk["token"], "digest": "1"},
                         headers={"HX-Request": "true"})
    html = answer.get_data(as_text=True)
    assert f'id="operateur-{camille.id}"' in html
    assert 'id="alerte-expiration" role="status" hx-swap-oob="true"' in html
    assert "personne n'est prévenu" not in html
    shown = text(client.get(LIST))
    assert "personne n'est prévenu" not in shown and "bientôt expiré" in shown


# --- schema --------------------------------------------------------------------------------

def test_the_upgrade_adds_the_revocation_columns_as_a_fresh_database_has_them(database_url):
    from tests.test_migrations import upgraded_from_v1

    database = upgraded_from_v1(database_url)
    table = OperatorCertificate._meta.table_name
    assert ({column.name for column in database.get_columns(table)}
            == {field.column_name for field in OperatorCertificate._meta.sorted_fields})
    database.close()


def test_an_admin_cannot_cut_off_the_certificate_they_are_logged_in_with(client, desk):
    mine = desk["camille"].certificates.get()  # the one login_as opened the session with
    page = f"/parametres/operateurs/{desk['camille'].id}"
    removed = client.post(f"{page}/certificats/{mine.id}/retrait",
                          data={"csrf_token": desk["token"]}, follow_redirects=True)
    assert "Vous êtes connecté avec ce certificat" in text(removed)
    revoked = client.post(f"{page}/certificats/{mine.id}/revocation",
                          data={"csrf_token": desk["token"], "reason": "superseded",
                                "confirm": "1"})
    assert revoked.status_code == 422 and "Vous êtes connecté avec ce certificat" in text(revoked)
    assert OperatorCertificate.get_by_id(mine.id).revoked_at is None
    assert client.get("/commandes").status_code == 200  # still logged in
