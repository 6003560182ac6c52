"""Reminders before a holder certificate expires: at the AE's thresholds (90, 30 and 7 days by
default) its holder and its requester receive an e-mail (from a real SMTP server) with the
expiry date, the serial and a renewal link that opens back to that certificate; once per
threshold ever, the smallest due only when several are; none for a certificate revoked,
suspended, expired or already in renewal. The thresholds are an AE setting refused in French
when malformed; AEA operators' digests count the certificates expiring within 30 days per
portal."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
import uuid

import pytest

from formatting import PARIS, paris_date, to_paris
from models import (AE, AuditEvent, CertificateExpiryReminder, HolderCertificate,
                    IssuedCertificate, Notification, Operator, Order, Portal, db, utcnow)
from services import ae_settings, digest
from services.messaging import outbox
from services.public_links import BadToken
from services.renewal import expiry_reminders as reminders
from services.renewal.links import read_renewal_token, renewal_token, renewal_url
from tests.conftest import csrf_token_from, login_as
from tests.smtp_support import running_smtp
from tests.text import text

DAY = dt.timedelta(days=1)
PAGE = "/parametres/ae"
IDENTITY = {"name": "BPOI", "postal_address": "BPOI — Service AE\n12 allée Jean Jaurès\n31000 Toulouse",
            "contact_email": "ae@bpoi.example", "contact_phone": "05 61 00 00 01"}


def certificate(order, expires_in: dt.timedelta, *, now=None, written=True,
                revoked: str | None = None) -> HolderCertificate:
    """A holder certificate of ``order`` as generation leaves it, expiring ``expires_in`` from
    now; ``revoked`` names the RFC 5280 reason of its revocation (certificateHold: suspended)."""
    now = now or utcnow()
    serial = uuid.uuid4().hex[:20].lstrip("0")
    not_after = now + expires_in
    not_before = not_after - 3 * 365 * DAY
    issued = IssuedCertificate.create(serial_hex=serial, kind="holder", subject="CN=Porteur",
                                      not_before=not_before, not_after=not_after, pem="",
                                      revoked_at=now - DAY if revoked else None,
                                      revocation_reason=revoked)
    digest_ = hashlib.sha256(serial.encode()).hexdigest()
    return HolderCertificate.create(
        order=order, issued=issued, serial_hex=serial, fingerprint_sha256=digest_,
        public_key_sha256=hashlib.sha256(digest_.encode()).hexdigest(), subject="CN=Porteur",
        key_type="EC-P256", token_serial=serial[:8], not_before=not_before, not_after=not_after,
        pem="", issued_at=not_before, written_at=not_before if written else None)


@pytest.fixture
def desk(app, make_ae, make_order):
    ae = make_ae("BPOI")
    AE.update(**{name: value for name, value in IDENTITY.items() if name != "name"}).where(
        AE.id == ae.id).execute()
    order = make_order(ae, number=961200, phase="done", substate=None,
                       requester_email="demandeur@example.org")
    return {"app": app, "ae": ae, "order": order, "now": utcnow(), "make_order": make_order}


def paris_noon_in(days: int, now: dt.datetime) -> dt.timedelta:
    """From ``now`` to noon in Paris ``days`` calendar days later: « dans N jours » counts Paris
    dates, so an expiry near midnight would read one day more or less depending on the hour."""
    day = to_paris(now).date() + days * DAY
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=PARIS).astimezone(dt.timezone.utc)
    return noon.replace(tzinfo=None) - now


def run(desk, days_later: float = 0) -> reminders.Report:
    with desk["app"].app_context():
        return reminders.job(desk["app"], desk["now"] + days_later * DAY)


def queued(order=None):
    query = Notification.select().where(Notification.type == reminders.TYPE_EXPIRY)
    if order is not None:
        query = query.where(Notification.order == order.id)
    return list(query.order_by(Notification.id))


def recorded(cert) -> dict[int, bool]:
    """{threshold: sent} of the certificate's reminders."""
    return {row.days_before: row.sent_at is not None for row in
            CertificateExpiryReminder.select().where(
                CertificateExpiryReminder.holder_certificate == cert.id)}


# --- The renewal link ------------------------------------------------------------------------------

