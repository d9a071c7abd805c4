"""A stand-in for the Docker Engine API, so the aio-pika and aiormq suites run unchanged.

Their fixtures start a RabbitMQ container through `tests/docker_client.py`, which talks to the daemon
named by DOCKER_HOST. The runner serves this small subset of the API on a unix socket and points
DOCKER_HOST at it; a "container" is:

- in amqpd mode, a fresh amqpd (own data dir, free port) -- stop/kill/start and `rabbitmqctl
  stop_app|start_app` (exec) stop and start that process on the same port and data dir, which is what a
  broker restart looks like to a client;
- in external mode (AMQP_URL), the external broker. It is shared, so the harness refuses to stop it:
  container stop/kill/exec answer 409 and the tests that need a restart fail (recorded in the baseline).

Every container also gets a TLS terminator for its 5671/tcp port (see tlsproxy.py).
"""

from __future__ import annotations

import itertools
import json
import os
import socketserver
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from .broker import Amqpd, BrokerEndpoint
from .tlsproxy import TLSProxy


@dataclass
class Container:
    id: str
    image: str
    ports: list[str]
    broker: Amqpd | None  # None: the external broker
    external: BrokerEndpoint | None
    tls: TLSProxy | None = None
    running: bool = False
    log: list[str] = field(default_factory=list)

    def plain_port(self) -> int:
        if self.broker is not None:
            return self.broker.port
        assert self.external is not None
        return self.external.port

    def target(self) -> tuple[str, int] | None:
        if self.broker is not None:
            return ("127.0.0.1", self.broker.port) if self.broker.running else None
        assert self.external is not None
        return (self.external.host, self.external.port)


@dataclass
class Exec:
    id: str
    container: Container
    cmd: list[str]
    running: bool = False
    exit_code: int | None = None
    output: str = ""


