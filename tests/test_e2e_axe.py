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

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser_fixtures import log_in_through_the_page
from tests.e2e_support import demo_site
from tests.screens import ADMIN_SCREENS, ORDER_COUNT, demo_screens, order_screens, public_pages

pytestmark = pytest.mark.browser

BLOCKING = {"serious", "critical"}
# (rule id, page name) → why it is left; page name "*" for every page. Keep it short.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}

_axe = Axe()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-axe"), demo_screens,
                   order_count=ORDER_COUNT) as site:
        yield site


class Audit:
    """The blocking violations found so far, page by page."""

    def __init__(self):
        self.found: list[str] = []
        self.pages: list[str] = []
        self.applied: set[str] = set()  # the rules that had something to check somewhere

    def check(self, page, name: str) -> None:
        page.wait_for_load_state("networkidle")
        results = _axe.run(page).response
        self.pages.append(name)
        self.applied.update(rule["id"] for key in ("passes", "violations")
                            for rule in results[key])
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
        # Colours are checked (rule « color-contrast », impact serious), badges included.
        assert "color-contrast" in self.applied, sorted(self.applied)
        assert not self.found, (f"{len(self.found)} violation(s) axe sur {len(self.pages)} "
                                "pages :\n" + "\n".join(self.found))


def _visit(page, url: str) -> None:
    page.goto(url)


def test_every_operator_screen_passes_axe(new_page, site):
    base = site.instance.url
    audit = Audit()
    page = new_page()
    log_in_through_the_page(page, base, site.serial)
    for name in order_screens(page, site):  # with the list's badges and marks
        audit.check(page, name)
    # The Visionneuse of an order with its pieces, each drawer open in turn.
    page.goto(f"{base}/commandes/{site.order_ids[0]}/visionneuse")
    audit.check(page, "Visionneuse")
    # disclosure.js made each drawer a button over a region: open each in turn.
    drawers = page.locator(".viewer-drawer.disclosure > .disclosure-button")
    assert drawers.count() >= 2, "Visionneuse : tiroirs introuvables"
    for index in range(drawers.count()):
        drawer = drawers.nth(index)
        drawer.click()
        expect(drawer).to_have_attribute("aria-expanded", "true")
        audit.check(page, f"Visionneuse (tiroir {index + 1})")
    document_link = page.locator(".viewer-panel li.document-item a").first
    if document_link.count():
        document_link.click()
        expect(page.locator("#document-view h2, #document-view h3").first).to_be_visible()
        audit.check(page, "Visionneuse (document)")

    for path, name in ADMIN_SCREENS + (("/statistiques", "Statistiques"),
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
    audit = Audit()
    page = new_page()
    for name in public_pages(page, site):
        audit.check(page, name)
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


# Every element and pseudo-element whose computed transition or animation lasts: after htmx's
# request and swap classes are put on every element htmx drives and every disclosure is open.
_MOVING = """() => {
  for (const e of document.querySelectorAll('[hx-get], [hx-post], [hx-trigger], .htmx-indicator'))
    e.classList.add('htmx-request', 'htmx-swapping', 'htmx-settling', 'htmx-added');
  for (const d of document.querySelectorAll('details')) d.open = true;
  const lasts = value => value.split(',').some(part => parseFloat(part) > 0);
  const moving = [];
  for (const e of document.querySelectorAll('*'))
    for (const pseudo of [null, '::before', '::after']) {
      const s = getComputedStyle(e, pseudo);
      if (lasts(s.transitionDuration) || lasts(s.animationDuration))
        moving.push(`${e.tagName.toLowerCase()}.${[...e.classList].join('.')}${pseudo || ''} ` +
                    `${s.transitionDuration} / ${s.animationDuration}`);
    }
  return moving;
}"""


def test_nothing_moves_on_the_real_screens_under_reduced_motion(new_page, site):
    """On the screens with htmx requests (list's live filter, order file's heartbeat,
    Visionneuse's drawers), flash messages and disclosures, with htmx's request and swap
    classes set: no computed transition or animation lasts, pseudo-elements included."""
    page = new_page(reduced_motion="reduce")
    base = site.instance.url
    page.goto(base + "/connexion")
    moving = {"Connexion": page.evaluate(_MOVING)}
    log_in_through_the_page(page, base, site.serial)
    for name, path in (("Commandes", "/commandes"),
                       ("dossier", f"/commandes/{site.order_ids[0]}"),
                       ("Visionneuse", f"/commandes/{site.order_ids[0]}/visionneuse")):
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        moving[name] = page.evaluate(_MOVING)
    page.goto(site.public_links["signature"])
    moving["signature"] = page.evaluate(_MOVING)
    assert not any(moving.values()), {name: found for name, found in moving.items() if found}

    # htmx's own indicator style (its includeIndicatorStyles, switched off in base.html), added
    # to app.css through the CSSOM: it moves, and the check sees it, unless motion is reduced.
    htmx_style = """() => document.styleSheets[0].insertRule(
        '.htmx-request { transition: opacity 200ms ease-in; }', 0)"""
    for motion, still in (("no-preference", False), ("reduce", True)):
        page = new_page(reduced_motion=motion)
        log_in_through_the_page(page, base, site.serial)
        page.wait_for_load_state("networkidle")
        page.evaluate(htmx_style)
        found = page.evaluate(_MOVING)
        assert (found == []) is still, (motion, found)