def test_the_renewal_link_opens_back_to_its_certificate_and_only_for_renewal(app):
    token = renewal_token(app, "1f2e3d4c5b")
    assert read_renewal_token(app, token) == "1f2e3d4c5b"
    assert renewal_url(app, "1f2e3d4c5b") == f"http://localhost/renouveler/{token}"
    app.config["RADESK_PUBLIC_URL"] = "https://ae.example.fr/"
    assert renewal_url(app, "1F2E") == f"https://ae.example.fr/renouveler/{renewal_token(app, '1f2e')}"
    from services.signing.links import TOKENS as SIGNING
    for bad in ("", "x", token[:-2], token + "a", SIGNING.make(app.config["SECRET_KEY"], "1f2e"),
                renewal_token(app, "1f2e").replace(".", ".a", 1)):
        with pytest.raises(BadToken):
            read_renewal_token(app, bad)
    app.config["SECRET_KEY"] = "another secret"
    with pytest.raises(BadToken):
        read_renewal_token(app, token)


# --- The reminders ----------------------------------------------------------------------------------

def test_a_certificate_expiring_in_29_days_reminds_its_holder_and_requester_once(desk, client):
    cert = certificate(desk["order"], paris_noon_in(29, desk["now"]), now=desk["now"])
    report = run(desk)
    assert (report.reminded, report.passed) == (1, 1)
    assert recorded(cert) == {30: True, 90: False}  # the 90-day one is passed, not sent
    with running_smtp(desk["app"]) as server:
        assert outbox.flush(desk["app"]).sent == 2
        mails = {mail.recipients[0]: mail for mail in server.inbox.wait_for(2)}
    assert set(mails) == {"porteur@example.org", "demandeur@example.org"}
    expires = paris_date(cert.not_after)
    holder, requester = mails["porteur@example.org"], mails["demandeur@example.org"]
    assert holder.message["Subject"] == f"Votre certificat expire le {expires}"
    assert requester.message["Subject"] == f"Le certificat de Sandra Boileau expire le {expires}"
    for mail in (holder, requester):
        body = " ".join(mail.text.split())
        assert f"N° {cert.serial_hex}" in body and f"expire le {expires}, dans 29 jours" in body
        assert "Autorité d'Enregistrement BPOI" in mail.text and "31000 Toulouse" in mail.text
        assert "E-mail : ae@bpoi.example" in mail.text
        link = re.search(r"http://localhost/renouveler/(\S+)", mail.text).group(1)
        assert read_renewal_token(desk["app"], link) == cert.serial_hex
        assert f'href="http://localhost/renouveler/{link}"' in mail.html
        assert "/suivi/" not in mail.text  # the holder never gets the requester's follow-up link
    assert "commande N° 961200" in " ".join(requester.text.split())
    assert "Bonjour Mme Sandra Boileau," in holder.text

    # Once ever: the next hourly runs send nothing.
    assert run(desk).reminded == 0 and run(desk, 0.5).reminded == 0
    assert len(queued()) == 2
    # Audited once, and in the order's notification history.
    [event] = AuditEvent.select().where(AuditEvent.action == reminders.ACTION_REMINDED)
    details = json.loads(event.details)
    assert event.order_id == desk["order"].id and event.actor == "RA Desk"
    assert details["certificat"] == cert.serial_hex and details["relance"] == "30 jours avant l'expiration"
    assert details["relances passées (jours)"] == [90]
    from services.audit_words import action_label
    assert action_label(reminders.ACTION_REMINDED) == "Relance avant expiration du certificat envoyée"
    operator = _aea(desk)
    login_as(client, operator)
    page = text(client.get(f"/commandes/{desk['order'].id}").get_data(as_text=True))
    assert page.count("Relance avant expiration du certificat") >= 2
    assert f"Votre certificat expire le {expires}" in page

    # At 6 days before expiry the 7-day reminder goes, once.
    assert run(desk, 23).reminded == 1
    assert recorded(cert) == {90: False, 30: True, 7: True}
    assert [n.subject for n in queued()][2:] == [f"Votre certificat expire le {expires}",
                                                 f"Le certificat de Sandra Boileau expire le {expires}"]
    assert run(desk, 23.5).reminded == 0 and run(desk, 28).reminded == 0
    assert run(desk, 30).reminded == 0  # expired: nothing more


