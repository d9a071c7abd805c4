"""A small HTTP client for the management API (urllib: a real HTTP client over TCP, no test double)."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Api:
    def __init__(self, port: int, user: str = "guest", password: str = "guest", host: str = "127.0.0.1") -> None:
        self.base = f"http://{host}:{port}/api"
        self.user, self.password = user, password

    def as_user(self, user: str, password: str) -> Api:
        api = Api(0, user, password)
        api.base = self.base
        return api

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, text, hdrs = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            status, text, hdrs = exc.code, exc.read(), dict(exc.headers)
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text.decode(errors="replace")
        return Reply(status, parsed, hdrs)

    def get(self, path: str) -> Reply:
        return self.call("GET", path)

    def put(self, path: str, body: Any = None) -> Reply:
        return self.call("PUT", path, body if body is not None else {})

    def post(self, path: str, body: Any = None) -> Reply:
        return self.call("POST", path, body)

    def delete(self, path: str) -> Reply:
        return self.call("DELETE", path)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        r = self.call(method, path, body)
        assert r.status in (200, 201, 204), (method, path, r.status, r.body)
        return r.body


def http(url: str, method: str = "GET", headers: dict | None = None,
         data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """One plain HTTP request: (status, headers, body), error statuses included."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def q(name: str) -> str:
    """A path segment as RabbitMQ's API expects it (%2F for the default vhost)."""
    return urllib.parse.quote(name, safe="")


def wait_for(predicate, timeout: float = 10.0):
    """Poll predicate until it is truthy (statistics are sampled, not pushed); its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()
