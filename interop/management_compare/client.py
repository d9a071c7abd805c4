"""The two real clients the scenario drives: HTTP (urllib, one request per call, no retries hidden from
the scenario) and AMQP (pika BlockingConnection), plus the run context the steps share."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pika

# Passwords of the users the scenario creates; every name starts with cmp- so that a shared broker's
# other objects are never touched.
PASSWORDS = {
    "cmp-admin": "cmp-admin-pw",
    "cmp-mgmt": "cmp-mgmt-pw",
    "cmp-mon": "cmp-mon-pw",
    "cmp-pol": "cmp-pol-pw",
    "cmp-none": "cmp-none-pw",
    "cmp-amqp": "cmp-amqp-pw",
    "cmp-hash": "cmp-hash-pw",
}


@dataclass
class Reply:
    status: int
    body: Any          # parsed JSON, "" for an empty body, or the text when it is not JSON
    kind: str          # "empty", "json" or "text"
    headers: dict[str, str]


class Http:
    def __init__(self, url: str, user: str, password: str, timeout: float = 15) -> None:
        self.base = url.rstrip("/") + "/api"
        self.admin = (user, password)
        self.timeout = timeout

    def credentials(self, who: Any) -> tuple[str, str] | None:
        """who: "admin" (the command line's user), a cmp- user name, None (no Authorization header) or
        an explicit (user, password) pair."""
        if who is None:
            return None
        if who == "admin":
            return self.admin
        if isinstance(who, tuple):
            return who
        return who, PASSWORDS[who]

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None, who: Any = "admin",
             headers: dict[str, str] | None = None) -> Reply:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        creds = self.credentials(who)
        if creds is not None:
            token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, text, hdrs = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as exc:
            status, text, hdrs = exc.code, exc.read(), exc.headers
        lowered = {k.lower(): v for k, v in hdrs.items()}
        if not text:
            return Reply(status, "", "empty", lowered)
        try:
            return Reply(status, json.loads(text), "json", lowered)
        except ValueError:
            return Reply(status, text.decode(errors="replace"), "text", lowered)


@dataclass
class Context:
    """What steps share: the clients, values saved by earlier steps ({name} in paths) and open AMQP
    connections by label."""

    http: Http
    amqp_host: str
    amqp_port: int
    saved: dict[str, Any] = field(default_factory=dict)
    connections: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, Any] = field(default_factory=dict)

    def connect(self, label: str, user: str, vhost: str, name: str | None = None) -> Any:
        props = {"connection_name": name} if name else None
        params = pika.ConnectionParameters(
            host=self.amqp_host, port=self.amqp_port, virtual_host=vhost,
            credentials=pika.PlainCredentials(user, PASSWORDS[user]), heartbeat=0,
            blocked_connection_timeout=None, client_properties=props,
            connection_attempts=1, socket_timeout=5)
        conn = pika.BlockingConnection(params)
        self.connections[label] = conn
        return conn

    def channel(self, label: str, conn_label: str) -> Any:
        ch = self.connections[conn_label].channel()
        self.channels[label] = ch
        return ch

    def close_all(self) -> None:
        for conn in self.connections.values():
            try:
                if conn.is_open:
                    conn.close()
            except Exception:  # noqa: BLE001 - the broker may have closed it already
                pass
        self.connections.clear()
        self.channels.clear()


def seg(name: str) -> str:
    """A path segment as RabbitMQ's API expects it (%2F for the default vhost)."""
    return urllib.parse.quote(name, safe="")
