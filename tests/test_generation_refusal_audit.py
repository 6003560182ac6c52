"""An AET pointing the generation's first step at orders it cannot generate leaves one audit
event per operator, order and reason per hour, not one per request; refusals in the middle of
a generation (a nonce, a request, a written certificate) are written every time."""
from __future__ import annotations

import json
import time

import pytest
from limits import parse as parse_limit

from models import AuditEvent, GenerationAttempt
from services.certificates import attempts
from tests.conftest import csrf_token_from, login_as
from tests.generation_support import PageSteps, blank_key, validated_order

HAMMERED = 6


def refusals() -> list[dict]:
    return [{"order": e.order_id, "operator": e.operator_id, **json.loads(e.details)}
            for e in AuditEvent.select().where(AuditEvent.action == "generation_refused")
            .order_by(AuditEvent.id)]


@pytest.fixture
def token(client, aet):
    login_as(client, aet)
    return csrf_token_from(client.get("/generation").get_data(as_text=True))


def test_hammering_an_order_not_in_generation_is_audited_once(app, client, aet, bpoi, make_order,
                                                               softhsm, token):
    pending = make_order(bpoi, phase="validation", substate="to_validate")
    other = make_order(bpoi, phase="validation", substate="to_validate")
    serial = blank_key(softhsm)
    for _ in range(HAMMERED):
        assert PageSteps(app, client, pending, softhsm, token).start(serial).status_code == 409
    assert PageSteps(app, client, other, softhsm, token).start(serial).status_code == 409
    # Another reason on the same order is another event.
    assert PageSteps(app, client, pending, softhsm, token).start("").status_code == 409
    events = refusals()
    assert [e["order"] for e in events] == [pending.id, other.id, pending.id]
    assert {e["operator"] for e in events} == {aet.id}
    assert GenerationAttempt.select().count() == 0


def test_hammering_orders_out_of_scope_is_audited_once_per_order(app, client, aet, make_ae,
                                                                 make_order, softhsm, token):
    theirs = validated_order(make_order, make_ae("AE Atlantique", ("Nantes",)), number=970001)
    serial = blank_key(softhsm)
    for _ in range(HAMMERED):
        assert PageSteps(app, client, theirs, softhsm, token).start(serial).status_code == 404
    missing = type("Missing", (), {"id": 999_999})()
    for _ in range(HAMMERED):
        assert PageSteps(app, client, missing, softhsm, token).start(serial).status_code == 404
    assert [(e["order"], e["order_id"], e["code"]) for e in refusals()] == [
        (None, theirs.id, "not_found"), (None, 999_999, "not_found")]


def test_refusals_within_a_generation_are_audited_every_time(app, client, aet, bpoi, make_order,
                                                              softhsm, token):
    order = validated_order(make_order, bpoi)
    steps = PageSteps(app, client, order, softhsm, token)
    for _ in range(3):
        assert steps.submit("pas-une-instruction", "{}", "").status_code == 409
    assert [e["stage"] for e in refusals()] == ["request"] * 3


def test_the_same_refusal_is_written_again_once_the_window_is_over(app, client, aet, bpoi,
                                                                   make_order, softhsm, token,
                                                                   monkeypatch):
    # The hour, shortened to a second.
    monkeypatch.setattr(attempts, "SAME_REFUSAL_ONCE", parse_limit("1 per second"))
    pending = make_order(bpoi, phase="validation", substate="to_validate")
    serial = blank_key(softhsm)
    steps = PageSteps(app, client, pending, softhsm, token)
    steps.start(serial)
    steps.start(serial)
    time.sleep(1.1)
    steps.start(serial)
    assert len(refusals()) == 2
