"""A small client for the RabbitMQ management HTTP API over one keep-alive connection, and the per-test
vhost + user that the pytest plugin hands out.

One ``http.client.HTTPConnection`` is reused for every request (HTTP/1.1 keep-alive, TCP_NODELAY), so a
test's five requests (PUT vhost, PUT user, PUT permissions; DELETE vhost, DELETE user) cost five round
trips and no TCP handshakes. A request on a connection the server has meanwhile closed (idle timeout,
broker restart) is retried once on a new one; every request used here is idempotent. Works against
amqpd and RabbitMQ alike (stdlib only).
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import threading
import urllib.parse
from base64 import b64encode
from dataclasses import dataclass
from typing import Any

__all__ = ["IsolatedVhost", "ManagementClient", "ManagementError", "amqp_url_for", "create_isolated_vhost",
           "delete_isolated_vhost"]

_RETRYABLE = (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine,
              http.client.CannotSendRequest, http.client.ResponseNotReady, BrokenPipeError)
FULL_PERMISSIONS = {"configure": ".*", "write": ".*", "read": ".*"}


class ManagementError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        self.method, self.path, self.status, self.body = method, path, status, body
        super().__init__(f"{method} {path}: HTTP {status} {body[:300].decode(errors='replace')}")


def quote(segment: str) -> str:
    """A path segment as the management API wants it: everything escaped, ``/`` included (``%2F``)."""
    return urllib.parse.quote(segment, safe="")


class ManagementClient:
    """``request(method, path, body)`` against ``<url><path>`` with HTTP Basic, over one connection.

    ``url`` is ``http[s]://[user:pass@]host[:port][/prefix]``; explicit ``user``/``password`` win over
    the ones in the URL (default guest/guest). With ``keepalive=False`` every request opens and closes
    its own connection (only there to measure what keep-alive saves). Thread-safe (one lock).
    """

    def __init__(self, url: str, user: str | None = None, password: str | None = None, *,
                 timeout: float = 30.0, keepalive: bool = True) -> None:
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"not an http:// or https:// URL with a host: {url!r}")
        self.scheme, self.host = u.scheme, u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.prefix = u.path.rstrip("/")
        self.user = user or (urllib.parse.unquote(u.username) if u.username else "guest")
        self.password = password or (urllib.parse.unquote(u.password) if u.password else "guest")
        self.timeout, self.keepalive = timeout, keepalive
        token = b64encode(f"{self.user}:{self.password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self.connections_opened = 0

    @property
    def url(self) -> str:
        """The base URL without credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.prefix}"

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=self.timeout)
        conn.connect()
        self.connections_opened += 1
        return conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ManagementClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """Send one request (``body`` is JSON-encoded unless it is bytes); return (status, body bytes)."""
        payload = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        headers = dict(self._headers)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        with self._lock:
            for attempt in (0, 1):
                reused = self._conn is not None
                if self._conn is None:
                    self._conn = self._connect()
                conn = self._conn
                try:
                    conn.request(method, self.prefix + path, body=payload, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except _RETRYABLE:
                    conn.close()
                    self._conn = None
                    if attempt or not reused:
                        raise
                    continue
                except BaseException:
                    conn.close()
                    self._conn = None
                    raise
                if not self.keepalive or resp.will_close:
                    conn.close()
                    self._conn = None
                return resp.status, data
        raise AssertionError("unreachable")

    def _checked(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 204),
                 missing_ok: bool = False) -> tuple[int, bytes]:
        status, data = self.request(method, path, body)
        if status in ok or (missing_ok and status == 404):
            return status, data
        raise ManagementError(method, path, status, data)

    def get(self, path: str) -> Any | None:
        """GET and decode JSON; ``None`` when the object does not exist (404)."""
        status, data = self._checked("GET", path, missing_ok=True)
        return None if status == 404 else json.loads(data)

    def put(self, path: str, body: Any = None) -> int:
        return self._checked("PUT", path, body)[0]

    def post(self, path: str, body: Any = None) -> Any | None:
        status, data = self._checked("POST", path, body)
        return json.loads(data) if data else None

    def delete(self, path: str, missing_ok: bool = True) -> int:
        """DELETE; a 404 counts as done unless ``missing_ok`` is false."""
        return self._checked("DELETE", path, missing_ok=missing_ok)[0]

    # Objects used by the fixtures.

    def vhost_exists(self, vhost: str) -> bool:
        return self.get(f"/api/vhosts/{quote(vhost)}") is not None

    def user_exists(self, user: str) -> bool:
        return self.get(f"/api/users/{quote(user)}") is not None


@dataclass(frozen=True)
class IsolatedVhost:
    """A vhost and a user with full permissions on it (and on nothing else); ``url`` logs in as that user."""

    vhost: str
    user: str
    password: str
    url: str


def amqp_url_for(base_url: str, vhost: str, user: str, password: str) -> str:
    """``base_url`` (scheme, host, port, query kept) with other credentials and vhost."""
    b = urllib.parse.urlsplit(base_url)
    host = b.hostname or "127.0.0.1"
    netloc = (f"[{host}]" if ":" in host else host) + (f":{b.port}" if b.port else "")
    return urllib.parse.urlunsplit((b.scheme or "amqp", f"{quote(user)}:{quote(password)}@{netloc}",
                                    "/" + quote(vhost), b.query, ""))


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def new_name(hint: str = "", prefix: str = "pytest") -> str:
    """``<prefix>-<hint, sanitised, at most 40 chars>-<8 hex>``: unique, and readable in a broker's UI."""
    hint = _UNSAFE.sub("_", hint).strip("_")[:40]
    return "-".join(p for p in (prefix, hint, secrets.token_hex(4)) if p)


def create_isolated_vhost(client: ManagementClient, amqp_base_url: str, hint: str = "",
                          prefix: str = "pytest", tags: str = "") -> IsolatedVhost:
    """PUT a new vhost, a new user (with ``tags``) and the user's full permissions on it.

    The user and the vhost have the same unique name. If a step fails the objects already made are
    deleted before the error propagates.
    """
    name = new_name(hint, prefix)
    password = secrets.token_hex(12)
    q = quote(name)
    done: list[str] = []
    try:
        client.put(f"/api/vhosts/{q}")
        done.append(f"/api/vhosts/{q}")
        client.put(f"/api/users/{q}", {"password": password, "tags": tags})
        done.append(f"/api/users/{q}")
        client.put(f"/api/permissions/{q}/{q}", FULL_PERMISSIONS)
    except BaseException:
        for path in reversed(done):
            try:
                client.delete(path)
            except Exception:  # noqa: S110 - the first error is the one to report
                pass
        raise
    return IsolatedVhost(vhost=name, user=name, password=password,
                         url=amqp_url_for(amqp_base_url, name, name, password))


def delete_isolated_vhost(client: ManagementClient, iv: IsolatedVhost) -> None:
    """DELETE the vhost (closing its connections, dropping its queues) and then the user; 404s are fine."""
    error: BaseException | None = None
    for path in (f"/api/vhosts/{quote(iv.vhost)}", f"/api/users/{quote(iv.user)}"):
        try:
            client.delete(path)
        except Exception as e:
            error = error or e
    if error is not None:
        raise error
