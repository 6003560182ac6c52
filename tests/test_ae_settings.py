"""« Paramètres de l'AE » under Administration: the AE's name and addresses (which sign the
e-mails requesters receive), the CAs trusted for the operators' login (added from a PEM file —
a CA only —, removed unless an active admin logs in with a certificate one issued), the
four-eyes rule (validation then refused to whoever recorded the ID number) and « envoyer
vide » for the digest. Refusals change nothing; admins of the AE only, CSRF-protected, audited
with « avant » and « après », another AE's ids answering 404."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.ca import get_ca
from models import AE, AuditEvent, Operator, OperatorCertificate, Order, TrustedCA
from services.messaging import outbox
from services.operator_auth.login import bind_certificate, trust_embedded_ca
from tests.conftest import csrf_token_from, login_as
from tests.smtp_support import running_smtp
from tests.test_ordering import COMPANY
from tests.test_validation import confirm, page as order_page, signed_order
from tests.text import text

PAGE = "/parametres/ae"
UTC = dt.timezone.utc
IDENTITY = {"name": "BPOI", "postal_address": "BPOI — Service AE\n12 allée Jean Jaurès\n31000 Toulouse",
            "contact_email": "ae@bpoi.example", "contact_phone": "05 61 00 00 01"}


@pytest.fixture
def desk(app, client, make_ae, make_operator):
    ae = make_ae("BPOI")
    admin = make_operator(ae, roles="AEA,admin", name="Camille Martin")
    login_as(client, admin)
    token = csrf_token_from(client.get(PAGE).get_data(as_text=True))
    return {"app": app, "ae": ae, "admin": admin, "token": token}


def post(client, desk, path, **data):
    return client.post(f"{PAGE}{path}", data={"csrf_token": desk["token"], **data})


def events(action: str) -> list[dict]:
    return [json.loads(event.details) for event in
            AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id)]


def snapshot():
    return (list(AE.select().order_by(AE.id).dicts()),
            list(TrustedCA.select().order_by(TrustedCA.id).dicts()), AuditEvent.select().count())


# --- Certificates made for the tests ------------------------------------------------------------

def certificate(common_name: str, *, ca: bool, issuer=None, days=(-1, 365), key_cert_sign=True):
    """A certificate and its key; self-signed unless ``issuer`` (certificate, key) is given."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test")])
    issuer_cert, issuer_key = issuer or (None, key)
    now = dt.datetime.now(UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert else name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now + dt.timedelta(days=days[0]))
               .not_valid_after(now + dt.timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign,
            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    return builder.sign(issuer_key, hashes.SHA256()), key


def pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def upload(client, desk, data: bytes, filename="autorite.pem"):
    import io
    return client.post(f"{PAGE}/autorites", data={"csrf_token": desk["token"],
                                                  "certificate": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


# --- Identity -------------------------------------------------------------------------------------

def test_the_identity_is_saved_shown_and_audited(client, desk):
    response = post(client, desk, "/identite", **IDENTITY)
    assert response.status_code == 303
    shown = text(client.get(response.headers["Location"]))
    assert "Identité de l'AE enregistrée : elle signe désormais ses e-mails." in shown
    assert ("Signature actuelle : Autorité d'Enregistrement BPOI BPOI — Service AE "
            "12 allée Jean Jaurès 31000 Toulouse E-mail : ae@bpoi.example — "
            "Téléphone : 05 61 00 00 01") in shown
    ae = AE.get_by_id(desk["ae"].id)
    assert (ae.postal_address, ae.contact_email, ae.contact_phone) == (
        IDENTITY["postal_address"], "ae@bpoi.example", "05 61 00 00 01")
    assert events("ae_identity_changed") == [{
        "avant": {"adresse postale": "", "e-mail": "", "téléphone": ""},
        "après": {"adresse postale": IDENTITY["postal_address"], "e-mail": "ae@bpoi.example",
                  "téléphone": "05 61 00 00 01"}}]
    again = post(client, desk, "/identite", **IDENTITY)
    assert "Aucune modification" in text(client.get(again.headers["Location"]))
    assert len(events("ae_identity_changed")) == 1
    post(client, desk, "/identite", **{**IDENTITY, "name": "BPOI Occitanie"})
    assert events("ae_identity_changed")[1] == {"avant": {"nom": "BPOI"},
                                                "après": {"nom": "BPOI Occitanie"}}
    assert "RA Desk — BPOI Occitanie" in text(client.get(PAGE))


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "Le nom de l'AE est obligatoire."),
    ("name", "AE Atlantique", "Une autre AE s'appelle déjà « AE Atlantique »."),
    ("postal_address", "1\n2\n3\n4\n5\n6", "L'adresse postale tient en 5 lignes au plus."),
    ("contact_email", "ae@", "L'e-mail de contact de l'AE « ae@ » n'est pas une adresse e-mail valide."),
    ("contact_phone", "abc", "Le téléphone de l'AE « abc » n'est pas un numéro de téléphone valide."),
])
def test_a_refused_identity_changes_nothing(client, desk, make_ae, field, value, message):
    make_ae("AE Atlantique", portals=())
    before = snapshot()
    response = post(client, desk, "/identite", **{**IDENTITY, field: value})
    assert response.status_code == 422
    shown = text(response)
    assert "L'identité de l'AE n'est pas enregistrée" in shown and message in shown
    assert "31000 Toulouse" in shown or field == "postal_address"  # what was typed, kept
    assert snapshot() == before


