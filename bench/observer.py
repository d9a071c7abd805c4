"""Poll the management API and the Prometheus endpoints once a second while a scenario runs, the way a
dashboard and a Prometheus scraper do (loadgen.py --observe), and report how the requests fared."""

from __future__ import annotations

import base64
import threading
import time
import urllib.request

PATHS = ("/api/overview", "/api/queues", "/api/connections", "/api/channels")
METRICS = ("/metrics", "/metrics/per-object")


class Observer:
    def __init__(self, api_base: str, metrics_base: str, user: str = "guest", password: str = "guest",
                 interval: float = 1.0) -> None:
        self.urls = [api_base + p for p in PATHS] + [metrics_base + p for p in METRICS]
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.interval = interval
        self.requests = 0
        self.failures = 0
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Observer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for url in self.urls:
                req = urllib.request.Request(url)
                if "/api/" in url:
                    req.add_header("Authorization", self.auth)
                started = time.monotonic()
                try:
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        resp.read()
                except OSError:
                    self.failures += 1
                self.requests += 1
                self.slowest = max(self.slowest, time.monotonic() - started)

    def summary(self) -> str:
        return f"observed: {self.requests} requests, {self.failures} failed, slowest {self.slowest * 1000:.0f} ms"
