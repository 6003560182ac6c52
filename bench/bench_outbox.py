"""The outbox: how fast notifications are queued, sent to a real SMTP server
(aiosmtpd on loopback), recorded as failed tries while the server is down, and written as .eml
files without a server.

    .venv/bin/python -m bench.bench_outbox [--count 1000] [--postgres postgresql://…/test]

With ``--postgres``, a throwaway database is created on that server and dropped afterwards.

Each notification goes through what production does: the audit event when queued, the claim,
Flask-Mail over one SMTP connection per batch, the state update and its audit event.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server's URL")
    args = parser.parse_args()
    if args.postgres:
        import os
        os.environ["TEST_DATABASE_URL"] = args.postgres
        from tests import e2e_support
        e2e_support.PG_BASE_URL = args.postgres
        with e2e_support.throwaway_database(Path(tempfile.mkdtemp())) as url:
            run(args, url)
    else:
        run(args, None)


def run(args, url: str | None) -> None:

    from app import create_app
    from models import AE, Company, Operator, Order, Person, Portal, db
    from adapters import mail
    from services.messaging import drafts, notifications, outbox, wordings
    from tests.e2e_support import free_port
    from tests.smtp_support import SmtpServer

    folder = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    url = url or f"sqlite:///{folder / 'radesk.db'}"
    app = create_app({"INSTANCE_PATH": folder, "DATABASE_URL": url, "SECRET_KEY": "bench",
                      "RADESK_OUTBOX_BACKOFF_SECONDS": 0})
    db.connect(reuse_if_open=True)
    ae = AE.create(name=f"Bench {time.time_ns()}")
    portal = Portal.create(ae=ae, name="Portail")
    operator = Operator.create(ae=ae, display_name="Camille Martin", roles="AEA")
    person = Person.create(ae=ae, first_name="Sandra", last_name="Boileau", email="s@exemple.fr")
    order = Order.create(number=990000000 + time.time_ns() % 1000000, ae=ae, portal=portal,
                         company=Company.create(ae=ae, name="Société", siren="434202180"),
                         holder=person, legal_representative=person, phase="validation",
                         substate="to_check", requester_email="alice.colbert@exemple.fr")
    draft = drafts.Draft(wordings.TYPE_MISSING, "alice.colbert@exemple.fr",
                         "Commande : pièce manquante", "Bonjour,\n\nIl manque le KBIS : {lien}")

    def queue_all() -> float:
        start = time.perf_counter()
        with app.app_context():  # the audit event names the type as this app registered it
            for _ in range(args.count):
                notifications.queue(order, draft, operator=operator,
                                    sender="RA Desk <no-reply@radesk.example>")
        return time.perf_counter() - start

    def results(title: str, seconds: float) -> None:
        print(f"{title}: {seconds:.2f} s for {args.count} "
              f"({args.count / seconds:.0f}/s, {seconds * 1000 / args.count:.2f} ms each)")

    engine = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"== Outbox, {args.count} notifications, {engine} ==")
    results("queue (row + audit event)", queue_all())

    port = free_port()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=5)
    mail.init_app(app)
    start = time.perf_counter()
    report = outbox.flush(app)
    results("server down: one failed try recorded each", time.perf_counter() - start)
    assert report.retried == args.count, report

    with SmtpServer(port) as server:
        start = time.perf_counter()
        report = outbox.flush(app)
        elapsed = time.perf_counter() - start
        server.inbox.wait_for(args.count, timeout=120)
    assert report.sent == args.count, report
    results("server back: sent over SMTP (claim, send, state + audit)", elapsed)

    app.config.update(MAIL_SERVER=None)
    queue_all()
    start = time.perf_counter()
    report = outbox.flush(app)
    assert report.sent == args.count, report
    results("no MAIL_SERVER: written as .eml files", time.perf_counter() - start)
    db.close()


if __name__ == "__main__":
    main()