def _aea(desk) -> Operator:
    from tests.factories import make_operator
    return make_operator(desk["ae"], roles="AEA", name="Camille Martin")


def test_each_threshold_goes_when_its_day_comes(desk):
    cert = certificate(desk["order"], 100 * DAY, now=desk["now"])
    assert run(desk).reminded == 0
    assert run(desk, 10.5).reminded == 1 and recorded(cert) == {90: True}
    assert run(desk, 69).reminded == 0
    assert run(desk, 70.5).reminded == 1 and recorded(cert) == {90: True, 30: True}
    assert run(desk, 93.5).reminded == 1 and recorded(cert) == {90: True, 30: True, 7: True}
    assert len(queued()) == 6


@pytest.mark.parametrize("case", ["revoked", "suspended", "expired", "not written",
                                  "renewal started", "cancelled renewal"])
def test_no_reminder_for_a_certificate_revoked_suspended_expired_or_in_renewal(desk, case):
    order = desk["order"]
    if case == "revoked":
        cert = certificate(order, 20 * DAY, now=desk["now"], revoked="keyCompromise")
    elif case == "suspended":
        cert = certificate(order, 20 * DAY, now=desk["now"], revoked="certificateHold")
    elif case == "expired":
        cert = certificate(order, -DAY, now=desk["now"])
    elif case == "not written":
        cert = certificate(order, 20 * DAY, now=desk["now"], written=False)
    else:
        cert = certificate(order, 20 * DAY, now=desk["now"])
        desk["make_order"](desk["ae"], process="renewal", previous_order=order,
                           target_serial=cert.serial_hex, phase="validation",
                           substate="to_check")
        if case == "cancelled renewal":
            Order.update(phase="cancelled", substate=None).where(
                Order.target_serial == cert.serial_hex).execute()
    report = run(desk)
    if case == "cancelled renewal":  # a renewal given up does not stop the reminders
        assert report.reminded == 1
        return
    assert report.reminded == 0 and queued() == [] and recorded(cert) == {}


def test_a_renewal_started_after_the_reminder_was_queued_stops_its_email(desk):
    cert = certificate(desk["order"], 20 * DAY, now=desk["now"])
    assert run(desk).reminded == 1
    desk["make_order"](desk["ae"], process="renewal", target_serial=cert.serial_hex,
                       phase="validation", substate="to_check")
    with running_smtp(desk["app"]) as server:
        report = outbox.flush(desk["app"])
    assert (report.sent, report.failed) == (0, 2) and server.inbox.messages == []
    assert {n.state for n in queued()} == {"failed"}
    assert "en cours de renouvellement" in queued()[0].last_error


def test_the_aes_own_thresholds_apply(desk, make_ae, make_order):
    ae_settings.set_expiry_reminder_days(desk["ae"], "60")
    cert = certificate(desk["order"], 29 * DAY, now=desk["now"])
    other = make_ae("AE Atlantique", ("Atlantique-Nantes",))
    other_cert = certificate(make_order(other, phase="done", substate=None), 29 * DAY,
                             now=desk["now"])
    AE.update(expiry_reminder_days="").where(AE.id == other.id).execute()  # no reminders
    assert run(desk).reminded == 1
    assert recorded(cert) == {60: True} and recorded(other_cert) == {}
    assert run(desk, 25).reminded == 0  # 7 is not among BPOI's thresholds any more


def test_one_email_when_the_holder_placed_the_order(desk, make_order):
    order = make_order(desk["ae"], phase="done", substate=None,
                       requester_email="Porteur@Example.org")
    certificate(order, 5 * DAY, now=desk["now"])
    assert run(desk).reminded == 1
    assert [n.recipient for n in queued(order)] == ["porteur@example.org"]


