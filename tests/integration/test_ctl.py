"""amqpctl against a real amqpd: finding the broker from its conf file, the listing and queue commands,
node status and health checks, help. Users, vhosts, permissions: test_ctl_access.py; policies and
definitions: test_ctl_policies_definitions.py; the comparison with rabbitmqctl: test_ctl_compare.py."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import time

import pika
import pytest
from conftest import free_port, start_amqpd
from ctl_helpers import amqpctl, check, conf_of, ctl_for, module_broker
from helpers import close_quietly, drain, wait_count

pytestmark = pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd")


@pytest.fixture(scope="module")
def b(tmp_path_factory):
    yield from module_broker(tmp_path_factory, "ctl")


@pytest.fixture
def ctl(b):
    return ctl_for(b)


@pytest.fixture
def conn(b):
    c = pika.BlockingConnection(b.pika_params())
    yield c
    close_quietly(c)


def test_ping_and_health_checks(ctl, b):
    r = ctl("ping")
    assert r.code == 0 and r.lines[-1] == "Ping succeeded", r
    assert r.lines[0].startswith("Will ping amqpd@"), r
    r = ctl("-q", "ping")
    assert (r.code, r.out) == (0, "Ping succeeded\n"), r
    r = ctl("check_running")
    assert r.code == 0 and "is fully booted and running" in r.lines[-1], r
    r = ctl("check_port_connectivity")
    assert r.code == 0, r
    assert f"{b.port}" in r.lines[-1] and f"{b.http_port}" in r.lines[-1] and r.lines[-1].startswith(
        "Successfully connected to ports"), r
    r = ctl("check_local_alarms")
    assert r.code == 0 and r.lines[-1].endswith("reported no local alarms"), r
    r = ctl("check_virtual_hosts")
    assert r.code == 0 and r.lines[-1].endswith("reported all vhosts as running"), r
    r = ctl("alarms", "--formatter", "json")
    assert r.code == 0 and json.loads(r.out)["message"].endswith("reported no alarms, local or clusterwide"), r


def test_listeners_name_every_port(ctl, b):
    r = ctl("-q", "listeners")
    assert r.code == 0, r
    assert f"Interface: 127.0.0.1, port: {b.port}, protocol: amqp, purpose: AMQP 0-9-1" in r.lines, r
    assert any(f"port: {b.http_port}, protocol: http," in ln for ln in r.lines), r
    assert any(f"port: {b.metrics_port}, protocol: http/prometheus," in ln for ln in r.lines), r
    doc = json.loads(ctl("listeners", "--formatter", "json").out)
    assert doc["result"] == "ok" and {x["port"] for x in doc["listeners"]} == {b.port, b.http_port, b.metrics_port}


def test_found_from_the_conf_file_alone_even_with_ports_on_the_command_line(tmp_path):
    """The broker got its port and data dir as flags; amqpctl knows only the conf file (by flag or by
    $AMQPD_CONFIG_FILE, as amqpd looks for it)."""
    conf = tmp_path / "only.conf"
    conf.write_text("heartbeat = 0\n")
    port = free_port()
    broker = start_amqpd(tmp_path, port=port, extra_args=["--config", str(conf)])
    try:
        r = amqpctl("-q", "listeners", conf=conf)
        assert r.code == 0 and f"port: {port}, protocol: amqp" in r.out, r
        r = amqpctl("-q", "ping", env={"AMQPD_CONFIG_FILE": str(conf)})
        assert r.code == 0, r
        # the socket is this user's only: 0600 in a 0700 directory
        from amqpd.ctl.locate import control_socket

        path = control_socket(conf)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        # a second broker started with the same file keeps running without the socket, and says so
        (tmp_path / "second").mkdir()
        other = start_amqpd(tmp_path / "second", extra_args=["--config", str(conf)])
        try:
            deadline = time.monotonic() + 5
            while "control socket in use" not in other.log_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "control socket in use" in other.log_text()
            r = amqpctl("-q", "listeners", conf=conf)
            assert f"port: {port}," in r.out and f"port: {other.port}," not in r.out, r
        finally:
            other.stop()
        # killed without a chance to clean up: the next broker takes the stale socket over
        broker.stop(signal.SIGKILL)
        assert path.exists()
        r = amqpctl("-q", "ping", conf=conf)
        assert r.code == 69 and r.seconds < 5, r
        (tmp_path / "third").mkdir()
        broker = start_amqpd(tmp_path / "third", extra_args=["--config", str(conf)])
        deadline = time.monotonic() + 5
        while amqpctl("-q", "ping", conf=conf).code != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        r = amqpctl("-q", "listeners", conf=conf)
        assert f"port: {broker.port}, protocol: amqp" in r.out, r
    finally:
        broker.stop()
    assert not path.exists(), "a clean stop removes the socket"


def test_broker_down(tmp_path):
    conf = tmp_path / "nobody.conf"
    conf.write_text("")
    r = amqpctl("-q", "ping", conf=conf)
    assert r.code == 69 and r.seconds < 5, r
    assert r.err.startswith("Error:\nFailed to connect and authenticate to amqpd@"), r
    assert r.out == ""
    r = amqpctl("list_queues", conf=conf)
    assert r.code == 69 and r.out == "", r
    assert r.err.startswith("Error: unable to perform an operation on node 'amqpd@"), r
    assert str(conf) in r.err, "the diagnostics name the conf file that was used"


def test_usage_errors_exit_64(ctl):
    r = ctl("no_such_command")
    assert r.code == 64 and "Command 'no_such_command' not found." in r.err, r
    assert "list_queues" in r.err, "the usage lists the commands"
    r = ctl("list_queues", "bogus")
    assert r.code == 64 and r.err.startswith("Error (argument validation): Info key(s) bogus are not supported"), r
    r = ctl("purge_queue")
    assert r.code == 64 and r.err.startswith("Error (argument validation)"), r
    r = ctl("--formatter", "yaml", "list_queues")
    assert r.code == 64, r


def test_list_queues_formats(ctl, conn, uniq):
    ch = conn.channel()
    name = uniq("lq")
    ch.queue_declare(name, durable=True, arguments={"x-max-length": 10, "x-queue-type": "classic"})
    for _ in range(3):
        ch.basic_publish("", name, b"m")
    wait_count(ch, name, 3)
    r = ctl("list_queues")
    assert r.code == 0, r
    assert r.lines[:3] == ["Timeout: 60.0 seconds ...", "Listing queues for vhost / ...", "name\tmessages"], r
    assert f"{name}\t3" in r.lines
    r = ctl("-q", "list_queues", "name", "messages_ready", "durable", "arguments", "type", "state")
    assert r.lines[0] == "name\tmessages_ready\tdurable\targuments\ttype\tstate", r
    row = next(ln for ln in r.lines if ln.startswith(name + "\t"))
    assert row == f'{name}\t3\ttrue\t[{{"x-max-length",10}}, {{"x-queue-type","classic"}}]\tclassic\trunning', row
    r = ctl("list_queues", "--no-table-headers")
    assert r.lines[:2] == ["Timeout: 60.0 seconds ...", "Listing queues for vhost / ..."] and "name\tmessages" not in r.lines
    r = ctl("-s", "list_queues")
    assert r.lines and not r.lines[0].startswith(("Timeout", "Listing", "name\t")), r
    r = ctl("list_queues", "name,messages,consumers", "--formatter", "json")
    rows = json.loads(r.out)
    assert r.out.startswith("[\n{") and r.out.endswith("}\n]\n"), r.out
    assert {"name": name, "messages": 3, "consumers": 0} in rows
    r = ctl("list_queues", "-p", "no-such-vhost")
    assert r.code == 0 and r.lines == ["Timeout: 60.0 seconds ...", "Listing queues for vhost no-such-vhost ..."], r


def test_listing_commands(ctl, conn, uniq):
    ch = conn.channel()
    q, ex = uniq("lc"), uniq("ex")
    ch.queue_declare(q)
    ch.exchange_declare(ex, "topic", durable=True)
    ch.queue_bind(q, ex, "a.#", arguments={"k": "v"})
    ch.basic_qos(prefetch_count=7)
    tag = ch.basic_consume(q, lambda *a: None)
    r = ctl("list_exchanges", "name", "type", "durable", "internal")
    assert r.lines[0] == "Listing exchanges for vhost / ...", r
    assert f"{ex}\ttopic\ttrue\tfalse" in r.lines and "amq.direct\tdirect\ttrue\tfalse" in r.lines, r
    r = ctl("list_bindings")
    assert r.lines[:2] == ["Listing bindings for vhost /...",
                           "source_name\tsource_kind\tdestination_name\tdestination_kind\trouting_key\targuments"], r
    assert f'{ex}\texchange\t{q}\tqueue\ta.#\t[{{"k","v"}}]' in r.lines and f"\texchange\t{q}\tqueue\t{q}\t[]" in r.lines
    r = ctl("list_consumers", "--formatter", "json")
    mine = [c for c in json.loads(r.out) if c["queue_name"] == q]
    assert len(mine) == 1 and mine[0]["consumer_tag"] == tag and mine[0]["prefetch_count"] == 7, r.out
    assert mine[0]["ack_required"] is True and mine[0]["channel_pid"].startswith("<amqpd@")
    r = ctl("-q", "list_channels", "pid", "consumer_count", "prefetch_count", "user")
    assert any(ln.endswith("\t1\t7\tguest") for ln in r.lines), r
    r = ctl("-q", "list_connections", "pid", "user", "peer_port", "state", "vhost")
    port = conn._impl.socket.getsockname()[1] if hasattr(conn._impl, "socket") else None
    rows = [ln.split("\t") for ln in r.lines[1:]]
    assert any(row[1] == "guest" and row[3] == "running" and row[4] == "/" for row in rows), r
    if port is not None:
        assert any(row[2] == str(port) for row in rows), r


def test_purge_and_delete_queue(ctl, conn, uniq):
    ch = conn.channel()
    name = uniq("pd")
    ch.queue_declare(name)
    for _ in range(4):
        ch.basic_publish("", name, b"x")
    wait_count(ch, name, 4)
    r = ctl("purge_queue", name)
    assert (r.code, r.lines) == (0, [f"Purging queue '{name}' in vhost '/' ..."]), r
    assert wait_count(ch, name, 0) == 0
    r = ctl("purge_queue", "no-such-queue")
    assert (r.code, r.err) == (69, "Error:\nnot_found\n"), r
    r = ctl("delete_queue", "no-such-queue")
    assert (r.code, r.err, r.lines) == (64, "Error:\nQueue not found\n",
                                        ["Deleting queue 'no-such-queue' on vhost '/' ..."]), r
    ch.basic_publish("", name, b"x")
    wait_count(ch, name, 1)
    r = ctl("delete_queue", name, "--if-empty")
    assert (r.code, r.err) == (64, "Error:\nQueue is not empty\n"), r
    r = ctl("delete_queue", name)
    assert (r.code, r.lines[-1]) == (0, "Queue was successfully deleted with 1 ready messages"), r
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        ch.queue_declare(name, passive=True)


def test_close_connections(ctl, b):
    victim = pika.BlockingConnection(b.pika_params(client_properties={"connection_name": "victim"}))
    try:
        rows = json.loads(ctl("list_connections", "pid", "client_properties", "--formatter", "json").out)
        pid = next(r["pid"] for r in rows if ["connection_name", "longstr", "victim"] in r["client_properties"])
        r = ctl("close_connection", pid, "go away")
        assert r.code == 0 and r.lines == [f"Closing connection {pid}, reason: go away..."], r
        closed = []
        victim.add_on_connection_blocked_callback(lambda *a: None)
        try:
            drain(victim, lambda: not victim.is_open, timeout=5)
        except pika.exceptions.ConnectionClosedByBroker as exc:
            closed.append(exc)
        assert closed and closed[0].reply_code == 320 and closed[0].reply_text == "CONNECTION_FORCED - go away"
    finally:
        close_quietly(victim)
    r = ctl("close_connection", "nope", "x")
    assert r.code == 69 and "invalid_pid_syntax" in r.err, r
    others = [pika.BlockingConnection(b.pika_params()) for _ in range(2)]
    try:
        r = ctl("close_all_connections", "maintenance")
        assert r.code == 0 and r.lines[-1] == "Closed 2 connections", r
    finally:
        for c in others:
            close_quietly(c)


def test_peek_and_move_messages(ctl, conn, uniq):
    ch = conn.channel()
    src, dst = uniq("dlq"), uniq("work")
    ch.queue_declare(src)
    ch.queue_declare(dst)
    for i in range(5):
        ch.basic_publish("", src, f"m{i}".encode(), pika.BasicProperties(headers={"n": i % 2}))
    wait_count(ch, src, 5)
    r = ctl("-q", "peek_queue", src, "2")
    assert r.code == 0 and r.lines[0] == "exchange\trouting_key\tredelivered\tpayload_bytes\tpayload_encoding\tpayload"
    assert [ln.split("\t")[-1] for ln in r.lines[1:]] == ["m0", "m1"], r
    assert wait_count(ch, src, 5) == 5, "peeking leaves the messages"
    r = ctl("move_messages", src, dst, "--count", "2", "--formatter", "json")
    assert r.code == 0 and json.loads(r.out) == {"moved": 2, "remaining": 3, "unroutable": 0, "refused": 0}, r
    r = ctl("move_messages", src, dst, "--match-header", "n=1")
    assert r.code == 0 and r.lines[-1].startswith("Moved 1 messages"), r
    assert wait_count(ch, dst, 3) == 3 and wait_count(ch, src, 2) == 2
    got = [ch.basic_get(dst, auto_ack=True)[2] for _ in range(3)]
    assert got == [b"m0", b"m1", b"m3"], got
    r = ctl("move_messages", "no-such-queue", dst)
    assert r.code == 69 and r.err.startswith("Error:\n"), r


def test_status_environment_await_startup(ctl, b):
    r = ctl("status")
    assert r.code == 0 and r.lines[0].startswith("Status of node amqpd@"), r
    for title in ("Runtime", "Plugins", "Data directory", "Config files", "Alarms", "Memory", "File Descriptors",
                  "Free Disk Space", "Totals", "Listeners"):
        assert f"\x1b[1m{title}\x1b[0m" in r.lines, title
    assert f"OS PID: {b.proc.pid}" in r.lines and f"Node data directory: {b.data_dir}" in r.lines
    doc = json.loads(ctl("status", "--formatter", "json").out)
    assert doc["pid"] == b.proc.pid and doc["totals"]["virtual_host_count"] >= 1
    assert doc["config_files"] == [str(conf_of(b).resolve())]
    r = ctl("environment")
    assert r.code == 0 and "{heartbeat,0}" in r.out and "default_pass" in r.out and "guest\"}" not in r.out.split(
        "default_pass")[1][:30], r.out
    r = ctl("await_startup")
    assert (r.code, r.out) == (0, ""), r
    r = ctl("memory_breakdown", "--unit", "mb")
    assert r.code == 0 and any(ln.startswith("other_proc: ") and ln.endswith("%)") for ln in r.lines), r


def test_management_listener_as_node(b, tmp_path):
    """-n HOST:PORT: through the management listener, as an administrator only."""
    node = f"127.0.0.1:{b.http_port}"
    r = amqpctl("-n", node, "-q", "list_queues", "name")
    assert r.code == 0 and r.lines[0] == "name", r
    r = amqpctl("-n", node, "--username", "guest", "--password", "wrong", "-q", "ping")
    assert r.code == 77 and "authentication failed" in r.err, r


def test_help_and_completion(ctl):
    r = ctl("help")
    assert r.code == 0 and "list_queues" in r.out and "move_messages" in r.out, r
    r = ctl("help", "list_queues")
    assert r.code == 0 and "messages_unacknowledged" in r.out and "Default columns: name, messages" in r.out, r
    r = ctl("list_queues", "--help")
    assert r.code == 0 and "Info keys" in r.out, r
    r = ctl("autocomplete", "list_c")
    assert r.lines == ["list_channels", "list_connections", "list_consumers"], r
    r = ctl("completion", "bash")
    assert "complete -F _amqpctl amqpctl" in r.out


def test_failures_are_logged(ctl, b):
    ctl("purge_queue", "logged-missing-queue")
    deadline = time.monotonic() + 5
    while "logged-missing-queue" not in b.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = next(ln for ln in b.log_text().splitlines() if "ctl command failed" in ln and "purge_queue" in ln)
    assert "exit_code=69" in line, line


def test_console_script_installed():
    """`pip install .` provides amqpctl next to amqpd."""
    import shutil

    exe = shutil.which("amqpctl") or os.path.join(os.path.dirname(sys.executable), "amqpctl")
    assert os.path.exists(exe), "amqpctl is not on PATH"


def test_consistent_hash_exchange_ring_state(ctl, conn):
    """rabbitmq-diagnostics consistent_hash_exchange_ring_state as RabbitMQ 3.10.8 with the plugin prints
    it for the same topology: lines sorted as text, a second binding to r0 ignored, the plugin's errors."""
    ch = conn.channel()
    ch.exchange_declare("ring-x", "x-consistent-hash")
    for i in range(12):
        ch.queue_declare(f"ring-{i}", exclusive=True)
        ch.queue_bind(f"ring-{i}", "ring-x", "1")
    ch.queue_bind("ring-0", "ring-x", "4")
    order = [0, 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9]
    r = ctl("consistent_hash_exchange_ring_state", "ring-x")
    check(r, 0, "Inspecting consistent hashing ring state for exchange ring-x in virtual host '/'...\n"
          + "".join(f"Ring index: {i}, queue: 'ring-{i}'\n" for i in order) + "\n")
    doc = json.loads(ctl("consistent_hash_exchange_ring_state", "ring-x", "--formatter", "json").out)
    assert list(doc["buckets"].items()) == [(str(i), f"ring-{i}") for i in order]
    assert (doc["exchange"], doc["result"], doc["message"]) == (
        "ring-x", "ok", "Consistent hashing ring state for exchange 'ring-x' in vhost '/'")
    missing = "Exchange does not exist or is of a different type"
    for name, vhost in (("nope", "/"), ("amq.direct", "/"), ("ring-x", "other")):
        check(ctl("consistent_hash_exchange_ring_state", "-p", vhost, name), 65, err=f"Error:\n{missing}\n")
        r = ctl("consistent_hash_exchange_ring_state", "-p", vhost, name, "--formatter", "json")
        assert r.code == 69 and json.loads(r.err)["message"] == missing, r
    r = ctl("consistent_hash_exchange_ring_state")
    assert r.code == 64 and r.err.startswith("Error (argument validation): not enough arguments."), r
    ch.exchange_delete("ring-x")
