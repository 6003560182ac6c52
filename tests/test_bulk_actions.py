"""« Actions sur la sélection »: the list's ticked orders (or its whole search) get « Attribuer
à », « Relancer le demandeur », « Mettre en attente » or « Exporter » through a background job;
the request only queues it. Each order is checked by the same services as one by one, refused
ones keep their French reasons, the others go on; one audit event per order and one per job.
Tenancy, CSRF, the 5,000 limit and the job claimed once by two runners."""
from __future__ import annotations

import csv
import io
import json
import re
import threading
import zipfile

import pytest

from models import (AuditEvent, BulkItem, BulkJob, Company, Notification, Order, Person,
                    db)
from services.bulk import jobs, selection
from tests.conftest import csrf_token_from, login_as
from tests.text import text


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    lucas = make_operator(ae, roles="AEA", name="Lucas Bernard")
    other_ae = make_ae("Atlantique", portals=("Atlantique-Nantes",))
    stranger = make_operator(other_ae, roles="AEA", name="Yann Ailleurs")
    orders = [make_order(ae, number=960100 + n, requester_email=f"demandeur{n}@example.org")
              for n in range(3)]
    finished = make_order(ae, number=960200, phase="done", substate=None)
    theirs = make_order(other_ae, number=970001, requester_email="ailleurs@example.org")
    return dict(app=app, ae=ae, camille=camille, lucas=lucas, stranger=stranger, orders=orders,
                finished=finished, theirs=theirs)


def client_of(app, operator):
    client = app.test_client()
    login_as(client, operator)
    return client


def token(client) -> str:
    return csrf_token_from(client.get("/commandes").get_data(as_text=True))


def choose(client, action, ids=(), everything=False, search="", **extra):
    data = {"csrf_token": token(client), "action": action, "ids": [str(i) for i in ids],
            "search": search, **extra}
    if everything:
        data["all"] = "1"
    return client.post("/commandes/actions/nouvelle", data=data)


def start(client, action, ids=(), everything=False, search="", **extra):
    data = {"csrf_token": token(client), "action": action,
            "ids": ",".join(str(i) for i in ids), "search": search, **extra}
    if everything:
        data["all"] = "1"
    return client.post("/commandes/actions", data=data)


def job_id(response) -> int:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return int(re.search(r"/commandes/actions/(\d+)$", response.headers["Location"]).group(1))


def run(app) -> int:
    return jobs.run_pending(app)


def ids(orders):
    return [order.id for order in orders]


# --- The list and the selection ------------------------------------------------------------------

def test_the_list_has_a_labelled_checkbox_per_row_and_select_all_with_the_count(desk):
    client = client_of(desk["app"], desk["camille"])
    page = client.get("/commandes").get_data(as_text=True)
    for order in desk["orders"]:
        assert f'name="ids" value="{order.id}"' in page
        assert f"Sélectionner la commande N° {order.number}" in page
    assert "970001" not in page
    shown = text(page)
    assert "Tout sélectionner : 4 commandes de la recherche, sur toutes les pages" in shown
    buttons = dict(re.findall(r'name="action" value="(\w+)"[^>]*>([^<]+)</button>', page))
    assert buttons == {"assign": "Attribuer à", "remind": "Relancer le demandeur",
                       "hold": "Mettre en attente", "export": "Exporter"}
    filtered = text(client.get("/commandes", query_string={"phase": "validation"}))
    assert "Tout sélectionner : 3 commandes de la recherche" in filtered


def test_a_selection_by_ids_keeps_only_the_operators_orders(desk):
    client = client_of(desk["app"], desk["camille"])
    answer = choose(client, "assign", ids=[*ids(desk["orders"][:2]), desk["theirs"].id, 999999])
    assert answer.status_code == 200
    shown = text(answer)
    assert "2 commandes sélectionnées" in shown
    assert f'name="ids" value="{desk["orders"][0].id},{desk["orders"][1].id}"' in \
        answer.get_data(as_text=True)
    one = text(choose(client, "hold", ids=[desk["orders"][0].id]))
    assert "1 commande sélectionnée" in one


