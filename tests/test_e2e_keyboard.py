"""One order from « à vérifier » to « Génération du certificat » with the keyboard only (Tab,
Shift+Tab, Enter, Space, arrows; text typed into the focused field): log in with the USB key,
open the order from the Commandes list, check its pieces in the Visionneuse, record the holder's
ID number, send for signature, validate. At each step focus is visible and in sight, an htmx
swap moves it into the new content, and each confirmation is in one live region. The signers'
side is done on the server: it is not the operator's keyboard path."""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from tests.e2e_support import demo_site, order_with_pieces
from tests.keyboard_support import (RECORD_FOCUS_MOVES, assert_announced_once, assert_focused,
                                    assert_focus_moved_into, assert_focus_visible, choose_option,
                                    tab_to)

pytestmark = pytest.mark.browser

NUMBER = 960301
PIECES = ("Extrait de KBIS", "Pièce d'identité du porteur",
          "Pièce d'identité du représentant légal", "Preuve de paiement")
EXTRA_EVENTS = 60  # past one page of « Historique » (50 lines)


def _order(app, keys):
    from services import audit
    order = order_with_pieces(NUMBER, ("kbis", "holder_id", "legal_rep_id", "payment_proof"),
                              requester_email="demandeur@exemple.fr")
    for line in range(EXTRA_EVENTS):
        audit.record("note_de_test", order=order, actor="Demandeur", details={"ligne": line})
    return {"order_id": order.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-keyboard"), _order, order_count=2) as site:
        yield site


def _sign_for_everyone(site) -> None:
    """Each signer asks for a code and signs, as their signing page would. In a thread of its
    own: pyHanko runs an event loop, and Playwright's thread has one."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_sign, site).result()


def _sign(site) -> None:
    from models import SignatureRequest
    from services.signing import codes, signer
    with site.instance.seeding() as app:
        for request in SignatureRequest.select().where(SignatureRequest.order == site.order_id):
            codes.send_code(app, request)
            request = SignatureRequest.get_by_id(request.id)
            signer.sign(app, request, codes.code_for(app, request.id, request.code_nonce), True)


def _log_in(page, site) -> None:
    page.goto(f"{site.instance.url}/connexion")
    key = page.locator("#login-key")
    expect(key.locator(f'option[value="{site.serial}"]')).to_have_count(1)
    tab_to(page, key)
    label = key.locator(f'option[value="{site.serial}"]').inner_text().strip()
    choose_option(page, key, label)
    tab_to(page, page.locator("#login-pin"))
    page.keyboard.type("1234")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.instance.url}/commandes**")


def _open_from_the_list(page) -> None:
    tab_to(page, page.get_by_role("link", name=f"Traiter la commande {NUMBER}"), limit=120)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Commande N° {NUMBER}")
    page.wait_for_load_state()  # the h1 shows while the rest of the page may still be parsed


def _check_the_pieces(viewer) -> None:
    panel = viewer.locator(".viewer-panel")
    for number, label in enumerate(PIECES):
        tab_to(viewer, panel.get_by_role("link", name=label, exact=True), backwards=number > 0)
        viewer.keyboard.press("Enter")
        expect(viewer.locator("#document-titre")).to_contain_text(label)
        assert_focus_moved_into(viewer, "#document-view")
        tab_to(viewer, viewer.get_by_role("button", name="Marquer « vérifiée »"))
        viewer.keyboard.press("Enter")
        expect(panel.locator("li.document-item", has_text=label)
               .locator(".verified-mark")).to_be_visible()
        assert_focus_moved_into(viewer, "#verification")
        assert_announced_once(viewer, "Pièce marquée « vérifiée ».")


def test_an_order_from_checking_to_generation_with_the_keyboard_only(new_page, site):
    page = new_page()
    _log_in(page, site)
    _open_from_the_list(page)

    # The Visionneuse opens beside the order file: check each piece there, then come back.
    tab_to(page, page.get_by_role("link", name="Consulter (nouvel onglet)"))
    with page.context.expect_page() as opened:
        page.keyboard.press("Enter")
    viewer = opened.value
    expect(viewer).to_have_title(re.compile(f"Visionneuse — Commande N° {NUMBER}"))
    _check_the_pieces(viewer)
    tab_to(viewer, viewer.get_by_role("link", name="Fiche de commande"), backwards=True,
           limit=120)
    viewer.keyboard.press("Enter")
    expect(viewer.get_by_role("heading", level=1)).to_have_text(f"Commande N° {NUMBER}")
    page.close()
    page = viewer

    # The holder's ID document: its type with the arrows, its number typed, Enter.
    tab_to(page, page.get_by_label("Type de justificatif"), limit=120)
    choose_option(page, page.get_by_label("Type de justificatif"), "CNI")
    tab_to(page, page.get_by_role("textbox", name="N° de justificatif d'identité"))
    page.keyboard.type("X4RTBPFW4")
    page.keyboard.press("Enter")
    expect(page.locator("#justificatif-identite")).to_contain_text(
        "N° de justificatif d'identité enregistré.")
    assert_focus_moved_into(page, "#justificatif-identite")
    assert_announced_once(page, "N° de justificatif d'identité enregistré.")

    # « Envoyer pour signature », then the signers sign.
    tab_to(page, page.get_by_role("button", name="Envoyer pour signature"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("Documents envoyés pour signature")
    assert_announced_once(page, "Documents envoyés pour signature")
    _sign_for_everyone(site)

    # Back to the order file through the Commandes list (up from « Signature… », where the
    # page reopened), then « Valider ».
    tab_to(page, page.get_by_role("navigation", name="Navigation principale")
           .get_by_role("link", name="Commandes"), backwards=True, limit=150)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.instance.url}/commandes**")
    _open_from_the_list(page)
    validation = page.locator("#validation")
    for box in ("Règlement (OK)", "Dossier complet (OK)"):
        tab_to(page, validation.get_by_label(box), limit=150)
        page.keyboard.press("Space")
        expect(validation.get_by_label(box)).to_be_checked()
    tab_to(page, validation.get_by_role("button", name="Valider", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Cette action est irréversible")
    assert_announced_once(page, "Cette action est irréversible")
    tab_to(page, page.get_by_role("button", name=re.compile("Valider cette phase")))
    page.keyboard.press("Enter")
    expect(page.locator("section", has=page.locator("#informations"))).to_contain_text(
        "Phase Génération du certificat")
    assert_announced_once(page, "validée")


def test_older_events_take_focus_to_the_first_line_loaded(new_page, site):
    """« Événements plus anciens » removes itself: focus goes to the first line it brought."""
    page = new_page()
    page.add_init_script(RECORD_FOCUS_MOVES)
    _log_in(page, site)
    _open_from_the_list(page)
    history = page.locator("#historique")
    first_shown = history.locator("tbody tr").count()  # 50 lines and the link's row
    tab_to(page, history.get_by_role("link", name="Événements plus anciens"), backwards=True,
           limit=200)
    page.keyboard.press("Enter")
    expect(history.locator("tbody tr")).not_to_have_count(first_shown)
    first_loaded = history.locator("tbody tr").nth(first_shown - 1)  # where the link's row was
    assert_focused(page, first_loaded)
    assert_focus_visible(page)


def test_a_poll_settling_meanwhile_takes_no_focus(new_page, site):
    """A poll swapped in just before « Événements plus anciens » removed the link, and settling
    after it, leaves focus on the first line loaded: it did not take the focus away itself."""
    page = new_page()
    page.add_init_script(RECORD_FOCUS_MOVES)
    _log_in(page, site)
    _open_from_the_list(page)
    history = page.locator("#historique")
    first_shown = history.locator("tbody tr").count()
    tab_to(page, history.get_by_role("link", name="Événements plus anciens"), backwards=True,
           limit=200)
    held = []
    page.route(re.compile(r".*/historique\?avant=.*"), lambda route: held.append(route))
    page.keyboard.press("Enter")
    while not held:
        page.wait_for_timeout(20)
    # « Lu sur la pièce » as its poll would bring it, settling one second after its swap.
    page.evaluate("""url => new Promise(done => {
        document.addEventListener("htmx:afterSwap", () => done(), {once: true});
        htmx.ajax("GET", url, {target: "#lu-sur-la-piece", swap: "outerHTML settle:1s"});
    })""", f"{site.instance.url}/commandes/{site.order_id}/lu-sur-la-piece")
    held[0].continue_()
    expect(history.locator("tbody tr")).not_to_have_count(first_shown)
    first_loaded = history.locator("tbody tr").nth(first_shown - 1)
    assert_focused(page, first_loaded)
    page.wait_for_timeout(1_500)  # the poll has settled
    assert_focused(page, first_loaded, timeout_ms=100)
    moves = page.evaluate("() => window.__focusMoves")
    assert not any("lu-sur-la-piece" in move for move in moves), moves
