"""The viewer (« Visionneuse »): side panel, page navigation, zoom and rotation links (plain
links, and HTMX fragments), the check of a justificatif (« vérifiée », expiry date, who and
when, also in the order file), refusals in French, the reserved lower right corner, and a
query count that does not grow with the dossier."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from playhouse.test_utils import count_queries

from models import AuditEvent, Document, Order, utcnow
from services.dossiers import documents
from tests.conftest import csrf_token_from, login_as
from tests.image_samples import png
from tests.pdf_samples import text_pdf
from tests.text import text

HTMX = {"HX-Request": "true", "HX-Target": "document-view"}


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    camille = make_operator(ae, roles="AEA", name="Camille Martin")
    julien = make_operator(ae, roles="AET", name="Julien Roux")
    order = make_order(ae, number=960072)
    imported = {}
    with app.test_request_context():
        imported["kbis"] = documents.import_document(order, "kbis", "kbis.pdf", text_pdf(pages=3),
                                                     actor_label="Demandeur")
        old = documents.import_document(order, "holder_id", "cni-floue.png", png((1, 1, 1)),
                                        actor_label="Demandeur")
        imported["holder_id"] = documents.import_document(order, "holder_id", "cni.png",
                                                          png((2, 2, 2)), actor_label="Demandeur")
        imported["cgu"] = documents.import_document(order, "cgu", "cgu.pdf", text_pdf(),
                                                    actor_label="Système")
    # Imported at 08:05 UTC on 14/03/2025: 09:05 in Paris.
    Document.update(imported_at=dt.datetime(2025, 3, 14, 8, 5)).execute()
    return {"ae": ae, "camille": camille, "julien": julien, "order": order, "old": old,
            **imported}


def viewer_url(desk, **query) -> str:
    base = f"/commandes/{desk['order'].id}/visionneuse"
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def panel(html: str) -> str:
    return html[html.index('class="viewer-panel"'):html.index('class="viewer-main"')]


def test_side_panel_lists_every_document_with_its_status(client, desk):
    login_as(client, desk["camille"])
    response = client.get(viewer_url(desk))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    side = text(panel(html))
    for label, status in [("CGU", "non signé"), ("Extrait de KBIS", "importé"),
                          ("Pièce d'identité du porteur", "importé"),
                          ("Pièce d'identité du représentant légal", "non importé"),
                          ("Preuve de paiement", "non importé")]:
        assert re.search(re.escape(label) + r".{0,80}" + re.escape(status), side), label
    assert "<title>Visionneuse — Commande N° 960072 — RA Desk</title>" in html


def test_unfolding_shows_title_import_date_and_time_and_thumbnail(client, desk):
    login_as(client, desk["camille"])
    html = client.get(viewer_url(desk)).get_data(as_text=True)
    kbis = desk["kbis"]
    details = next(d for d in re.findall(r'<details class="document-details"[^>]*>(.*?)</details>',
                                         html, re.S) if "Extrait de KBIS" in d)
    assert "<summary>" in details and "Détails : Extrait de KBIS" in details
    assert "Intitulé Extrait de KBIS — kbis.pdf" in text(details)
    assert "Importé le 14/03/2025 à 09:05" in text(details)
    assert "Importé par Demandeur" in text(details)
    assert (f'src="/commandes/{desk["order"].id}/documents/{kbis.id}/pages/1?width=160"'
            in details)


def test_replaced_versions_are_listed_and_viewable(client, desk):
    login_as(client, desk["camille"])
    html = client.get(viewer_url(desk)).get_data(as_text=True)
    assert "Versions précédentes" in html and f"document={desk['old'].id}" in html
    old = client.get(viewer_url(desk, document=desk["old"].id)).get_data(as_text=True)
    assert "Version remplacée, importée le 14/03/2025 à 09:05" in text(old)
    assert "Cette version a été remplacée : vérifiez la version actuelle." in text(old)


def test_main_area_shows_the_selected_page_with_its_controls(client, desk):
    login_as(client, desk["camille"])
    kbis = desk["kbis"]
    html = client.get(viewer_url(desk, document=kbis.id, page=2)).get_data(as_text=True)
    view = text(html)
    assert "Page 2 sur 3" in view
    image = f'/commandes/{desk["order"].id}/documents/{kbis.id}/pages/2?width='
    assert f'src="{image}1000&amp;rotation=0"' in html
    assert f"{image}2400&amp;rotation=0 2400w" in html  # the browser picks the resolution
    assert 'data-next-page="3"' in html  # prefetched by viewer.js
    for control, page in [("previous-page", 1), ("next-page", 3)]:
        link = re.search(rf'<a id="tool-{control}"[^>]*href="([^"]+)"', html).group(1)
        expected = f"document={kbis.id}" + ("" if page == 1 else f"&amp;page={page}")
        assert link.endswith(expected)
    for label in ("Zoom avant", "Zoom arrière", "Pivoter à gauche", "Pivoter à droite",
                  "Ajuster à la largeur", "Télécharger l'original"):
        assert label in html


def test_zoom_and_rotation_links(client, desk):
    login_as(client, desk["camille"])
    kbis = desk["kbis"]
    html = client.get(viewer_url(desk, document=kbis.id, zoom=150, rotation=90)).get_data(
        as_text=True)
    assert 'class="page-image zoom-150"' in html and "rotation=90" in html
    assert "150 %" in html and "(pivotée de 90°)" in html
    zoom_in = re.search(r'<a id="tool-zoom-in"[^>]*href="([^"]+)"', html).group(1)
    assert "zoom=200" in zoom_in and "rotation=90" in zoom_in
    right = re.search(r'<a id="tool-rotate-right"[^>]*href="([^"]+)"', html).group(1)
    assert "rotation=180" in right
    left = re.search(r'<a id="tool-rotate-left"[^>]*href="([^"]+)"', html).group(1)
    assert "rotation" not in left  # back to upright: the default
    fit = re.search(r'<a id="tool-fit-width"[^>]*href="([^"]+)"', html).group(1)
    assert "zoom" not in fit


def test_out_of_range_values_fall_back_to_something_shown(client, desk):
    login_as(client, desk["camille"])
    html = client.get(viewer_url(desk, document=desk["kbis"].id, page=99, zoom=7,
                                 rotation=45)).get_data(as_text=True)
    assert "Page 3 sur 3" in text(html) and "zoom-100" in html and "rotation=0" in html
    assert client.get(viewer_url(desk, document=999999)).status_code == 200


def test_first_and_last_page_controls_are_disabled_not_dead(client, desk):
    login_as(client, desk["camille"])
    html = client.get(viewer_url(desk, document=desk["kbis"].id)).get_data(as_text=True)
    assert re.search(r'<span id="tool-previous-page"[^>]*aria-disabled="true"', html)
    last = client.get(viewer_url(desk, document=desk["kbis"].id, page=3)).get_data(as_text=True)
    assert re.search(r'<span id="tool-next-page"[^>]*aria-disabled="true"', last)


def test_htmx_gets_only_the_main_area(client, desk):
    login_as(client, desk["camille"])
    response = client.get(viewer_url(desk, document=desk["kbis"].id, page=2), headers=HTMX)
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="document-view"')
    assert "Page 2 sur 3" in text(html) and "viewer-panel" not in html and "<html" not in html
    assert "HX-Request" in response.headers["Vary"]
    # Only the full page is a « view of the dossier » worth an audit event.
    assert AuditEvent.select().where(AuditEvent.action == "viewer_opened").count() == 0
    client.get(viewer_url(desk))
    assert AuditEvent.select().where(AuditEvent.action == "viewer_opened").count() == 1


def test_lower_right_corner_is_reserved_for_notifications(client, desk, app, monkeypatch):
    """The regions are there; their content comes from the notification templates,
    and without them the corner shows nothing (no dead button)."""
    login_as(client, desk["camille"])
    html = client.get(viewer_url(desk)).get_data(as_text=True)
    assert '<div id="viewer-actions" class="viewer-actions">' in html
    assert '<div id="viewer-notifications" class="viewer-notifications">' in html
    loader = app.jinja_env.loader
    real = loader.get_source

    def without_partials(environment, name):
        if name in ("viewer/_actions.html", "viewer/_notifications.html"):
            from jinja2 import TemplateNotFound
            raise TemplateNotFound(name)
        return real(environment, name)
    monkeypatch.setattr(loader, "get_source", without_partials)
    app.jinja_env.cache.clear()
    html = client.get(viewer_url(desk)).get_data(as_text=True)
    app.jinja_env.cache.clear()
    assert '<div id="viewer-actions" class="viewer-actions"></div>' in html
    assert '<div id="viewer-notifications" class="viewer-notifications"></div>' in html


def test_no_inline_script_or_style(client, desk):
    login_as(client, desk["camille"])
    html = client.get(viewer_url(desk)).get_data(as_text=True)
    assert "style=" not in html and not re.search(r"<script(?![^>]*src=)", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_an_empty_dossier(client, desk, make_order):
    order = make_order(desk["ae"], number=960099)
    login_as(client, desk["camille"])
    html = client.get(f"/commandes/{order.id}/visionneuse").get_data(as_text=True)
    assert "Aucun document n'a encore été importé dans ce dossier." in html


def test_viewer_query_count_does_not_grow_with_documents(app, client, desk, make_order):
    login_as(client, desk["camille"])
    small = make_order(desk["ae"], number=960080)
    big = make_order(desk["ae"], number=960081)
    with app.test_request_context():
        documents.import_document(small, "kbis", "k.png", png((5, 5, 5)))
        for number, kind in enumerate(["kbis", "holder_id", "legal_rep_id", "payment_proof",
                                       "cgu", "subscription_contract"] * 3):
            documents.import_document(big, kind, f"{kind}.png", png((number, 9, 9)))

    def queries(order):
        # Each on its KBIS: a piece read automatically costs its reading's query (constant).
        kbis = Document.current_of(order.id).where(Document.kind == "kbis").get()
        url = f"/commandes/{order.id}/visionneuse?document={kbis.id}"
        client.get(url)  # warm caches
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        return counter.count
    assert queries(big) == queries(small)


# --- « vérifiée » -------------------------------------------------------------------

def verify(client, desk, document, htmx=True, **form):
    token = csrf_token_from(client.get(viewer_url(desk, document=document.id)).get_data(
        as_text=True))
    return client.post(f"/commandes/{desk['order'].id}/documents/{document.id}/verification",
                       data={"csrf_token": token, **form},
                       headers={"HX-Request": "true"} if htmx else {})


def test_marking_a_justificatif_verified_records_who_and_when(client, desk):
    login_as(client, desk["camille"])
    response = verify(client, desk, desk["kbis"], action="verify")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="verification"')
    assert "Pièce marquée « vérifiée »." in html and 'role="status"' in html
    assert "vérifiée par Camille Martin le" in text(html)
    # The side panel's line follows, out of band.
    assert re.search(r'<span id="badges-kbis" class="badges" hx-swap-oob="true">', html)
    row = Document.get_by_id(desk["kbis"].id)
    assert row.verified_by_id == desk["camille"].id and row.verified_at is not None
    (event,) = AuditEvent.select().where(AuditEvent.action == "document_verified")
    assert json.loads(event.details) == {"document": "Extrait de KBIS", "filename": "kbis.pdf"}


def test_order_file_shows_the_check_and_the_viewer_buttons(client, desk):
    login_as(client, desk["camille"])
    verify(client, desk, desk["kbis"], action="verify", expires_on="2031-06-30")
    html = client.get(f"/commandes/{desk['order'].id}").get_data(as_text=True)
    documents_section = html[html.index('id="documents"'):html.index("</section>",
                                                                      html.index('id="documents"'))]
    assert re.search(r'<a class="button" href="/commandes/\d+/visionneuse" '
                     r'target="visionneuse-960072">Consulter', documents_section)
    assert re.search(r'href="/commandes/\d+/dossier.zip" download>Télécharger le dossier</a>',
                     documents_section)
    assert re.search(r"vérifié par Camille Martin le \d\d/\d\d/\d{4} \d\d:\d\d ; valable "
                     r"jusqu'au 30/06/2031", text(documents_section))


def test_an_expired_piece_is_flagged_in_the_viewer_and_the_order_file(client, desk):
    login_as(client, desk["camille"])
    html = verify(client, desk, desk["holder_id"], action="verify",
                  expires_on="2024-01-31").get_data(as_text=True)
    assert "Pièce expirée depuis le 31/01/2024" in text(html)
    assert '<span class="expired-mark">expirée</span>' in html  # the side panel's badge
    order_file = text(client.get(f"/commandes/{desk['order'].id}").get_data(as_text=True))
    assert "expirée depuis le 31/01/2024" in order_file
    assert Document.get_by_id(desk["holder_id"].id).expires_on == dt.date(2024, 1, 31)


def test_without_javascript_the_check_redirects_back_to_the_page(client, desk):
    login_as(client, desk["camille"])
    response = verify(client, desk, desk["kbis"], htmx=False, action="verify",
                      expires_on="30/06/2031",
                      back=f"/commandes/{desk['order'].id}/visionneuse?document="
                             f"{desk['kbis'].id}&page=2")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"document={desk['kbis'].id}&page=2"
                                                 "#verification")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Pièce marquée « vérifiée »." in page and "Valable jusqu'au 30/06/2031." in text(page)


def test_return_address_cannot_leave_the_viewer(client, desk):
    login_as(client, desk["camille"])
    response = verify(client, desk, desk["kbis"], htmx=False, action="verify",
                      back="https://evil.example/")
    assert response.headers["Location"].endswith(
        f"/commandes/{desk['order'].id}/visionneuse#verification")


def test_withdrawing_and_unchanged(client, desk):
    login_as(client, desk["camille"])
    verify(client, desk, desk["kbis"], action="verify")
    again = verify(client, desk, desk["kbis"], action="verify").get_data(as_text=True)
    assert "Rien à enregistrer : la pièce était déjà dans cet état." in again
    withdrawn = verify(client, desk, desk["kbis"], action="unverify").get_data(as_text=True)
    assert "Vérification retirée." in withdrawn and "Pas encore vérifiée." in withdrawn
    actions = [e.action for e in AuditEvent.select().where(
        AuditEvent.action.startswith("document_verif")).order_by(AuditEvent.id)]
    assert actions == ["document_verified", "document_verification_withdrawn"]


@pytest.mark.parametrize("who, document, setup, message", [
    ("julien", "kbis", None, "Rôle AEA requis."),
    ("camille", "cgu", None, "Seules les pièces justificatives se vérifient ici ; un document "
                             "contractuel est complet une fois signé."),
    ("camille", "old", None, "Cette version a été remplacée : vérifiez la version actuelle."),
    ("camille", "kbis", "validated", "La commande a été validée : le dossier est en lecture "
                                     "seule."),
])
def test_refusals_are_explained_in_french(client, desk, who, document, setup, message):
    if setup == "validated":
        Order.update(phase="generation", substate=None, validated_at=utcnow()).execute()
    login_as(client, desk[who])
    html = verify(client, desk, desk[document], action="verify").get_data(as_text=True)
    assert message in text(html) and 'role="alert"' in html
    assert Document.select().where(Document.verified_at.is_null(False)).count() == 0
    assert not AuditEvent.select().where(AuditEvent.action == "document_verified").exists()


def test_a_bad_date_is_refused(client, desk):
    login_as(client, desk["camille"])
    html = verify(client, desk, desk["kbis"], action="verify",
                  expires_on="31/02/2030").get_data(as_text=True)
    assert "Date d'expiration invalide : utilisez le format jj/mm/aaaa." in text(html)
    assert 'aria-invalid="true"' in html
    html = verify(client, desk, desk["kbis"], action="verify",
                  expires_on="0030-01-01").get_data(as_text=True)
    assert "l'année doit être comprise entre 1900 et 2200" in text(html)


def test_the_form_is_offered_only_to_whom_may_use_it(client, desk):
    login_as(client, desk["julien"])
    html = client.get(viewer_url(desk, document=desk["kbis"].id)).get_data(as_text=True)
    assert "verification-form" not in html and "Rôle AEA requis." in html
    login_as(client, desk["camille"])
    html = client.get(viewer_url(desk, document=desk["cgu"].id)).get_data(as_text=True)
    assert "verification-form" not in html and "Document contractuel" in html


def test_verification_needs_csrf(client, desk):
    login_as(client, desk["camille"])
    response = client.post(
        f"/commandes/{desk['order'].id}/documents/{desk['kbis'].id}/verification",
        data={"action": "verify"})
    assert response.status_code == 400
    assert Document.get_by_id(desk["kbis"].id).verified_at is None
