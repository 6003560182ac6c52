"""Renders and document checks are capped per server: N render slots shared by every process
(flock'ed files in the instance folder). No free slot within the wait, the preview answers
« Aperçu indisponible : le serveur est très chargé… » without starting a process, and an
upload is refused with a message saying to send it again."""
from __future__ import annotations

import multiprocessing
import os
import shutil
import stat
import threading
import time
from pathlib import Path

import pytest

from adapters.document_store import MSG_BUSY, RefusedDocument
from adapters.render_slots import BUSY_MESSAGE, RenderBusy, RenderSlots
from services.dossiers import documents
from tests.conftest import login_as
from tests.pdf_samples import text_pdf

PAGES = 6


@pytest.fixture
def tools_log(tmp_path, monkeypatch):
    """``pdftoppm`` and ``pdfinfo`` wrapped: each start and end is written down, with the time,
    then the real tool runs (a little slowed, so that overlaps would show)."""
    folder = tmp_path / "wrapped-tools"
    folder.mkdir()
    log = tmp_path / "tools.log"
    for tool in ("pdftoppm", "pdfinfo"):
        script = folder / tool
        script.write_text(
            "#!/bin/sh\n"
            f'echo "start $$ $(date +%s.%N) {tool}" >> {log}\n'
            "sleep 0.3\n"
            f'{shutil.which(tool)} "$@"\n'
            "status=$?\n"
            f'echo "end $$ $(date +%s.%N) {tool}" >> {log}\n'
            "exit $status\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    log.touch()
    return log


def starts(log) -> int:
    return sum(line.startswith("start ") for line in log.read_text().splitlines())


def most_at_once(log) -> int:
    """The largest number of wrapped tools that were running at the same time."""
    events = []
    for line in log.read_text().splitlines():
        kind, _, at, _ = line.split()
        events.append((float(at), 0 if kind == "end" else 1))
    running = highest = 0
    for _, delta in sorted(events):  # at equal times, an end counts before a start
        running += 1 if delta else -1
        highest = max(highest, running)
    return highest


@pytest.fixture
def setup(app, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    order = make_order(ae, number=960072)
    with app.test_request_context():
        pdf = documents.import_document(order, "kbis", "kbis.pdf", text_pdf(pages=PAGES),
                                        actor_label="Demandeur")
    return {"order": order, "camille": camille, "pdf": pdf}


def page_url(setup, page: int, width: int = 400) -> str:
    return f"/commandes/{setup['order'].id}/documents/{setup['pdf'].id}/pages/{page}?width={width}"


def test_a_held_slot_makes_the_preview_answer_busy_at_once_without_a_process(
        app, client, setup, tools_log):
    app.config.update(RENDER_SLOTS=1, RENDER_WAIT_SECONDS=0.5)
    login_as(client, setup["camille"])
    with app.app_context():
        slots = RenderSlots.for_app()
    with slots.held():  # as a render in another worker process would
        began = time.monotonic()
        response = client.get(page_url(setup, 1))
        took = time.monotonic() - began
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert BUSY_MESSAGE in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "private, no-store"
    assert took < 2.0
    assert starts(tools_log) == 0  # no pdftoppm was started
    # Nothing remembered as a failure: once the slot is free, the same page renders.
    again = client.get(page_url(setup, 1))
    assert again.status_code == 200 and again.mimetype == "image/png"
    assert starts(tools_log) == 1


def test_parallel_previews_never_run_more_renders_than_slots(app, setup, tools_log,
                                                            make_operator):
    app.config.update(RENDER_SLOTS=2, RENDER_WAIT_SECONDS=60)
    clients = []
    for _ in range(PAGES):
        client = app.test_client()
        login_as(client, setup["camille"])
        clients.append(client)
    answers = {}

    def view(page: int, client) -> None:
        answers[page] = client.get(page_url(setup, page))

    threads = [threading.Thread(target=view, args=(page, client))
               for page, client in enumerate(clients, start=1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(answers) == list(range(1, PAGES + 1))
    assert all(answer.mimetype == "image/png" for answer in answers.values())
    assert starts(tools_log) == PAGES
    assert most_at_once(tools_log) == 2


def _hold_a_while(folder: str, wait: float, running, highest, lock) -> None:
    slots = RenderSlots(Path(folder), 2, wait)
    with slots.held():
        with lock:
            running.value += 1
            highest.value = max(highest.value, running.value)
        time.sleep(0.2)
        with lock:
            running.value -= 1


def test_slots_are_shared_between_processes(tmp_path):
    context = multiprocessing.get_context("fork")
    running, highest, lock = context.Value("i", 0), context.Value("i", 0), context.Lock()
    workers = [context.Process(target=_hold_a_while,
                               args=(str(tmp_path / "slots"), 30, running, highest, lock))
               for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert all(worker.exitcode == 0 for worker in workers)
    assert highest.value == 2


def test_a_slot_held_by_a_killed_process_is_free_again(tmp_path):
    context = multiprocessing.get_context("fork")
    holder = context.Process(target=_hold_a_while,
                             args=(str(tmp_path / "slots"), 30, context.Value("i", 0),
                                   context.Value("i", 0), context.Lock()))
    slots = RenderSlots(tmp_path / "slots", 1, 5)
    holder.start()
    time.sleep(0.1)
    holder.kill()
    holder.join()
    with slots.held():  # the kernel released the dead holder's lock
        pass


def test_no_slot_within_the_wait_raises_busy(tmp_path):
    slots = RenderSlots(tmp_path / "slots", 1, 0.2)
    with slots.held():
        began = time.monotonic()
        with pytest.raises(RenderBusy):
            with slots.held():
                pass
        assert 0.2 <= time.monotonic() - began < 1.0


def test_an_upload_checked_while_every_slot_is_taken_is_refused_without_a_process(
        app, setup, tools_log):
    app.config.update(RENDER_SLOTS=1, RENDER_WAIT_SECONDS=0.3)
    with app.app_context():
        slots = RenderSlots.for_app()
    with slots.held(), app.test_request_context():
        with pytest.raises(RefusedDocument) as refusal:
            documents.import_document(setup["order"], "kbis", "kbis.pdf", text_pdf(pages=2),
                                      actor_label="Demandeur")
    assert refusal.value.message == MSG_BUSY
    assert starts(tools_log) == 0
