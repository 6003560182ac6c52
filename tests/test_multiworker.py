"""Several workers, several processes, as deploy/README.md runs RA Desk: gunicorn with 4
workers on PostgreSQL, two ``flask --app app scheduler`` processes, the rate limits in Redis.
Four operators log in with their USB keys, browse, notify, send for signature, have their
signers sign and validate, all at once and over plain HTTP, while one of them runs an action on
the selection and every one tries to validate the same order. Then: no server error and no
traceback in any log; every e-mail (outbox, digests, reminders) and every webhook delivered once;
each job the two schedulers ran together acted once; the login limit counted once for all the
workers.

Needs PostgreSQL (``TEST_DATABASE_URL``, which scripts/test.sh's PostgreSQL pass sets) and
Redis (``RADESK_TEST_REDIS_URL``, by default redis://127.0.0.1:6379/0): skipped without them.
"""
from __future__ import annotations

import collections
import contextlib
import os
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

import workflow
from models import AuditEvent, BulkJob, Document, Notification, Order, Person, WebhookDelivery
from services import audit
from tests.e2e_support import (PG_BASE_URL, AppInstance, free_port, make_operator_key,
                               start_app_server, start_bridge, start_scheduler,
                               throwaway_postgres)
from tests.factories import make_ae, make_operator, make_order
from tests.http_support import CSRF_META, Operator, Signer, wait_until
from tests.scheduled_work import assert_done_once, assert_each_message_once, due_work
from tests.signature_support import CODE, LINK, ready_order
from tests.smtp_support import SmtpServer
from tests.softhsm import SoftHSM
from tests.webhook_receiver import Receiver

