"""Brokers for the interop runners: a private amqpd subprocess, or an external broker named by AMQP_URL."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

# The interpreter that runs amqpd. The runners may run in a venv of their own (the pinned client libraries)
# while amqpd is installed elsewhere, e.g. in the venv of the README's test command.
AMQPD_PYTHON = os.environ.get("AMQPD_PYTHON") or sys.executable
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_loopback_address(port: int) -> str:
    """A 127.0.0.x address (x >= 2) whose `port` is free: for suites that always connect to the default
    AMQP port of their host, next to a broker that may hold 127.0.0.1:5672 (Linux routes all of 127/8)."""
    candidates = [f"127.0.0.{i}" for i in range(2, 255)]
    random.shuffle(candidates)
    for addr in candidates[:40]:
        with socket.socket() as s:
            try:
                s.bind((addr, port))
            except OSError:
                continue
            return addr
    raise RuntimeError(f"no 127.0.0.x address with a free port {port}")


def amqp_handshake_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when something on host:port answers the AMQP 0-9-1 protocol header with a method frame."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            data = s.recv(7)
            return len(data) >= 1 and data[0] == 1  # frame type 1: connection.start
    except OSError:
        return False


def wait_for_amqp(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"amqpd exited early with code {proc.returncode}")
        if amqp_handshake_ok(host, port, 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"no AMQP broker answers on {host}:{port} after {timeout}s")


@dataclass
class BrokerEndpoint:
    host: str
    port: int
    vhost: str = "/"
    user: str = "guest"
    password: str = "guest"

    @property
    def url(self) -> str:
        return (f"amqp://{self.user}:{self.password}@{self.host}:{self.port}/"
                f"{urllib.parse.quote(self.vhost, safe='')}")


def parse_amqp_url(url: str) -> BrokerEndpoint:
    u = urllib.parse.urlparse(url)
    vhost = urllib.parse.unquote(u.path[1:]) if len(u.path) > 1 else "/"
    return BrokerEndpoint(u.hostname or "127.0.0.1", u.port or 5672, vhost,
                          urllib.parse.unquote(u.username or "guest"), urllib.parse.unquote(u.password or "guest"))


class Amqpd:
    """One amqpd process on a fixed port and data dir; can be stopped and started again (a broker restart)."""

    def __init__(self, workdir: Path, name: str = "amqpd", port: int | None = None, host: str = "127.0.0.1",
                 management_port: int = 0):
        self.workdir = workdir
        self.name = name
        self.host = host
        self.port = port or free_port()
        self.management_port = management_port  # 0: no management API
        self.data_dir = workdir / f"{name}-data"
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> BrokerEndpoint:
        return BrokerEndpoint(self.host, self.port)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30) -> None:
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [AMQPD_PYTHON, "-m", "amqpd", "--bind", self.host, "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--management-port", str(self.management_port),
                "--prometheus-port", "0"]
        with open(self.log_path, "ab") as log:
            log.write(f"=== starting: {' '.join(args)}\n".encode())
            log.flush()
            env = dict(os.environ)
            # amqpd runs from the repository under test even when the runner's venv does not have it installed.
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)
        try:
            # A restart right after a stop may find the port briefly unavailable; amqpd then exits and we retry.
            deadline = time.monotonic() + timeout
            while True:
                try:
                    wait_for_amqp(self.host, self.port, max(0.5, deadline - time.monotonic()), self.proc)
                    return
                except RuntimeError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
                    with open(self.log_path, "ab") as log:
                        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        except Exception as exc:
            self.kill()
            raise RuntimeError(f"amqpd did not start ({exc}); log {self.log_path}:\n{self.log_tail()}") from None

    def stop(self, timeout: float = 15) -> int | None:
        """Graceful stop (SIGTERM): amqpd closes every connection with 320 CONNECTION_FORCED and exits."""
        if not self.running:
            return self.proc.returncode if self.proc else None
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""
