"""Every public page and the operator's Commandes list and order files on a phone: 390 × 844
CSS px, device scale 1, a touch screen (``is_mobile``, ``has_touch``). The screens are those
tests/screens.py walks for axe-core (public pages: login, ordering company step empty and with
its errors, each ordering step of a draft, signing, activation, follow-up of a finished order,
of a draft and of an invalid link, renewal, revocation request; operator: « Contacter le
Service AE », Commandes with and without results, the order file of one order per phase and
sub-state). On each:

(a) **No sideways scrolling.** ``document.documentElement.scrollWidth`` is at most 390 and no
    visible element sticks out of the viewport (left below 0 while its right is on screen, or
    right beyond 390). An element inside a box that clips its overflow sideways (``overflow-x``
    other than ``visible``: a wide table scrolling within itself) is that box's business; an
    element wholly off-screen on the left is an off-screen helper (the skip link) and is left.

(b) **Touch targets of at least 44 × 44 CSS px** (WCAG 2.5.5) for every visible interactive
    element: ``a[href]``, ``button``, ``input`` other than hidden, ``select``, ``textarea``,
    ``summary``, ``[role=button]``. Visible: a box of more than 1 × 1 px (the visually hidden
    pattern is 1 px) with ``visibility: visible``, not wholly off-screen on the left (the
    honeypot field; the skip link until focused — app.css gives it 44 px all the same). A
    checkbox or radio button is measured with its labels (clicking them ticks it): the largest
    box among the control and its visible labels counts. *Inline exception*, precisely: a link
    is exempt when its computed display is ``inline`` and the nearest ancestor whose display is
    not ``inline`` has, outside the link, text with at least one letter or digit — the link sits
    in a sentence; a link alone in a cell, a list item or a paragraph (a flex item is never
    ``inline``), is a target like any other.

(c) **A full-page screenshot** at that size, in pytest's ``tmp_path`` and, when the environment
    variable RADESK_SCREENSHOTS_DIR (or RADESK_SCREENSHOTS) names a folder, copied there to look
    at; its width is 390 px.

Failures list each offending element (a CSS path, its text, its size) with its page.
"""
from __future__ import annotations

import os
import re
import shutil
import unicodedata
from pathlib import Path

import pytest
from PIL import Image

from tests.browser_fixtures import SCREENSHOTS, log_in_through_the_page
from tests.e2e_support import demo_site
from tests.screens import (ORDER_COUNT, admin_screens, demo_screens, order_screens,
                           public_pages)

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 390, 844
PHONE = dict(viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=1,
             is_mobile=True, has_touch=True)
TARGET = 44  # CSS px, WCAG 2.5.5

# Shared by the two checks: is an element shown, and a short CSS path naming it.
_HELPERS = r"""
const shown = e => {
  const r = e.getBoundingClientRect(), s = getComputedStyle(e);
  return r.width > 1 && r.height > 1 && r.right > 0 && s.visibility === 'visible';
};
const name = e => {
  const parts = [];
  for (let n = e; n && n.nodeType === 1 && n !== document.body && parts.length < 4;
       n = n.parentElement) {
    let part = n.tagName.toLowerCase();
    if (n.id) { parts.unshift(part + '#' + n.id); break; }
    part += [...n.classList].map(c => '.' + c).join('');
    parts.unshift(part);
  }
  const text = (e.innerText || e.value || e.getAttribute('aria-label') || '')
    .trim().replace(/\s+/g, ' ').slice(0, 40);
  return parts.join(' > ') + (text ? ` « ${text} »` : '');
};
const size = r => `${Math.round(r.width)} × ${Math.round(r.height)}`;
"""

OVERFLOW = "(width) => {" + _HELPERS + r"""
  const clipped = e => {
    for (let n = e.parentElement; n && n !== document.documentElement; n = n.parentElement)
      if (getComputedStyle(n).overflowX !== 'visible') return true;
    return false;
  };
  const out = [...document.body.querySelectorAll('*')].filter(e => {
    if (!shown(e) || clipped(e)) return false;
    const r = e.getBoundingClientRect();
    return r.right > width + 0.5 || (r.left < -0.5 && r.right > 0);
  });
  // The outermost offenders only: their children stick out with them.
  return {scrollWidth: document.documentElement.scrollWidth,
          offenders: out.filter(e => !out.includes(e.parentElement)).map(e => {
            const r = e.getBoundingClientRect();
            return `${name(e)} de ${Math.round(r.left)} à ${Math.round(r.right)} px`;
          })};
}
"""

