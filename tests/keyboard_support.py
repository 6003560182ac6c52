"""Keyboard-only checks for the browser tests: Tab until an element has focus (a bounded number
of presses, so a missing target fails with the path walked), the focus indicator and its place
in the window, where focus lands after an htmx swap, and how often a message is announced."""
from __future__ import annotations

from playwright.sync_api import TimeoutError as PlaywrightTimeout

# The focused element as the operator sees it: its name, its indicator, whether it is in sight.
_FOCUS = """async () => {
  // After the frames in which the browser scrolls the focused element into sight.
  for (let frame = 0; frame < 3; frame++) await new Promise(r => requestAnimationFrame(r));
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const style = getComputedStyle(e), box = e.getBoundingClientRect();
  const label = (e.getAttribute("aria-label") || e.innerText || e.value || "").trim();
  return {
    element: `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""} « ${label.slice(0, 60)} »`,
    focusVisible: e.matches(":focus-visible"),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0,
    shadow: style.boxShadow !== "none",
    inView: box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0
            && box.top < window.innerHeight && box.left < window.innerWidth,
  };
}"""

LIVE = '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"]'


def focused(page) -> dict | None:
    return page.evaluate(_FOCUS)


def assert_focus_visible(page) -> dict:
    """Something has focus, shows an indicator (its outline or shadow while focused: a date
    field whose focus is on a part inside it matches neither :focus nor :focus-visible) and is
    inside the window."""
    state = focused(page)
    assert state is not None, "le focus est sur <body> : perdu"
    assert state["outline"] or state["shadow"], \
        f"focus invisible sur {state['element']} : {state}"
    assert state["inView"], f"{state['element']} a le focus hors de la fenêtre"
    return state


def tab_to(page, target, *, limit: int = 80, backwards: bool = False) -> None:
    """Press Tab (Shift+Tab with ``backwards``) until ``target`` (a Playwright locator, one
    element) has focus, checking at each stop that focus is visible; fail after ``limit``
    presses with the elements walked through."""
    handle = target.element_handle()
    walked = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        walked.append(assert_focus_visible(page)["element"])
        if handle.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"{target} jamais atteint en {limit} appuis sur "
                         f"{'Maj+Tab' if backwards else 'Tab'} : " + " → ".join(walked[-15:]))


def choose_option(page, select, label: str, *, limit: int = 30) -> None:
    """With focus on ``select``, Arrow Down (from the top) until its chosen option reads
    ``label``: the keyboard's way, no click on the list."""
    page.keyboard.press("Home")
    for _ in range(limit):
        if select.evaluate("s => s.selectedOptions[0] && s.selectedOptions[0].textContent.trim()") == label:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"option « {label} » introuvable au clavier dans {select}")


def assert_focus_moved_into(page, region: str) -> None:
    """After a swap: focus is inside ``region`` (a CSS selector), visible, not lost on <body>
    nor left on a removed element. Waits a little: focus moves once htmx has settled."""
    try:
        page.wait_for_function(_INSIDE, arg=region, timeout=5_000)
    except PlaywrightTimeout:
        pass
    assert page.evaluate(_INSIDE, region), f"le focus n'est pas dans {region} : {_where(page)}"
    assert_focus_visible(page)


_INSIDE = """r => { const e = document.activeElement, box = document.querySelector(r);
    return !!(e && e !== document.body && e.isConnected && box && box.contains(e)); }"""


def _where(page) -> str:
    return page.evaluate("""() => { const e = document.activeElement;
        if (!e || e === document.body) return "<body>";
        return `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.isConnected ? "" : " (retiré de la page)"}`; }""")


def assert_focused(page, target, *, timeout_ms: int = 10_000) -> None:
    """``target`` (a locator, one element) has focus; otherwise the message says where focus is
    and the last focus moves the page recorded (``RECORD_FOCUS_MOVES``)."""
    handle = target.element_handle()
    try:
        page.wait_for_function("e => e === document.activeElement", arg=handle, timeout=timeout_ms)
    except PlaywrightTimeout:
        moves = page.evaluate("() => (window.__focusMoves || []).slice(-10)")
        raise AssertionError(f"{target} n'a pas le focus : il est sur {_where(page)} ; "
                             f"derniers déplacements : {moves}") from None


# Install with page.add_init_script before the page loads: each focusin, for failure messages.
RECORD_FOCUS_MOVES = """window.__focusMoves = [];
document.addEventListener("focusin", (event) => {
  const e = event.target;
  window.__focusMoves.push(`${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""} « ${(e.innerText || "").trim().slice(0, 40)} »`);
});"""


def live_regions_saying(page, text: str) -> list[str]:
    """The live regions whose text contains ``text`` (nested ones each counted)."""
    return page.evaluate("""([selector, text]) => Array.from(document.querySelectorAll(selector))
        .filter(e => e.textContent.includes(text))
        .map(e => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}.${e.className}`)""",
                         [LIVE, text])


def assert_announced_once(page, text: str) -> None:
    """``text`` is in exactly one live region, and still one a moment later (no second swap
    re-announced it)."""
    regions = live_regions_saying(page, text)
    assert len(regions) == 1, f"« {text} » dans {len(regions)} régions live : {regions}"
    page.wait_for_timeout(1_200)
    again = live_regions_saying(page, text)
    assert len(again) == 1, f"« {text} » annoncé de nouveau : {again}"
