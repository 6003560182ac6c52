"""Webhooks, end to end against real receivers on loopback: an event is written in the
transaction of the change it reports (a change rolled back reports nothing); a validation made
through services.validation reaches the receiver signed as Standard Webhooks' own verifier
expects; a receiver down for 10 events then back gets each exactly once, in order, even with two
jobs at once; redirects are not followed; private addresses are refused with a French reason,
also at delivery time and whatever the DNS answers then; answers are kept to 1 KB; a slow
receiver times out; TLS is checked against the endpoint's name."""
from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

import scheduler
import workflow
from models import Document, Order, WebhookDelivery, WebhookEndpoint, WebhookEvent, db
from services import validation
from services.webhooks import events, urls
from tests.e2e_support import free_port
from tests.test_validation import signed_order
from tests.webhook_receiver import Receiver, Reply, declare, deliver, deliveries, emit

FINGERPRINT = "ab" * 32


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    app.config.update(RADESK_WEBHOOKS_ALLOW_HTTP=True, RADESK_WEBHOOKS_BACKOFF_SECONDS=30,
                      RADESK_WEBHOOKS_MAX_TRIES=10)
    ae = make_ae("BPOI")
    operator = make_operator(ae, roles="AEA", name="Camille Martin")
    return app, ae, operator


def version_of(order) -> str:
    current = Order.get_by_id(order.id)
    docs = list(Document.select().where((Document.order == order.id) & Document.is_current))
    return validation.dossier_version(current, docs)


def validate(order, operator) -> None:
    """« Règlement (OK) », « Dossier complet (OK) », then « Valider », as the order file does."""
    version = validation.set_flags(order, operator, True, True, version_of(order))
    validation.validate(order, operator, FINGERPRINT, version)


# --- Written with the change --------------------------------------------------------------------

def test_an_event_is_written_with_its_change_and_not_without_it(desk, make_order):
    app, ae, operator = desk
    declare(app, ae, "http://127.0.0.1:9/hooks", [events.ORDER_REFUSED])
    order = make_order(ae, requester_email="alice@example.org")

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), db.atomic():  # the change and its event, rolled back
        validation.refuse(app, order, operator, "Pièces illisibles.")
        assert WebhookEvent.select().count() == 1
        raise Abandoned
    assert Order.get_by_id(order.id).phase == "validation"
    assert WebhookEvent.select().count() == 0 and WebhookDelivery.select().count() == 0

    validation.refuse(app, order, operator, "Pièces illisibles.")
    event = WebhookEvent.get()
    assert event.type == "commande.refusee" and event.order_id == order.id
    assert event.webhook_id.startswith("msg_")
    assert [d.state for d in deliveries()] == ["queued"]


def test_a_refused_change_and_an_unsubscribed_type_report_nothing(desk, make_order):
    app, ae, operator = desk
    declare(app, ae, "http://127.0.0.1:9/hooks", [events.ORDER_VALIDATED])
    order = signed_order(app, make_order, ae)
    with pytest.raises(workflow.Refused):
        validation.validate(order, operator, FINGERPRINT, "0" * 32)  # stale page
    validation.refuse(app, order, operator, "Doublon.")  # nobody chose commande.refusee
    assert WebhookEvent.select().count() == 0


def test_emit_outside_a_transaction_is_a_programming_error(desk, make_order):
    app, ae, _ = desk
    with pytest.raises(RuntimeError):
        events.emit(make_order(ae), events.ORDER_VALIDATED)


# --- Delivered, signed --------------------------------------------------------------------------