TARGETS = "(minimum) => {" + _HELPERS + r"""
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, ' +
                   '[role=button]';
  const textOutside = (node, link) => [...node.childNodes].map(n => n === link ? ''
      : n.contains(link) ? textOutside(n, link) : n.textContent).join(' ');
  const inSentence = a => {
    if (a.tagName !== 'A' || getComputedStyle(a).display !== 'inline') return false;
    let block = a.parentElement;
    while (block && getComputedStyle(block).display === 'inline') block = block.parentElement;
    return !!block && /[\p{L}\p{N}]/u.test(textOutside(block, a));
  };
  const box = e => {
    let best = e.getBoundingClientRect();
    if (e.type === 'checkbox' || e.type === 'radio')
      for (const label of e.labels || [])
        if (shown(label)) {
          const r = label.getBoundingClientRect();
          if (Math.min(r.width, r.height) > Math.min(best.width, best.height)) best = r;
        }
    return best;
  };
  return [...document.querySelectorAll(selector)]
    .filter(e => shown(e) && !inSentence(e))
    .map(e => [e, box(e)])
    .filter(([, r]) => r.width < minimum - 0.5 || r.height < minimum - 0.5)
    .map(([e, r]) => `${name(e)} : ${size(r)} px`);
}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("e2e-phone"), demo_screens,
                   order_count=ORDER_COUNT) as site:
        yield site


class PhoneCheck:
    """What a phone shows wrong, page by page, and the screenshots taken."""

    def __init__(self, folder: Path, prefix: str, *, width: int = WIDTH, targets: bool = True):
        self.folder, self.prefix, self.width, self.check_targets = folder, prefix, width, targets
        self.overflow: list[str] = []
        self.targets: list[str] = []
        self.pages: list[str] = []
        # RADESK_SCREENSHOTS, the other browser tests' folder for pictures, works too.
        self.copies = os.environ.get("RADESK_SCREENSHOTS_DIR") or SCREENSHOTS

    def check(self, page, name: str) -> None:
        page.wait_for_load_state("networkidle")
        self.pages.append(name)
        where = f"page « {name} » ({page.url})"
        found = page.evaluate(OVERFLOW, self.width)
        if found["scrollWidth"] > self.width:
            self.overflow.append(f"{where} : largeur {found['scrollWidth']} px")
        self.overflow += [f"{where} : {offender}" for offender in found["offenders"]]
        if self.check_targets:
            self.targets += [f"{where} : {small}" for small in page.evaluate(TARGETS, TARGET)]
        width = self.screenshot(page, name)
        if width != self.width:
            self.overflow.append(f"{where} : capture d'écran de {width} px de large")

    def screenshot(self, page, name: str) -> int:
        """The full page's picture (copied to RADESK_SCREENSHOTS_DIR if set); its width."""
        plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^A-Za-z0-9]+", "-", plain).strip("-").lower()
        file_name = f"{self.prefix}-{len(self.pages):02d}-{slug}.png"
        path = self.folder / file_name
        page.screenshot(path=str(path), full_page=True)
        if self.copies:
            Path(self.copies).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(self.copies) / file_name)
        with Image.open(path) as image:
            return image.width

    def assert_fits(self) -> None:
        problems = []
        if self.overflow:
            problems.append(f"{len(self.overflow)} débordement(s) à {self.width} px :\n"
                            + "\n".join(self.overflow))
        if self.targets:
            problems.append(f"{len(self.targets)} cible(s) tactile(s) de moins de "
                            f"{TARGET} × {TARGET} px :\n" + "\n".join(self.targets))
        assert not problems, f"sur {len(self.pages)} pages\n" + "\n\n".join(problems)


def test_public_pages_on_a_phone(new_page, site, tmp_path):
    check = PhoneCheck(tmp_path, "public")
    page = new_page(**PHONE)
    for name in public_pages(page, site):
        check.check(page, name)
    check.assert_fits()


def test_operator_list_and_order_files_on_a_phone(new_page, site, tmp_path):
    check = PhoneCheck(tmp_path, "operateur")
    page = new_page(**PHONE)
    log_in_through_the_page(page, site.instance.url, site.serial)
    page.goto(site.instance.url + "/contact")
    check.check(page, "Contacter le Service AE")
    for name in order_screens(page, site):
        check.check(page, name)
    assert sum(name.startswith("dossier") for name in check.pages) >= 3, check.pages
    check.assert_fits()


@pytest.mark.parametrize("width", (WIDTH, 1280))
def test_administration_screens_never_scroll_sideways(new_page, site, tmp_path, width):
    """Administration's screens are desk screens (touch targets are not measured), but neither
    a long certificate subject nor a wide field makes them scroll sideways, on a phone or in a
    1280 px window."""
    check = PhoneCheck(tmp_path, f"admin-{width}", width=width, targets=False)
    page = new_page(**(PHONE if width == WIDTH else {"viewport": {"width": width, "height": 900}}))
    log_in_through_the_page(page, site.instance.url, site.serial)
    for name in admin_screens(page, site):
        check.check(page, name)
    check.assert_fits()


def test_the_check_reports_a_wide_box_and_a_small_button(new_page, site, tmp_path):
    """The harness itself: a box wider than the phone and a 20 px button planted on the login
    page are reported, with their size; a link inside a sentence is not."""
    check = PhoneCheck(tmp_path, "controle")
    page = new_page(**PHONE)
    page.goto(site.instance.url + "/connexion")
    page.evaluate("""() => {
        const main = document.querySelector('main');
        const wide = document.createElement('div'); wide.className = 'planted-wide';
        wide.textContent = 'large'; wide.style.width = '600px';
        const button = document.createElement('button'); button.className = 'planted-small';
        button.textContent = 'x';
        button.style.cssText = 'width:20px;height:20px;min-width:0;min-height:0;padding:0';
        const sentence = document.createElement('p');
        sentence.append('Voir ', Object.assign(document.createElement('a'),
            {href: '#', className: 'planted-inline', textContent: 'les conditions'}), ' ici.');
        main.append(wide, button, sentence);
    }""")
    check.check(page, "Connexion (plantée)")
    assert any("div.planted-wide" in line and "largeur" not in line for line in check.overflow), \
        check.overflow
    assert any("largeur" in line for line in check.overflow), check.overflow
    assert any("capture d'écran de" in line for line in check.overflow), check.overflow
    assert any("button.planted-small" in line and "20 × 20 px" in line
               for line in check.targets), check.targets
    assert not any("planted-inline" in line for line in check.targets), check.targets
    with pytest.raises(AssertionError, match="planted-small"):
        check.assert_fits()
