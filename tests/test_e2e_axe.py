"""axe-core on every screen, in the browser, on the demo data: each operator page in each state
that changes its markup (list with and without results, the order file in each phase the demo
reaches, the Visionneuse with each drawer open, the administration, statistics and certificate
screens) and each public page (login, follow-up, ordering steps, signing, activation, renewal,
revocation request). Any violation of impact « serious » or « critical » fails, named by rule,
impact, target and page, unless KNOWN_EXCEPTIONS lists it with its reason. One server, one
login per role, the pages in sequence. Also: no transition or animation under
prefers-reduced-motion.
"""
from __future__ import annotations

import datetime as dt

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser_fixtures import log_in_through_the_page
from tests.e2e_support import demo_site

pytestmark = pytest.mark.browser

BLOCKING = {"serious", "critical"}
# (rule id, page name) → why it is left; page name "*" for every page. Keep it short.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}

_axe = Axe()


def _public_links(app, keys):
    """The links a holder, a signer or a requester receives, made for demo orders (and a
    draft order typed up to its pieces, for the ordering steps)."""
    from models import (Activation, HolderCertificate, Order, OrderIntake, SignatureRequest,
                        utcnow)
    from services.certificates import activation, revocation_requests
    from services.intake import drafts
    from services.messaging import followup
    from services.renewal.links import renewal_url
    from services.signing.links import link_for
    from tests.test_e2e_ordering import _draft_with_a_missing_piece

    base = app.config["RADESK_PUBLIC_URL"].rstrip("/")
    secret = app.config["SECRET_KEY"]
    draft_number = _draft_with_a_missing_piece(app, keys)["draft_number"]
    draft = Order.get(Order.number == draft_number)
    intake = OrderIntake.get(OrderIntake.order == draft.id)
    links = {"commande (étapes)": f"{base}/commander/bpoi-rhone/"
                                  f"{drafts.make_token(app, intake)}/"}
    request = SignatureRequest.select().where(SignatureRequest.state == "sent").first()
    if request:
        links["signature"] = link_for(app, request)
    # The demo's keys are activated already: one gets a fresh link, its code not yet typed.
    row = Activation.select().order_by(Activation.id).first()
    if row:
        nonce = "axe-activation-nonce"
        secret_part = activation.link_secret(app, nonce)
        Activation.update(link_nonce=nonce, link_hash=activation.link_hash(secret_part),
                          link_expires_at=utcnow() + dt.timedelta(days=1), verified_at=None,
                          activated_at=None).where(Activation.id == row.id).execute()
        links["activation"] = activation.link_url(app, secret_part)
    certificate = (HolderCertificate.select().join(Order, on=(HolderCertificate.order == Order.id))
                   .where(Order.phase == "done").first())
    if certificate:
        order = Order.get_by_id(certificate.order_id)
        links["suivi (terminée)"] = f"{base}/suivi/{followup.make_token(secret, order.id)}"
        links["renouvellement"] = renewal_url(app, certificate.serial_hex)
        links["révocation"] = revocation_requests.make_link(app, order, certificate.serial_hex,
                                                            "followup")
    links["suivi (brouillon)"] = f"{base}/suivi/{followup.make_token(secret, draft.id)}"
    phases = {}
    for order in Order.select().where(Order.phase != "entry").order_by(Order.number):
        phases.setdefault((order.ae_id, order.phase, order.substate), order.id)
    return {"public_links": links, "order_ids": sorted(set(phases.values())),
            "aet_serial": keys.serial("demo-aet")}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-axe"), _public_links, order_count=20) as site:
        yield site


class Audit:
    """The blocking violations found so far, page by page."""

    def __init__(self):
        self.found: list[str] = []
        self.pages: list[str] = []

    def check(self, page, name: str) -> None:
        page.wait_for_load_state("networkidle")
        results = _axe.run(page).response
        self.pages.append(name)
        for violation in results["violations"]:
            if violation["impact"] not in BLOCKING:
                continue
            if (violation["id"], name) in KNOWN_EXCEPTIONS or \
                    (violation["id"], "*") in KNOWN_EXCEPTIONS:
                continue
            for node in violation["nodes"]:
                self.found.append(f"{violation['id']} ({violation['impact']}) "
                                  f"{' '.join(map(str, node['target']))} — page « {name} »"
                                  f" ({page.url})")

    def assert_clean(self) -> None:
        assert not self.found, (f"{len(self.found)} violation(s) axe sur {len(self.pages)} "
                                "pages :\n" + "\n".join(self.found))


def _visit(page, url: str) -> None:
    page.goto(url)


