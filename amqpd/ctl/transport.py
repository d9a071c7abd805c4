"""The client's way to the broker: HTTP over the control socket (or, with -n HOST:PORT, over the
management listener with an administrator's credentials). Standard library only, to start fast."""

from __future__ import annotations

import base64
import http.client
import json
import socket
from pathlib import Path
from typing import Any


class Unreachable(Exception):
    """Nothing answers where the broker should be."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Channel:
    """One broker, reached once per command."""

    def __init__(self, *, socket_path: Path | None = None, address: tuple[str, int] | None = None,
                 credentials: tuple[str, str] | None = None, timeout: float = 60.0, refuse: str | None = None
                 ) -> None:
        self.refuse = refuse  # why the socket's directory is not to be trusted
        self.address = address
        self.credentials = credentials
        if address is not None:
            self.conn: http.client.HTTPConnection = http.client.HTTPConnection(*address, timeout=timeout)
            self.path = "/api/amqpd/ctl"
        else:
            assert socket_path is not None
            self.conn = _UnixConnection(socket_path, timeout)
            self.path = "/ctl"

    def connect(self) -> None:
        if self.refuse is not None:
            raise Unreachable(f"refusing the control socket: {self.refuse}")
        try:
            self.conn.connect()
        except OSError as exc:
            raise Unreachable(str(exc)) from None

    def call(self, command: str, args: dict[str, Any], vhost: str) -> dict[str, Any]:
        body = json.dumps({"command": command, "args": args, "vhost": vhost}).encode()
        headers = {"Content-Type": "application/json"}
        if self.credentials is not None:
            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            headers["Authorization"] = "Basic " + token
        try:
            self.conn.request("POST", self.path, body, headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(str(exc) or type(exc).__name__) from None
        finally:
            self.conn.close()
        if resp.status == 401:
            return {"error": {"code": 77, "text": "Error:\nauthentication failed on the management listener "
                              "(an administrator's --username/--password are needed with -n HOST:PORT)"}}
        try:
            doc = json.loads(raw)
        except ValueError:
            raise Unreachable(f"unexpected answer (HTTP {resp.status})") from None
        if not isinstance(doc, dict) or ("result" not in doc and "error" not in doc):
            raise Unreachable(f"unexpected answer (HTTP {resp.status})")
        return doc
