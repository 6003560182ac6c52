"""deploy/gunicorn.conf.py as production runs it: two workers whose metrics a scrape adds up
(prometheus_client's multiprocess mode, kept across a reload that replaces every worker), and
with RADESK_LOG_FORMAT=json every line gunicorn and the app write is a JSON object, the access
lines and the app's with the request's id."""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e_support import REPO, AppInstance, ServerProcess

REQUESTS = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gunicorn")
    with AppInstance.create(folder, extra_env={"RADESK_LOG_FORMAT": "json"}) as instance:
        argv = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "deploy" / "gunicorn.conf.py"),
                "--bind", f"127.0.0.1:{instance.port}", "--workers", "2",
                "--graceful-timeout", "3", "app:create_app()"]
        env = {key: value for key, value in instance.environment().items()
               if key != "PROMETHEUS_MULTIPROC_DIR"}
        process = ServerProcess("gunicorn", argv, env, folder / "gunicorn.log")
        try:
            process.wait_until(f"{instance.url}/connexion")
            yield instance, process
        finally:
            process.stop()


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def requests_counted(url: str) -> float:
    text = http().get(f"{url}/metrics", timeout=10).text
    return sum(sample.value
               for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "radesk_http_requests_total"
               and sample.labels == {"route": "/connexion", "method": "GET", "status": "200"})


def test_workers_metrics_are_added_up_and_survive_a_reload(server):
    instance, process = server
    session = http()
    before = requests_counted(instance.url)  # starting, the fixture polled /connexion
    for number in range(REQUESTS):
        response = session.get(f"{instance.url}/connexion",
                               headers={"X-Request-Id": f"essai-{number}"}, timeout=10)
        assert response.headers["X-Request-Id"] == f"essai-{number}"
    counted = requests_counted(instance.url)
    assert counted == before + REQUESTS  # whichever worker answered the scrape

    os.kill(process.process.pid, signal.SIGHUP)  # new workers; the old ones' counts stay
    time.sleep(5)
    process.wait_until(f"{instance.url}/connexion")
    assert requests_counted(instance.url) >= counted


def test_every_line_is_json_with_the_request_id(server):
    instance, process = server
    response = http().get(f"{instance.url}/sante", headers={"X-Request-Id": "sante-1"},
                          timeout=10)
    assert response.status_code == 503  # no scheduler: the app logs a warning
    time.sleep(0.5)

    lines = [json.loads(line) for line in process.log_path.read_text().splitlines() if line]
    assert all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    mine = [line for line in lines if line["request_id"] == "sante-1"]
    assert {line["logger"] for line in mine} == {"radesk.health", "gunicorn.access"}
    access = next(line for line in mine if line["logger"] == "gunicorn.access")
    assert '"GET /sante HTTP/1.1" 503' in access["message"]
    assert any(line["logger"] == "gunicorn.error" and line["message"].startswith(
        "Métriques Prometheus des workers dans ") for line in lines)


def test_access_lines_do_not_hold_the_public_links_keys(server):
    """Whoever reads the journal must not be able to open a requester's follow-up page or an
    order being placed from it."""
    instance, process = server
    session = http()
    key = "cle-de-suivi-0123456789abcdef"
    for path in (f"/suivi/{key}", f"/suivi/{key}/pieces", f"/signature/{key}",
                 f"/activation/{key}/code", f"/renouveler/{key}", f"/revoquer/{key}",
                 f"/commander/bpoi-occitanie/{key}/informations"):
        session.get(f"{instance.url}{path}?x=1", timeout=10,
                    headers={"Referer": f"{instance.url}/suivi/{key}"})
    time.sleep(0.5)
    access = [json.loads(line)["message"] for line in process.log_path.read_text().splitlines()
              if line and json.loads(line)["logger"] == "gunicorn.access"]
    assert any('"GET /suivi/[masqué]/pieces?x=1' in line for line in access)
    assert any("/commander/bpoi-occitanie/[masqué]/informations" in line for line in access)
    assert not [line for line in access if key in line]