def test_every_operator_screen_passes_axe(new_page, site):
    base = site.instance.url
    audit = Audit()
    page = new_page()
    log_in_through_the_page(page, base, site.serial)
    audit.check(page, "Commandes")
    page.get_by_label("N° de commande").fill("999999")
    expect(page.locator("#orders-table tbody tr")).to_have_count(0)
    audit.check(page, "Commandes (aucun résultat)")

    for order_id in site.order_ids:
        response = page.goto(f"{base}/commandes/{order_id}")
        if response.status != 200:  # another AE's order
            continue
        audit.check(page, f"dossier {order_id}")
    # The Visionneuse of an order with its pieces, each drawer open in turn.
    page.goto(f"{base}/commandes/{site.order_ids[0]}/visionneuse")
    audit.check(page, "Visionneuse")
    drawers = page.locator("details.viewer-drawer")
    for index in range(drawers.count()):
        drawer = drawers.nth(index)
        drawer.locator("summary").first.click()
        expect(drawer).to_have_attribute("open", "")
        audit.check(page, f"Visionneuse (tiroir {index + 1})")
    document_link = page.locator(".viewer-panel li.document-item a").first
    if document_link.count():
        document_link.click()
        expect(page.locator("#document-view h2, #document-view h3").first).to_be_visible()
        audit.check(page, "Visionneuse (document)")

    for path, name in (("/parametres/operateurs", "Opérateurs"),
                       ("/parametres/operateurs/nouveau", "Nouvel opérateur"),
                       ("/parametres/portails", "Portails"),
                       ("/parametres/ae", "Paramètres de l'AE"),
                       ("/parametres/textes-contractuels", "Textes contractuels"),
                       ("/parametres/cles", "Stock de clés"),
                       ("/parametres/api", "Clients de l'API"),
                       ("/parametres/webhooks", "Webhooks"),
                       ("/parametres/journal", "Journal d'administration"),
                       ("/parametres/notifications", "Textes des notifications"),
                       ("/statistiques", "Statistiques"),
                       ("/certificats", "Certificats")):
        page.goto(base + path)
        audit.check(page, name)
    for path, name in (("/commandes/{}/notifications", "Notifications de la commande"),
                       ("/commandes/{}/notifications/historique", "Historique des notifications")):
        assert page.goto(base + path.format(site.order_ids[0])).status == 200, name
        audit.check(page, name)
    # Detail screens, reached from their list's first link.
    for path, link, name in (
            ("/parametres/portails", "/parametres/portails/", "Portail (détail)"),
            ("/parametres/operateurs", "/parametres/operateurs/", "Opérateur (détail)"),
            ("/parametres/operateurs", "/apercu", "Aperçu du résumé"),
            ("/parametres/textes-contractuels", "/parametres/textes-contractuels/",
             "Texte contractuel (détail)"),
            ("/certificats", "/certificats/", "Certificat (détail)")):
        page.goto(base + path)
        page.locator(f"main a[href*='{link}']:not([href$='nouveau'])").first.click()
        page.wait_for_load_state()
        audit.check(page, name)
    assert page.goto(base + "/commandes/999999999").status == 404
    audit.check(page, "Page introuvable")

    generator = new_page()
    log_in_through_the_page(generator, base, site.aet_serial)
    generator.goto(base + "/generation")
    audit.check(generator, "Certificats à générer")
    audit.assert_clean()


def test_every_public_page_passes_axe(new_page, site):
    from workflow import ordering

    audit = Audit()
    page = new_page()
    page.goto(site.instance.url + "/connexion")
    audit.check(page, "Connexion")
    page.goto(site.instance.url + "/commander/bpoi-occitanie")
    audit.check(page, "commande (entreprise)")
    # Sent empty (past the browser's own checks): the page says what is missing, field by field.
    page.evaluate("() => document.querySelectorAll('form').forEach(f => f.noValidate = true)")
    page.get_by_role("button", name="Enregistrer et continuer").click()
    page.wait_for_load_state()
    expect(page.locator("main [aria-invalid='true'], main .error, main [role='alert']").first
           ).to_be_visible()
    audit.check(page, "commande (entreprise, erreurs)")
    links = dict(site.public_links)
    assert set(links) >= {"signature", "activation", "suivi (terminée)", "renouvellement",
                          "révocation", "suivi (brouillon)"}, sorted(links)
    steps = links.pop("commande (étapes)")
    for step in ordering.STEPS:
        assert page.goto(steps + step).status == 200, step
        audit.check(page, f"commande ({step})")
    for name, url in links.items():
        assert page.goto(url).status == 200, name
        audit.check(page, name)
    assert page.goto(site.instance.url + "/suivi/lien-inconnu").status == 404
    audit.check(page, "suivi (lien invalide)")
    audit.assert_clean()


def test_the_audit_reports_a_planted_violation(page, site):
    """The harness itself: an unnamed button planted on the login page is reported."""
    audit = Audit()
    page.goto(site.instance.url + "/connexion")
    page.evaluate("() => document.querySelector('main').append(document.createElement('button'))")
    audit.check(page, "Connexion (bouton planté)")
    assert any(line.startswith("button-name (critical) ") and "Connexion (bouton planté)" in line
               for line in audit.found), audit.found


def test_no_motion_when_the_user_asks_for_reduced_motion(new_page, site):
    """A button given a transition and an animation (through the CSSOM: the CSP allows no
    inline style) moves unless the user asked for reduced motion."""
    durations = """e => { e.style.transition = 'opacity .3s'; e.style.animation = 'pulse 1s infinite';
        const s = getComputedStyle(e); return [s.transitionDuration, s.animationDuration]; }"""
    for motion, expected_still in (("no-preference", False), ("reduce", True)):
        page = new_page(reduced_motion=motion)
        page.goto(site.instance.url + "/connexion")
        transition, animation = page.get_by_role("button", name="Se connecter").evaluate(durations)
        still = transition == "0s" and animation == "0s"
        assert still is expected_still, (motion, transition, animation)
