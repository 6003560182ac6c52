"""Renouvellement: from the reminder's link or the order file, a renewal draft prefilled from
the « Terminée » order, its still-valid pieces carried over with their check; sent as any
order; the old certificate revoked (superseded) once the new one is activated, not before."""
from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

import workflow
from adapters.ca import get_ca
from models import AuditEvent, Document, HolderCertificate, Notification, Order, utcnow
from services.certificates import holder_certificates
from services.dossiers.documents import import_document
from services.renewal import links, orders as renewals
from tests.conftest import csrf_token_from, login_as
from tests.generation_support import PageSteps, blank_key, validated_order
from tests.image_samples import png
from tests.pdf_samples import text_pdf
from tests.text import source


def _piece(order, kind, data, *, expires_on=None, imported_days_ago=0):
    document = import_document(order, kind, f"{kind}.pdf", data, operator=None,
                               actor_label="Demandeur")
    Document.update(expires_on=expires_on, verified_at=utcnow() if expires_on else None,
                    imported_at=utcnow() - dt.timedelta(days=imported_days_ago)).where(
        Document.id == document.id).execute()


@pytest.fixture
def finished(app, client, aet, bpoi, make_order, softhsm):
    """A « Terminée » order whose certificate is on the holder's key, with its pieces: an ID
    document valid 5 more years, a KBIS extract of 200 days, a payment proof."""
    order = make_order(bpoi, requester_email="demandeur@example.org",
                       requester_name="Sandra Boileau", otp_contact="0612345678")
    today = utcnow().date()
    with app.app_context():
        _piece(order, "holder_id", png((10, 20, 30)),
               expires_on=today + dt.timedelta(days=5 * 365))
        _piece(order, "legal_rep_id", png((40, 50, 60)), expires_on=today + dt.timedelta(days=10))
        _piece(order, "kbis", text_pdf(), imported_days_ago=200)
        _piece(order, "payment_proof", text_pdf(2))
    validated = validated_order(lambda ae, **values: values, bpoi)
    Order.update(**validated).where(Order.id == order.id).execute()
    order = Order.get_by_id(order.id)
    login_as(client, aet)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    PageSteps(app, client, order, softhsm, token).run(blank_key(softhsm))
    Order.update(phase=workflow.PHASE_DONE).where(Order.id == order.id).execute()
    client.post("/deconnexion", data={"csrf_token": token})
    return Order.get_by_id(order.id)


def _certificate(order) -> HolderCertificate:
    return HolderCertificate.get(HolderCertificate.order == order.id)


def test_the_reminder_link_starts_a_prefilled_renewal_with_the_valid_pieces(app, client, finished):
    certificate = _certificate(finished)
    path = links.renewal_url(app, certificate.serial_hex).split("127.0.0.1:5000", 1)[-1]
    page = source(client.get(path))
    assert "Renouveler votre certificat" in page and certificate.serial_hex in page
    assert "Renouveler mon certificat" in page

    started = client.post(path, data={"csrf_token": csrf_token_from(page)})
    assert started.status_code == 303 and "/recapitulatif" in started.headers["Location"]
    renewal = Order.get(Order.target_serial == certificate.serial_hex)
    assert (renewal.process, renewal.phase, renewal.previous_order_id) == (
        "renewal", "entry", finished.id)
    assert renewal.number != finished.number and renewal.company_id != finished.company_id
    kinds = {d.kind: d for d in Document.current_of(renewal.id)}
    # The holder's ID is carried with its check; the legal representative's expires too soon,
    # the KBIS is too old and a payment is always asked again.
    assert set(kinds) == {"holder_id"}
    assert kinds["holder_id"].verified_at is not None
    assert kinds["holder_id"].imported_by_label == f"Reprise de la commande N° {finished.number}"
    assert (renewal.id_doc_type, renewal.id_doc_number) == ("CNI", "123456789012")

    summary = source(client.get(started.headers["Location"]))
    assert "Sandra" in summary and "Boileau" in summary and "Société Exemple" in summary
    assert "Renouveler un certificat" in summary
    assert f"Renouvellement du certificat N° {certificate.serial_hex}" in summary
    notice = Notification.get(Notification.order == renewal.id)
    assert notice.type == "renewal_started" and notice.recipient == "demandeur@example.org"
    assert f"commande N° {finished.number}" in notice.body

    again = client.post(path, data={"csrf_token": csrf_token_from(page)})
    assert again.status_code == 303  # the same draft, not a second renewal
    assert Order.select().where(Order.target_serial == certificate.serial_hex).count() == 1
    event = AuditEvent.get(AuditEvent.action == "renewal_started")
    assert event.order_id == renewal.id and "Pièce d'identité du porteur" in event.details