class FakeDocker:
    def __init__(self, workdir: Path, external: BrokerEndpoint | None, certfile: Path, keyfile: Path,
                 cafile: Path | None = None):
        self.workdir = workdir
        self.external = external
        self.certfile, self.keyfile, self.cafile = certfile, keyfile, cafile
        self.containers: dict[str, Container] = {}
        self.execs: dict[str, Exec] = {}
        self.events: list[str] = []
        self._seq = itertools.count(1)
        self._lock = threading.RLock()
        self.socket_path = workdir / "docker.sock"
        workdir.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            self.socket_path.unlink()
        handler = type("Handler", (_Handler,), {"docker": self})
        self.server = _UnixHTTPServer(str(self.socket_path), handler)
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-docker", daemon=True)
        self._thread.start()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket_path}"

    def log(self, msg: str) -> None:
        self.events.append(msg)

    # --- API operations -------------------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> Container:
        with self._lock:
            n = next(self._seq)
            cid = uuid.uuid4().hex
            ports = list((body.get("ExposedPorts") or {}).keys())
            broker = None if self.external else Amqpd(self.workdir, name=f"amqpd-c{n}")
            c = Container(cid, body.get("Image", "?"), ports, broker, self.external)
            if "5671/tcp" in ports:
                c.tls = TLSProxy(self.certfile, self.keyfile, c.target, self.cafile)
            self.containers[cid] = c
            self.log(f"create {cid[:12]} image={c.image} ports={ports} "
                     f"{'external ' + self.external.url if self.external else 'amqpd port ' + str(broker.port)}")
            return c

    def start(self, c: Container) -> None:
        if c.broker is not None:
            c.broker.start()
        c.running = True
        self.log(f"start {c.id[:12]}")

    def stop(self, c: Container, kill: bool) -> None:
        if c.broker is None:
            # Cleanup of a "container" that is the shared broker: nothing to stop. A test that needs the
            # broker to go away then fails on its own (and is listed in interop/baseline).
            self.log(f"{'kill' if kill else 'stop'} {c.id[:12]}: not done, the external broker is shared")
            return
        if kill:
            c.broker.kill()
        else:
            c.broker.stop()
        c.running = False
        self.log(f"{'kill' if kill else 'stop'} {c.id[:12]}")

    def remove(self, c: Container) -> None:
        if c.broker is not None:
            c.broker.kill()
        if c.tls is not None:
            c.tls.close()
        self.containers.pop(c.id, None)
        self.log(f"remove {c.id[:12]}")

    def inspect(self, c: Container) -> dict[str, Any]:
        ports: dict[str, list[dict[str, str]]] = {}
        for p in c.ports:
            if p == "5672/tcp":
                ports[p] = [{"HostIp": "127.0.0.1", "HostPort": str(c.plain_port())}]
            elif p == "5671/tcp" and c.tls is not None:
                ports[p] = [{"HostIp": "127.0.0.1", "HostPort": str(c.tls.port)}]
            else:
                ports[p] = []  # e.g. the management ports: not provided
        return {"Id": c.id, "Image": c.image, "State": {"Running": c.running, "Status":
                "running" if c.running else "exited"}, "NetworkSettings": {"Ports": ports}}

    def run_exec(self, e: Exec) -> None:
        c = e.container
        e.running = True
        try:
            if c.broker is None:
                e.exit_code, e.output = 1, "the interop harness does not run rabbitmqctl on the shared broker"
            elif e.cmd[:1] == ["rabbitmqctl"] and e.cmd[1:] == ["stop_app"]:
                c.broker.stop()
                e.exit_code = 0
            elif e.cmd[:1] == ["rabbitmqctl"] and e.cmd[1:] == ["start_app"]:
                c.broker.start()
                e.exit_code = 0
            else:
                e.exit_code, e.output = 127, f"not emulated: {e.cmd}"
        except Exception as exc:  # pragma: no cover - reported through the API
            e.exit_code, e.output = 1, repr(exc)
        finally:
            e.running = False
            self.log(f"exec {e.cmd} in {c.id[:12]} -> {e.exit_code} {e.output}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for c in list(self.containers.values()):
            try:
                self.remove(c)
            except Exception:
                pass
        try:
            os.unlink(self.socket_path)
        except OSError:
            pass

    def broker_logs(self) -> list[Path]:
        return sorted(self.workdir.glob("amqpd-c*.log"))


class _ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    docker: FakeDocker
    protocol_version = "HTTP/1.0"

    def address_string(self) -> str:  # unix sockets have no (host, port)
        return "docker.sock"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else {}

    def _reply(self, status: int, payload: Any = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on the answer (e.g. it only wanted the side effect)

    def _container(self, cid: str) -> Container:
        c = self.docker.containers.get(cid)
        if c is None:
            raise _ApiError(404, f"No such container: {cid}")
        return c

    def _dispatch(self, method: str) -> None:
        d = self.docker
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts and parts[0].startswith("v1."):  # versioned API paths
            parts = parts[1:]
        try:
            body = self._body()
            if method == "GET" and parts == ["_ping"]:
                return self._reply(200, "OK")
            if method == "POST" and parts == ["images", "create"]:
                image = parse_qs(url.query).get("fromImage", ["?"])[0]
                return self._reply(200, {"status": f"image {image}: not pulled, the interop harness emulates it"})
            if method == "POST" and parts == ["containers", "create"]:
                return self._reply(201, {"Id": d.create(body).id, "Warnings": []})
            if len(parts) >= 2 and parts[0] == "containers":
                c = self._container(parts[1])
                action = parts[2] if len(parts) > 2 else None
                if method == "DELETE" and action is None:
                    d.remove(c)
                    return self._reply(204)
                if method == "GET" and action == "json":
                    return self._reply(200, d.inspect(c))
                if method == "POST" and action == "start":
                    try:
                        d.start(c)
                    except RuntimeError as exc:
                        raise _ApiError(500, str(exc)) from None
                    return self._reply(204)
                if method == "POST" and action in ("stop", "kill"):
                    d.stop(c, kill=action == "kill")
                    return self._reply(204)
                if method == "POST" and action == "exec":
                    e = Exec(uuid.uuid4().hex, c, list(body.get("Cmd") or []))
                    d.execs[e.id] = e
                    return self._reply(201, {"Id": e.id})
            if len(parts) >= 3 and parts[0] == "exec":
                e = d.execs.get(parts[1])
                if e is None:
                    raise _ApiError(404, f"No such exec instance: {parts[1]}")
                if method == "POST" and parts[2] == "start":
                    e.running = True
                    threading.Thread(target=d.run_exec, args=(e,), daemon=True).start()
                    return self._reply(200)
                if method == "GET" and parts[2] == "json":
                    return self._reply(200, {"ID": e.id, "Running": e.running, "ExitCode": e.exit_code,
                                             "Output": e.output})
            raise _ApiError(404, f"not emulated: {method} {self.path}")
        except _ApiError as exc:
            d.log(f"{method} {self.path} -> {exc.status} {exc}")
            self._reply(exc.status, {"message": str(exc)})

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")