def test_a_selection_by_search_is_evaluated_on_the_server(desk):
    client = client_of(desk["app"], desk["camille"])
    shown = text(choose(client, "export", everything=True, search="phase=validation"))
    assert "3 commandes sélectionnées : toutes les commandes de la recherche" in shown
    every = text(choose(client, "export", everything=True, search=""))
    assert "4 commandes sélectionnées" in every
    # The filters come from the form, but the scope from the session: never another AE's.
    stranger = client_of(desk["app"], desk["stranger"])
    assert "1 commande sélectionnée" in text(choose(stranger, "export", everything=True))


def test_an_empty_selection_is_refused_in_french(desk):
    client = client_of(desk["app"], desk["camille"])
    answer = choose(client, "assign", ids=[])
    assert answer.status_code == 422
    assert "Aucune commande sélectionnée : cochez des commandes de la liste" in text(answer)
    assert BulkJob.select().count() == 0


def test_more_than_5000_orders_are_refused(desk):
    client = client_of(desk["app"], desk["camille"])
    answer = start(client, "export", ids=range(1, selection.MAX_ORDERS + 2))
    assert answer.status_code == 422
    assert ("La sélection compte plus de 5 000 commandes : une action porte sur 5 000 commandes "
            "au plus. Affinez la recherche.") in text(answer)
    # By search: 5,001 orders of the AE.
    sample = desk["orders"][0]
    rows = [dict(number=800000 + n, ae=desk["ae"].id, portal=sample.portal_id,
                 company=sample.company_id, holder=sample.holder_id,
                 legal_representative=sample.legal_representative_id, phase="done",
                 holder_search="sandra boileau", holder_search_last="boileau sandra")
            for n in range(selection.MAX_ORDERS + 1)]
    with db.atomic():
        for begin in range(0, len(rows), 500):
            Order.insert_many(rows[begin:begin + 500]).execute()
    refused = start(client, "export", everything=True, search="phase=done")
    assert refused.status_code == 422
    assert "plus de 5 000 commandes" in text(refused)
    listed = text(client.get("/commandes", query_string={"phase": "done"}))
    assert "Plus de 5 000 commandes : affinez la recherche pour les sélectionner toutes" in listed
    assert BulkJob.select().count() == 0


# --- « Attribuer à » -------------------------------------------------------------------------------

def test_assign_runs_in_the_background_and_reports_each_order(desk):
    app, client = desk["app"], client_of(desk["app"], desk["camille"])
    form = text(choose(client, "assign", ids=ids(desk["orders"])))
    assert "Attribuer à" in form and "Lucas Bernard (AEA)" in form
    answer = start(client, "assign", ids=[*ids(desk["orders"][:2]), desk["finished"].id],
                   operator_id=str(desk["lucas"].id))
    number = job_id(answer)
    # Nothing happened in the request: the job waits for the worker.
    assert Order.get_by_id(desk["orders"][0].id).handled_by_id is None
    waiting = client.get(f"/commandes/actions/{number}")
    page = waiting.get_data(as_text=True)
    assert "<progress" in page and 'http-equiv="refresh"' in page
    assert "0 sur 3 commandes traitées" in text(page)

    assert run(app) == 1
    for order in desk["orders"][:2]:
        assert Order.get_by_id(order.id).handled_by_id == desk["lucas"].id
    assert Order.get_by_id(desk["orders"][2].id).handled_by_id is None
    result = client.get(f"/commandes/actions/{number}")
    shown = text(result)
    assert "2 commandes traitées, 1 commande refusée" in shown
    assert "Commandes refusées (1) N° Motif du refus 960200" in shown
    assert ("La commande est en phase « Terminée » : plus personne ne la prend en charge."
            in shown)
    assert "Commandes traitées (2)" in shown and "Attribuée à Lucas Bernard." in shown
    assert 'http-equiv="refresh"' not in result.get_data(as_text=True)

    per_order = AuditEvent.select().where(AuditEvent.action == "order_assigned")
    assert sorted(event.order_id for event in per_order) == sorted(ids(desk["orders"][:2]))
    batch = AuditEvent.get(AuditEvent.action == "bulk_action_finished")
    assert batch.operator_id == desk["camille"].id and batch.ae_id == desk["ae"].id
    assert json.loads(batch.details) == {"action": "Attribuer à", "sélection": 3,
                                         "traitées": 2, "refusées": 1, "tâche": number}
    # The batch's events were chained at once: the trail still verifies.
    from services import audit
    assert audit.verify() == []
    assert [json.loads(event.details) for event in per_order] == [
        {"avant": "personne", "après": "Lucas Bernard"}] * 2