def test_a_forged_or_unusable_link(app, client, finished, make_operator, bpoi):
    assert client.get("/renouveler/abc").status_code == 404
    certificate = _certificate(finished)
    with app.app_context():
        get_ca(app).revoke(certificate.serial_hex, "keyCompromise")
    path = links.renewal_url(app, certificate.serial_hex).split("127.0.0.1:5000", 1)[-1]
    page = client.get(path)
    assert "n'est plus valide" in source(page) and "Renouveler mon certificat" not in source(page)
    refused = client.post(path, data={"csrf_token": csrf_token_from(source(client.get("/connexion")))})
    assert refused.status_code == 422
    assert not Order.select().where(Order.process == "renewal").exists()


def test_an_aea_renews_from_the_order_file(app, client, finished, make_operator, bpoi, aet):
    aea = make_operator(bpoi, roles="AEA", name="Camille Martin")
    login_as(client, aet)
    page = source(client.get(f"/commandes/{finished.id}"))
    assert "Renouveler le certificat" not in page  # an AET does not
    token = csrf_token_from(page)
    assert client.post(f"/commandes/{finished.id}/renouveler",
                       data={"csrf_token": token}).status_code == 403
    client.post("/deconnexion", data={"csrf_token": token})

    login_as(client, aea)
    page = source(client.get(f"/commandes/{finished.id}"))
    assert "Renouveler le certificat" in page
    done = client.post(f"/commandes/{finished.id}/renouveler",
                       data={"csrf_token": csrf_token_from(page)}, follow_redirects=True)
    renewal = Order.get(Order.process == "renewal")
    text = source(done)
    assert f"Renouvellement préparé : commande N° {renewal.number}" in text
    assert "Cette commande renouvelle le certificat" in text
    assert source(client.get(f"/commandes/{finished.id}")).count(
        f"commande N° {renewal.number}") == 1  # « Renouvellement en cours »


def test_another_aes_order_cannot_be_renewed(app, client, finished, make_ae, make_operator):
    other = make_operator(make_ae("AE Atlantique", portals=("Nantes",)), roles="AEA")
    login_as(client, other)
    token = csrf_token_from(source(client.get("/commandes")))
    assert client.post(f"/commandes/{finished.id}/renouveler",
                       data={"csrf_token": token}).status_code == 404
    assert not Order.select().where(Order.process == "renewal").exists()


def test_the_old_certificate_is_revoked_only_once_the_new_one_is_activated(app, finished):
    with app.app_context():
        _revoked_once_activated(app, finished)


def _revoked_once_activated(app, finished):
    certificate = _certificate(finished)
    renewal = renewals.start(app, finished, actor="Demandeur").order
    assert holder_certificates.revoke_superseded(app, Order.get_by_id(finished.id)) is None
    crl = get_ca(app).current_crl()
    assert crl.get_revoked_certificate_by_serial_number(int(certificate.serial_hex, 16)) is None

    revoked = holder_certificates.revoke_superseded(app, Order.get_by_id(renewal.id))
    assert revoked.serial_hex == certificate.serial_hex
    entry = get_ca(app).current_crl().get_revoked_certificate_by_serial_number(
        int(certificate.serial_hex, 16))
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.superseded
    assert holder_certificates.revoke_superseded(app, Order.get_by_id(renewal.id)) is None


# --- onto the holder's own key -------------------------------------------------------------------

def _holder_pin(app, softhsm, certificate, pin="24681357"):
    """The holder activated the key: their own PIN replaced the activation PIN."""
    from services.certificates.instructions import activation_pin
    from token_bridge.tokens import pkcs11_library
    with pkcs11_library(softhsm.module_path) as lib:
        token = next(t for t in lib.get_tokens() if t.serial.decode().strip() == certificate.token_serial)
        with token.open(user_pin=activation_pin(app, certificate), rw=True) as session:
            session.set_pin(activation_pin(app, certificate), pin)
    return pin


def _renewal_to_generate(app, finished):
    from models import BlankKey
    BlankKey.update(state="handed_over").where(BlankKey.order == finished.id).execute()
    with app.app_context():
        renewal = renewals.start(app, finished, actor="Demandeur").order
    validated = validated_order(lambda ae, **values: values, None)
    Order.update(**validated).where(Order.id == renewal.id).execute()
    return Order.get_by_id(renewal.id)


