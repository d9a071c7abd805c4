"""Operating amqpd: signals, logs, start-up failures, the command line.

Each test runs its own amqpd process (or a short-lived one that must fail) and bounds every wait.
"""

from __future__ import annotations

import re
import signal
import socket
import time
from datetime import datetime

import pika
import pytest
from durable_helpers import (
    SHUTDOWN_TEXT,
    close_quietly,
    connect,
    expect_forced_close,
    free_port,
    json_lines,
    port_open,
    run_amqpd,
)
from pamqp import commands as C
from rawclient import RawClient

pytestmark = pytest.mark.timeout(90)


def events(broker) -> list[dict]:
    return json_lines(broker.log_text())


def named(evs: list[dict], name: str) -> list[dict]:
    return [e for e in evs if e.get("event") == name]


# ---------------------------------------------------------------------------------------------------------
# graceful shutdown


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_gracefully_with_320_to_every_client(broker_factory, sig):
    b = broker_factory()
    raw = RawClient(b.host, b.port, timeout=10).connect()
    raw.open_channel(1)
    idle = connect(b)
    consumer_conn = connect(b)
    ch = consumer_conn.channel()
    ch.queue_declare("ops-q", durable=True)
    ch.basic_publish("", "ops-q", b"unacked", pika.BasicProperties(delivery_mode=2))
    assert ch.basic_get("ops-q", auto_ack=False)[2] == b"unacked"
    started = time.monotonic()
    b.proc.send_signal(sig)
    close = raw.wait_close(timeout=10)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (320, SHUTDOWN_TEXT, 0, 0)
    for conn in (idle, consumer_conn):
        exc = expect_forced_close(conn)
        assert (exc.reply_code, exc.reply_text) == (320, SHUTDOWN_TEXT)
    assert b.proc.wait(15) == 0
    assert time.monotonic() - started < 5, "every client answered close-ok: the stop should be quick"
    assert not port_open(b.port)
    log = b.log_text()
    assert "Traceback" not in log
    assert "shutting down" in log and "stopped" in log


def test_shutdown_is_bounded_when_a_client_never_answers(broker_factory):
    """A client that never sends close-ok (nor reads) cannot hold the broker up for long."""
    b = broker_factory()
    sock = socket.create_connection((b.host, b.port), timeout=5)
    raw = RawClient(b.host, b.port, timeout=10).connect()  # opened, then never read again
    started = time.monotonic()
    b.proc.send_signal(signal.SIGTERM)
    assert b.proc.wait(20) == 0
    assert time.monotonic() - started < 12
    sock.close()
    raw.sock.close()


# ---------------------------------------------------------------------------------------------------------
# logging


def _raw(b) -> tuple[RawClient, str]:
    raw = RawClient(b.host, b.port, timeout=10).connect()
    return raw, f"127.0.0.1:{raw.sock.getsockname()[1]}"


def _exercise(b) -> dict[str, str]:
    """Open connections that end in five different ways, then stop amqpd; their addresses by kind."""
    peers = {}
    raw, peers["client-close"] = _raw(b)
    raw.close()
    raw, peers["channel-error"] = _raw(b)
    raw.open_channel(1)
    raw.send_method(1, C.Queue.Declare(queue="no-such-queue", passive=True))
    assert raw.wait_channel_close(1).reply_code == 404
    raw.close()
    raw, peers["connection-error"] = _raw(b)
    raw.open_channel(1)
    raw.send_method(1, C.Exchange.Declare(exchange="x", exchange_type="no-such-type"))
    assert raw.wait_close().reply_code == 503
    raw, peers["abrupt"] = _raw(b)
    raw.sock.close()  # no connection.close at all
    raw.sock = None
    forced, peers["forced"] = _raw(b)
    deadline = time.monotonic() + 10
    while sum(f"conn={p}" in b.log_text() or f'"conn": "{p}"' in b.log_text() for p in peers.values()) < 5:
        assert time.monotonic() < deadline, "the connections were not all logged"
        time.sleep(0.05)
    b.proc.send_signal(signal.SIGTERM)
    assert forced.wait_close(timeout=10).reply_code == 320
    assert b.proc.wait(15) == 0
    return peers


def test_json_log_format(broker_factory, tmp_path):
    conf = tmp_path / "json.conf"
    conf.write_text("heartbeat = 30\n")
    b = broker_factory(extra_args=["--log-format", "json", "--config", str(conf)])
    peers = _exercise(b)
    evs = events(b)  # every line is one JSON object
    assert evs
    for e in evs:
        assert {"event", "level", "timestamp"} <= e.keys(), e
        assert e["level"] in ("debug", "info", "warning", "error", "critical"), e
        ts = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00"))
        assert ts.tzinfo is not None, e
    opened = named(evs, "connection opened")
    for e in opened:
        assert e["vhost"] == "/" and e["user"] == "guest" and re.fullmatch(r"127\.0\.0\.1:\d+", e["conn"]), e
    # exactly one "opened" and one "closed" line per connection, however it ended
    for kind, peer in peers.items():
        o = [e for e in opened if e["conn"] == peer]
        c = [e for e in evs if e.get("conn") == peer and str(e.get("event", "")).startswith("connection closed")]
        assert len(o) == 1, (kind, o)
        assert len(c) == 1, (kind, [e for e in evs if e.get("conn") == peer])
        assert c[0]["level"] in ("info", "warning"), (kind, c)
    errors = [e for e in named(evs, "channel error") if e.get("conn") == peers["channel-error"]]
    assert len(errors) == 1, errors
    assert errors[0]["channel"] == 1 and errors[0]["reply_code"] == 404, errors
    assert "no-such-queue" in errors[0].get("reply_text", ""), errors
    assert errors[0]["level"] in ("warning", "error", "info")
    conn_errors = [e for e in evs if e.get("conn") == peers["connection-error"] and e.get("reply_code") == 503]
    assert conn_errors, "the connection error is logged with its reply code"


