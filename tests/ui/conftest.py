"""The management UI in a real browser: Chromium driven by Playwright, against a private amqpd.

tests/ui is a package so this conftest is imported as ``ui.conftest`` and does not take the place of
tests/conftest.py (imported as ``conftest``, which some integration tests import by name).

Chromium is found at $CHROMIUM or as ``chromium`` on PATH (Debian's package; Playwright's own download is
not used). Without it the tests fail, saying so: a UI that was never opened in a browser is not tested.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import start_amqpd, wait_for_port

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "ui"
CONF = "collect_statistics_interval = 500\n"  # rates and charts move within a second
DESKTOP = {"width": 1400, "height": 900}

# The check run on every page: each form control has a <label> (hidden inputs aside).
UNLABELLED_JS = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter((el) => !el.labels || el.labels.length === 0)
  .map((el) => el.outerHTML.slice(0, 120))"""


def find_chromium() -> str | None:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return path if path and os.access(path, os.X_OK) else None


# package scope: Playwright's sync API keeps an event loop running in this thread until it stops, and
# the tests collected after tests/ui (tests/unit) run their own loops.
@pytest.fixture(scope="package")
def browser():
    path = find_chromium()
    if path is None:
        pytest.fail("The UI tests need Chromium and found none: set CHROMIUM=/path/to/chromium or install it "
                    "(Debian: apt-get install chromium). They are not skipped: the UI must be tested in a browser.",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=path)
    except Exception as exc:
        pw.stop()
        pytest.fail(f"Chromium at {path} did not start under Playwright: {exc}", pytrace=False)
    yield b
    b.close()
    pw.stop()


@pytest.fixture(scope="package")
def amqpd(tmp_path_factory):
    """One broker for every UI test (each test uses its own names)."""
    b = start_amqpd(tmp_path_factory.mktemp("ui-amqpd"), conf=CONF)
    wait_for_port("127.0.0.1", b.http_port, 20, b.proc)
    yield b
    b.stop()


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Api:
    """The HTTP API with Basic auth, for setting up and checking what the UI did."""

    def __init__(self, broker, user: str = "guest", password: str = "guest") -> None:
        self.base = f"http://127.0.0.1:{broker.http_port}"
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def call(self, method: str, path: str, body=None, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": self.auth, "Content-Type": "application/json",
                                              **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def get(self, path: str):
        status, doc = self.call("GET", path)
        assert status == 200, (path, status, doc)
        return doc


@pytest.fixture(scope="package")
def api(amqpd):
    return Api(amqpd)


class UI:
    """A browser context and page on the broker's UI that records console errors and page errors."""

    def __init__(self, browser, broker, **context_options) -> None:
        self.base = f"http://127.0.0.1:{broker.http_port}"
        self.context = browser.new_context(viewport=context_options.pop("viewport", DESKTOP), **context_options)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.errors.append(f"console.error: {msg.text} ({msg.location.get('url', '')})")

    def allow(self, pattern: str) -> None:
        """An error the test provokes on purpose (an API refusal shows as a failed request)."""
        self.allowed.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    def assert_clean(self) -> None:
        self.page.wait_for_timeout(100)  # console events arrive asynchronously
        errors = self.unexpected_errors()
        assert not errors, "errors in the browser console:\n" + "\n".join(errors)

    def login(self, user: str = "guest", password: str = "guest") -> None:
        page = self.page
        page.goto(self.base + "/")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.click("form button[type=submit]")
        page.wait_for_selector("#topbar:not([hidden])")
        page.wait_for_selector("main h1")

    def go(self, hash_route: str, heading: str | None = None, wait: bool = True) -> None:
        """Open a route, wait for its heading and its first data, check labels and the console."""
        page = self.page
        count = self.updates()
        url = f"{self.base}/{hash_route}"
        if page.url == url:
            page.reload()  # the same hash would not navigate
            count = 0
        else:
            page.goto(url)
        if heading is not None:
            page.locator("main h1", has_text=heading).first.wait_for()
        else:
            page.wait_for_selector("main h1")
        if wait:
            self.wait_updated(count)
        self.check_labels()
        self.check_text()
        self.assert_clean()

    def updates(self) -> int:
        value = self.page.evaluate("() => document.getElementById('updated')?.dataset.count || '0'")
        return int(value)

    def wait_updated(self, after: int | None = None, timeout: float = 15_000) -> None:
        """Wait until the page has loaded data once more (the status bar counts every load)."""
        after = self.updates() if after is None else after
        self.page.wait_for_function(
            "(n) => Number(document.getElementById('updated')?.dataset.count || 0) > n", arg=after, timeout=timeout)

    def check_labels(self) -> None:
        unlabelled = self.page.evaluate(UNLABELLED_JS)
        assert not unlabelled, "form controls without a <label>:\n" + "\n".join(unlabelled)

    def check_text(self) -> None:
        """No JavaScript value rendered as text by mistake."""
        text = self.page.inner_text("main")
        bad = [line for line in text.splitlines()
               if "[object " in line or "undefined" in line or "NaN" in line or line.strip() == "null"]
        assert not bad, f"values rendered as text on {self.page.url}: {bad}"

    def shot(self, name: str, full_page: bool = True) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def new_ui(browser, amqpd):
    """new_ui(**context_options) -> UI; each is checked for console errors and closed at the end."""
    made: list[UI] = []

    def make(**options) -> UI:
        ui = UI(browser, amqpd, **options)
        made.append(ui)
        return ui

    yield make
    try:
        for ui in made:
            ui.assert_clean()
    finally:
        for ui in made:
            ui.close()


@pytest.fixture
def ui(new_ui):
    """A desktop browser page, logged in as guest (administrator)."""
    u = new_ui()
    u.login()
    return u


@pytest.fixture
def pika_params(amqpd):
    def make(name: str | None = None, user: str = "guest", password: str = "guest"):
        import pika

        props = {"connection_name": name} if name else None
        return pika.ConnectionParameters("127.0.0.1", amqpd.port, credentials=pika.PlainCredentials(user, password),
                                         client_properties=props, heartbeat=0, blocked_connection_timeout=None)
    return make
