"""schemathesis against the served OpenAPI document: generated requests (bounded examples) to
every operation, with a valid client's credential, never get a server error, an undocumented
status or content type, or a body that breaks the published schema."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                              response_schema_conformance,
                                              status_code_conformance)

from services.api import clients

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def credential(app, bpoi, make_order):
    make_order(bpoi, number=960100, phase="entry", substate=None)  # something to find by number
    issued = clients.create(bpoi, "Boutique", ["bpoi-occitanie"],
                            [clients.SCOPE_WRITE_ORDERS, clients.SCOPE_READ_ORDERS],
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
