"""A store that cannot write (issue 15): a full disk, a read-only remount or a file-size limit makes RocksDB
refuse a write. Nothing unwritten is confirmed (the publisher gets basic.nack), a durable declare that
could not be saved is refused with 541 and leaves nothing behind, the disk alarm goes on (log, API,
metrics) and blocks publishers, and once the disk takes writes again the store is reopened and
everything works. After a kill -9 exactly the confirmed messages are there. A read-only data dir is
refused at start.

The full-disk and read-only cases use a real small tmpfs (they need mount, which root in a container
usually has); the file-size-limit case needs no privilege and runs everywhere.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pika
import pytest
from conftest import free_port, start_amqpd
from helpers import close_quietly
from mgmt_helpers import Api, wait_for

pytestmark = pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd")

BODY = os.urandom(64 * 1024)  # random: RocksDB cannot compress it, so the disk fills predictably
CONF = "disk_free_limit.absolute = 1\nheartbeat = 0\n"  # the alarm must come from the failed write itself


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()}); "
                    "test_file_size_limit covers the failed write without one")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _publish_until_nacked(b, queue: str, limit: int = 2000) -> int:
    """Persistent messages with confirms, one at a time, until one is nacked; returns how many were acked.
    The disk alarm then blocks the connection (connection.blocked "low on disk"); it is not read until the
    alarm clears, so pika's blocked-connection timeout is what ends it."""
    conn = pika.BlockingConnection(b.pika_params(blocked_connection_timeout=1))
    blocked: list[str] = []
    conn.add_on_connection_blocked_callback(lambda _c, frame: blocked.append(frame.method.reason))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare(queue, durable=True)
        props = pika.BasicProperties(delivery_mode=2)
        for n in range(limit):
            try:
                ch.basic_publish("", queue, BODY, props)
            except pika.exceptions.NackError:
                conn.process_data_events(0.5)
                assert blocked == ["low on disk"], blocked
                return n
        raise AssertionError(f"{limit} messages ({limit * len(BODY) >> 20} MB) confirmed on a full disk")
    finally:
        close_quietly(conn)


def _publish_confirmed(b, queue: str, count: int) -> None:
    conn = pika.BlockingConnection(b.pika_params())
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        for _ in range(count):
            ch.basic_publish("", queue, BODY, pika.BasicProperties(delivery_mode=2))
    finally:
        close_quietly(conn)


def _count_after_kill(b, tmp_path, queue: str) -> int:
    b.stop(signal.SIGKILL)
    again = start_amqpd(tmp_path, conf=CONF, data_dir=b.data_dir)
    try:
        conn = pika.BlockingConnection(again.pika_params())
        try:
            return conn.channel().queue_declare(queue, passive=True).method.message_count
        finally:
            close_quietly(conn)
    finally:
        again.stop()


def _fill(mnt, leave: int) -> os.PathLike:
    filler = mnt / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize - leave))
    return filler


def _node(b) -> dict:
    return Api(b.http_port).get("/nodes").body[0]


def _metric(b, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{b.metrics_port}/metrics", timeout=5).read().decode()
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " "))


def test_full_disk_nacks_alarms_refuses_declares_and_recovers(tmp_path, tmpfs):
    b = start_amqpd(tmp_path, conf=CONF, data_dir=tmpfs / "data")
    try:
        filler = _fill(tmpfs, leave=4 << 20)
        acked = _publish_until_nacked(b, "full")
        assert 0 < acked < 4 * 16, acked  # some fitted, then the write failed

        # the failure is visible: log, API, metrics, and the disk alarm blocks publishers
        assert wait_for(lambda: "store write failed" in b.log_text())
        node = _node(b)
        assert node["disk_free_alarm"] is True, node
        assert "No space left" in (node["amqpd_store_error"] or ""), node
        assert _metric(b, "amqpd_store_write_errors_total") >= 1
        assert _metric(b, "rabbitmq_alarms_free_disk_space_watermark") == 1

        # a durable declare that cannot be saved is refused, and nothing of it is left behind
        conn = pika.BlockingConnection(b.pika_params())
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as exc:
            conn.channel().queue_declare("never-saved", durable=True)
        assert exc.value.reply_code == 541 and "store write failed" in exc.value.reply_text, exc.value
        conn = pika.BlockingConnection(b.pika_params())
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            conn.channel().queue_declare("never-saved", passive=True)
        assert exc.value.reply_code == 404
        close_quietly(conn)
        _ops_refused_leave_everything_as_it_was(b)

        # space comes back: the store is reopened, the alarm clears, confirms are acks again
        os.remove(filler)
        assert wait_for(lambda: "store writable again" in b.log_text(), timeout=10), b.log_text()[-2000:]
        assert wait_for(lambda: _node(b)["disk_free_alarm"] is False)
        assert _node(b)["amqpd_store_error"] is None
        _publish_confirmed(b, "full", 5)
        # every confirmed message survives kill -9; the nacked one was never written
        assert _count_after_kill(b, tmp_path, "full") == acked + 5
    finally:
        b.stop()