def test_startup_line_names_listeners_data_dir_and_config_file(broker_factory, tmp_path):
    conf = tmp_path / "start.conf"
    conf.write_text("handshake_timeout = 5000\n")
    b = broker_factory(extra_args=["--log-format", "json", "--config", str(conf)])
    # the port accepts connections a moment before the line is written
    deadline = time.monotonic() + 5
    while not named(events(b), "Server startup complete") and time.monotonic() < deadline:
        time.sleep(0.02)
    started = named(events(b), "Server startup complete")
    assert len(started) == 1, events(b)
    line = started[0]
    assert line["level"] == "info"
    assert line.get("data_dir") == str(b.data_dir), line
    assert line.get("config_file") == str(conf), line
    assert f"127.0.0.1:{b.port}" in str(line), f"the startup line does not list the listener: {line}"
    b.stop()
    # the plaintext form says the same on one line
    b2 = broker_factory(data_dir=tmp_path / "plain-data")
    deadline = time.monotonic() + 5
    while "Server startup complete" not in b2.log_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    text = [ln for ln in b2.log_text().splitlines() if "Server startup complete" in ln]
    assert len(text) == 1, b2.log_text()
    assert str(tmp_path / "plain-data") in text[0] and f"127.0.0.1:{b2.port}" in text[0], text[0]


def test_plaintext_connection_and_channel_error_lines(broker_factory):
    b = broker_factory()
    peers = _exercise(b)
    lines = b.log_text().splitlines()
    assert "Traceback" not in b.log_text()
    for kind, peer in peers.items():
        mine = [ln for ln in lines if re.search(rf"conn={re.escape(peer)}(\s|$)", ln)]
        assert len([ln for ln in mine if "connection opened" in ln]) == 1, (kind, mine)
        assert len([ln for ln in mine if "connection closed" in ln]) == 1, (kind, mine)
    err = [ln for ln in lines if "channel error" in ln
           and re.search(rf"conn={re.escape(peers['channel-error'])}(\s|$)", ln)]
    assert len(err) == 1, lines
    assert "channel=1" in err[0] and "reply_code=404" in err[0], err[0]
    opened = [ln for ln in lines if "connection opened" in ln]
    assert all("vhost=/" in ln and "user=guest" in ln for ln in opened), opened


# ---------------------------------------------------------------------------------------------------------
# start-up failures and the command line


def test_unknown_config_key_exits_2_naming_the_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("# a comment\nheartbeat = 30\nhearbeat = 5\n")
    port = free_port()
    rc, out, secs = run_amqpd(["--config", str(conf), "--port", str(port), "--data-dir", str(tmp_path / "d")])
    assert rc == 2, out
    assert secs < 10
    assert f"{conf}:3: unknown key 'hearbeat'" in out, out
    assert "did you mean 'heartbeat'" in out, out
    assert "Traceback" not in out
    assert not port_open(port)
    assert not (tmp_path / "d" / "rocksdb").exists(), "a bad configuration must not touch the data dir"


def test_bad_config_value_exits_2_naming_the_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("frame_max = 100\n")
    rc, out, _ = run_amqpd(["--config", str(conf), "--port", str(free_port()), "--data-dir", str(tmp_path / "d")])
    assert rc == 2, out
    assert f"{conf}:1: invalid value '100' for key 'frame_max'" in out, out


def test_help(tmp_path):
    rc, out, secs = run_amqpd(["--help"], timeout=20, cwd=tmp_path,
                              env={"XDG_DATA_HOME": "", "AMQPD_DATA_DIR": "", "AMQPD_CONFIG_FILE": ""})
    assert rc == 0, out
    assert secs < 10
    assert out.startswith("usage: amqpd"), out
    for flag in ("--config", "--bind", "--port", "--data-dir", "--log-level", "--log-format", "--help"):
        assert flag in out, flag
    assert not list(tmp_path.iterdir()), "--help must not create a data dir"


@pytest.mark.parametrize("fmt", ["plaintext", "json"])
def test_port_in_use_is_a_clean_error(broker_factory, tmp_path, fmt):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    data = tmp_path / "data"
    try:
        rc, out, secs = run_amqpd(["--bind", "127.0.0.1", "--port", str(port), "--data-dir", str(data),
                                   "--log-format", fmt], timeout=20)
    finally:
        holder.close()
    assert rc is not None and rc != 0, out
    assert secs < 15
    assert "Traceback" not in out, out
    low = out.lower()
    assert "address already in use" in low or "in use" in low, out
    if fmt == "json":
        errs = [e for e in json_lines(out) if e["level"] == "error"]
        assert errs and str(port) in str(errs), out
    else:
        assert any("error" in ln and str(port) in ln for ln in out.splitlines()), out
    # it let go of its data dir: a broker starts there right away
    b = broker_factory(data_dir=data)
    conn = connect(b)
    close_quietly(conn)