def test_the_ae_address_signs_the_emails_sent_to_requesters(app, client, desk):
    post(client, desk, "/identite", **IDENTITY)
    public = app.test_client()
    token = csrf_token_from(public.get("/commander/bpoi-occitanie").get_data(as_text=True))
    assert public.post("/commander/bpoi-occitanie",
                       data={"csrf_token": token, **COMPANY}).status_code == 303
    with running_smtp(app) as smtp:
        outbox.run(app, force=True)
        mail = smtp.inbox.wait_for(1)[0]
    assert mail.recipients == [COMPANY["requester_email"]]
    assert ("Autorité d'Enregistrement BPOI\nBPOI — Service AE\n12 allée Jean Jaurès\n"
            "31000 Toulouse\nE-mail : ae@bpoi.example — Téléphone : 05 61 00 00 01"
            ) in mail.text.replace("\r\n", "\n")
    assert "12 allée Jean Jaurès<br>31000 Toulouse" in mail.html


def test_the_ae_address_names_the_ae_in_its_contracts(client, desk, make_order, tmp_path):
    from services.signing import contracts, signatures
    from tests.test_demo_contracts import pdf_text

    post(client, desk, "/identite", **IDENTITY)
    order = Order.get_by_id(make_order(desk["ae"], number=960990).id)
    pdf = contracts.generate("subscription_contract", signatures.contract_data(order))
    _, words = pdf_text(pdf, tmp_path)
    assert ("BPOI, BPOI — Service AE, 12 allée Jean Jaurès, 31000 Toulouse, E-mail : "
            "ae@bpoi.example — Téléphone : 05 61 00 00 01, Autorité d'Enregistrement agissant "
            "pour le compte") in words


def test_without_an_address_the_emails_keep_their_plain_footer(app, client, desk):
    public = app.test_client()
    token = csrf_token_from(public.get("/commander/bpoi-occitanie").get_data(as_text=True))
    public.post("/commander/bpoi-occitanie", data={"csrf_token": token, **COMPANY})
    with running_smtp(app) as smtp:
        outbox.run(app, force=True)
        mail = smtp.inbox.wait_for(1)[0]
    assert "\nAutorité d'Enregistrement BPOI\n" not in mail.text.replace("\r\n", "\n")
    assert "envoyé automatiquement par l'Autorité d'Enregistrement BPOI (RA Desk)" in mail.text


# --- Trusted CAs ----------------------------------------------------------------------------------

def test_a_ca_is_added_from_its_pem_file_and_listed(client, desk):
    root, _ = certificate("AC Racine Test", ca=True, days=(-1, 3650))
    response = upload(client, desk, pem(root))
    assert response.status_code == 303
    row = TrustedCA.get(TrustedCA.ae == desk["ae"].id)
    assert row.is_root and row.name == "O=Test,CN=AC Racine Test"
    shown = text(client.get(response.headers["Location"]))
    assert "Autorité ajoutée aux autorités de confiance : « O=Test, CN=AC Racine Test »." in shown
    expiry = root.not_valid_after_utc.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert "O=Test, CN=AC Racine Test Racine expire le" in shown
    assert str(expiry.year) in shown
    added = events("trusted_ca_added")[0]
    assert added["avant"] is None and added["après"]["sujet"] == "O=Test,CN=AC Racine Test"
    assert added["après"]["type"] == "Racine"


