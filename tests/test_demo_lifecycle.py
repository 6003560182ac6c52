"""The demo's certificates of last year (demo.lifecycle), as the demo AEA finds them: some
expiring within 30 to 60 days and one expired on « Certificats », a renewal order under way and
two revocation requests (one waiting « à révoquer » with its certificate suspended, one
revoked) in Commandes, the CRL listing both; all made by the production code, with its audit
trail; and a second run changes nothing."""
import datetime as dt
import re

import pytest
from cryptography import x509

from adapters.ca import get_ca
from demo import lifecycle
from demo.seed import seed_demo
from formatting import paris_date
from models import (AuditEvent, HolderCertificate, IssuedCertificate, Notification, Operator,
                    Order, RevocationRequest, utcnow)
from services.renewal import expiring
from tests.conftest import login_as
from tests.test_demo import seeded_demo
from tests.text import text

NUMBERS = {what: [fate.number for fate in lifecycle.FATES if fate.what == what]
           for what in {fate.what for fate in lifecycle.FATES}}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, pg_database_url):
    """A small demo (a single order beside the reference rows) and the lifecycle's seven."""
    with seeded_demo(tmp_path_factory.mktemp("demo-lifecycle"), pg_database_url,
                     order_count=8) as seeded_app:
        yield seeded_app


@pytest.fixture()
def aea_client(seeded):
    app, _ = seeded
    client = app.test_client()
    login_as(client, Operator.get(Operator.display_name == "Camille Martin"))
    return client


def certificate_of(number: int) -> HolderCertificate:
    return (HolderCertificate.select().join(Order, on=(HolderCertificate.order == Order.id))
            .where(Order.number == number).get())


def days_left(certificate: HolderCertificate) -> float:
    return (certificate.not_after - utcnow()).total_seconds() / 86400


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def crl_entry(app, certificate: HolderCertificate):
    crl = get_ca(app).current_crl()
    return crl.get_revoked_certificate_by_serial_number(int(certificate.serial_hex, 16))


def test_certificates_of_last_year_start_a_few_days_after_their_order(seeded):
    for number in lifecycle.NUMBERS:
        certificate = certificate_of(number)
        order = Order.get_by_id(certificate.order_id)
        assert order.ae.name == "BPOI" and order.phase == "done" and order.validity_years == 1
        # Back-dated by the CA itself: the PEM says what the row says.
        issued = x509.load_pem_x509_certificate(certificate.pem.encode())
        assert issued.not_valid_before_utc.replace(tzinfo=None) == certificate.not_before
        assert certificate.not_before == order.created_at + lifecycle.GENERATION_DELAY
        assert certificate.written_at is not None


def test_certificats_lists_those_expiring_within_30_to_60_days(seeded, aea_client):
    soon = [certificate_of(number) for number in NUMBERS[lifecycle.EXPIRING]]
    assert len(soon) == 3 and all(30 <= days_left(c) <= 60 for c in soon)
    # What the expiry reminders and the digest read: still to renew (the renewed one is not).
    to_renew = {c.serial_hex for c in expiring.to_renew(utcnow(), dt.timedelta(days=60))}
    assert to_renew == {c.serial_hex for c in soon}
    before = paris_date((utcnow() + dt.timedelta(days=61)).date())
    listed = page(aea_client, f"/certificats?state=valid&expires_before={before}")
    assert "4 certificats correspondant à la recherche" in text(listed)  # the renewed one too
    for certificate in soon + [certificate_of(NUMBERS[lifecycle.RENEWING][0])]:
        assert f'id="certificat-{certificate.id}"' in listed
        assert f"au {paris_date(certificate.not_after)}" in text(listed)


def test_the_expired_one_is_marked_expire(seeded, aea_client):
    certificate = certificate_of(NUMBERS[lifecycle.EXPIRED][0])
    assert -13 < days_left(certificate) < -11
    listed = page(aea_client, "/certificats?state=expired")
    row = re.search(rf'<tr id="certificat-{certificate.id}">(.*?)</tr>', listed, re.S).group(1)
    assert "expiré" in text(row)


def test_an_expiring_order_offers_renouveler_le_certificat(seeded, aea_client):
    order = Order.get(Order.number == NUMBERS[lifecycle.EXPIRING][0])
    file = page(aea_client, f"/commandes/{order.id}")
    assert "Renouveler le certificat" in file