def test_assign_to_nobody_is_refused_with_the_form_again(desk):
    client = client_of(desk["app"], desk["camille"])
    answer = start(client, "assign", ids=ids(desk["orders"]), operator_id="")
    assert answer.status_code == 422
    shown = text(answer)
    assert "Choisissez l'opérateur à qui attribuer les commandes." in shown
    assert "3 commandes sélectionnées" in shown
    # An operator of another AE is no choice either.
    answer = start(client, "assign", ids=ids(desk["orders"]),
                   operator_id=str(desk["stranger"].id))
    assert answer.status_code == 422
    assert BulkJob.select().count() == 0


# --- « Mettre en attente » -------------------------------------------------------------------------

def test_hold_puts_each_order_on_hold_with_one_comment_and_says_why_not(desk):
    app, client = desk["app"], client_of(desk["app"], desk["camille"])
    first, second, third = desk["orders"]
    from services import validation
    with app.app_context():
        validation.hold(app, third, desk["camille"], "Déjà en attente.")
    number = job_id(start(client, "hold", ids=ids(desk["orders"]),
                          comment="Kbis de plus de 3 mois : envoyez un extrait récent."))
    run(app)
    for order in (first, second):
        current = Order.get_by_id(order.id)
        assert current.substate == "on_hold"
        assert current.hold_comment == "Kbis de plus de 3 mois : envoyez un extrait récent."
    shown = text(client.get(f"/commandes/actions/{number}"))
    assert "2 commandes traitées, 1 commande refusée" in shown
    assert "960102 La commande est déjà en attente." in shown
    assert AuditEvent.select().where(AuditEvent.action == "order_on_hold").count() == 3
    # Each requester is told, as one by one.
    told = {n.recipient for n in Notification.select().where(Notification.type == "order_on_hold")}
    assert {"demandeur0@example.org", "demandeur1@example.org"} <= told


def test_hold_without_a_comment_is_refused(desk):
    client = client_of(desk["app"], desk["camille"])
    answer = start(client, "hold", ids=ids(desk["orders"]), comment="  ")
    assert answer.status_code == 422
    assert "Le commentaire est obligatoire." in text(answer)
    assert BulkJob.select().count() == 0


# --- « Relancer le demandeur » ---------------------------------------------------------------------

MESSAGE = "Bonjour,\n\nMerci de compléter la commande N° {numero} ({societe}) : {lien}"


def test_remind_previews_the_text_filled_for_the_first_order_then_sends_to_each(desk, make_order):
    app, client = desk["app"], client_of(desk["app"], desk["camille"])
    draft = make_order(desk["ae"], number=960300, phase="entry", substate=None,
                       requester_email="brouillon@example.org")
    nobody = make_order(desk["ae"], number=960301, requester_email="")
    Person.update(email="").where(Person.id == nobody.holder_id).execute()
    chosen = [*ids(desk["orders"][:2]), draft.id, nobody.id]
    form = text(choose(client, "remind", ids=chosen))
    assert "4 commandes sélectionnées" in form and "Type de message" in form
    assert "Pièce manquante" in form and "« Envoyer » apparaît une fois l'aperçu" in form

    fields = {"type": "other", "step": "text", "subject": "Commande N° {numero} : relance",
              "message": MESSAGE}
    preview = client.post("/commandes/actions/apercu", data={
        "csrf_token": token(client), "action": "remind", "ids": ",".join(map(str, chosen)),
        **fields})
    assert preview.status_code == 200
    shown = text(preview)
    assert "Aperçu pour la commande N° 960100" in shown
    assert "Merci de compléter la commande N° 960100 (Société Exemple)" in shown
    assert "Commande N° 960100 : relance" in shown and "demandeur0@example.org" in shown
    digest = re.search(r'name="previewed" value="([0-9a-f]+)"',
                       preview.get_data(as_text=True)).group(1)

    # Sent without that preview (or with the text changed since), it is refused.
    unseen = start(client, "remind", ids=chosen, **fields)
    assert unseen.status_code == 422
    assert "Vérifiez l'aperçu du texte avant de l'envoyer" in text(unseen)
    changed = start(client, "remind", ids=chosen, previewed=digest,
                    **{**fields, "message": MESSAGE + " !"})
    assert changed.status_code == 422

    number = job_id(start(client, "remind", ids=chosen, previewed=digest, **fields))
    assert Notification.select().count() == 0  # not in the request
    run(app)
    sent = {n.recipient: n for n in Notification.select()}
    assert set(sent) == {"demandeur0@example.org", "demandeur1@example.org"}
    assert "commande N° 960101 (Société Exemple)" in sent["demandeur1@example.org"].body
    assert sent["demandeur1@example.org"].subject == "Commande N° 960101 : relance"
    assert "{lien}" in sent["demandeur1@example.org"].body  # filled by the outbox at sending
    shown = text(client.get(f"/commandes/actions/{number}"))
    assert "2 commandes traitées, 2 commandes refusées" in shown
    assert ("960300 La commande est en cours de saisie par le demandeur : elle ne peut être "
            "traitée qu'une fois envoyée.") in shown
    assert "960301 Aucune adresse e-mail du demandeur pour cette commande." in shown
    assert "Notification « Autre » enregistrée pour demandeur0@example.org." in shown
    assert AuditEvent.select().where(AuditEvent.action == "notification_queued").count() == 2


