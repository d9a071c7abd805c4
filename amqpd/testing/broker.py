"""Starting a private amqpd for tests, or describing an external broker (RabbitMQ or amqpd) by its URLs.

``start_amqpd(tmp_dir)`` runs ``python -m amqpd`` on free loopback ports with its data dir, conf file and
log file under ``tmp_dir`` and returns once the broker answers: an AMQP handshake on the AMQP port
(``connection.start`` comes back) and ``200`` from ``GET /api/overview`` on the management port. The
"Server startup complete" log line is not what readiness waits for; it is quoted, with the rest of the
log, when the broker does not come up. ``RunningBroker.stop()`` sends SIGTERM and waits a bounded time
(then SIGKILL).

The conf file (rabbitmq.conf syntax) names the same listeners, ports, data dir and default user as the
command line, so tools given ``--config <file>`` (``amqpctl``, scripts reading the file) find this broker.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from base64 import b64encode
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["AMQPD_USER", "AMQPD_PASSWORD", "BrokerStartError", "RunningBroker", "external_broker", "free_port",
           "start_amqpd"]

AMQPD_USER = "guest"
AMQPD_PASSWORD = "guest"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
STARTUP_LINE = "Server startup complete"

# Variables amqpd reads that would make the broker differ from what its conf file and flags say (another
# default user, another conf file). Log level and format, and the runtime dir, are passed through.
_SCRUBBED_ENV = ("AMQPD_CONFIG_FILE", "AMQPD_BIND", "AMQPD_PORT", "AMQPD_DATA_DIR", "AMQPD_DEFAULT_USER",
                 "AMQPD_DEFAULT_PASS", "AMQPD_MANAGEMENT_PORT", "AMQPD_PROMETHEUS_PORT", "RABBITMQ_DEFAULT_USER",
                 "RABBITMQ_DEFAULT_PASS", "RABBITMQ_DEFAULT_VHOST")


class BrokerStartError(RuntimeError):
    """amqpd exited or did not answer in time; the message carries the end of its log."""


@dataclass
class RunningBroker:
    """Where a broker is and how to log in as its administrator.

    ``amqp_url`` names the default vhost ``/``; ``management_url`` has no credentials and no trailing
    slash (``f"{management_url}/api/overview"``). ``config_file``, ``data_dir``, ``log_file`` and
    ``process`` are set for an amqpd this module started and ``None`` for an external broker.
    """

    host: str
    port: int
    amqp_url: str
    management_url: str
    user: str
    password: str
    config_file: Path | None = None
    data_dir: Path | None = None
    log_file: Path | None = None
    management_port: int = 0
    prometheus_port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def external(self) -> bool:
        return self.process is None

    def log_text(self) -> str:
        if self.log_file is None or not self.log_file.exists():
            return ""
        return self.log_file.read_text(errors="replace")

    def check_alive(self) -> None:
        """Raise BrokerStartError with the log's end if the amqpd process has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise BrokerStartError(f"amqpd exited with {self.process.returncode}\n{_tail(self.log_text())}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then wait at most ``timeout`` seconds before SIGKILL. Returns the exit code."""
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _conf_text(host: str, port: int, data_dir: Path, management_port: int, prometheus_port: int,
               user: str, password: str) -> str:
    return (
        "# Written by amqpd.testing for one test session; the command line repeats these values.\n"
        f"listeners.tcp.default = {host}:{port}\n"
        f"management.tcp.ip = {host}\n"
        f"management.tcp.port = {management_port}\n"
        f"prometheus.tcp.ip = {host}\n"
        f"prometheus.tcp.port = {prometheus_port}\n"
        f'amqpd.data_dir = "{data_dir}"\n'
        f'default_user = "{user}"\n'
        f'default_pass = "{password}"\n'
        "default_vhost = /\n"
    )


def amqp_handshake_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when the port answers the AMQP 0-9-1 protocol header with a method frame (connection.start)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            return s.recv(1)[:1] == b"\x01"
    except OSError:
        return False


def management_ok(host: str, port: int, user: str, password: str, timeout: float = 1.0) -> bool:
    auth = "Basic " + b64encode(f"{user}:{password}".encode()).decode()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/api/overview", headers={"Authorization": auth})
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    # The child imports the same amqpd as this process, installed or not.
    src = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    return env


