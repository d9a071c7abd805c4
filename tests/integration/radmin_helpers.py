"""Running Debian's real rabbitmqadmin (RabbitMQ 3.10's single-file Python 3 CLI) against a broker.

The script is found on PATH (Debian's rabbitmq-server ships /usr/bin/rabbitmqadmin), or taken without
root from Debian's rabbitmq-server package (apt-get download + dpkg-deb -x into a cache directory), or
named by $RABBITMQADMIN. When none of that works the tests fail with the reason: a missing client must
never look like a passing suite. Also the checks the rabbitmqadmin tests share: AMQP connections with
pika (passive declares, publishing).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import pytest

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "amqpd-tests" / "rabbitmqadmin"
# Inside the package: Debian's copy first (its shebang is /usr/bin/python3), then the plugin's.
IN_PACKAGE = ("usr/bin/rabbitmqadmin",
              "usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbitmq_management-*/priv/www/cli/rabbitmqadmin")


def _from_debian_package() -> tuple[Path | None, str]:
    cached = CACHE / "rabbitmqadmin"
    if cached.is_file():
        return cached, ""
    apt, dpkg = shutil.which("apt-get"), shutil.which("dpkg-deb")
    if not apt or not dpkg:
        return None, "apt-get or dpkg-deb is not available to fetch Debian's rabbitmq-server package"
    debdir = CACHE / "deb"
    debdir.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run([apt, "download", "rabbitmq-server"], cwd=debdir, capture_output=True, text=True,
                              timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"apt-get download rabbitmq-server failed: {exc!r}"
    debs = sorted(debdir.glob("rabbitmq-server_*.deb"))
    if not debs:
        return None, f"apt-get download rabbitmq-server failed (exit {proc.returncode}): {proc.stderr[-1500:]}"
    root = CACHE / "root"
    shutil.rmtree(root, ignore_errors=True)
    proc = subprocess.run([dpkg, "-x", str(debs[-1]), str(root)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        return None, f"dpkg-deb -x {debs[-1].name} failed: {proc.stderr[-1500:]}"
    try:
        for pattern in IN_PACKAGE:
            for found in sorted(root.glob(pattern)):
                if found.is_file() and not found.is_symlink():
                    shutil.copy(found, cached)
                    cached.chmod(0o755)
                    return cached, ""
        return None, f"{debs[-1].name} contains no rabbitmqadmin at {' or '.join(IN_PACKAGE)}"
    finally:
        shutil.rmtree(root, ignore_errors=True)  # only the script is kept
        shutil.rmtree(debdir, ignore_errors=True)


def locate_rabbitmqadmin() -> Path:
    """The rabbitmqadmin script; fails the test (never skips) when it cannot be found or fetched."""
    named = os.environ.get("RABBITMQADMIN")
    if named:
        if not Path(named).is_file():
            pytest.fail(f"$RABBITMQADMIN={named} is not a file", pytrace=False)
        return Path(named)
    on_path = shutil.which("rabbitmqadmin")
    if on_path:
        return Path(on_path)
    found, why = _from_debian_package()
    if found is None:
        pytest.fail("rabbitmqadmin is not on PATH and could not be taken from Debian's rabbitmq-server "
                    f"package: {why}. Install rabbitmq-server (Debian) or set RABBITMQADMIN to the script.",
                    pytrace=False)
    return found


@dataclass
class Result:
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    @property
    def error(self) -> str:
        """What rabbitmqadmin's die() printed: "*** <reason>" (its trailing newlines dropped)."""
        return self.err.rstrip("\n")

    def json(self) -> Any:
        return json.loads(self.out)

    def rows(self) -> list[list[str]]:
        """-f tsv output without its header row."""
        return [line.split("\t") for line in self.out.splitlines()[1:]]


class Admin:
    """rabbitmqadmin bound to one broker's management API (host, port, user)."""

    def __init__(self, script: Path, port: int, user: str = "guest", password: str = "guest",
                 host: str = "127.0.0.1") -> None:
        self.script, self.port, self.host = script, port, host
        self.user, self.password = user, password

    def as_user(self, user: str, password: str) -> Admin:
        return Admin(self.script, self.port, user, password, self.host)

    def run(self, *args: str, stdin: str | None = None) -> Result:
        # Run with this interpreter: the script is plain Python 3 whatever its shebang says.
        cmd = [sys.executable, str(self.script), "-H", self.host, "-P", str(self.port),
               "-u", self.user, "-p", self.password, *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, stdin: str | None = None) -> Result:
        r = self.run(*args, stdin=stdin)
        assert r.rc == 0, f"rabbitmqadmin {' '.join(args)} -> exit {r.rc}:\n{r.text}"
        return r

    def fails(self, *args: str) -> Result:
        r = self.run(*args)
        assert r.rc != 0, f"rabbitmqadmin {' '.join(args)} succeeded:\n{r.text}"
        return r

    def raw(self, *args: str) -> Any:
        """A list command's answer with -f raw_json, parsed."""
        return self.ok("-f", "raw_json", *args).json()

    def tsv(self, *args: str) -> list[list[str]]:
        return self.ok("-f", "tsv", *args).rows()


def name(prefix: str = "radmin") -> str:
    """Names on a shared RabbitMQ start with radmin- (the tests delete what they create)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def rabbit_sha256_hash(password: str, salt: bytes = b"\x01\x02\x03\x04") -> str:
    """rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password))."""
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def wait_until(probe: Callable[[], Any], timeout: float = 12.0, interval: float = 0.25) -> Any:
    """RabbitMQ's statistics (connections, channels, consumers) appear with a few seconds' delay;
    amqpd's at once. Returns the first truthy value, or the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def http_port(broker) -> int:
    if broker.external:
        return int(os.environ.get("AMQPD_TEST_HTTP_PORT", "15672"))
    assert broker.http_port, "the amqpd under test has no management API"
    return broker.http_port


@contextlib.contextmanager
def channel(broker, vhost: str, user: str = "guest", password: str = "guest"):
    params = broker.pika_params()
    params.virtual_host = vhost
    params.credentials = pika.PlainCredentials(user, password)
    conn = pika.BlockingConnection(params)
    try:
        yield conn.channel()
    finally:
        if conn.is_open:
            conn.close()


def refused(broker, vhost: str, user: str = "guest", password: str = "guest") -> bool:
    """True when an AMQP connection to the vhost is refused (authentication, access or a limit)."""
    try:
        with channel(broker, vhost, user, password):
            return False
    except pika.exceptions.AMQPConnectionError:
        return True


def message_count(broker, vhost: str, queue: str) -> int | None:
    """The queue's ready messages (passive queue.declare), None when it does not exist."""
    with channel(broker, vhost) as ch:
        try:
            return ch.queue_declare(queue, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker as exc:
            assert exc.reply_code == 404, exc
            return None


def exchange_exists(broker, vhost: str, exchange: str) -> bool:
    with channel(broker, vhost) as ch:
        try:
            ch.exchange_declare(exchange, passive=True)
            return True
        except pika.exceptions.ChannelClosedByBroker as exc:
            assert exc.reply_code == 404, exc
            return False


def publish(broker, vhost: str, exchange: str, routing_key: str, count: int = 1) -> None:
    with channel(broker, vhost) as ch:
        ch.confirm_delivery()
        for i in range(count):
            ch.basic_publish(exchange, routing_key, f"m{i}".encode())