def test_remind_preview_warns_when_the_first_order_would_be_refused(desk):
    client = client_of(desk["app"], desk["camille"])
    preview = client.post("/commandes/actions/apercu", data={
        "csrf_token": token(client), "action": "remind", "ids": str(desk["orders"][0].id),
        "type": "information_mismatch", "step": "text", "subject": "Commande N° {numero}",
        "message": "Écart : [à compléter : précisez l'écart constaté]. {lien}"})
    shown = text(preview)
    assert "La commande N° 960100 serait refusée" in shown
    assert "Le message contient encore un passage à compléter" in shown


# --- « Exporter » ----------------------------------------------------------------------------------

def test_export_writes_a_csv_with_formulas_neutralised_and_a_zip_of_the_dossiers(desk, tmp_path):
    app, client = desk["app"], client_of(desk["app"], desk["camille"])
    first, second, _ = desk["orders"]
    Person.update(last_name="=HYPERLINK(\"http://x\")", first_name="@SUM(A1)").where(
        Person.id == first.holder_id).execute()
    Company.update(name="+33 Conseil").where(Company.id == first.company_id).execute()
    Company.update(name="-Moins").where(Company.id == second.company_id).execute()
    from services.dossiers.documents import import_document
    from tests.pdf_samples import text_pdf
    PDF = text_pdf()
    with app.app_context():
        import_document(first, "kbis", "kbis.pdf", PDF, actor_label="Demandeur")
    number = job_id(start(client, "export", ids=[first.id, second.id, desk["theirs"].id]))
    run(app)
    shown = text(client.get(f"/commandes/actions/{number}"))
    assert "2 commandes traitées, 0 commande refusée" in shown
    assert "Exportée (1 document)." in shown and "Exportée (0 document)." in shown

    exported = client.get(f"/commandes/actions/{number}/commandes.csv")
    assert exported.status_code == 200
    assert exported.headers["Content-Disposition"].startswith("attachment;")
    content = exported.get_data().decode("utf-8")
    assert content.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(content.lstrip("\ufeff")), delimiter=";"))
    assert lines[0][:4] == ["N°", "Date", "Prénom", "Nom"]
    assert [line[0] for line in lines[1:]] == ["960100", "960101"]
    assert lines[1][2] == "'@SUM(A1)" and lines[1][3] == "'=HYPERLINK(\"http://x\")"
    assert lines[1][5] == "'+33 Conseil" and lines[2][5] == "'-Moins"
    assert lines[1][4] == "0002 434202180"

    archive = client.get(f"/commandes/actions/{number}/dossiers.zip")
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.get_data())) as outer:
        assert outer.testzip() is None
        assert outer.namelist() == ["dossier-960100.zip", "dossier-960101.zip"]
        with zipfile.ZipFile(io.BytesIO(outer.read("dossier-960100.zip"))) as inner:
            names = inner.namelist()
            assert "manifeste.csv" in names and "historique.csv" in names
            assert any(name.startswith("documents/") and name.endswith(".pdf") for name in names)
            assert inner.read(next(n for n in names if n.endswith(".pdf"))) == PDF
    downloads = AuditEvent.select().where(AuditEvent.action == "dossier_downloaded")
    assert sorted(event.order_id for event in downloads) == sorted([first.id, second.id])
    # Neither the other AE's order nor its files.
    assert not any(event.order_id == desk["theirs"].id for event in AuditEvent.select())


