"""schemathesis against the served OpenAPI document: generated requests (bounded examples) to
every operation, with a valid client's credential, never get a server error, an undocumented
status or content type, or a body that breaks the published schema."""
from __future__ import annotations

import socket

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                              response_schema_conformance,
                                              status_code_conformance)

from services.api import clients
from services.webhooks import urls
from tests.webhook_receiver import declare

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def no_dns(host, port, *args, **kwargs):
    """Generated webhook URLs name random hosts: none is looked up, none resolves."""
    raise socket.gaierror(socket.EAI_NONAME, "not looked up in tests")


@pytest.fixture
def credential(app, bpoi, make_order, monkeypatch):
    make_order(bpoi, number=960100, phase="entry", substate=None)  # something to find by number
    declare(app, bpoi, "https://192.0.2.10/hooks")  # webhook 1, to find by id
    monkeypatch.setattr(urls.socket, "getaddrinfo", no_dns)
    issued = clients.create(bpoi, "Boutique", ["bpoi-occitanie"], list(clients.SCOPES),
                            created_by="test")
    return issued.credential


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_published_contract(case, credential):
    case.call_and_validate(headers={"Authorization": f"Bearer {credential}"}, checks=CHECKS)