def test_an_intermediate_ca_is_listed_as_such(client, desk):
    root = certificate("AC Racine Test", ca=True)
    intermediate, _ = certificate("AC Intermédiaire", ca=True, issuer=root)
    assert upload(client, desk, pem(intermediate)).status_code == 303
    assert not TrustedCA.get(TrustedCA.ae == desk["ae"].id).is_root
    assert "O=Test, CN=AC Intermédiaire Intermédiaire" in text(client.get(PAGE))


def _refused_uploads():
    root, _ = certificate("AC Racine Test", ca=True)
    leaf, _ = certificate("Camille Martin", ca=False)
    expired, _ = certificate("AC Expirée", ca=True, days=(-400, -5))
    no_signing, _ = certificate("AC Sans Signature", ca=True, key_cert_sign=False)
    return [
        (b"", "Choisissez le fichier PEM du certificat de l'autorité."),
        (b"bonjour", "Ce fichier n'est pas un certificat au format PEM"),
        (pem(leaf), "Ce certificat n'est pas celui d'une autorité de certification"),
        (pem(expired), "Ce certificat d'autorité a expiré le"),
        (pem(no_signing), "ne permet pas de signer des certificats"),
        (pem(root) + pem(expired), "Le fichier doit contenir un seul certificat"),
        (b"-----BEGIN CERTIFICATE-----\n" + b"A" * 70000, "Fichier trop volumineux"),
    ]


@pytest.mark.parametrize("data, message", _refused_uploads(),
                         ids=["vide", "pas-pem", "pas-ac", "expiree", "sans-keycertsign",
                              "deux", "trop-gros"])
def test_a_refused_ca_changes_nothing(client, desk, data, message):
    before = snapshot()
    response = upload(client, desk, data)
    assert response.status_code == 422
    assert "Modification refusée" in text(response) and message in text(response)
    assert snapshot() == before


def test_a_ca_already_trusted_is_not_added_twice(client, desk):
    root, _ = certificate("AC Racine Test", ca=True)
    upload(client, desk, pem(root))
    before = snapshot()
    response = upload(client, desk, pem(root))
    assert response.status_code == 422
    assert "Cette autorité est déjà dans la liste (« O=Test,CN=AC Racine Test »)." in text(response)
    assert snapshot() == before


def admin_with_real_certificate(app, ae, operator):
    """``operator`` logs in with a certificate of the embedded CA, whose root the AE trusts."""
    with app.app_context():
        ca = get_ca(app)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = ca.issue_operator_certificate(key.public_key(), given_name="Camille",
                                             surname="Martin", email="camille@bpoi.example",
                                             organization="BPOI")
        bind_certificate(operator, cert)
        return trust_embedded_ca(ae, ca)


def test_the_ca_of_an_active_admins_certificate_cannot_be_removed(app, client, desk):
    embedded_root = admin_with_real_certificate(app, desk["ae"], desk["admin"])
    other, _ = certificate("AC Racine Test", ca=True)
    upload(client, desk, pem(other))
    before = snapshot()
    response = post(client, desk, f"/autorites/{embedded_root.id}/retrait")
    assert response.status_code == 422
    assert ("Impossible de retirer cette autorité : elle a émis le certificat de connexion de "
            "Camille Martin (administrateur actif de l'AE).") in text(response)
    assert snapshot() == before
    unused = TrustedCA.get(TrustedCA.name == "O=Test,CN=AC Racine Test")
    response = post(client, desk, f"/autorites/{unused.id}/retrait")
    assert response.status_code == 303
    assert "Autorité retirée des autorités de confiance" in text(client.get(response.headers["Location"]))
    assert TrustedCA.get_or_none(TrustedCA.id == unused.id) is None
    removed = events("trusted_ca_removed")[0]
    assert removed["après"] is None and removed["avant"]["sujet"] == "O=Test,CN=AC Racine Test"


