"""Shared fixtures: a real amqpd subprocess on a free port with a temporary data dir.

Set AMQPD_TEST_URL (e.g. amqp://guest:guest@127.0.0.1:5672/%2F) to run the integration tests against an
already running broker instead, such as RabbitMQ 3.10 for a side-by-side comparison. Tests that need a
broker with a special configuration are skipped in that mode only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

EXTERNAL_URL = os.environ.get("AMQPD_TEST_URL")


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int, avoid: tuple[int, ...] = ()) -> list[int]:
    """n distinct free ports, none of them in `avoid`. The sockets stay bound until all are chosen: one at a
    time, the kernel may hand out the same port twice, and a broker restarted on its old AMQP port may get
    that very port for its HTTP API, whose listener then answers the AMQP client (a CI flake)."""
    socks: list[socket.socket] = []
    try:
        ports: list[int] = []
        while len(ports) < n:
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if port not in avoid:
                ports.append(port)
        return ports
    finally:
        for s in socks:
            s.close()


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"amqpd exited early with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5) as s:
                # a connect to a closed port in the ephemeral range can land on its own source port
                if s.getsockname() != s.getpeername():
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


@dataclass
class Broker:
    host: str
    port: int
    data_dir: Path | None = None
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    external: bool = False
    vhost: str = "/"
    http_port: int = 0  # the management HTTP API
    metrics_port: int = 0  # the Prometheus exposition
    extra_args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}/{urllib.parse.quote(self.vhost, safe='')}"

    def pika_params(self, **kw):
        import pika

        kw.setdefault("heartbeat", 0)
        kw.setdefault("blocked_connection_timeout", None)
        return pika.ConnectionParameters(
            host=self.host, port=self.port, virtual_host=self.vhost,
            credentials=pika.PlainCredentials("guest", "guest"), **kw,
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise


def start_amqpd(tmp: Path, conf: str | None = None, port: int | None = None, data_dir: Path | None = None,
                extra_args: list[str] | None = None, env: dict | None = None,
                nofile: tuple[int, int] | None = None, fsize: int | None = None) -> Broker:
    """nofile: the (soft, hard) RLIMIT_NOFILE the broker starts with; fsize: an RLIMIT_FSIZE in bytes (a
    write past it fails with EFBIG, like a full disk, for every file the broker writes)."""
    port = port or free_port()
    data_dir = data_dir or (tmp / "data")
    http_port, metrics_port = free_ports(2, avoid=(port,))
    args = [sys.executable, "-m", "amqpd", "--bind", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data_dir), "--management-port", str(http_port), "--prometheus-port", str(metrics_port)]
    if conf is not None:
        conf_path = tmp / f"amqpd-{uuid.uuid4().hex[:6]}.conf"
        conf_path.write_text(conf)
        args += ["--config", str(conf_path)]
    args += extra_args or []
    log_path = tmp / f"amqpd-{port}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
    def limits() -> None:
        import resource

        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error return, not a killed process
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})},
                            preexec_fn=limits if nofile or fsize else None)
    log.close()
    broker = Broker("127.0.0.1", port, data_dir, proc, log_path, extra_args=extra_args or [], http_port=http_port,
                    metrics_port=metrics_port)
    try:
        wait_for_port("127.0.0.1", port, 20, proc)
    except Exception:
        broker.stop(signal.SIGKILL)
        raise RuntimeError(f"amqpd did not start:\n{broker.log_text()}") from None
    return broker


def external_broker() -> Broker:
    u = urllib.parse.urlparse(EXTERNAL_URL)
    vhost = urllib.parse.unquote(u.path[1:]) if len(u.path) > 1 else "/"
    return Broker(u.hostname or "127.0.0.1", u.port or 5672, external=True, vhost=vhost)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """One amqpd per test module (or the external broker)."""
    if EXTERNAL_URL:
        yield external_broker()
        return
    b = start_amqpd(tmp_path_factory.mktemp("amqpd"))
    yield b
    b.stop()


@pytest.fixture
def broker_factory(tmp_path):
    """Start amqpd instances with a given conf text; all are stopped at the end of the test."""
    if EXTERNAL_URL:
        pytest.skip("needs its own amqpd configuration; not applicable to an external broker")
    started: list[Broker] = []

    def factory(conf: str | None = None, **kw) -> Broker:
        b = start_amqpd(tmp_path, conf=conf, **kw)
        started.append(b)
        return b

    yield factory
    for b in started:
        try:
            b.stop()
        except Exception:
            pass


@pytest.fixture
def uniq():
    """A unique name generator so tests can share one broker."""
    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"
    return make
