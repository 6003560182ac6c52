"""What every browser request goes through, in process: the size of its body (the documents'
limit on the upload routes, a form's elsewhere, chunked bodies cut off too, a French 413 and a
problem for the API), the origin of a state-changing request (a forged one refused in French,
audited for an operator), answers never stored by a cache (operators, downloads, the pages
opened from an e-mailed link; not the static files), and the public pages' rate per address.
The same body limits through gunicorn and a raw socket: tests/test_e2e_request_body.py."""
from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from models import AuditEvent, Document, SavedSearch
from services.messaging import followup
from tests.conftest import csrf_token_from, login_as
from tests.text import text

MIB = 1024 * 1024


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA,admin", name="Camille Martin")
    order = make_order(ae, number=960072, substate="in_signature", otp_contact="+33612345678",
                       requester_email="alice.colbert@exemple.fr")
    Document.create(order=order, kind="kbis", category="justificatif", status="not_imported")
    with app.app_context():
        link, _ = followup.make_link(app, order.id)
    return {"app": app, "ae": ae, "camille": camille, "order": order,
            "followup": urlsplit(link).path}


def chunked(client, path, fields: dict, **headers):
    """A multipart POST sent as Transfer-Encoding: chunked (no Content-Length), the stream
    ended by the server, as gunicorn says it does (wsgi.input_terminated)."""
    boundary, body = encode_multipart({
        name: FileStorage(*value) if isinstance(value, tuple) else value
        for name, value in fields.items()})
    return client.post(path, input_stream=io.BytesIO(body),
                       content_type=f"multipart/form-data; boundary={boundary}",
                       headers={"Transfer-Encoding": "chunked", **headers},
                       environ_overrides={"wsgi.input_terminated": True})


# --- Request bodies -------------------------------------------------------------------------

def test_the_limit_is_the_documents_one_plus_the_multipart_envelope(app):
    assert app.config["DOCUMENT_MAX_MB"] == 20
    assert app.config["MAX_CONTENT_LENGTH"] == 21 * MIB


def test_a_large_form_anywhere_else_gets_a_french_413_unread(client, desk):
    response = client.post("/connexion/defi", data={"x": "a" * (2 * MIB)})
    assert response.status_code == 413
    assert "Envoi trop volumineux" in text(response)


def test_an_upload_over_the_limit_gets_a_french_413(client, desk):
    token = csrf_token_from(client.get(desk["followup"]).get_data(as_text=True))
    response = client.post(desk["followup"] + "/pieces", content_type="multipart/form-data",
                           data={"csrf_token": token, "kind": "kbis",
                                 "file": (io.BytesIO(b"%PDF-" + b"0" * (22 * MIB)), "k.pdf")})
    assert response.status_code == 413
    page = text(response)
    assert "Envoi trop volumineux" in page and "20 Mo" in page
    assert Document.get(Document.kind == "kbis").status == "not_imported"


def test_a_chunked_upload_over_the_limit_is_cut_off_with_a_413(app, client, desk):
    app.config.update(DOCUMENT_MAX_MB=1, MAX_CONTENT_LENGTH=2 * MIB)
    token = csrf_token_from(client.get(desk["followup"]).get_data(as_text=True))
    response = chunked(client, desk["followup"] + "/pieces", {
        "csrf_token": token, "kind": "kbis",
        "file": (io.BytesIO(b"%PDF-" + b"0" * (3 * MIB)), "kbis.pdf")})
    assert response.status_code == 413
    assert Document.get(Document.kind == "kbis").status == "not_imported"