def start_amqpd(tmp_dir: Path, *, host: str = "127.0.0.1", timeout: float = START_TIMEOUT,
                extra_args: list[str] | None = None) -> RunningBroker:
    """Start ``python -m amqpd`` with everything under ``tmp_dir``; return once it answers (AMQP + HTTP)."""
    tmp_dir = Path(tmp_dir).resolve()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    port, management_port, prometheus_port = free_port(host), free_port(host), free_port(host)
    data_dir = tmp_dir / "data"
    config_file = tmp_dir / "amqpd.conf"
    log_file = tmp_dir / "amqpd.log"
    config_file.write_text(_conf_text(host, port, data_dir, management_port, prometheus_port,
                                      AMQPD_USER, AMQPD_PASSWORD))
    args = [sys.executable, "-m", "amqpd", "--config", str(config_file), "--bind", host, "--port", str(port),
            "--data-dir", str(data_dir), "--management-port", str(management_port),
            "--prometheus-port", str(prometheus_port), *(extra_args or [])]
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=_child_env(), cwd=tmp_dir, start_new_session=True)
    netloc = f"[{host}]" if ":" in host else host
    broker = RunningBroker(
        host=host, port=port, amqp_url=f"amqp://{AMQPD_USER}:{AMQPD_PASSWORD}@{netloc}:{port}/%2F",
        management_url=f"http://{netloc}:{management_port}", user=AMQPD_USER, password=AMQPD_PASSWORD,
        config_file=config_file, data_dir=data_dir, log_file=log_file, management_port=management_port,
        prometheus_port=prometheus_port, process=proc,
    )
    try:
        _wait_ready(broker, timeout)
    except BaseException:
        with contextlib.suppress(Exception):
            proc.kill()
            proc.wait(5)
        raise
    return broker


def _wait_ready(broker: RunningBroker, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    amqp_up = http_up = False
    while True:
        broker.check_alive()
        amqp_up = amqp_up or amqp_handshake_ok(broker.host, broker.port)
        http_up = http_up or (amqp_up and management_ok(broker.host, broker.management_port, broker.user,
                                                        broker.password))
        if amqp_up and http_up:
            return
        if time.monotonic() > deadline:
            log = broker.log_text()
            seen = "logged" if STARTUP_LINE in log else "not logged"
            raise BrokerStartError(
                f"amqpd did not answer within {timeout:.0f}s (AMQP {'up' if amqp_up else 'down'} on "
                f"{broker.port}, management {'up' if http_up else 'down'} on {broker.management_port}, "
                f"{STARTUP_LINE!r} {seen}); log {broker.log_file}:\n{_tail(log)}")
        time.sleep(0.05)


def _credentials(u: urllib.parse.SplitResult) -> tuple[str | None, str | None]:
    user = urllib.parse.unquote(u.username) if u.username is not None else None
    password = urllib.parse.unquote(u.password) if u.password is not None else None
    return user, password


def external_broker(amqp_url: str, management_url: str | None = None, user: str | None = None,
                    password: str | None = None) -> RunningBroker:
    """Describe an already running broker.

    The management URL defaults to ``http://<AMQP host>:15672``. Its credentials come from ``user`` /
    ``password``, else from the management URL, else from the AMQP URL, else guest/guest.
    """
    a = urllib.parse.urlsplit(amqp_url)
    if a.scheme not in ("amqp", "amqps") or not a.hostname:
        raise ValueError(f"not an amqp:// or amqps:// URL with a host: {amqp_url!r}")
    host = a.hostname
    port = a.port or (5671 if a.scheme == "amqps" else 5672)
    netloc = f"[{host}]" if ":" in host else host
    management_url = management_url or f"http://{netloc}:15672"
    m = urllib.parse.urlsplit(management_url)
    if m.scheme not in ("http", "https") or not m.hostname:
        raise ValueError(f"not an http:// or https:// URL with a host: {management_url!r}")
    m_user, m_password = _credentials(m)
    a_user, a_password = _credentials(a)
    user = user or m_user or a_user or "guest"
    password = password or m_password or a_password or "guest"
    m_netloc = (f"[{m.hostname}]" if ":" in m.hostname else m.hostname) + (f":{m.port}" if m.port else "")
    clean_management = urllib.parse.urlunsplit((m.scheme, m_netloc, m.path.rstrip("/"), "", ""))
    return RunningBroker(host=host, port=port, amqp_url=amqp_url, management_url=clean_management,
                         user=user, password=password, management_port=m.port or 0)