REDIS_URL = os.environ.get("RADESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CLIENTS = 4
LOGIN_LIMIT = 6   # per address and minute; a client's login spends 2 (challenge, proof)
LIMIT_TRIES = 24  # from one address, over new connections spread across the workers
BULK_ORDERS = 8


# --- what the test needs, or why it is skipped ------------------------------------------------

def _postgres_or_skip() -> str:
    if not PG_BASE_URL.startswith("postgres"):
        pytest.skip("PostgreSQL requis : TEST_DATABASE_URL=postgresql://… (la passe PostgreSQL "
                    "de scripts/test.sh le définit)")
    from playhouse.db_url import connect
    try:
        probe = connect(PG_BASE_URL, connect_timeout=3)
        with probe.connection_context():
            probe.execute_sql("SELECT 1")
    except Exception as problem:  # noqa: BLE001 — any failure to connect means « not here »
        pytest.skip(f"PostgreSQL injoignable ({PG_BASE_URL}) : {problem}")
    return PG_BASE_URL


def _redis_or_skip():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as problem:
        pytest.skip(f"Redis injoignable ({REDIS_URL}) : {problem}")
    return client


# --- the data the day starts with ----------------------------------------------------------

def _signed_order(app, ae, recorder, number: int) -> Order:
    """An order « à valider »: step 1 done, every contractual document « signé »."""
    order = ready_order(app, make_order, ae, recorder, number=number)
    for kind in workflow.contractual_kinds(order):
        Document.create(order=order, kind=kind, category="contractuel", status="signed",
                        sha256="a" * 64, filename=f"{kind}.pdf", media_type="application/pdf")
    Order.update(substate="to_validate").where(Order.id == order.id).execute()
    return order


def _seed(app, softhsm, webhook_url: str) -> dict:
    """AE « BPOI »: the operators with their keys, an order each to take from « à vérifier » to
    validation, one order for all to validate at once, orders for the action on the
    selection; and what each scheduled job finds to do when the two schedulers start."""
    ae = make_ae("BPOI")
    recorder = make_operator(ae, "Julie Martin", roles="AEA", email="julie@bpoi.example")
    operators, orders = [], []
    for index in range(CLIENTS):
        operator = make_operator(ae, f"Opérateur {index}", roles="AEA",
                                 email=f"op{index}@bpoi.example")
        token = make_operator_key(app, softhsm, operator, label=f"cle-{index}")
        operators.append(SimpleNamespace(id=operator.id, serial=token.serial))
        order = ready_order(app, make_order, ae, recorder, number=960100 + index,
                            requester_email=f"demandeur{index}@example.org")
        Person.update(email=f"porteur{index}@example.org").where(
            Person.id == order.holder_id).execute()
        Person.update(email=f"rl{index}@example.org").where(
            Person.id == order.legal_representative_id).execute()
        orders.append(order.id)
    shared = _signed_order(app, ae, recorder, 960200)
    bulk = [make_order(ae, number=960300 + n).id for n in range(BULK_ORDERS)]
    work = due_work(app, ae, recorder, webhook_url=webhook_url, bulk=False)
    return {"operators": operators, "orders": orders, "shared": shared.id, "bulk": bulk,
            "work": work}


# --- the servers -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base_url = _postgres_or_skip()
    redis = _redis_or_skip()
    directory = tmp_path_factory.mktemp("multiworker")
    prefix = f"radesk-test-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: [redis.delete(key) for key in redis.scan_iter(f"*{prefix}*")])
        smtp = stack.enter_context(SmtpServer())
        receiver = stack.enter_context(Receiver())
        database_url = stack.enter_context(throwaway_postgres(base_url, "radesk_multiworker"))
        instance = AppInstance(directory, database_url, free_port(), free_port(),
                               trusted_proxies=["127.0.0.1"], extra_env={
                                   "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp.port),
                                   "RATELIMIT_STORAGE_URI": REDIS_URL,
                                   "RATELIMIT_KEY_PREFIX": prefix,
                                   "RADESK_LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per minute",
                                   "RADESK_WEBHOOKS_ALLOW_HTTP": "1",
                                   "RADESK_OUTBOX_INTERVAL_SECONDS": "1",
                                   "RADESK_WEBHOOKS_INTERVAL_SECONDS": "1",
                                   "RADESK_BULK_INTERVAL_SECONDS": "1"})
        softhsm = SoftHSM(directory / "softhsm")
        with instance.seeding() as app:
            seeded = _seed(app, softhsm, receiver.url)
        server = stack.enter_context(start_app_server(instance, workers=4, threads=2))
        bridge = stack.enter_context(start_bridge(instance, softhsm))
        # Both schedulers start together: every job's first run is a race between them.
        with ThreadPoolExecutor(2) as pool:
            schedulers = list(pool.map(lambda _: start_scheduler(instance), range(2)))
        for scheduler in schedulers:
            stack.enter_context(scheduler)
        yield SimpleNamespace(instance=instance, server=server, bridge=bridge,
                              schedulers=schedulers, smtp=smtp, receiver=receiver, redis=redis,
                              prefix=prefix, db=_open_database(database_url), **seeded)


def _open_database(url: str):
    """This process's peewee proxy on the site's database, opened once, before the threads:
    each thread then takes its own connection (``db.connection_context()``)."""
    from database import open_database
    from models import db
    open_database(url)
    return db


# --- the day: everyone at once ---------------------------------------------------------------

class Mailbox:
    """The SMTP server's messages, looked up by recipient and subject."""

    def __init__(self, smtp):
        self.inbox = smtp.inbox

    def to(self, address: str, subject: str) -> list:
        with self.inbox.lock:
            return [m for m in self.inbox.messages
                    if address in m.recipients and subject in m.message["Subject"]]

    def wait(self, address: str, subject: str, count: int = 1, timeout: float = 60):
        return wait_until(lambda: (found := self.to(address, subject)) and len(found) >= count
                          and found, timeout, f"{count} e-mail(s) « {subject} » à {address}")


def _sign(site, mailbox: Mailbox, address: str, ip: str) -> list:
    signer = Signer(site.instance.url, address=ip)
    link = LINK.search(mailbox.wait(address, "documents à signer")[0].text).group(0)
    codes = len(mailbox.to(address, "code de signature"))

    def code():
        message = mailbox.wait(address, "code de signature", codes + 1)[-1]
        return CODE.search(message.text).group(1)

    signed = signer.sign(link, code)
    assert signed.status_code == 200 and "vos documents sont signés" in signed.text, signed.text
    return signer.answers


def _operator_day(site, mailbox: Mailbox, start: threading.Barrier,
                  together: threading.Barrier, index: int) -> list:
    """Log in, browse, notify the requester, send for signature, have the two signers sign,
    validate; then try to validate the order every one else validates too."""
    client = Operator(site.instance.url, address=f"198.51.100.{index + 1}")
    order_id, shared = site.orders[index], site.shared
    start.wait()
    client.log_in(site.instance.origin, site.instance.bridge_url, site.operators[index].serial)
    assert "Commandes" in client.page("/commandes")
    client.page(f"/commandes/{order_id}")
    client.page(f"/commandes/{shared}/visionneuse")
    with site.db.connection_context():
        document = Document.select().where(Document.order == shared).order_by(Document.id).first()
    preview = client.get(f"/commandes/{shared}/documents/{document.id}/pages/1")
    assert preview.status_code == 200 and preview.headers["Content-Type"] == "image/png"
    client.page("/statistiques")
    client.page("/certificats")

    form = client.page(f"/commandes/{order_id}/notifications")
    sent = client.form_post(f"/commandes/{order_id}/notifications", form, type="other",
                            recipient=f"demandeur{index}@example.org",
                            subject="Votre dossier", message="Bonjour, nous traitons votre "
                                                             "dossier.\n\nCordialement")
    assert sent.status_code == 303, sent.text
    page = client.page(f"/commandes/{order_id}")
    assert client.form_post(f"/commandes/{order_id}/signature/envoi", page).status_code == 303
    answers = []
    for n, address in enumerate((f"porteur{index}@example.org", f"rl{index}@example.org")):
        answers += _sign(site, mailbox, address, f"192.0.2.{10 * index + n + 1}")
    with site.db.connection_context():
        assert Order.get_by_id(order_id).substate == "to_validate"
    assert client.validate(order_id).status_code == 303
    with site.db.connection_context():
        assert Order.get_by_id(order_id).phase == workflow.PHASE_GENERATION
    # All four click « Valider » on the same order at once: one validation, three refusals.
    together.wait()
    client.validate(shared, ready=together.wait)
    if index == 0:
        _assign_the_selection(site, client)
    return client.answers + answers


def _assign_the_selection(site, client: Operator) -> None:
    """« Actions sur la sélection » › « Attribuer à »: carried out by a scheduler's worker."""
    html = client.page("/commandes")
    started = client.form_post("/commandes/actions", html, action="assign",
                               ids=",".join(map(str, site.bulk)), search="",
                               operator_id=str(site.operators[1].id))
    assert started.status_code == 303, started.text
    progress = started.headers["Location"]
    wait_until(lambda: "terminée le" in client.page(progress), 60, "l'action sur la sélection")


@pytest.fixture(scope="module")
def day(site):
    """Every client's day, at once; then until the outbox and the webhooks are idle."""
    mailbox = Mailbox(site.smtp)
    # A client that fails breaks the barriers (timeout): the others stop instead of waiting.
    start, together = (threading.Barrier(CLIENTS, timeout=120) for _ in range(2))

    def one_day(index: int) -> list:
        try:
            return _operator_day(site, mailbox, start, together, index)
        except BaseException:
            start.abort()  # the others stop at once rather than wait for this one
            together.abort()
            raise

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(one_day, index) for index in range(CLIENTS)]
    failures = [f.exception() for f in futures if f.exception() is not None]
    causes = [e for e in failures if not isinstance(e, threading.BrokenBarrierError)]
    if failures:
        raise (causes or failures)[0]
    answers = [answer for future in futures for answer in future.result()]

    def idle():
        with site.db.connection_context():
            busy = (Notification.select().where(Notification.state != "sent").count()
                    + WebhookDelivery.select().where(WebhookDelivery.state != "sent").count()
                    + BulkJob.select().where(BulkJob.state != "finished").count())
            return busy == 0 and len(site.smtp.inbox.messages) >= Notification.select().count()

    wait_until(idle, 60, "la boîte d'envoi et les webhooks vides")
    return SimpleNamespace(answers=answers)


