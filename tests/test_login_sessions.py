"""Operator sessions kept on the server: the cookie names a login-session row, and that row
ends with logout, idleness, the absolute lifetime, the operator's deactivation or the
unbinding of the certificate, after which the same cookie opens nothing."""
from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from adapters.ca import fingerprint_sha256, get_ca
from blueprints import auth
from config import Config
from formatting import paris_date
from models import AuditEvent, LoginSession, Operator, utcnow
from services.administration import set_operator_active
from services.operator_auth import sessions
from services.operator_auth.login import bind_certificate, unbind_certificate
from tests.conftest import csrf_token_from, login_as
from tests.test_auth_routes import MemoryKey, bpoi, key_login, logged_in, origin  # noqa: F401 (fixtures)
from tests.text import source

HTMX = {"HX-Request": "true"}


def session_cookie(client) -> str:
    return client.get_cookie("session").value


def with_cookie(app, cookie: str):
    """A browser that was never logged in, holding a copy of someone's session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def logout(client):
    token = csrf_token_from(source(client.get("/commandes")))
    return client.post("/deconnexion", data={"csrf_token": token})


def events(action: str) -> list[dict]:
    rows = AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id)
    return [{**json.loads(row.details), "operator": row.operator_id, "actor": row.actor}
            for row in rows]


def row_of(token: str) -> LoginSession:
    return LoginSession.get(LoginSession.token_hash == sessions.token_hash(token))


@pytest.fixture
def desk(make_ae, make_operator, make_order):
    ae = make_ae()
    make_order(ae, number=960072)
    return {"ae": ae, "camille": make_operator(ae, name="Camille Martin"),
            "lucas": make_operator(ae, name="Lucas Bernard")}


# --- login and logout --------------------------------------------------------------------

def test_login_opens_a_row_and_the_cookie_only_names_it(client, bpoi, origin):
    before = utcnow()
    assert key_login(client, bpoi.key, origin).status_code == 200
    with client.session_transaction() as cookie:
        token = cookie["_user_id"]
        assert not {"operator_id", "cert_fp", "last_seen"} & set(cookie)
    row = LoginSession.get()
    # Only the token's hash is stored: the table alone does not let anyone in.
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert row.operator_id == bpoi.operator.id
    assert row.certificate_fingerprint == fingerprint_sha256(bpoi.key.certificate)
    assert (row.method, row.ip, row.ended_at, row.end_reason) == ("bridge", "127.0.0.1", None, None)
    assert row.user_agent.startswith("Werkzeug/")
    assert before - dt.timedelta(seconds=1) <= row.created_at == row.last_seen_at <= utcnow()


def test_a_copied_cookie_replayed_after_logout_is_refused(app, client, bpoi, origin):
    assert key_login(client, bpoi.key, origin).status_code == 200
    copied = session_cookie(client)
    assert logged_in(with_cookie(app, copied))  # the copy works while the session lives

    out = logout(client)
    assert out.status_code == 302 and out.headers["Location"] == "/connexion"

    replay = with_cookie(app, copied).get("/commandes")
    assert replay.status_code == 302
    assert replay.headers["Location"].startswith("/connexion?next=/commandes")
    row = LoginSession.get()
    assert row.ended_at is not None and row.end_reason == "logout"
    [event] = events("logout")
    assert event["operator"] == bpoi.operator.id
    assert event["certificate_sha256"] == row.certificate_fingerprint


def test_two_sessions_of_one_operator_are_independent(app, desk):
    first, second = app.test_client(), app.test_client()
    first_token = login_as(first, desk["camille"])
    second_token = login_as(second, desk["camille"])
    assert logged_in(first) and logged_in(second)

    logout(first)
    assert not logged_in(first)
    assert logged_in(second)
    assert row_of(first_token).end_reason == "logout"
    assert row_of(second_token).ended_at is None


# --- expiry ------------------------------------------------------------------------------

def test_idle_session_is_refused_and_ended_with_its_reason(app, client, desk):
    token = login_as(client, desk["camille"])
    idle = dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    LoginSession.update(last_seen_at=utcnow() - idle + dt.timedelta(minutes=1)).execute()
    assert logged_in(client)  # activity: the idle expiry moves back
    assert utcnow() - row_of(token).last_seen_at < dt.timedelta(seconds=5)

    LoginSession.update(last_seen_at=utcnow() - idle - dt.timedelta(seconds=1)).execute()
    refused = client.get("/commandes")
    assert refused.status_code == 302
    assert auth.SESSION_EXPIRED in source(client.get(refused.headers["Location"]))
    assert row_of(token).end_reason == "idle"


def test_a_poll_does_not_push_the_idle_expiry_back(client, desk):
    token = login_as(client, desk["camille"])
    idle_since = utcnow() - dt.timedelta(minutes=10)
    LoginSession.update(last_seen_at=idle_since).execute()
    poll = client.get("/commandes/nouveautes", headers=HTMX)
    assert poll.status_code == 200
    assert row_of(token).last_seen_at == idle_since


def test_absolute_lifetime_ends_even_an_active_session(app, client, desk):
    token = login_as(client, desk["camille"])
    lifetime = dt.timedelta(hours=app.config["SESSION_MAX_HOURS"])
    LoginSession.update(created_at=utcnow() - lifetime + dt.timedelta(minutes=1)).execute()
    assert logged_in(client)

    LoginSession.update(created_at=utcnow() - lifetime - dt.timedelta(seconds=1),
                        last_seen_at=utcnow()).execute()
    refused = client.get("/commandes")
    assert refused.status_code == 302
    page = source(client.get(refused.headers["Location"]))
    assert auth.SESSION_TOO_OLD in page and auth.SESSION_EXPIRED not in page
    assert row_of(token).end_reason == "max_age"


def test_max_hours_setting_defaults_to_twelve():
    assert Config({}).SESSION_MAX_HOURS == 12
    assert Config({"RADESK_SESSION_MAX_HOURS": "2"}).SESSION_MAX_HOURS == 2


def test_an_htmx_request_without_session_is_redirected_by_htmx(client):
    response = client.get("/commandes/nouveautes", headers=HTMX)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/connexion?next=/commandes/nouveautes")
    assert client.get("/commandes/nouveautes").status_code == 302


# --- deactivation and unbinding ----------------------------------------------------------

def test_deactivation_ends_every_session_of_the_operator_at_once(app, desk):
    camille, lucas = desk["camille"], desk["lucas"]
    clients = [app.test_client() for _ in range(3)]
    tokens = [login_as(clients[0], camille), login_as(clients[1], camille),
              login_as(clients[2], lucas)]
    copied = session_cookie(clients[0])

    assert set_operator_active(camille, False, by=lucas, ip="192.0.2.4") == 2
    # Ended in the database before any further request.
    assert [row_of(token).end_reason for token in tokens] == [
        "operator_deactivated", "operator_deactivated", None]
    assert not logged_in(clients[0]) and not logged_in(clients[1])
    assert logged_in(clients[2])
    [event] = events("operator_deactivated")
    assert (event["operator_id"], event["sessions_ended"], event["actor"]) == (
        camille.id, 2, "Lucas Bernard")

    set_operator_active(camille, True, by=lucas)
    assert not logged_in(with_cookie(app, copied))  # an ended session is never reopened


def test_an_operator_deactivated_behind_the_services_back_is_refused(client, desk):
    token = login_as(client, desk["camille"])
    Operator.update(active=False).where(Operator.id == desk["camille"].id).execute()
    assert not logged_in(client)
    assert row_of(token).end_reason == "operator_deactivated"


def test_cli_deactivate_ends_the_sessions(app, runner, client, desk):
    token = login_as(client, desk["camille"])
    result = runner.invoke(args=["operator", "deactivate", "--id", str(desk["camille"].id)])
    assert result.exit_code == 0, result.output
    assert "désactivé (1 session(s) fermée(s))" in result.output
    assert row_of(token).end_reason == "operator_deactivated"
    assert not logged_in(client)
    assert events("operator_deactivated")[-1]["actor"] == "ligne de commande"


def test_unbinding_a_certificate_ends_only_the_sessions_it_opened(app, desk):
    camille = desk["camille"]
    first_certificate = camille.certificates.get()
    by_first, by_second = app.test_client(), app.test_client()
    first_token = login_as(by_first, camille)
    second_certificate = bind_certificate(camille, MemoryKey(get_ca(app)).certificate)
    _, second_token = sessions.open_session(camille, second_certificate.fingerprint_sha256,
                                            method="proxy")
    with by_second.session_transaction() as cookie:
        cookie["_user_id"] = second_token

    assert unbind_certificate(first_certificate, actor="ligne de commande") == 1
    assert row_of(first_token).end_reason == "certificate_unbound"
    assert not logged_in(by_first)
    assert logged_in(by_second)
    [event] = events("certificate_unbound")
    assert event["fingerprint"] == first_certificate.fingerprint_sha256
    assert event["sessions_ended"] == 1


def test_cli_unbind_cert_ends_the_sessions(runner, client, desk):
    token = login_as(client, desk["camille"])
    fingerprint = desk["camille"].certificates.get().fingerprint_sha256
    result = runner.invoke(args=["operator", "unbind-cert", "--fingerprint", fingerprint.upper()])
    assert result.exit_code == 0, result.output
    assert "Camille Martin" in result.output and "(1 session(s) fermée(s))" in result.output
    assert row_of(token).end_reason == "certificate_unbound"
    assert not logged_in(client)
    unknown = runner.invoke(args=["operator", "unbind-cert", "--fingerprint", "ab" * 32])
    assert unknown.exit_code != 0 and "aucun opérateur n'a ce certificat" in unknown.output


# --- purge -------------------------------------------------------------------------------

def test_the_hourly_purge_deletes_sessions_over_for_90_days_but_each_operators_latest(
        app, client, desk):
    from scheduler import LOGIN_SESSIONS_PURGE_JOB, jobs
    now = utcnow()

    def session(operator, days_ago: float, *, ended: bool = True) -> int:
        row, _ = sessions.open_session(operator, "ab" * 32, method="bridge")
        at = now - dt.timedelta(days=days_ago)
        (LoginSession.update(created_at=at, last_seen_at=at, ended_at=at if ended else None,
                             end_reason="logout" if ended else None)
         .where(LoginSession.id == row.id).execute())
        return row.id

    camille_old = [session(desk["camille"], 200), session(desk["camille"], 120, ended=False)]
    camille_recent = session(desk["camille"], 30)
    lucas_only = session(desk["lucas"], 400)  # his latest login, however old
    assert app.config["SESSION_KEEP_DAYS"] == 90
    [job] = [job for job in jobs(app) if job.id == LOGIN_SESSIONS_PURGE_JOB]

    assert job.function(app) == 2
    left = {row.id for row in LoginSession.select()}
    assert left.isdisjoint(camille_old) and {camille_recent, lucas_only} <= left
    assert job.function(app) == 0  # nothing more to do

    # The Opérateurs page still says when Lucas last logged in.
    admin = desk["camille"]
    Operator.update(roles="AEA,admin").where(Operator.id == admin.id).execute()
    login_as(client, admin)
    page = client.get("/parametres/operateurs").get_data(as_text=True)
    lucas_row = page[page.index("Lucas Bernard"):]
    lucas_row = lucas_row[:lucas_row.index("</tr>")]
    assert paris_date(now - dt.timedelta(days=400)) in lucas_row
    assert "Jamais" not in lucas_row


def test_session_keep_days_setting():
    assert Config({"RADESK_SESSION_KEEP_DAYS": "30"}).SESSION_KEEP_DAYS == 30
