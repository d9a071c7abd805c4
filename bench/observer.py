"""Poll the management API and the Prometheus endpoints once a second while a scenario runs, the way a
dashboard and a Prometheus scraper do (loadgen.py --observe), and report how the requests fared.

The poller is a process of its own: a thread in the load generator would share its GIL with the
benchmark's own client and slow it down, and the broker would be blamed for it."""

from __future__ import annotations

import base64
import multiprocessing as mp
import time
import urllib.request

PATHS = ("/api/overview", "/api/queues", "/api/connections", "/api/channels")
METRICS = ("/metrics", "/metrics/per-object")


def _ui_tab(base: str, user: str, password: str, stop: mp.Event, out: mp.Queue) -> None:
    """A logged-in browser tab on the UI's overview, which refreshes itself every 5 s (Debian's chromium
    through Playwright; $CHROMIUM names another)."""
    import os
    import shutil

    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("CHROMIUM") or shutil.which("chromium"))
        page = browser.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        started = time.monotonic()
        page.goto(base + "/")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.click("form button[type=submit]")
        page.wait_for_selector("main h1")
        loaded = time.monotonic() - started
        while not stop.wait(0.5):
            page.wait_for_timeout(10)  # let the page's own timers and fetches run
        browser.close()
    out.put((1, len(errors), loaded))


def _poll(urls: list[str], auth: str, interval: float, stop: mp.Event, out: mp.Queue) -> None:
    requests = failures = 0
    slowest = 0.0
    while not stop.wait(interval):
        for url in urls:
            req = urllib.request.Request(url)
            if "/api/" in url:
                req.add_header("Authorization", auth)
            started = time.monotonic()
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    resp.read()
            except OSError:
                failures += 1
            requests += 1
            slowest = max(slowest, time.monotonic() - started)
    out.put((requests, failures, slowest))


class Observer:
    def __init__(self, api_base: str, metrics_base: str, user: str = "guest", password: str = "guest",
                 interval: float = 1.0, ui_tab: bool = False) -> None:
        """ui_tab: instead of polling, keep a browser tab open on amqpd's web UI (api_base's root)."""
        urls = [api_base + p for p in PATHS] + [metrics_base + p for p in METRICS]
        auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        ctx = mp.get_context("spawn")
        self._stop = ctx.Event()
        self._out: mp.Queue = ctx.Queue()
        self.ui_tab = ui_tab
        target, args = ((_ui_tab, (api_base, user, password, self._stop, self._out)) if ui_tab
                        else (_poll, (urls, auth, interval, self._stop, self._out)))
        self._proc = ctx.Process(target=target, args=args, daemon=True)
        self.requests = self.failures = 0
        self.slowest = 0.0

    def __enter__(self) -> Observer:
        self._proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        try:
            self.requests, self.failures, self.slowest = self._out.get(timeout=30)
        finally:
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.kill()

    def summary(self) -> str:
        if self.ui_tab:
            return f"UI tab open: logged in and loaded in {self.slowest * 1000:.0f} ms, {self.failures} page errors"
        return f"observed: {self.requests} requests, {self.failures} failed, slowest {self.slowest * 1000:.0f} ms"
