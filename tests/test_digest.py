"""The activity digest with a real SMTP server (aiosmtpd) and a controllable clock
(``now`` passed in): contents equal to the Commandes list's counters, French plurals, links that
open the right filtered list, once per (operator, slot) even when two jobs race or after a
restart, a missed slot sent late once, bad inputs; the administration screen; the CLI."""
from __future__ import annotations

import datetime as dt
import re
import threading
from html import unescape
from urllib.parse import urlsplit

import pytest

from models import (AE, AuditEvent, DigestRun, Notification, Operator, OperatorScope, Order, Portal,
                    db)
from services import digest
from services.messaging import outbox
from services.orders.order_search import parse_filters, substate_counts
from tests.conftest import csrf_token_from, login_as
from tests.e2e_support import free_port
from tests.smtp_support import running_smtp, use_smtp
from tests.text import text as visible_text

# Thursday 15 January 2026, 07:15 in Paris (winter: UTC+1) — just after the 07:10 slot.
WINTER = dt.datetime(2026, 1, 15, 6, 15)
WINTER_SLOT = dt.datetime(2026, 1, 15, 6, 10)
# Wednesday 1 July 2026, 12:12 in Paris (summer: UTC+2) — just after the 12:10 slot.
SUMMER = dt.datetime(2026, 7, 1, 10, 12)


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    ae = make_ae("BPOI", ("BPOI-Occitanie", "BPOI-Rhône", "BPOI-Rhône-Alpes"))
    occitanie, rhone, alpes = Portal.select().where(Portal.ae == ae).order_by(Portal.name)
    for _ in range(3):
        make_order(ae, portal=occitanie, substate="to_check")
    make_order(ae, portal=occitanie, substate="to_validate")
    make_order(ae, portal=rhone, substate="to_validate")
    make_order(ae, portal=rhone, substate="in_signature")
    make_order(ae, portal=rhone, phase="generation", substate=None)
    make_order(ae, portal=alpes, phase="done", substate=None)
    camille = make_operator(ae, roles="AEA,admin", name="Camille Martin",
                            email="camille.martin@bpoi.example")
    julien = make_operator(ae, roles="AET", name="Julien Roux", email="julien.roux@bpoi.example",
                           portals=[rhone])
    both = make_operator(ae, roles="AEA,AET", name="Chloé Bernard", email="chloe@bpoi.example")
    for operator in (camille, julien, both):
        Operator.update(digest_enabled=True).where(Operator.id == operator.id).execute()
    other = make_ae("AE Atlantique", ("Atlantique-Nantes",))
    make_order(other, substate="to_check")
    return {"ae": ae, "portals": (occitanie, rhone, alpes), "camille": camille,
            "julien": julien, "both": both, "other": other}


def _reload(operator):
    return Operator.get_by_id(operator.id)


def _sent(app, server, count):
    report = outbox.flush(app)
    assert report.sent == count, report
    return server.inbox.wait_for(count)


def _by_recipient(received):
    return {r.recipients[0]: r for r in received}


def test_slots_are_parsed_and_malformed_ones_named_in_french():
    assert digest.parse_slots(" 07:10, 12:10;17:10,7:10") == [dt.time(7, 10), dt.time(12, 10),
                                                              dt.time(17, 10)]
    for bad, shown in (("25:00", "« 25:00 »"), ("07h10,12:10", "« 07h10 »"), ("7:5", "« 7:5 »")):
        with pytest.raises(digest.DigestError, match=shown):
            digest.parse_slots(bad)
    with pytest.raises(digest.DigestError, match="au moins une heure"):
        digest.parse_slots(" , ")


def test_slots_follow_paris_time_in_winter_and_summer_and_across_midnight():
    times = digest.parse_slots("07:10,12:10,17:10")
    assert digest.current_slot(times, WINTER) == WINTER_SLOT                     # UTC+1
    assert digest.current_slot(times, SUMMER) == dt.datetime(2026, 7, 1, 10, 10)  # UTC+2
    # 03:00 in Paris: the latest slot is yesterday's 17:10
    assert digest.current_slot(times, dt.datetime(2026, 1, 15, 2, 0)) == dt.datetime(2026, 1, 14, 16, 10)
    # the night the clocks go forward (29 March 2026, 02:00 → 03:00)
    assert digest.current_slot(times, dt.datetime(2026, 3, 29, 5, 30)) == dt.datetime(2026, 3, 29, 5, 10)


