"""The browser side of the end-to-end tests, in one place: Playwright driving Debian's Chromium
(never `playwright install`), one browser per test module, fresh French-speaking contexts for
each test, and, when a test fails, a screenshot of each page it left open and the end of the
running servers' logs in its report. Loaded by tests/conftest.py as a plugin; the servers the
pages talk to are started by tests/e2e_support.py.

    def test_something(new_page, site):
        page = new_page()                       # or the ``page`` fixture
        log_in_through_the_page(page, site.instance.url, site.serial)
        ...
        assert csp_violations(page) == []
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# A server round trip that renders, signs or generates on a loaded two-core machine.
TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1400, "height": 1000}
SCREENSHOTS = os.environ.get("RADESK_SCREENSHOTS")  # a folder, to look at the pages


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def playwright():
    """Module-scoped, not session-scoped: Playwright's sync API keeps an event loop marked as
    running in this thread, which would break later tests that call asyncio.run()."""
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright):
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                          headless=True)
    yield chromium
    chromium.close()


class OpenedPages:
    """The browser contexts one test opened (one per page: separate cookies, like separate
    people), each page's console kept; all closed after the test."""

    def __init__(self, browser, folder: Path):
        self.browser, self.folder = browser, folder
        self.contexts = []

    def new_page(self, **context_options):
        """A page in a new context: French, 1400×1000, one timeout; ``context_options`` are
        Playwright's (java_script_enabled=False…)."""
        context = self.browser.new_context(**{"locale": "fr-FR", "viewport": VIEWPORT,
                                              **context_options})
        context.set_default_timeout(TIMEOUT_MS)
        console: list[str] = []
        context.on("console", lambda message: console.append(message.text))
        _consoles[id(context)] = console
        self.contexts.append(context)
        return context.new_page()

    def capture(self) -> list[Path]:
        """A screenshot of every page still open, for a failed test."""
        paths = []
        self.folder.mkdir(parents=True, exist_ok=True)
        for number, page in enumerate((p for c in self.contexts for p in c.pages), 1):
            path = self.folder / f"echec-{number}.png"
            try:
                page.screenshot(path=str(path), full_page=True, timeout=5_000)
            except Exception:  # noqa: BLE001 — a crashed page: the other captures still count
                continue
            paths.append(path)
        return paths

    def close(self) -> None:
        for context in self.contexts:
            _consoles.pop(id(context), None)
            with contextlib.suppress(Exception):  # already closed by the test
                context.close()


_consoles: dict[int, list[str]] = {}
_OPENED = pytest.StashKey[OpenedPages]()


def failure_folder(nodeid: str) -> Path:
    """Where a failed test's screenshots go: RADESK_SCREENSHOTS, else a folder of the system's
    temporary directory that pytest's rotation of its own folders does not remove."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid)
    return Path(SCREENSHOTS or Path(tempfile.gettempdir()) / "radesk-echecs") / name


@pytest.fixture
def new_page(browser, request):
    """``new_page(**context_options)``: a fresh page in a context of its own."""
    opened = OpenedPages(browser, failure_folder(request.node.nodeid))
    request.node.stash[_OPENED] = opened
    yield opened.new_page
    opened.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report shows its pages (screenshots) and the end of the servers' logs."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        from tests.e2e_support import ServerProcess
        opened = item.stash.get(_OPENED, None)
        if opened is not None:
            paths = opened.capture()
            if paths:
                report.sections.append(("captures d'écran", "\n".join(map(str, paths))))
        for server in ServerProcess.running:
            report.sections.append((f"journal : {server.name}", server.log_tail()))
    return report


# --- helpers -------------------------------------------------------------------------------

def csp_violations(page) -> list[str]:
    """What the console of ``page``'s context said about the Content Security Policy."""
    return [text for text in _consoles.get(id(page.context), [])
            if "Content Security Policy" in text]


def screenshot(page, name: str, full_page: bool = False) -> None:
    """A picture of the page in RADESK_SCREENSHOTS when that folder is set, to look at."""
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=full_page)


def log_in_through_the_page(page, base_url: str, token_serial: str, pin: str = "1234") -> None:
    """The operator's own gesture: choose the key in « Clé USB », type the PIN, « Se connecter »."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/connexion")
    key_chooser = page.get_by_label("Clé USB")
    expect(key_chooser.locator(f'option[value="{token_serial}"]')).to_have_count(1)
    key_chooser.select_option(token_serial)
    page.get_by_label("Code PIN").fill(pin)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{base_url}/commandes**")


class RequestRecorder:
    """Every request a page makes, to check what reached which server."""

    def __init__(self, page):
        self.requests = []
        page.on("request", self._record)  # Playwright wants a Python callable, not list.append

    def _record(self, request) -> None:
        self.requests.append(request)

    def to(self, base_url: str) -> list:
        return [r for r in self.requests if r.url.startswith(base_url.rstrip("/") + "/")]

    def assert_never_sent(self, secret: str, base_url: str) -> None:
        """No request to ``base_url`` carries ``secret`` as a value: not in its URL, headers,
        JSON body (any key or value) or form body. Values are compared whole, so a base64
        signature or certificate that happens to contain the digits is no false alarm."""
        for request in self.to(base_url):
            sent = _values_sent(request)
            assert secret not in sent, f"{request.method} {request.url} a transmis le secret"
            assert "pin" not in {value.lower() for value in sent}, \
                f"{request.method} {request.url} a transmis un champ « pin »"

    def assert_sent(self, secret: str, base_url: str) -> None:
        """The opposite, to prove the recorder does see what is sent."""
        assert any(secret in _values_sent(r) for r in self.to(base_url)), base_url


def _values_sent(request) -> set[str]:
    parts = urlsplit(request.url)
    values = set(parts.path.split("/"))
    values.update(v for pair in parse_qsl(parts.query, keep_blank_values=True) for v in pair)
    values.update(request.headers.values())
    body = request.post_data or ""
    try:
        values.update(_json_strings(json.loads(body)))
    except ValueError:
        values.update(v for pair in parse_qsl(body, keep_blank_values=True) for v in pair)
        values.add(body)
    return values


def _json_strings(data) -> Iterator[str]:
    """Every key and every scalar value of a JSON document, as text."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from _json_strings(value)
    elif isinstance(data, list):
        for item in data:
            yield from _json_strings(item)
    elif data is not None:
        yield str(data)