def test_a_validation_reaches_the_receiver_signed(desk, make_order):
    app, ae, operator = desk
    order = signed_order(app, make_order, ae, number=960600)
    with Receiver() as receiver:
        endpoint, secret = declare(app, ae, receiver.url, [events.ORDER_VALIDATED])
        validate(order, operator)
        report = deliver(app)
    assert (report.sent, report.retried, report.failed) == (1, 0, 0)
    [message] = receiver.received
    event = WebhookEvent.get()
    assert message.path == "/hooks"
    assert message.headers["webhook-id"] == event.webhook_id
    assert message.headers["Content-Type"] == "application/json"
    payload = Webhook(secret).verify(message.body, message.headers)
    assert payload["type"] == "commande.validee"
    assert payload["timestamp"].endswith("Z")
    assert payload["data"]["commande"] == {
        "numero": 960600, "portail": order.portal.code, "phase": "generation",
        "sous_etat": None, "processus": "generation"}
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret.replace(endpoint.secret[-8:], "AAAAAAA=")).verify(
            message.body, message.headers)
    with pytest.raises(WebhookVerificationError):  # the body is what is signed
        Webhook(secret).verify(message.body.replace(b"960600", b"960601"), message.headers)
    sent = WebhookDelivery.get()
    assert (sent.state, sent.tries, sent.last_status, sent.response_excerpt) == ("sent", 1, 200, "ok")
    assert sent.sent_at is not None and sent.last_error is None
    assert deliver(app).attempted == 0  # nothing more to send


def test_the_scheduler_runs_the_webhooks_job(desk, make_order):
    app, ae, _ = desk
    with Receiver() as receiver:
        declare(app, ae, receiver.url)
        emit(make_order(ae), events.ORDER_RECEIVED)
        job = {job.id: job for job in scheduler.jobs(app)}[scheduler.WEBHOOKS_JOB]
        assert scheduler.run_job(app, job).sent == 1
    assert len(receiver.received) == 1


def test_a_receiver_down_for_ten_events_gets_each_once_in_order(desk, make_order):
    app, ae, _ = desk
    app.config["RADESK_WEBHOOKS_BACKOFF_SECONDS"] = 0  # every try is due at once
    port = free_port()
    declare(app, ae, f"http://127.0.0.1:{port}/hooks")
    first, second = make_order(ae, number=960001), make_order(ae, number=960002)
    types = list(events.EVENT_TYPES)
    written = [emit(first if i % 3 else second, types[i]) for i in range(10)]

    for _ in range(3):  # down: connection refused
        report = deliver(app)
        assert report.sent == 0 and report.retried >= 1
    waiting = deliveries()
    assert waiting[0].last_error == "Connexion refusée par 127.0.0.1."
    # Each order's later events wait for its first: only the heads were tried.
    assert {d.tries > 0 for d in waiting[2:] if d.order_id == waiting[0].order_id} == {False}

    with Receiver(port) as receiver:
        report = deliver(app)
        assert report.sent == 10
        assert deliver(app).attempted == 0
    ids = receiver.ids()
    assert sorted(ids) == sorted(e.webhook_id for e in written) and len(set(ids)) == 10
    for order in (first, second):
        mine = [e.webhook_id for e in written if e.order_id == order.id]
        assert [i for i in ids if i in mine] == mine  # each order's events in their order
    assert {d.state for d in deliveries()} == {"sent"}