def test_an_assign_job_has_no_files_to_download(desk):
    client = client_of(desk["app"], desk["camille"])
    number = job_id(start(client, "assign", ids=ids(desk["orders"]),
                          operator_id=str(desk["lucas"].id)))
    run(desk["app"])
    assert client.get(f"/commandes/actions/{number}/commandes.csv").status_code == 404


# --- Tenancy, CSRF, the worker ---------------------------------------------------------------------

def test_another_aes_or_colleagues_job_answers_404(desk):
    app = desk["app"]
    camille = client_of(app, desk["camille"])
    number = job_id(start(camille, "export", ids=ids(desk["orders"])))
    run(app)
    stranger = client_of(app, desk["stranger"])
    for path in ("", "/progression", "/commandes.csv", "/dossiers.zip"):
        assert stranger.get(f"/commandes/actions/{number}{path}").status_code == 404
    assert client_of(app, desk["lucas"]).get(f"/commandes/actions/{number}").status_code == 404
    assert camille.get(f"/commandes/actions/{number}").status_code == 200


def test_another_aes_orders_are_never_touched_even_by_a_forged_job(desk):
    """A job row naming another AE's order (as a forged form would) still leaves it alone."""
    app, client = desk["app"], client_of(desk["app"], desk["camille"])
    answer = start(client, "hold", ids=[desk["theirs"].id, desk["orders"][0].id],
                   comment="Pièce manquante.")
    number = job_id(answer)
    assert [item.order_id for item in BulkItem.select()] == [desk["orders"][0].id]
    BulkItem.create(job=number, position=9, order_id=desk["theirs"].id,
                    number=desk["theirs"].number)
    BulkJob.update(total=2).where(BulkJob.id == number).execute()
    run(app)
    assert Order.get_by_id(desk["theirs"].id).on_hold_at is None
    shown = text(client.get(f"/commandes/actions/{number}"))
    assert "970001 Commande hors de votre périmètre" in shown
    assert not any(event.order_id == desk["theirs"].id for event in AuditEvent.select())


def test_an_operator_limited_to_a_portal_only_acts_on_its_orders(desk, make_operator):
    from models import Portal
    portals = list(Portal.select().where(Portal.ae == desk["ae"]).order_by(Portal.id))
    limited = make_operator(desk["ae"], roles="AEA", name="Inès Portail", portals=[portals[1]])
    elsewhere = Order.create(**{**Order.get_by_id(desk["orders"][0].id).__data__,
                                "id": None, "number": 960400, "portal": portals[1].id})
    client = client_of(desk["app"], limited)
    shown = text(choose(client, "hold", ids=[*ids(desk["orders"]), elsewhere.id]))
    assert "1 commande sélectionnée" in shown


def test_every_post_needs_the_csrf_token(desk):
    client = client_of(desk["app"], desk["camille"])
    for path in ("/commandes/actions/nouvelle", "/commandes/actions/apercu", "/commandes/actions"):
        answer = client.post(path, data={"action": "export",
                                         "ids": str(desk["orders"][0].id)})
        assert answer.status_code == 400, path
    assert BulkJob.select().count() == 0


def test_the_progress_poll_gives_the_bar_then_sends_to_the_result(desk):
    app, client = desk["app"], client_of(desk["app"], desk["camille"])
    number = job_id(start(client, "export", ids=ids(desk["orders"])))
    poll = client.get(f"/commandes/actions/{number}/progression", headers={"HX-Request": "true"})
    fragment = poll.get_data(as_text=True)
    assert poll.status_code == 200 and fragment.lstrip().startswith("<section id=\"bulk-progress\"")
    assert "Action en file d'attente" in text(fragment)
    run(app)
    done = client.get(f"/commandes/actions/{number}/progression", headers={"HX-Request": "true"})
    assert done.headers["HX-Redirect"] == f"/commandes/actions/{number}"
    plain = client.get(f"/commandes/actions/{number}/progression")
    assert plain.status_code == 302