def test_a_renewal_onto_the_holders_own_key_replaces_the_old_certificate(
        app, client, finished, aet, softhsm):
    from token_bridge import generation as bridge
    from token_bridge.tokens import pkcs11_library
    from pkcs11 import Attribute, ObjectClass
    old = _certificate(finished)
    pin = _holder_pin(app, softhsm, old)
    renewal = _renewal_to_generate(app, finished)

    login_as(client, aet)
    page = source(client.get(f"/commandes/{renewal.id}"))
    assert f'data-renewal-key="{old.token_serial}"' in page
    assert "vous pouvez aussi choisir la clé actuelle du porteur" in page
    steps = PageSteps(app, client, renewal, softhsm, csrf_token_from(page))
    text, instruction = steps.instruction(steps.start(old.token_serial))
    assert instruction["replace"] == {"certificate_sha256": old.fingerprint_sha256,
                                      "serial": old.serial_hex}
    described = " ".join(bridge.describe_generation(instruction))
    assert f"elle porte le certificat actuel du porteur (N° {old.serial_hex})" in described
    assert "Supprimer de cette clé ce certificat et sa paire de clés" in described

    made = steps.key_pair(text, instruction, pin=pin)
    issued = steps.submit(instruction["nonce"], text, made["csr_pem"]).get_json()
    steps.write(issued, pin=pin)
    assert steps.written(instruction["nonce"], issued["certificate_sha256"]).status_code == 200

    with pkcs11_library(softhsm.module_path) as lib:
        token = next(t for t in lib.get_tokens() if t.serial.decode().strip() == old.token_serial)
        with token.open() as session:
            held = {x509.load_der_x509_certificate(obj[Attribute.VALUE]).serial_number
                    for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})}
    new = HolderCertificate.get(HolderCertificate.order == renewal.id)
    assert int(new.serial_hex, 16) in held and int(old.serial_hex, 16) not in held
    assert Order.get_by_id(renewal.id).phase == "handover"
    # Not revoked yet: the new certificate is not activated.
    with app.app_context():
        assert get_ca(app).current_crl().get_revoked_certificate_by_serial_number(
            int(old.serial_hex, 16)) is None


def test_another_key_is_refused_for_the_old_certificates_removal(app, client, finished, aet,
                                                                   softhsm):
    from token_bridge import generation as bridge
    from token_bridge.tokens import BridgeError
    old = _certificate(finished)
    renewal = _renewal_to_generate(app, finished)
    other = blank_key(softhsm, label="autre")
    login_as(client, aet)
    steps = PageSteps(app, client, renewal, softhsm,
                      csrf_token_from(source(client.get(f"/commandes/{renewal.id}"))))
    text, instruction = steps.instruction(steps.start(old.token_serial))
    instruction["token"]["serial"] = other  # the bridge checks the key it is given
    with pytest.raises(BridgeError) as refused:
        bridge.generate_key_pair(softhsm.module_path, text, instruction, "1234")
    assert refused.value.code == "wrong_key"
    assert "ne porte pas le certificat à renouveler" in refused.value.message
    # A blank key gets an instruction without « replace »: nothing is removed anywhere.
    text, instruction = steps.instruction(steps.start(other, label="autre"))
    assert "replace" not in instruction


def test_the_renewal_asks_only_the_missing_pieces_then_goes_the_usual_way(app, client, finished):
    from services.intake import pieces, submission
    with app.app_context():
        renewal = renewals.start(app, finished, actor="Demandeur").order
        draft = Order.with_people().where(Order.id == renewal.id).get()
        asked = [row.kind for row in pieces.rows(draft) if not row.complete]
        assert asked == ["kbis", "legal_rep_id", "payment_proof"]
        refused = submission.blockers(draft, address_proven=True)
        assert any("Extrait de KBIS" in reason for reason in refused)
        for kind, data in (("kbis", text_pdf(3)), ("legal_rep_id", png((90, 90, 90))),
                           ("payment_proof", text_pdf(4))):
            pieces.upload(draft, kind, f"{kind}.pdf", data)
        sent = submission.submit(app, Order.with_people().where(Order.id == renewal.id).get(),
                                 address_proven=True, via=submission.VIA_FOLLOWUP_PAGE)
    assert (sent.process, sent.phase, sent.substate) == ("renewal", "validation", "to_check")
    documents = [d for d in Document.current_of(renewal.id)]
    from workflow.conditions import process_check
    assert process_check(sent).ok  # the review, signature and validation path is the usual one
    assert {d.kind for d in documents} >= {"holder_id", "kbis", "legal_rep_id", "payment_proof"}


def test_the_command_line_prints_the_renewal_link(app, runner, finished):
    printed = runner.invoke(args=["order", "renewal-link", "--number", str(finished.number)])
    assert printed.exit_code == 0, printed.output
    with app.app_context():
        assert links.read_renewal_token(app, printed.output.strip().rsplit("/", 1)[-1]) == \
            _certificate(finished).serial_hex
    missing = runner.invoke(args=["order", "renewal-link", "--number", "1"])
    assert missing.exit_code != 0 and "Aucune commande N° 1." in missing.output