def test_the_ca_may_go_once_no_active_admin_depends_on_it(app, client, desk, make_operator):
    aea = make_operator(desk["ae"], roles="AEA", name="Julie Vérif")
    embedded_root = admin_with_real_certificate(app, desk["ae"], aea)  # not an admin
    inactive = make_operator(desk["ae"], roles="admin", name="Ancien Admin")
    admin_with_real_certificate(app, desk["ae"], inactive)
    Operator.update(active=False).where(Operator.id == inactive.id).execute()
    response = post(client, desk, f"/autorites/{embedded_root.id}/retrait")
    assert response.status_code == 303
    assert TrustedCA.select().where(TrustedCA.ae == desk["ae"].id).count() == 0
    assert OperatorCertificate.select().where(OperatorCertificate.pem != "").count() == 2  # still bound


# --- Four eyes and the empty digest --------------------------------------------------------------

def test_four_eyes_switched_here_changes_who_may_validate(app, client, desk, make_operator,
                                                          make_order):
    recorder = make_operator(desk["ae"], roles="AEA", name="Julie Recorder")
    order = signed_order(app, make_order, desk["ae"], recorder, payment_ok=True,
                         dossier_complete_ok=True)
    response = post(client, desk, "/quatre-yeux", four_eyes="1")
    assert "Contrôle à quatre yeux activé." in text(client.get(response.headers["Location"]))
    assert AE.get_by_id(desk["ae"].id).four_eyes is True
    assert events("ae_four_eyes_changed") == [{"avant": {"contrôle à quatre yeux": "non"},
                                               "après": {"contrôle à quatre yeux": "oui"}}]
    desk_of_recorder = app.test_client()
    login_as(desk_of_recorder, recorder)
    _, token, version = order_page(desk_of_recorder, order)
    refused = confirm(desk_of_recorder, order, token, version, payment_ok=True,
                      dossier_complete_ok=True)
    assert "Contrôle à quatre yeux" in text(refused)
    assert "Valider cette phase et passer à la suivante" not in text(refused)

    post(client, desk, "/quatre-yeux")  # the box unticked
    assert AE.get_by_id(desk["ae"].id).four_eyes is False
    _, token, version = order_page(desk_of_recorder, order)
    allowed = confirm(desk_of_recorder, order, token, version, payment_ok=True,
                      dossier_complete_ok=True)
    assert "Valider cette phase et passer à la suivante (Génération du certificat)" in text(allowed)
    assert Order.get_by_id(order.id).validated_at is None  # only the confirmation was asked


def test_the_empty_digest_option(client, desk):
    assert AE.get_by_id(desk["ae"].id).digest_send_empty is True
    response = post(client, desk, "/resume")
    assert ("Résumé d'activité : envoyé seulement quand il y a des commandes à traiter."
            in text(client.get(response.headers["Location"])))
    assert AE.get_by_id(desk["ae"].id).digest_send_empty is False
    assert events("ae_digest_send_empty_changed") == [
        {"avant": {"envoyer le résumé vide": "oui"}, "après": {"envoyer le résumé vide": "non"}}]
    post(client, desk, "/resume", send_empty="1")
    assert AE.get_by_id(desk["ae"].id).digest_send_empty is True
    assert "Envoyer vide" in text(client.get(PAGE))


# --- Who may ------------------------------------------------------------------------------------

def test_another_aes_ca_answers_404(client, desk, make_ae):
    other = make_ae("AE Atlantique", portals=())
    root, _ = certificate("AC Atlantique", ca=True)
    theirs = TrustedCA.create(ae=other, name="CN=AC Atlantique", fingerprint_sha256="ab" * 32,
                              pem=pem(root).decode())
    before = snapshot()
    assert post(client, desk, f"/autorites/{theirs.id}/retrait").status_code == 404
    assert snapshot() == before
    assert "AC Atlantique" not in text(client.get(PAGE))


def test_only_admins_may_and_every_change_needs_its_csrf_token(app, client, desk, make_operator):
    before = snapshot()
    assert client.post(f"{PAGE}/quatre-yeux", data={"four_eyes": "1"}).status_code == 400
    assert client.post(f"{PAGE}/identite", data=IDENTITY).status_code == 400
    aea = make_operator(desk["ae"], roles="AEA", name="Julie Vérif")
    other = app.test_client()
    login_as(other, aea)
    assert other.get(PAGE).status_code == 403
    token = csrf_token_from(other.get("/commandes").get_data(as_text=True))
    assert other.post(f"{PAGE}/quatre-yeux",
                      data={"csrf_token": token, "four_eyes": "1"}).status_code == 403
    assert snapshot() == before