# --- what must hold ----------------------------------------------------------------------------

def test_every_client_got_answers_and_no_server_error(site, day):
    assert len(day.answers) > 20 * CLIENTS
    assert [a for a in day.answers if a.status >= 500] == []
    with site.db.connection_context():
        for order_id in site.orders:
            assert Order.get_by_id(order_id).phase == workflow.PHASE_GENERATION
        validated = (AuditEvent.select()
                     .where((AuditEvent.action == "order_validated")
                            & (AuditEvent.order == site.shared)).count())
        assert validated == 1  # four operators at once, one validation
        job = BulkJob.get()
        assert (job.done, job.refused) == (BULK_ORDERS, 0)
        assigned = (Order.select().where(Order.id.in_(site.bulk)
                                         & (Order.handled_by == site.operators[1].id)).count())
        assert assigned == BULK_ORDERS
        assert AuditEvent.select().where(AuditEvent.action == "bulk_action_finished").count() == 1
        assert audit.verify() == []  # one chain, whoever wrote when


def test_each_email_leaves_once_and_each_webhook_once(site, day):
    with site.db.connection_context():
        assert_each_message_once(site.smtp.inbox)
        deliveries = WebhookDelivery.select().count()
    assert len(site.receiver.ids()) == len(set(site.receiver.ids())) == deliveries > CLIENTS


def test_each_scheduled_job_acted_once_with_two_schedulers(site, day):
    assert all(s.process.poll() is None for s in site.schedulers)  # both still running
    with site.db.connection_context():
        assert_done_once(site.work)  # digests included: one per operator


def test_the_login_limit_is_counted_once_for_all_the_workers(site, day):
    """From one address, on new connections that land on every worker: LOGIN_LIMIT go
    through, whichever worker answers; with ``memory://`` each worker would count its own."""
    def challenge(_):
        client = Operator(site.instance.url, address="203.0.113.77")
        html = client.page("/connexion")
        headers = {"X-CSRFToken": CSRF_META.search(html).group(1),
                   "Origin": site.instance.origin, "Connection": "close"}
        return client.post("/connexion/defi", json={}, headers=headers).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = collections.Counter(pool.map(challenge, range(LIMIT_TRIES)))
    assert statuses == {200: LOGIN_LIMIT, 429: LIMIT_TRIES - LOGIN_LIMIT}
    assert any(True for _ in site.redis.scan_iter(f"*{site.prefix}*"))  # counted in Redis


def test_no_traceback_in_any_server_log(site, day):
    for process in (site.server, *site.schedulers):
        text = process.log_path.read_text(errors="replace")
        assert "Traceback" not in text and " en erreur" not in text, \
            f"{process.log_path.name} :\n{text[-4000:]}"
    access = site.server.log_path.read_text(errors="replace")
    assert not re.search(r'HTTP/1\.[01]" 5\d\d ', access)