def test_two_scheduler_processes_send_one_reminder(desk, make_order):
    certs = [certificate(make_order(desk["ae"], phase="done", substate=None,
                                    requester_email=f"d{i}@example.org"), 20 * DAY,
                         now=desk["now"]) for i in range(4)]
    app = desk["app"]
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def worker():
        try:
            with app.app_context(), db.connection_context():
                barrier.wait()
                reports.append(reminders.job(app, desk["now"]))
        except Exception as error:  # noqa: BLE001 — reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(report.reminded for report in reports) == 4
    assert len(queued()) == 8
    assert all(recorded(cert) == {30: True, 90: False} for cert in certs)
    assert AuditEvent.select().where(AuditEvent.action == reminders.ACTION_REMINDED).count() == 4


# --- The AE setting -------------------------------------------------------------------------------

@pytest.fixture
def admin_page(desk, client, make_operator):
    admin = make_operator(desk["ae"], roles="AEA,admin", name="Camille Martin")
    login_as(client, admin)
    token = csrf_token_from(client.get(PAGE).get_data(as_text=True))
    return lambda value: client.post(f"{PAGE}/relances-expiration",
                                     data={"csrf_token": token, "expiry_reminder_days": value})


def test_the_setting_is_shown_changed_and_audited(desk, client, admin_page):
    page = text(client.get(PAGE).get_data(as_text=True))
    assert "Relances avant expiration (jours)" in page and 'value="90, 30, 7"' in client.get(
        PAGE).get_data(as_text=True)
    response = admin_page(" 7, 60;30 ")
    assert response.status_code == 303 and response.headers["Location"].endswith("#relances-expiration")
    assert AE.get_by_id(desk["ae"].id).expiry_reminder_days == "60,30,7"
    assert "Relances avant expiration (jours) : 60, 30, 7." in text(
        client.get(PAGE).get_data(as_text=True))
    [event] = AuditEvent.select().where(AuditEvent.action == ae_settings.ACTION_EXPIRY_REMINDERS)
    assert json.loads(event.details) == {"avant": {"relances avant expiration (jours)": "90, 30, 7"},
                                         "après": {"relances avant expiration (jours)": "60, 30, 7"}}
    admin_page("60,30,7")  # unchanged: no event
    assert AuditEvent.select().where(
        AuditEvent.action == ae_settings.ACTION_EXPIRY_REMINDERS).count() == 1
    admin_page(" ")  # empty: no reminder at all
    assert AE.get_by_id(desk["ae"].id).expiry_reminder_days == ""
    assert "Relances avant expiration (jours) : aucune." in text(client.get(PAGE).get_data(as_text=True))
    journal = text(client.get("/parametres/journal").get_data(as_text=True))
    assert "Relances avant expiration des certificats modifiées" in journal


@pytest.mark.parametrize("typed, message", [
    ("abc", "« abc » n'en est pas un"),
    ("0", "« 0 » n'en est pas un"),
    ("90, 30, 400", "« 400 » n'en est pas un"),
    ("7.5", "« 7.5 » n'en est pas un"),
    ("120,90,60,30,14,7", "Au plus 5 relances avant expiration (6 indiquées)"),
])
def test_the_setting_refuses_malformed_values_in_french_and_changes_nothing(
        desk, client, admin_page, typed, message):
    before = AuditEvent.select().count()
    response = admin_page(typed)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    page = text(html)
    assert "Les relances avant expiration ne sont pas enregistrées" in page and message in page
    assert f'value="{typed}"' in html  # what was typed comes back
    assert AE.get_by_id(desk["ae"].id).expiry_reminder_days == "90,30,7"
    assert AuditEvent.select().count() == before


def test_only_admins_of_the_ae_change_the_setting(desk, client, make_operator):
    login_as(client, make_operator(desk["ae"], roles="AEA"))
    token = csrf_token_from(client.get("/commandes").get_data(as_text=True))
    response = client.post(f"{PAGE}/relances-expiration",
                           data={"csrf_token": token, "expiry_reminder_days": "60"})
    assert response.status_code == 403
    assert client.post(f"{PAGE}/relances-expiration",
                       data={"expiry_reminder_days": "60"}).status_code == 400  # no CSRF token
    assert AE.get_by_id(desk["ae"].id).expiry_reminder_days == "90,30,7"


# --- The digest ---------------------------------------------------------------------------------