def test_a_job_is_claimed_once_by_two_runners(desk):
    app, client = desk["app"], client_of(desk["app"], desk["camille"])
    number = job_id(start(client, "assign", ids=ids(desk["orders"]),
                          operator_id=str(desk["lucas"].id)))
    with app.app_context():
        first = jobs.claim("runner-a")
        assert first is not None and first.id == number
        assert jobs.claim("runner-b") is None  # leased to runner-a
        BulkJob.update(state="queued", runner=None).where(BulkJob.id == number).execute()

    ran, barrier = [], threading.Barrier(2)

    def runner(name):
        with app.app_context(), db.connection_context():
            barrier.wait()
            ran.append(jobs.run_pending(app, runner=name))

    threads = [threading.Thread(target=runner, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(ran) == [0, 1]
    assert AuditEvent.select().where(AuditEvent.action == "order_assigned").count() == 3
    assert AuditEvent.select().where(AuditEvent.action == "bulk_action_finished").count() == 1
    job = BulkJob.get_by_id(number)
    assert (job.state, job.processed, job.done) == ("finished", 3, 3)


def test_a_job_whose_runner_died_is_taken_over_where_it_stopped(desk):
    app, client = desk["app"], client_of(desk["app"], desk["camille"])
    number = job_id(start(client, "assign", ids=ids(desk["orders"]),
                          operator_id=str(desk["lucas"].id)))
    import datetime as dt
    from models import utcnow
    first = BulkItem.select().where(BulkItem.job == number).order_by(BulkItem.position).first()
    BulkItem.update(outcome="done", message="Attribuée à Lucas Bernard.").where(
        BulkItem.id == first.id).execute()
    BulkJob.update(state="running", runner="dead", processed=1, done=1,
                   lease_until=utcnow() - dt.timedelta(seconds=1)).where(
        BulkJob.id == number).execute()
    assert run(app) == 1
    job = BulkJob.get_by_id(number)
    assert (job.state, job.processed, job.done) == ("finished", 3, 3)
    # The order the dead runner had done is not done twice.
    assert AuditEvent.select().where(AuditEvent.action == "order_assigned").count() == 2


def test_a_runner_whose_job_was_taken_over_stops_and_undoes_its_batch(desk):
    app, client = desk["app"], client_of(desk["app"], desk["camille"])
    number = job_id(start(client, "assign", ids=ids(desk["orders"]),
                          operator_id=str(desk["lucas"].id)))
    with app.app_context():
        job = jobs.claim("runner-a")
        BulkJob.update(runner="runner-b").where(BulkJob.id == number).execute()  # taken over
        jobs.run(app, job, "runner-a")
    assert all(Order.get_by_id(order.id).handled_by_id is None for order in desk["orders"])
    assert not AuditEvent.select().where(AuditEvent.action == "order_assigned").exists()
    job = BulkJob.get_by_id(number)
    assert (job.state, job.runner, job.processed) == ("running", "runner-b", 0)


def test_an_operator_deactivated_meanwhile_touches_nothing(desk):
    from models import Operator
    app, client = desk["app"], client_of(desk["app"], desk["camille"])
    number = job_id(start(client, "assign", ids=ids(desk["orders"]),
                          operator_id=str(desk["lucas"].id)))
    Operator.update(active=False).where(Operator.id == desk["camille"].id).execute()
    run(app)
    assert all(Order.get_by_id(order.id).handled_by_id is None for order in desk["orders"])
    job = BulkJob.get_by_id(number)
    assert (job.state, job.done, job.refused) == ("finished", 0, 3)
    assert {item.message for item in BulkItem.select()} == {jobs.INACTIVE}


def test_the_scheduler_registers_the_worker(app):
    import scheduler
    registered = {job.id for job in scheduler.jobs(app)}
    assert {scheduler.BULK_ACTIONS_JOB, scheduler.BULK_EXPORTS_CLEANUP_JOB} <= registered


def test_the_upgrade_creates_the_bulk_tables_as_a_fresh_database_has_them(database_url):
    from tests.test_migrations import upgraded_from_v1

    database = upgraded_from_v1(database_url)
    for model in (BulkJob, BulkItem):
        table = model._meta.table_name
        assert ({column.name for column in database.get_columns(table)}
                == {field.column_name for field in model._meta.sorted_fields})
        assert ({index.name[:63] for index in database.get_indexes(table)
                 if not index.name.endswith("_pkey")}
                == {index._name[:63] for index in model._meta.fields_to_index()})
    database.close()