def test_a_chunked_upload_over_the_documents_size_gets_the_pages_own_message(app, client, desk):
    app.config.update(DOCUMENT_MAX_MB=1, MAX_CONTENT_LENGTH=2 * MIB)
    token = csrf_token_from(client.get(desk["followup"]).get_data(as_text=True))
    response = chunked(client, desk["followup"] + "/pieces", {
        "csrf_token": token, "kind": "kbis",
        "file": (io.BytesIO(b"%PDF-" + b"0" * (MIB + MIB // 2)), "kbis.pdf")},
        **{"HX-Request": "true"})
    assert "Fichier trop volumineux" in text(response) and "maximum 1 Mo" in text(response)
    assert Document.get(Document.kind == "kbis").status == "not_imported"


def test_a_chunked_upload_on_the_ordering_page_is_bounded_too(app, client, desk):
    app.config.update(DOCUMENT_MAX_MB=1, MAX_CONTENT_LENGTH=2 * MIB)
    from tests.test_ordering import PORTAL, fill_in, start
    base = start(client)
    fill_in(client, base)
    token = csrf_token_from(client.get(PORTAL).get_data(as_text=True))
    too_big = chunked(client, f"{base}/pieces/depot", {
        "csrf_token": token, "kind": "kbis",
        "file": (io.BytesIO(b"%PDF-" + b"0" * (3 * MIB)), "kbis.pdf")})
    assert too_big.status_code == 413
    over_size = chunked(client, f"{base}/pieces/depot", {
        "csrf_token": token, "kind": "kbis",
        "file": (io.BytesIO(b"%PDF-" + b"0" * (MIB + MIB // 2)), "kbis.pdf")})
    assert "Fichier trop volumineux" in text(over_size)
    assert not Document.select().where(Document.filename == "kbis.pdf").exists()


def test_the_api_answers_a_french_problem(client, desk):
    response = client.post("/api/v1/commandes", data=b"{" + b" " * (2 * MIB) + b"}",
                           content_type="application/json",
                           headers={"Authorization": "Bearer rad_x_y"})
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert "taille" in response.get_json()["detail"]


# --- Origin of state-changing requests ------------------------------------------------------

def save_search(client, token, **headers):
    return client.post("/commandes/recherches", headers=headers,
                       data={"csrf_token": token, "search_name": "Mes urgences",
                             "substate": "to_check"})


@pytest.fixture
def operator_client(client, desk):
    login_as(client, desk["camille"])
    return client, csrf_token_from(client.get("/commandes").get_data(as_text=True))


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Referer": "https://evil.example/page"},
    {"Origin": "http://localhost.evil.example", "Referer": "http://localhost/commandes"},
], ids=["origine", "origine-nulle", "referer", "origine-avant-referer"])
def test_a_cross_origin_post_with_a_valid_token_is_refused_and_audited(operator_client, desk,
                                                                      headers):
    client, token = operator_client
    response = save_search(client, token, **headers)
    assert response.status_code == 403
    assert "Requête refusée : elle ne vient pas d'une page de RA Desk." in text(response)
    assert not SavedSearch.select().exists()
    event = AuditEvent.get(AuditEvent.action == "cross_origin_refused")
    assert event.operator_id == desk["camille"].id and "/commandes/recherches" in event.details


@pytest.mark.parametrize("headers", [
    {}, {"Origin": "http://localhost"}, {"Referer": "http://localhost/commandes?x=1"},
    {"Origin": "http://127.0.0.1:5000"},  # one of RADESK_LOGIN_ORIGINS
], ids=["sans-en-tete", "meme-origine", "referer", "origine-de-connexion"])
def test_a_same_origin_post_goes_through(operator_client, headers):
    client, token = operator_client
    assert save_search(client, token, **headers).status_code == 303
    assert SavedSearch.select().count() == 1


def test_a_public_page_refuses_a_cross_origin_post_without_audit(client, desk):
    token = csrf_token_from(client.get(desk["followup"]).get_data(as_text=True))
    response = client.post(desk["followup"] + "/informations",
                           headers={"Origin": "https://evil.example"},
                           data={"csrf_token": token, "email": "x@example.org"})
    assert response.status_code == 403
    assert not AuditEvent.select().where(AuditEvent.action == "cross_origin_refused").exists()


def test_the_api_and_ocsp_are_not_browser_routes(client, desk):
    api = client.post("/api/v1/commandes", json={}, headers={"Origin": "https://evil.example"})
    assert api.status_code == 401  # the bearer credentials decide, not the origin
    ocsp = client.post("/pki/ocsp", data=b"0", content_type="application/ocsp-request",
                       headers={"Origin": "https://evil.example"})
    assert ocsp.status_code == 200 and ocsp.mimetype == "application/ocsp-response"


# --- Caches -----------------------------------------------------------------------------------

def assert_not_stored(response):
    assert "no-store" in response.headers.get("Cache-Control", ""), response.request.path
    assert response.headers.get("Pragma") == "no-cache"


def test_operator_pages_and_exports_are_never_stored(operator_client):
    client, _ = operator_client
    for path in ("/commandes", "/commandes/export.csv", "/statistiques/export.csv",
                 "/commandes/999999", "/parametres/journal"):
        assert_not_stored(client.get(path))


def test_every_operator_get_route_is_never_stored(app, operator_client):
    client, _ = operator_client
    public = ("static", "followup.", "signing.", "activation.", "ordering.", "renewal.page",
              "revocation.", "pki.", "api.", "auth.", "generation.instruction_key")
    checked = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint.startswith(public):
            continue
        values = {name: 999999 if rule._converters[name].__class__.__name__ == "IntegerConverter"
                  else "x" for name in rule.arguments}
        path = rule.build(values, append_unknown=False)[1]
        response = client.get(path)
        if response.headers.get("Cache-Control", "").startswith("private, max-age"):
            continue  # a document's page images: kept by this operator's browser only
        assert_not_stored(response)
        checked += 1
    assert checked > 35


def test_the_pages_opened_from_a_link_are_never_stored(client, desk):
    assert_not_stored(client.get(desk["followup"]))
    assert_not_stored(client.get("/activation/inconnu"))
    assert_not_stored(client.get("/commander/bpoi-occitanie"))
    assert client.get(desk["followup"]).headers["Referrer-Policy"] == "same-origin"


def test_static_files_stay_cacheable(client):
    response = client.get("/static/css/admin.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


# --- The public pages' rate -------------------------------------------------------------------

def test_public_pages_share_a_rate_per_address_with_a_french_429(app, client, desk):
    app.config["RADESK_PUBLIC_RATE_LIMIT"] = "3 per minute"
    for path in (desk["followup"], "/commander/bpoi-occitanie", desk["followup"]):
        assert client.get(path).status_code == 200
    refused = client.get(desk["followup"])
    assert refused.status_code == 429
    assert "Trop de demandes depuis votre connexion" in text(refused)
    other = client.get(desk["followup"], environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200


def test_the_activation_page_is_rate_limited(app, client, desk):
    app.config["RADESK_PUBLIC_RATE_LIMIT"] = "2 per minute"
    assert [client.get("/activation/inconnu").status_code for _ in range(3)] == [404, 404, 429]


def test_ocsp_gets_a_generous_rate_of_its_own(app, client, desk):
    app.config.update(RADESK_PUBLIC_RATE_LIMIT="1 per minute", RADESK_OCSP_RATE_LIMIT="2 per minute")
    answers = [client.get("/pki/ocsp/MAA=").status_code for _ in range(3)]
    assert answers == [200, 200, 429]