def test_the_aea_digest_counts_certificates_expiring_within_30_days_per_portal(
        desk, make_operator, make_order, make_ae):
    ae = desk["ae"]
    occitanie, rhone = Portal.select().where(Portal.ae == ae).order_by(Portal.name)
    now = desk["now"]
    for days in (3, 10, 29):
        certificate(make_order(ae, portal=occitanie, phase="done", substate=None), days * DAY, now=now)
    certificate(make_order(ae, portal=rhone, phase="done", substate=None), 15 * DAY, now=now)
    # Not counted: beyond 30 days, revoked, expired, not written, renewal started.
    certificate(make_order(ae, portal=rhone, phase="done", substate=None), 31 * DAY, now=now)
    certificate(make_order(ae, portal=rhone, phase="done", substate=None), 5 * DAY, now=now,
                revoked="certificateHold")
    certificate(make_order(ae, portal=rhone, phase="done", substate=None), -DAY, now=now)
    certificate(make_order(ae, portal=rhone, phase="done", substate=None), 5 * DAY, now=now,
                written=False)
    renewed = certificate(make_order(ae, portal=rhone, phase="done", substate=None), 5 * DAY, now=now)
    make_order(ae, process="renewal", target_serial=renewed.serial_hex)
    other = make_ae("AE Atlantique", ("Atlantique-Nantes",))
    certificate(make_order(other, phase="done", substate=None), 5 * DAY, now=now)

    aea = make_operator(ae, roles="AEA", name="Camille Martin")
    rhone_only = make_operator(ae, roles="AEA", name="Chloé Bernard", portals=[rhone])
    aet = make_operator(ae, roles="AET", name="Julien Roux")
    with desk["app"].app_context():
        line = "Certificats expirant dans les 30 jours : BPOI-Occitanie 3, BPOI-Rhône 1"
        assert line in digest.text(digest.preview(desk["app"], aea, now)).splitlines()
        assert ("Certificats expirant dans les 30 jours : BPOI-Rhône 1"
                in digest.text(digest.preview(desk["app"], rhone_only, now)).splitlines())
        assert "Certificats expirant" not in digest.text(digest.preview(desk["app"], aet, now))
        html = digest.html(desk["app"], digest.preview(desk["app"], aea, now))
    assert "Certificats expirant dans les 30 jours : BPOI-Occitanie <strong>3</strong>" in html


def test_an_otherwise_empty_digest_goes_when_certificates_expire(desk, make_operator, make_order):
    AE.update(digest_send_empty=False).where(AE.id == desk["ae"].id).execute()
    aea = make_operator(desk["ae"], roles="AEA", name="Camille Martin", email="camille@bpoi.example")
    Operator.update(digest_enabled=True).where(Operator.id == aea.id).execute()
    certificate(desk["order"], 10 * DAY, now=desk["now"])
    report = digest.run(desk["app"], desk["now"])
    assert report.queued == 1
    [mail] = Notification.select().where(Notification.type == digest.TYPE_DIGEST)
    assert "Certificats expirant dans les 30 jours : BPOI-Occitanie 1" in mail.body


# --- The schema ---------------------------------------------------------------------------------

def test_an_upgraded_database_gets_the_setting_and_the_reminders_table(tmp_path, database_url):
    from tests.test_migrations import upgraded_from_v1

    database = upgraded_from_v1(database_url)
    assert AE.get_by_id(1).expiry_reminder_days == "90,30,7"
    assert CertificateExpiryReminder.select().count() == 0
    assert ({index.name[:63] for index in database.get_indexes("certificate_expiry_reminder")
             if not index.name.endswith("_pkey")}
            == {index._name[:63] for index in CertificateExpiryReminder._meta.fields_to_index()})
    database.close()


def test_the_scheduler_runs_the_reminders_hourly_and_the_outbox_writes_them(app):
    import scheduler
    from services.messaging.notifications import TYPES_KEY
    from services.messaging.outbox import COMPOSERS_KEY

    [job] = [job for job in scheduler.jobs(app) if job.id == scheduler.EXPIRY_REMINDERS_JOB]
    assert job.function is reminders.job and job.trigger == scheduler.every(hours=1)
    assert app.extensions[COMPOSERS_KEY][reminders.TYPE_EXPIRY] is reminders.compose
    assert app.extensions[TYPES_KEY][reminders.TYPE_EXPIRY] == "Relance avant expiration du certificat"
