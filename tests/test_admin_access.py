"""Every route of « Administration » (under /parametres) answers 403 to an operator of the AE
who is not an admin — for every method, whatever the ids — and sends a visitor without a
session to the login page."""
from __future__ import annotations

from blueprints.admin_sections import section_of
from tests.conftest import csrf_token_from, login_as

ADMIN_PREFIX = "/parametres"


def admin_rules(app):
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith(ADMIN_PREFIX)]
    assert len(rules) >= 10, "the administration's routes were not found"
    return rules


def concrete(rule) -> str:
    url = rule.rule
    for argument in rule.arguments:
        url = url.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "1")
    return url


def test_no_admin_route_answers_to_a_non_admin(app, client, make_ae, make_operator):
    ae = make_ae("BPOI")
    make_operator(ae, roles="AEA,admin", name="Nadia Admin")
    login_as(client, make_operator(ae, roles="AEA,AET", name="Paul Opérateur"))
    token = csrf_token_from(client.get("/commandes").get_data(as_text=True))
    for rule in admin_rules(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(concrete(rule), method=method,
                                   headers={"X-CSRFToken": token}, data={"csrf_token": token})
            assert response.status_code == 403, f"{method} {rule.rule} answered {response.status_code}"


def test_every_admin_route_belongs_to_a_section_and_needs_a_session(app, client):
    for rule in admin_rules(app):
        assert section_of(rule.rule) is not None, (
            f"{rule.rule} is not in a section of blueprints/admin_sections.py")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(concrete(rule), method=method)
            assert response.status_code in (302, 303, 400, 401), (
                f"{method} {rule.rule} answered {response.status_code} without a session")