def test_read_only_data_dir_refuses_to_start(tmp_path, tmpfs):
    """A filesystem cannot be remounted read-only under a running broker (its write-ahead log is open for
    writing: "mount point is busy"), so a read-only data dir is met at start: a clear error and exit 1."""
    (tmpfs / "data").mkdir()
    assert subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)]).returncode == 0
    r = subprocess.run([sys.executable, "-m", "amqpd", "--bind", "127.0.0.1", "--port", str(free_port()), "--data-dir",
                        str(tmpfs / "data"), "--management-port", "0", "--prometheus-port", "0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert "cannot start" in r.stdout + r.stderr and "Read-only file system" in r.stdout + r.stderr, r


def _ops_refused_leave_everything_as_it_was(b) -> None:
    """Users, permissions, vhosts, policies and parameters are saved before they take effect: a change
    the store refuses is answered 500 and is not in effect (nor half in effect) afterwards."""
    api = Api(b.http_port)
    def state() -> dict:
        got = {path: api.get(path).body for path in ("/users", "/permissions", "/policies", "/global-parameters",
                                                     "/vhost-limits")}
        got["/vhosts"] = [(v["name"], v["description"], v["tags"]) for v in api.get("/vhosts").body]  # no stats
        return got

    before = state()
    for method, path, body in (
            ("PUT", "/users/newcomer", {"password": "p", "tags": ""}),
            ("DELETE", "/users/guest", None),
            ("PUT", "/users/guest", {"password": "changed", "tags": ""}),
            ("PUT", "/vhosts/fresh", None),
            ("DELETE", "/vhosts/%2F", None),
            ("PUT", "/permissions/%2F/guest", {"configure": "", "write": "", "read": ""}),
            ("DELETE", "/permissions/%2F/guest", None),
            ("PUT", "/policies/%2F/p1", {"pattern": ".*", "definition": {"max-length": 1}}),
            ("PUT", "/global-parameters/gp", {"name": "gp", "value": 1}),
            ("PUT", "/vhost-limits/%2F/max-queues", {"value": 1})):
        reply = api.call(method, path, body)
        assert reply.status == 500, (method, path, reply.status, reply.body)
        assert "store write failed" in str(reply.body), reply.body
    assert state() == before
    # guest still logs in with its old password and still may declare
    conn = pika.BlockingConnection(b.pika_params())
    conn.channel().queue_declare("", exclusive=True)
    close_quietly(conn)


def test_file_size_limit_nacks_and_loses_nothing_confirmed(tmp_path):
    """Without mount: RLIMIT_FSIZE makes the write-ahead log's append fail (EFBIG) once it reaches 3 MB."""
    data = tmp_path / "data"
    b = start_amqpd(tmp_path, conf=CONF, data_dir=data, fsize=3 << 20)
    try:
        acked = _publish_until_nacked(b, "fsize")
        assert 0 < acked < 3 * 16, acked
        assert wait_for(lambda: "store write failed" in b.log_text())
        assert "File too large" in b.log_text()
        # the broker stays up and keeps answering
        conn = pika.BlockingConnection(b.pika_params())
        assert conn.channel().queue_declare("fsize", passive=True).method.message_count >= acked
        close_quietly(conn)
        b.stop(signal.SIGKILL)
        again = start_amqpd(tmp_path, conf=CONF, data_dir=data)  # no limit now
        try:
            conn = pika.BlockingConnection(again.pika_params())
            assert conn.channel().queue_declare("fsize", passive=True).method.message_count == acked
            close_quietly(conn)
        finally:
            again.stop()
    finally:
        b.stop()


def _stream_length(b, queue: str, expected: int) -> int:
    """Messages read from the start of the stream: until `expected` arrived or 10 s passed, then 0.5 s more
    for any beyond it (process_data_events may return on I/O that completes no delivery, so a quiet call
    does not mean the end)."""
    conn = pika.BlockingConnection(b.pika_params())
    try:
        ch = conn.channel()
        ch.basic_qos(prefetch_count=100)
        got = []
        ch.basic_consume(queue, lambda c, m, p, body: (got.append(body), c.basic_ack(m.delivery_tag)),
                         arguments={"x-stream-offset": "first"})
        deadline = time.monotonic() + 10
        while len(got) < expected and time.monotonic() < deadline:
            conn.process_data_events(0.1)
        linger = time.monotonic() + 0.5
        while time.monotonic() < linger:
            conn.process_data_events(0.1)
        return len(got)
    finally:
        close_quietly(conn)


def test_tx_commit_to_a_stream_waits_for_the_write(tmp_path):
    """commit-ok promises what was published in the transaction is on disk, streams included: a commit whose
    write failed gets 541 instead, and after a kill -9 exactly the committed messages are in the stream."""
    data = tmp_path / "data"
    b = start_amqpd(tmp_path, conf=CONF, data_dir=data, fsize=3 << 20)
    try:
        conn = pika.BlockingConnection(b.pika_params(blocked_connection_timeout=1))
        ch = conn.channel()
        ch.queue_declare("txs", durable=True, arguments={"x-queue-type": "stream"})
        ch.tx_select()
        committed = 0
        with pytest.raises((pika.exceptions.ChannelClosedByBroker, pika.exceptions.ConnectionBlockedTimeout,
                            pika.exceptions.ConnectionClosedByBroker)) as err:
            for _ in range(200):
                ch.basic_publish("", "txs", BODY)  # transient: only the stream makes it a store write
                ch.tx_commit()
                committed += 1
        assert 0 < committed < 3 * 16, committed
        if isinstance(err.value, pika.exceptions.ChannelClosedByBroker):
            assert err.value.reply_code == 541 and "tx.commit failed" in err.value.reply_text, err.value
        close_quietly(conn)
        b.stop(signal.SIGKILL)
        again = start_amqpd(tmp_path, conf=CONF, data_dir=data)
        try:
            assert _stream_length(again, "txs", committed) == committed
        finally:
            again.stop()
    finally:
        b.stop()