def test_two_jobs_at_once_send_each_event_once(desk, make_order):
    app, ae, _ = desk
    orders = [make_order(ae) for _ in range(4)]
    with Receiver() as receiver:
        declare(app, ae, receiver.url)
        written = [emit(orders[i % 4], events.ORDER_INCOMPLETE) for i in range(24)]
        reports = []

        def job():
            with db.connection_context():
                reports.append(deliver(app))

        threads = [threading.Thread(target=job) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deliver(app)
    ids = receiver.ids()
    assert len(ids) == 24 and len(set(ids)) == 24
    for order in orders:
        mine = [e.webhook_id for e in written if e.order_id == order.id]
        assert [i for i in ids if i in mine] == mine


def test_failures_are_retried_with_backoff_then_failed_with_the_answer(desk, make_order):
    app, ae, _ = desk
    app.config.update(RADESK_WEBHOOKS_MAX_TRIES=2, RADESK_WEBHOOKS_BACKOFF_SECONDS=60)
    with Receiver(reply=Reply(500, "Erreur interne côté boutique".encode())) as receiver:
        declare(app, ae, receiver.url)
        emit(make_order(ae), events.ORDER_RECEIVED)
        assert deliver(app).retried == 1
        retry = WebhookDelivery.get()
        assert retry.state == "queued" and retry.last_error == "Réponse HTTP 500."
        assert retry.response_excerpt == "Erreur interne côté boutique"
        delay = retry.next_try_at - retry.created_at
        assert dt.timedelta(seconds=55) < delay < dt.timedelta(seconds=70)
        assert deliver(app).attempted == 0  # not due yet
        WebhookDelivery.update(next_try_at=retry.created_at).execute()
        assert deliver(app).failed == 1
    failed = WebhookDelivery.get()
    assert (failed.state, failed.tries, failed.last_status) == ("failed", 2, 500)
    assert len(receiver.received) == 2
    assert len(set(receiver.ids())) == 1  # every try of an event has its one webhook-id


# --- What is not done --------------------------------------------------------------------------

def test_redirects_are_not_followed(desk, make_order):
    app, ae, _ = desk
    with Receiver() as elsewhere, \
            Receiver(reply=Reply(302, b"", {"Location": elsewhere.url})) as receiver:
        declare(app, ae, receiver.url)
        emit(make_order(ae), events.ORDER_RECEIVED)
        assert deliver(app).retried == 1
    assert len(receiver.received) == 1 and elsewhere.received == []
    retry = WebhookDelivery.get()
    assert retry.last_status == 302
    assert retry.last_error == f"Redirection non suivie (HTTP 302 vers « {elsewhere.url} »)."


@pytest.mark.parametrize("url, host, address", [
    ("http://127.0.0.1:8080/hooks", "127.0.0.1", "127.0.0.1"),
    ("http://localhost/hooks", "localhost", "127.0.0.1"),
    ("https://10.1.2.3/hooks", "10.1.2.3", "10.1.2.3"),
    ("https://192.168.1.20/hooks", "192.168.1.20", "192.168.1.20"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254", "169.254.169.254"),
    ("https://100.64.0.1/hooks", "100.64.0.1", "100.64.0.1"),
    ("http://[::1]:8080/hooks", "::1", "::1"),
    ("https://[::ffff:10.0.0.1]/hooks", "::ffff:10.0.0.1", "::ffff:10.0.0.1"),
])
def test_private_addresses_are_refused_in_french(desk, url, host, address):
    app, ae, _ = desk
    with pytest.raises(workflow.Refused) as refused:
        declare(app, ae, url, allow_private=False)
    assert refused.value.reasons == [
        f"L'adresse « {host} » mène à une adresse privée, locale ou réservée ({address}) : elle "
        f"est refusée, sauf si « Autoriser les adresses privées » est coché pour ce webhook."]
    assert WebhookEndpoint.select().count() == 0


def test_only_https_unless_the_installation_allows_http(desk):
    app, ae, _ = desk
    app.config["RADESK_WEBHOOKS_ALLOW_HTTP"] = False
    with pytest.raises(workflow.Refused) as refused:
        declare(app, ae, "http://boutique.example.fr/hooks", allow_private=True)
    assert refused.value.reasons == ["L'adresse du webhook doit commencer par https://."]
    for url, reason in [("ftp://boutique.example.fr/", "doit commencer par https://"),
                        ("https://user:pw@boutique.example.fr/", "ni identifiant ni mot de passe"),
                        ("https://", "n'est pas une adresse web valide"),
                        ("https://nom-inexistant.invalid/hooks", "ne correspond à aucune adresse")]:
        with pytest.raises(urls.RefusedUrl, match=reason):
            urls.resolve(url, allow_http=False, allow_private=True)


def test_the_private_rule_holds_at_delivery_whatever_dns_says_then(desk, make_order, monkeypatch):
    """An endpoint accepted once (a public address then) that now resolves to this machine is
    not sent to; an allowed name is connected to at the address checked, not looked up again."""
    app, ae, _ = desk
    with Receiver() as receiver:
        endpoint = WebhookEndpoint.create(ae=ae, url=receiver.url, secret="whsec_" + "A" * 43,
                                          event_types=events.ORDER_RECEIVED)
        emit(make_order(ae), events.ORDER_RECEIVED)
        assert deliver(app).retried == 1
        assert receiver.received == []
        assert "mène à une adresse privée, locale ou réservée (127.0.0.1)" in \
            WebhookDelivery.get().last_error

        # A name only this test's resolver knows: requests could not look it up by itself.
        real = socket.getaddrinfo
        monkeypatch.setattr(urls.socket, "getaddrinfo", lambda host, *args, **kw: real(
            "127.0.0.1" if host == "hooks.radesk-test" else host, *args, **kw))
        WebhookEndpoint.update(url=f"http://hooks.radesk-test:{receiver.port}/hooks",
                               allow_private_network=True).execute()
        WebhookDelivery.update(next_try_at=endpoint.created_at).execute()
        assert deliver(app).sent == 1
    assert receiver.received[0].headers["Host"] == f"hooks.radesk-test:{receiver.port}"


def test_answers_are_kept_to_one_kilobyte_cut_on_a_character(desk, make_order):
    app, ae, _ = desk
    body = ("x" + "é" * 3000).encode()  # 6001 bytes; byte 1024 falls inside an « é »
    with Receiver(reply=Reply(200, body)) as receiver:
        declare(app, ae, receiver.url)
        emit(make_order(ae), events.ORDER_RECEIVED)
        assert deliver(app).sent == 1
    excerpt = WebhookDelivery.get().response_excerpt
    assert excerpt == "x" + "é" * 511 and len(excerpt.encode()) == 1023


def test_a_slow_receiver_times_out(desk, make_order):
    app, ae, _ = desk
    app.config["RADESK_WEBHOOKS_TIMEOUT_SECONDS"] = 0.5
    with Receiver(reply=Reply(delay=2)) as receiver:
        declare(app, ae, receiver.url)
        emit(make_order(ae), events.ORDER_RECEIVED)
        assert deliver(app).retried == 1
    assert WebhookDelivery.get().last_error == "Pas de réponse dans le délai de 0.5 s."


# --- TLS ---------------------------------------------------------------------------------------

def _tls_files(folder, name: str):
    """A CA, and a server certificate it signs for ``name``."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test webhooks CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now)
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                                        + key.private_bytes(serialization.Encoding.PEM,
                                                            serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem")
    return folder / "ca.pem", context


@pytest.mark.parametrize("certified, sent", [("hooks.radesk-test", True), ("autre.example", False)])
def test_tls_is_checked_against_the_endpoints_name(desk, make_order, monkeypatch, tmp_path,
                                                   certified, sent):
    app, ae, _ = desk
    ca_file, context = _tls_files(tmp_path, certified)
    app.config.update(RADESK_WEBHOOKS_ALLOW_HTTP=False, RADESK_WEBHOOKS_CA_BUNDLE=str(ca_file))
    real = socket.getaddrinfo
    monkeypatch.setattr(urls.socket, "getaddrinfo", lambda host, *args, **kw: real(
        "127.0.0.1" if host == "hooks.radesk-test" else host, *args, **kw))
    with Receiver(tls=context) as receiver:
        url = f"https://hooks.radesk-test:{receiver.port}/hooks"
        _, secret = declare(app, ae, url)
        emit(make_order(ae), events.ORDER_RECEIVED)
        report = deliver(app)
    if sent:
        assert report.sent == 1
        Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)
    else:
        assert report.retried == 1 and receiver.received == []
        assert WebhookDelivery.get().last_error.startswith("Connexion TLS refusée")


# --- Schema -------------------------------------------------------------------------------------

def test_the_upgrade_creates_the_webhook_tables_as_a_fresh_database_has_them(database_url):
    from tests.test_migrations import upgraded_from_v1

    database = upgraded_from_v1(database_url)
    for model in (WebhookEndpoint, WebhookEvent, WebhookDelivery):
        table = model._meta.table_name
        assert ({column.name for column in database.get_columns(table)}
                == {field.column_name for field in model._meta.sorted_fields})
        assert ({index.name[:63] for index in database.get_indexes(table)
                 if not index.name.endswith("_pkey")}
                == {index._name[:63] for index in model._meta.fields_to_index()})
    database.close()
