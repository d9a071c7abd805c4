"""The pytest plugin (amqpd.testing.plugin) used by this project's own tests: its fixtures directly, then the
sample suite docs/examples/pytest_sample run in a pytest subprocess the way a user would run it.

The plugin is loaded here with ``pytest_plugins`` (a no-op once the installed ``pytest11`` entry point has
loaded it). Everything talks to a real amqpd the plugin starts (once per session) over TCP and HTTP.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pika
import pika.exceptions
import pytest

from amqpd.testing.management import create_isolated_vhost, delete_isolated_vhost

pytest_plugins = ["amqpd.testing.plugin"]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docs" / "examples" / "pytest_sample"
SAMPLE_TESTS = sum(len(re.findall(r"^def test_", p.read_text(), re.M)) for p in SAMPLE.glob("test_*.py"))
PLUGIN_ENV = ("AMQPD_PYTEST_AMQP_URL", "AMQPD_PYTEST_MANAGEMENT_URL", "AMQPD_PYTEST_MANAGEMENT_USER",
              "AMQPD_PYTEST_MANAGEMENT_PASSWORD", "PYTEST_ADDOPTS")

# What the two ordered isolation tests below hand to each other.
_previous: dict[str, str] = {}


def _params(url: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    params.heartbeat = 0
    params.connection_attempts = 1
    return params


# --------------------------------------------------------------------------------------------------
# The fixtures, used directly
# --------------------------------------------------------------------------------------------------


def test_session_broker(amqpd_broker):
    b = amqpd_broker
    assert b.amqp_url.startswith("amqp") and b.management_url.startswith("http")
    assert b.user and b.password and b.host and b.port
    if b.external:
        pytest.skip("an external broker: no process, conf file or data dir of ours")
    assert b.process.poll() is None
    assert b.data_dir.is_dir()
    conf = b.config_file.read_text()
    assert f"listeners.tcp.default = {b.host}:{b.port}" in conf
    assert f"management.tcp.port = {b.management_port}" in conf
    # Other tools find this broker from the conf file alone (its control socket is derived from the path).
    out = subprocess.run([sys.executable, "-m", "amqpd.ctl", "--config", str(b.config_file), "-q", "list_vhosts"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "/" in out.stdout.split()


def test_amqp_url_is_this_tests_vhost_and_user(amqp_url, amqpd_vhost, amqpd_broker):
    u = urlsplit(amqp_url)
    assert (u.hostname, u.port) == (amqpd_broker.host, amqpd_broker.port)
    assert unquote(u.path[1:]) == amqpd_vhost.vhost
    assert (unquote(u.username), unquote(u.password)) == (amqpd_vhost.user, amqpd_vhost.password)
    assert amqpd_vhost.vhost != "/" and amqpd_vhost.user != amqpd_broker.user


def test_pika_connection_publish_consume(pika_connection, amqpd_vhost, amqpd_management):
    ch = pika_connection.channel()
    ch.queue_declare("work")
    for i in range(3):
        ch.basic_publish("", "work", f"m{i}".encode())
    got = []
    for method, _props, body in ch.consume("work", inactivity_timeout=5):
        assert method is not None, "no delivery within 5 s"
        ch.basic_ack(method.delivery_tag)
        got.append(body)
        if len(got) == 3:
            break
    ch.cancel()
    assert got == [b"m0", b"m1", b"m2"]
    # The queue is in this test's vhost, as the management API sees it.
    q = amqpd_management.get(f"/api/queues/{quote(amqpd_vhost.vhost, safe='')}/work")
    assert q is not None and q["vhost"] == amqpd_vhost.vhost


def test_aio_pika_connection_without_pytest_asyncio(aio_pika_connection, amqp_url):
    import aio_pika

    assert aio_pika_connection.url == amqp_url

    async def main() -> list[bytes]:
        async with aio_pika_connection() as conn:
            channel = await conn.channel()
            queue = await channel.declare_queue("aio")
            await channel.default_exchange.publish(aio_pika.Message(b"one"), routing_key="aio")
            first = await queue.get(timeout=5)
            await first.ack()
        conn = await aio_pika_connection.connect()  # the caller closes this form
        try:
            channel = await conn.channel()
            queue = await channel.declare_queue("aio", passive=True)
            await channel.default_exchange.publish(aio_pika.Message(b"two"), routing_key="aio")
            second = await queue.get(timeout=5)
            await second.ack()
        finally:
            await conn.close()
        return [first.body, second.body]

    assert asyncio.run(main()) == [b"one", b"two"]


def test_isolation_first(pika_connection, amqpd_vhost):
    ch = pika_connection.channel()
    ch.queue_declare("shared-name", durable=True)
    ch.basic_publish("", "shared-name", b"left behind", pika.BasicProperties(delivery_mode=2))
    _previous.update(vhost=amqpd_vhost.vhost, user=amqpd_vhost.user, url=amqpd_vhost.url)


def test_isolation_second(pika_connection, amqpd_vhost, amqpd_management):
    if not _previous:
        pytest.skip("runs after test_isolation_first")
    prev = dict(_previous)
    _previous.clear()
    assert amqpd_vhost.vhost != prev["vhost"] and amqpd_vhost.user != prev["user"]
    # The previous test's teardown deleted its vhost and its user.
    assert not amqpd_management.vhost_exists(prev["vhost"])
    assert not amqpd_management.user_exists(prev["user"])
    # Its queue does not exist here ...
    ch = pika_connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.queue_declare("shared-name", passive=True)
    assert exc.value.reply_code == 404
    # ... and its credentials no longer log in.
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(_params(prev["url"]))


def test_user_is_confined_to_its_vhost(amqpd_vhost, amqpd_broker, amqpd_management):
    other = create_isolated_vhost(amqpd_management, amqpd_broker.amqp_url, hint="other")
    try:
        mine = urlsplit(amqpd_vhost.url)
        crossed = mine._replace(path="/" + quote(other.vhost, safe="")).geturl()
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            pika.BlockingConnection(_params(crossed))
        default_vhost = mine._replace(path="/%2F").geturl()
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            pika.BlockingConnection(_params(default_vhost))
        conn = pika.BlockingConnection(_params(other.url))  # the other user gets into its own
        conn.close()
    finally:
        delete_isolated_vhost(amqpd_management, other)
    assert not amqpd_management.vhost_exists(other.vhost)
    assert not amqpd_management.user_exists(other.user)


def test_one_keepalive_connection_for_many_vhosts(amqpd_management, amqpd_broker):
    opened = amqpd_management.connections_opened
    started = time.perf_counter()
    for _ in range(50):
        delete_isolated_vhost(amqpd_management, create_isolated_vhost(amqpd_management, amqpd_broker.amqp_url))
    per_cycle_ms = (time.perf_counter() - started) * 1000 / 50
    assert amqpd_management.connections_opened == opened, "a new HTTP connection was opened"
    # Generous bound (shared CI machines); bench/vhost_fixture_cost.py measures it properly.
    assert per_cycle_ms < 250, per_cycle_ms


# --------------------------------------------------------------------------------------------------
# The sample suite in a pytest subprocess
# --------------------------------------------------------------------------------------------------


def _run_sample(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> tuple[int, str]:
    base = {k: v for k, v in os.environ.items() if k not in PLUGIN_ENV}
    proc = subprocess.run([sys.executable, "-m", "pytest", str(SAMPLE), "-p", "no:cacheprovider", "-q", *args],
                          cwd=ROOT, env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def _assert_all_passed(code: int, out: str) -> None:
    m = re.search(r"(\d+) passed", out)
    assert code == 0 and m and int(m.group(1)) == SAMPLE_TESTS, out
    assert not re.search(r"\d+ (failed|errors?|skipped)", out), out


def _fake_entry_point(where: Path) -> dict[str, str]:
    """PYTHONPATH with a dist-info declaring the pytest11 entry point, as ``pip install`` of amqpd writes it."""
    dist = where / "amqpd_entry_point_probe-0.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: amqpd-entry-point-probe\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[pytest11]\namqpd = amqpd.testing.plugin\n")
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(where), os.environ.get("PYTHONPATH", "")) if p)}


def test_sample_suite_passes_with_zero_setup():
    """``python -m pytest docs/examples/pytest_sample -p amqpd.testing.plugin``: starts its own amqpd."""
    code, out = _run_sample("-p", "amqpd.testing.plugin")
    _assert_all_passed(code, out)


@pytest.mark.parametrize("extra", [[], ["-p", "amqpd.testing.plugin"]], ids=["entry-point", "entry-point+-p"])
def test_sample_suite_with_the_entry_point_installed(tmp_path, extra):
    """Auto-loaded by the pytest11 entry point; ``-p amqpd.testing.plugin`` as well is harmless."""
    code, out = _run_sample(*extra, env=_fake_entry_point(tmp_path))
    _assert_all_passed(code, out)


def test_sample_suite_against_an_external_broker(amqpd_broker):
    """AMQPD_PYTEST_AMQP_URL / _MANAGEMENT_URL name a running broker (here this session's): none is started."""
    b = amqpd_broker
    m = urlsplit(b.management_url)
    management = m._replace(netloc=f"{quote(b.user, safe='')}:{quote(b.password, safe='')}@{m.netloc}").geturl()
    code, out = _run_sample("-p", "amqpd.testing.plugin", "-v",  # -q -v: the header (report line) is shown
                            env={"AMQPD_PYTEST_AMQP_URL": b.amqp_url, "AMQPD_PYTEST_MANAGEMENT_URL": management})
    _assert_all_passed(code, out)
    assert f"amqpd plugin: external broker {b.host}:{b.port}" in out
    if not b.external:
        # The sample's vhosts were made on this broker.
        assert re.search(r"vhost created .*vhost=pytest-test_publish_and_get-[0-9a-f]{8}", b.log_text())
