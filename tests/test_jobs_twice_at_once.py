"""Every job the app registers with the scheduler, run twice at the same moment (as two
``flask --app app scheduler`` processes do at their start, and on every tick after), does its
work once: one reminder, one digest, one cancellation, one e-mail and one webhook each, no
error, one intact audit chain. On SQLite and PostgreSQL (two threads, two connections); the
same with real processes is tests/test_multiworker.py."""
from __future__ import annotations

import logging
import threading

import scheduler
from models import db
from services import audit
from tests.scheduled_work import assert_done_once, assert_each_message_once, due_work
from tests.smtp_support import running_smtp
from tests.webhook_receiver import Receiver


def twice_at_once(app, job) -> None:
    """Two runs of ``job`` that start together, each in its own thread and connection, as
    scheduler.run_job makes them (errors are logged, never raised)."""
    barrier = threading.Barrier(2, timeout=60)

    def run():
        barrier.wait()
        scheduler.run_job(app, job)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_every_registered_job_run_twice_at_once_does_its_work_once(app, make_ae, make_operator,
                                                                    caplog):
    ae = make_ae("BPOI")
    operator = make_operator(ae, "Camille Martin", roles="AEA", email="camille@bpoi.example")
    make_operator(ae, "Julien Roux", roles="AET", email="julien@bpoi.example")
    caplog.set_level(logging.ERROR)
    with running_smtp(app) as smtp, Receiver() as receiver:
        work = due_work(app, ae, operator, webhook_url=receiver.url)
        db.close()  # each run takes its own connection, as in a scheduler process
        registered = scheduler.jobs(app)
        assert {job.id for job in registered} >= {
            scheduler.OUTBOX_JOB, scheduler.SIGNATURE_REMINDERS_JOB, scheduler.DIGEST_JOB,
            scheduler.DRAFT_EXPIRY_JOB, scheduler.REQUESTER_REMINDERS_JOB,
            scheduler.DOCUMENT_CLEANUP_JOB, scheduler.WEBHOOKS_JOB, scheduler.BULK_ACTIONS_JOB,
            scheduler.BULK_EXPORTS_CLEANUP_JOB, scheduler.EXPIRY_REMINDERS_JOB,
            scheduler.PKI_REFRESH_JOB}
        for job in registered:
            twice_at_once(app, job)
        # What the later jobs queued leaves at the outbox's next ticks, still two at a time.
        senders = [job for job in registered
                   if job.id in (scheduler.OUTBOX_JOB, scheduler.WEBHOOKS_JOB)]
        for job in senders:
            twice_at_once(app, job)
        db.connect(reuse_if_open=True)
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        smtp.inbox.wait_for(1)
        assert_done_once(work)
        assert_each_message_once(smtp.inbox)
        assert len(receiver.ids()) == len(set(receiver.ids())) == 1
        assert audit.verify() == []