def test_french_plurals():
    assert [digest.plural(n) for n in (0, 1, 3, 1234)] == [
        "0 commande", "1 commande", "3 commandes", "1\u202f234 commandes"]


def test_each_operator_receives_their_digest_with_the_lists_own_counts(app, client, desk):
    with running_smtp(app) as server:
        report = digest.run(app, WINTER)
        assert report.queued == 3
        mails = _by_recipient(_sent(app, server, 3))
    camille = mails["camille.martin@bpoi.example"]
    assert camille.message["Subject"] == "Résumé d'activité du 15/01/2026 07:10"
    text, html = camille.text, unescape(camille.html)
    assert "Résumé d'activité du 15/01/2026 07:10" in html
    for heading in ("Nom du portail", "Commandes à vérifier", "Commandes à valider", "Consulter"):
        assert heading in html
    assert "Commandes à générer" not in html  # AEA only
    assert "BPOI-Occitanie — Commandes à vérifier : 3 commandes · Commandes à valider : 1 commande" in text
    assert "BPOI-Rhône — Commandes à vérifier : 0 commande · Commandes à valider : 1 commande" in text
    assert "BPOI-Rhône-Alpes — Commandes à vérifier : 0 commande · Commandes à valider : 0 commande" in text
    assert "Atlantique" not in text

    # Every count equals the list's own counter for that portal
    scope = OperatorScope(desk["camille"])
    for portal in desk["portals"]:
        counts = substate_counts(scope, parse_filters({"portal": str(portal.id)}, scope))
        line = next(l for l in text.splitlines() if l.startswith(f"{portal.name} —"))
        assert f"à vérifier : {digest.plural(counts['to_check'])} ·" in line
        assert f"à valider : {digest.plural(counts['to_validate'])} ·" in line
        assert line.endswith(f"à révoquer : {digest.plural(counts['to_revoke'])}")

    # « Consulter » opens that portal's list, filtered, and its counters agree
    login_as(client, desk["camille"])
    links = re.findall(r'href="(http://localhost/commandes\?[^"]+)"[^>]*>Consulter<', html)
    occitanie = desk["portals"][0]
    assert f"http://localhost/commandes?portal={occitanie.id}&amp;phase=validation" in camille.html
    page = client.get(urlsplit(unescape(links[0])).path + "?" + urlsplit(unescape(links[0])).query)
    listed = unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    assert "à vérifier : 3" in listed and "à valider : 1" in listed
    count_link = next(u for u in re.findall(r'href="([^"]+)"', html) if "substate=to_check" in u)
    assert f"portal={occitanie.id}" in count_link
    filtered = client.get(urlsplit(unescape(count_link)).path + "?"
                          + urlsplit(unescape(count_link)).query)
    assert filtered.status_code == 200
    assert "à vérifier : 3" in unescape(filtered.get_data(as_text=True))
    assert filtered.get_data(as_text=True).count('id="commande-') == 3  # the link's filters apply

    julien = mails["julien.roux@bpoi.example"]
    assert "BPOI-Rhône — Commandes à générer : 1 commande" in julien.text
    assert "Occitanie" not in julien.text  # only his portal
    assert ">Voir<" in julien.html and "substate=to_generate" in julien.html
    assert "Commandes à vérifier" not in julien.html

    chloe = mails["chloe@bpoi.example"]  # both roles: both parts
    assert "Commandes à vérifier" in chloe.text and "Commandes à générer" in chloe.text
    assert "Consulter" in chloe.html and ">Voir<" in chloe.html