def test_a_renewal_order_is_under_way(seeded, aea_client):
    previous = Order.get(Order.number == NUMBERS[lifecycle.RENEWING][0])
    certificate = certificate_of(previous.number)
    renewal = Order.get((Order.process == "renewal") & (Order.previous_order == previous.id))
    assert renewal.target_serial == certificate.serial_hex and renewal.phase == "entry"
    assert 30 <= days_left(certificate) <= 60
    event = AuditEvent.get((AuditEvent.order == renewal.id)
                           & (AuditEvent.action == "renewal_started"))
    assert event.actor == "Demandeur"
    listed = page(aea_client, "/commandes?process=renewal")
    row = re.search(rf'<tr id="commande-{renewal.number}">(.*?)</tr>', listed, re.S).group(1)
    assert "Renouvellement" in text(row) and "Saisie des informations" in text(row)
    file = text(page(aea_client, f"/commandes/{renewal.id}"))
    assert f"Cette commande renouvelle le certificat N° {certificate.serial_hex}" in file
    assert f"Renouvellement en cours : commande N° {renewal.number}" in text(
        page(aea_client, f"/commandes/{previous.id}"))


def test_a_revocation_request_waits_with_its_certificate_suspended(seeded, aea_client):
    app, _ = seeded
    previous = Order.get(Order.number == NUMBERS[lifecycle.REVOCATION_ASKED][0])
    certificate = certificate_of(previous.number)
    request = RevocationRequest.get(RevocationRequest.previous_order == previous.id)
    order = Order.get_by_id(request.order_id)
    assert (order.process, order.phase, order.substate) == ("revocation", "validation", "to_revoke")
    assert request.open_serial == certificate.serial_hex and request.choice == "lost"
    assert request.suspended_at is not None
    assert IssuedCertificate.get_by_id(certificate.issued_id).revocation_reason == "certificateHold"
    assert crl_entry(app, certificate) is not None  # the hold is published
    listed = page(aea_client, "/commandes?process=revocation")
    row = re.search(rf'<tr id="commande-{order.number}">(.*?)</tr>', listed, re.S).group(1)
    assert "à révoquer" in text(row)
    file = text(page(aea_client, f"/commandes/{order.id}"))
    assert "Clé perdue ou volée" in file and "À traiter avant" in file
    assert "Rejeter la demande" in file


def test_a_certificate_was_revoked_on_request(seeded, aea_client):
    app, _ = seeded
    previous = Order.get(Order.number == NUMBERS[lifecycle.REVOKED][0])
    certificate = certificate_of(previous.number)
    request = RevocationRequest.get(RevocationRequest.previous_order == previous.id)
    assert Order.get_by_id(request.order_id).phase == "done" and request.open_serial is None
    issued = IssuedCertificate.get_by_id(certificate.issued_id)
    assert issued.revoked_at is not None and issued.revocation_reason == "affiliationChanged"
    entry = crl_entry(app, certificate)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value == \
        "affiliationChanged"
    revoked_by = AuditEvent.get((AuditEvent.order == request.order_id)
                                & (AuditEvent.action == "revocation_request_revoked"))
    assert revoked_by.operator.display_name == "Camille Martin"
    shown = text(page(aea_client, f"/certificats/{certificate.id}"))
    assert "Révoqué le" in shown and "Changement d'affiliation du porteur" in shown


def test_the_replayed_e_mails_and_codes_stay_out_of_the_visitors_folders(seeded):
    app, _ = seeded
    assert not Notification.select().where(Notification.state == "queued").exists()
    assert not (app.config["INSTANCE_PATH"] / "sms").exists()


def test_second_run_changes_nothing(seeded):
    app, _ = seeded

    def counts():
        return tuple(model.select().count() for model in (
            Order, AuditEvent, Notification, HolderCertificate, IssuedCertificate,
            RevocationRequest))

    before = counts()
    summary = seed_demo(app, order_count=8)
    assert "0 clé(s) créée(s), 0 commande(s) créée(s), 0 certificat(s)" in summary
    assert counts() == before


def test_at_start_the_expiring_ones_get_their_reminders(seeded):
    """The demo's scheduler runs the hourly reminders job when it starts (last: it queues)."""
    from services.renewal import expiry_reminders
    app, _ = seeded
    with app.app_context():
        expiry_reminders.job(app)
    reminded = {number for (number,) in
                Order.select(Order.number).join(Notification, on=(Notification.order == Order.id))
                .where(Notification.type == expiry_reminders.TYPE_EXPIRY).tuples()}
    assert reminded == set(NUMBERS[lifecycle.EXPIRING])