def test_two_jobs_racing_on_one_slot_send_one_email(app, desk):
    Operator.update(digest_enabled=False).where(Operator.id != desk["camille"].id).execute()
    barrier = threading.Barrier(2)
    reports = []

    def job():
        with app.app_context(), db.connection_context():
            barrier.wait(10)
            reports.append(digest.run(app, WINTER))

    with running_smtp(app) as server:
        threads = [threading.Thread(target=job) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(r.queued for r in reports) == [0, 1]
        outbox.flush(app)
        server.inbox.wait_for(1)
        assert len(server.inbox.messages) == 1
    assert DigestRun.select().count() == 1


def test_a_restart_within_the_slot_sends_nothing_more_and_the_next_slot_goes(app, desk):
    with running_smtp(app) as server:
        assert digest.run(app, WINTER).queued == 3
        _sent(app, server, 3)
        # the process restarts five minutes later: the database knows the slot was done
        assert digest.run(app, WINTER + dt.timedelta(minutes=5)).queued == 0
        assert digest.run(app, WINTER + dt.timedelta(hours=4)).queued == 0  # still before 12:10
        next_slot = dt.datetime(2026, 1, 15, 11, 11)
        assert digest.run(app, next_slot).queued == 3
        received = _sent(app, server, 3)
    assert len(received) == 6
    assert received[-1].message["Subject"] == "Résumé d'activité du 15/01/2026 12:10"


def test_a_slot_missed_while_down_is_sent_once_late_with_its_real_date(app, desk):
    Operator.update(digest_enabled=False).where(Operator.id != desk["camille"].id).execute()
    # down from before 07:10 until 10:40: the 07:10 digest leaves late, once
    late = dt.datetime(2026, 1, 15, 9, 40)
    with running_smtp(app) as server:
        assert digest.run(app, late).queued == 1
        assert digest.run(app, late + dt.timedelta(minutes=1)).queued == 0
        (mail,) = _sent(app, server, 1)
    assert mail.message["Subject"] == "Résumé d'activité du 15/01/2026 07:10"
    assert ("Envoi différé : ce résumé était prévu le 15/01/2026 07:10 ; le service était "
            "indisponible. Les nombres sont ceux du 15/01/2026 10:40.") in mail.text


def test_an_smtp_outage_at_slot_time_is_retried_by_the_outbox_and_sent_once(app, desk):
    Operator.update(digest_enabled=False).where(Operator.id != desk["camille"].id).execute()
    port = free_port()
    use_smtp(app, port)  # nothing listens: the mail server is down at slot time
    assert digest.run(app, WINTER).queued == 1
    report = outbox.flush(app)
    assert report.retried == 1
    notification = Notification.get(Notification.type == "digest")
    assert notification.state == "queued" and notification.last_error
    assert digest.run(app, WINTER + dt.timedelta(minutes=2)).queued == 0  # not queued again
    from tests.smtp_support import SmtpServer
    with SmtpServer(port=port) as server:
        assert outbox.flush(app).sent == 1
        server.inbox.wait_for(1)
        assert outbox.flush(app).attempted == 0
        assert len(server.inbox.messages) == 1
    assert Notification.get_by_id(notification.id).state == "sent"


def test_operator_without_email_is_skipped_once_with_a_clear_reason(app, desk):
    Operator.update(email=None).where(Operator.id == desk["julien"].id).execute()
    report = digest.run(app, WINTER)
    assert report.queued == 2 and report.skipped == 1
    assert report.problems == ["Julien Roux n'a pas d'adresse e-mail : résumé non envoyé."]
    assert digest.run(app, WINTER + dt.timedelta(minutes=1)).skipped == 0  # not repeated
    event = AuditEvent.select().where(AuditEvent.action == "digest_skipped").get()
    assert "pas d'adresse e-mail" in event.details


def test_an_all_zero_digest_follows_the_aes_setting(app, make_ae, make_operator):
    ae = make_ae("Calme", ("Calme-Portail",))
    quiet = make_operator(ae, roles="AEA", email="quiet@example.org")
    Operator.update(digest_enabled=True).where(Operator.id == quiet.id).execute()
    AE.update(digest_send_empty=False).where(AE.id == ae.id).execute()
    assert digest.run(app, WINTER).queued == 0
    AE.update(digest_send_empty=True).where(AE.id == ae.id).execute()
    assert digest.run(app, dt.datetime(2026, 1, 15, 11, 15)).queued == 1
    assert "Calme-Portail — Commandes à vérifier : 0 commande" in Notification.get().body


def test_malformed_slots_of_one_ae_do_not_stop_the_others(app, desk, make_operator, caplog):
    other_op = make_operator(desk["other"], roles="AEA", email="nadia@atlantique.example")
    Operator.update(digest_enabled=True).where(Operator.id == other_op.id).execute()
    AE.update(digest_slots="07h10,25:00").where(AE.id == desk["other"].id).execute()
    report = digest.run(app, WINTER)
    assert report.queued == 3
    assert "Heure(s) d'envoi invalide(s)" in caplog.text


def test_a_portal_renamed_or_removed_between_slots(app, desk):
    Operator.update(digest_enabled=False).where(Operator.id != desk["camille"].id).execute()
    digest.run(app, WINTER)
    occitanie, rhone, alpes = desk["portals"]
    Portal.update(name="BPOI-Toulouse").where(Portal.id == occitanie.id).execute()
    Portal.delete().where(Portal.id == alpes.id).execute()
    digest.run(app, dt.datetime(2026, 1, 15, 11, 15))
    latest = Notification.select().order_by(Notification.id.desc()).first()
    assert "BPOI-Toulouse — Commandes à vérifier : 3 commandes" in latest.body
    assert "Rhône-Alpes" not in latest.body and "Occitanie" not in latest.body


def test_switched_off_in_the_admin_screen_the_digest_stops(app, client, desk):
    login_as(client, desk["camille"])
    page = client.get("/parametres/operateurs")
    html = unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    for text in ("Administration de l'AE « BPOI »", "Julien Roux", "AET (génération)",
                 "BPOI-Rhône", "CN=Julien Roux", "Actif", "Activé", "07:10,12:10,17:10"):
        assert text in html
    token = csrf_token_from(html)
    julien = desk["julien"]
    answer = client.post(f"/parametres/operateurs/{julien.id}/resume",
                         data={"csrf_token": token, "digest": "0"},
                         headers={"HX-Request": "true"})
    row = unescape(answer.get_data(as_text=True))
    assert row.lstrip().startswith(f'<tr id="operateur-{julien.id}"')
    assert "Résumé d'activité désactivé pour Julien Roux." in row and "Désactivé" in row
    assert not _reload(julien).digest_enabled
    assert AuditEvent.select().where(AuditEvent.action == "digest_disabled").count() == 1
    digest.run(app, WINTER)
    assert {n.recipient for n in Notification.select()} == {"camille.martin@bpoi.example",
                                                            "chloe@bpoi.example"}
    # without JavaScript: a plain POST comes back to the page
    plain = client.post(f"/parametres/operateurs/{julien.id}/resume",
                        data={"csrf_token": token, "digest": "1"})
    assert plain.status_code == 303 and _reload(julien).digest_enabled


def test_admin_sets_slot_times_and_malformed_ones_are_refused(app, client, desk):
    login_as(client, desk["camille"])
    token = csrf_token_from(client.get("/parametres/operateurs").get_data(as_text=True))
    refused = client.post("/parametres/resume", data={"csrf_token": token, "slots": "7h,12:10"})
    assert refused.status_code == 422
    assert "Heure(s) d'envoi invalide(s) : « 7h »" in unescape(refused.get_data(as_text=True))
    assert AE.get_by_id(desk["ae"].id).digest_slots == "07:10,12:10,17:10"
    saved = client.post("/parametres/resume", data={"csrf_token": token, "slots": "18:00, 8:30"},
                        follow_redirects=True)
    assert "Heures d'envoi enregistrées : 08:30, 18:00." in unescape(saved.get_data(as_text=True))
    ae = AE.get_by_id(desk["ae"].id)
    assert ae.digest_slots == "08:30,18:00" and ae.digest_send_empty is True  # set elsewhere


def test_admin_preview_and_access(app, client, desk, make_operator):
    login_as(client, desk["camille"])
    page = unescape(client.get(f"/parametres/operateurs/{desk['julien'].id}/apercu").get_data(as_text=True))
    assert "Aperçu du résumé d'activité de Julien Roux" in page
    assert "Résumé d'activité du " in page and "Commandes à générer" in page and "1 commande" in page
    foreign = make_operator(desk["other"])
    assert client.get(f"/parametres/operateurs/{foreign.id}/apercu").status_code == 404
    login_as(client, desk["julien"])  # not an admin
    assert client.get("/parametres/operateurs").status_code == 403
    assert "Administration" not in client.get("/commandes").get_data(as_text=True)


def test_cli_preview_and_send_now(app, runner, desk):
    result = runner.invoke(args=["digest", "preview", "--operator", "camille.martin@bpoi.example"])
    assert result.exit_code == 0, result.output
    assert "Résumé d'activité du " in result.output
    assert "BPOI-Occitanie — Commandes à vérifier : 3 commandes" in result.output
    missing = runner.invoke(args=["digest", "preview", "--operator", "personne"])
    assert missing.exit_code != 0 and "Aucun opérateur « personne »" in missing.output
    with running_smtp(app) as server:
        first = runner.invoke(args=["digest", "send-now"])
        assert "3 résumé(s) mis en boîte d'envoi" in first.output, first.output
        server.inbox.wait_for(3)
        again = runner.invoke(args=["digest", "send-now"])
        assert "0 résumé(s) mis en boîte d'envoi" in again.output
        assert len(server.inbox.messages) == 3


def test_the_scheduler_runs_the_digest_job(app, desk):
    import scheduler

    job = next(job for job in scheduler.jobs(app) if job.id == scheduler.DIGEST_JOB)
    report = scheduler.run_job(app, job)  # the real clock: the latest slot of today or yesterday
    assert report.queued == 3
    assert scheduler.run_job(app, job).queued == 0
    assert {n.subject for n in Notification.select()} == {
        f"Résumé d'activité du {digest.paris_datetime(digest.current_slot(digest.parse_slots('07:10,12:10,17:10'), digest.utcnow()))}"}


def test_a_digest_just_switched_on_does_not_speak_of_an_outage(app, desk, monkeypatch):
    import services.audit
    Operator.update(digest_enabled=False).execute()
    camille = Operator.get_by_id(desk["camille"].id)
    # switched on at 09:30 (Paris 10:30), after the 07:10 slot: its digest leaves at once
    monkeypatch.setattr(services.audit, "utcnow", lambda: dt.datetime(2026, 1, 15, 9, 30))
    digest.set_digest(camille, True, camille)
    with running_smtp(app) as server:
        assert digest.run(app, dt.datetime(2026, 1, 15, 9, 40)).queued == 1
        (mail,) = _sent(app, server, 1)
    assert "indisponible" not in mail.text
    assert ("Le résumé d'activité vient d'être activé pour vous : voici celui prévu le "
            "15/01/2026 07:10, avec les nombres du 15/01/2026 10:40.") in mail.text


def test_an_order_on_hold_is_neither_to_check_nor_among_yours_and_the_link_says_so(app, client,
                                                                                    desk):
    """Camille takes two of Occitanie's three orders « à vérifier » and puts one of them
    « en attente »: the digest counts 2 « à vérifier » and « Vos dossiers : 1 commande », as
    the list counts them, and its link opens a list of that 1 order (« Mes dossiers » keeps the
    held one too)."""
    from services import validation
    from services.orders import handling

    camille = _reload(desk["camille"])
    occitanie = desk["portals"][0]
    held, taken, _ = Order.select().where(Order.portal == occitanie.id,
                                          Order.substate == "to_check").order_by(Order.id)
    for order in (held, taken):
        handling.take(order, camille)
    validation.hold(app, Order.get_by_id(held.id), camille, "Kbis de plus de 3 mois.")
    with running_smtp(app) as server:
        assert digest.run(app, WINTER).queued == 3
        # the requester's « mise en attente » e-mail, then the three digests
        mail = _by_recipient(_sent(app, server, 4))["camille.martin@bpoi.example"]
    assert ("BPOI-Occitanie — Commandes à vérifier : 2 commandes · Commandes à valider : "
            "1 commande") in mail.text
    assert "Vos dossiers (pris en charge par vous) : 1 commande" in mail.text
    link = re.search(r"Vos dossiers \(pris en charge par vous\) : 1 commande\s+Consulter : (\S+)",
                     mail.text).group(1)
    assert link.endswith("/commandes?handler=me_to_do")
    assert f'href="{link}"' in mail.html

    login_as(client, desk["camille"])
    listed = client.get(urlsplit(link).path + "?" + urlsplit(link).query).get_data(as_text=True)
    assert "1 commande correspondant aux filtres" in visible_text(listed)
    assert listed.count('id="commande-') == 1 and f'id="commande-{taken.number}"' in listed
    mine = client.get("/commandes?handler=me").get_data(as_text=True)
    assert mine.count('id="commande-') == 2  # « Mes dossiers »: the held order too
    counters = unescape(client.get(f"/commandes?portal={occitanie.id}").get_data(as_text=True))
    assert "à vérifier : 2" in counters and "en attente : 1" in counters
