"""Memory high watermark: publishers get connection.blocked and stop being read; others carry on."""

from __future__ import annotations

import threading
import time

import pika
import pytest
from flow_helpers import idle_rss, rss
from pamqp import commands


def test_capability_advertised(broker):
    conn = pika.BlockingConnection(broker.pika_params())
    try:
        caps = conn._impl.params and conn._impl._impl if False else None  # noqa: F841
        server_caps = conn._impl.server_capabilities
        assert server_caps.get("connection.blocked") is True
    finally:
        conn.close()


def test_publisher_blocked_above_watermark_and_unblocked_below(broker_factory, tmp_path):
    # First learn the broker's idle footprint, then restart it with a limit 60 MB above that (and paging
    # off, so only the alarm acts).
    probe = broker_factory()
    time.sleep(0.5)
    idle = rss(probe.proc.pid)
    probe.stop()
    b = broker_factory(f"vm_memory_high_watermark.absolute = {idle + 60 * 1024 * 1024}\n"
                       "vm_memory_high_watermark_paging_ratio = 2\n", data_dir=tmp_path / "d2")
    events: list[str] = []
    published = threading.Event()
    errors: list[BaseException] = []

    def publisher() -> None:
        # pika's basic_publish waits while the broker does not read: that is what being blocked means,
        # so the publisher runs in a thread of its own (with a connection of its own).
        try:
            pub = pika.BlockingConnection(b.pika_params())
            pub.add_on_connection_blocked_callback(lambda *a: events.append("blocked"))
            pub.add_on_connection_unblocked_callback(lambda *a: events.append("unblocked"))
            ch = pub.channel()
            ch.queue_declare("big")
            body = b"x" * (1024 * 1024)
            for _ in range(90):  # 90 MB of bodies: past the limit
                ch.basic_publish("", "big", body)
                pub.process_data_events(time_limit=0)
            deadline = time.monotonic() + 30
            while "unblocked" not in events and time.monotonic() < deadline:
                pub.process_data_events(time_limit=0.1)
            # after unblocking, the publisher can publish again
            ch.basic_publish("", "big", b"after")
            published.set()
            pub.close()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=publisher, daemon=True)
    thread.start()
    # The publisher may be inside a publish that cannot finish (the broker stopped reading it), and
    # pika only runs its blocked callback between calls; so wait for the broker's alarm, and check the
    # client's events once it is unblocked.
    deadline = time.monotonic() + 20
    while "memory alarm set" not in b.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "connection blocked" in b.log_text()
    assert rss(b.proc.pid) > idle + 60 * 1024 * 1024

    # A connection that does not publish is not blocked: it drains the queue, memory goes back down,
    # the publisher is unblocked and everything it published arrives, "after" last.
    other = pika.BlockingConnection(b.pika_params())
    och = other.channel()
    drained, last = 0, None
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and not (published.is_set() and last == b"after"):
        method, _, body_ = och.basic_get("big", auto_ack=True)
        if method is None:
            other.process_data_events(time_limit=0.05)
            continue
        drained += 1
        last = body_
    thread.join(10)
    assert not errors, errors
    assert events[:2] == ["blocked", "unblocked"]
    assert last == b"after"
    assert drained == 91
    other.close()


@pytest.mark.parametrize("dummy", [None])
def test_blocked_connection_still_answers_after_alarm(broker_factory, dummy):
    # a limit of 1 byte: the alarm is on from the start; a publisher is blocked at its first publish
    b = broker_factory("vm_memory_high_watermark.absolute = 1\n")
    pub = pika.BlockingConnection(b.pika_params())
    events: list[str] = []
    pub.add_on_connection_blocked_callback(lambda *a: events.append("blocked"))
    ch = pub.channel()
    ch.queue_declare("q1")
    ch.basic_publish("", "q1", b"m")
    deadline = time.monotonic() + 5
    while not events and time.monotonic() < deadline:
        pub.process_data_events(time_limit=0.1)
    assert events == ["blocked"]
    other = pika.BlockingConnection(b.pika_params())
    och = other.channel()
    # the non-publishing connection is served; the blocked publisher's frames are not read meanwhile
    assert och.queue_declare("q2").method.queue == "q2"
    other.close()


def test_transient_backlog_larger_than_the_limit_is_paged_not_held(broker_factory, tmp_path):
    """400 MB of transient messages, no consumer, a limit 150 MB above idle: content pages out to the
    store before the limit, so the publisher gets every confirm and RSS stays near the limit."""
    from flow_helpers import ConfirmReader, Flooder, SlowConsumer, assert_exactly_once, wait_until
    from rawclient import RawClient

    idle = idle_rss(broker_factory)
    limit = idle + 150 * 1024 * 1024
    b = broker_factory(f"vm_memory_high_watermark.absolute = {limit}\n", data_dir=tmp_path / "paging")
    pub = RawClient(b.host, b.port).connect()
    pub.open_channel(1)
    pub.declare_queue(1, "backlog")
    pub.rpc(1, commands.Confirm.Select(), commands.Confirm.SelectOk)
    total, size = 100_000, 4096
    confirms = ConfirmReader(pub, total, timeout=120)
    flooder = Flooder(pub, "backlog", size=size, limit=total).start()
    peak = 0
    deadline = time.monotonic() + 120
    while confirms.upto < total and time.monotonic() < deadline:
        time.sleep(0.1)
        peak = max(peak, rss(b.proc.pid))
    flooder.thread.join(5)
    assert (confirms.upto, confirms.nacks) == (total, 0), "publisher held: the backlog was not paged out"
    assert "paging started" in b.log_text()
    # the 400 MB backlog is not in memory (the margin covers what arrives between two memory checks)
    assert peak < limit + 128 * 1024 * 1024, (peak, limit)
    # every message comes back, in order, content intact
    consumer = SlowConsumer(b, "backlog", rate=None)
    assert wait_until(lambda: len(consumer.seqs) >= total, 60)
    assert_exactly_once(consumer.seqs, total)
    assert consumer.seqs == sorted(consumer.seqs)
    consumer.close()
    pub.close()


def test_blocked_publisher_gets_every_confirm_after_unblock(broker_factory, tmp_path):
    """A publisher blocked by the memory alarm in the middle of a stream of confirmed publishes gets all
    of its confirms once a consumer has brought memory back down."""
    from flow_helpers import ConfirmReader, Flooder, SlowConsumer, assert_exactly_once, wait_until
    from rawclient import RawClient

    idle = idle_rss(broker_factory)
    # paging off (ratio above 1): only the alarm acts
    b = broker_factory(f"vm_memory_high_watermark.absolute = {idle + 60 * 1024 * 1024}\n"
                       "vm_memory_high_watermark_paging_ratio = 2\n", data_dir=tmp_path / "blocked")
    pub = RawClient(b.host, b.port).connect()
    pub.open_channel(1)
    pub.declare_queue(1, "big")
    pub.rpc(1, commands.Confirm.Select(), commands.Confirm.SelectOk)
    total = 1500  # 100 KB each (one body frame): 150 MB, well past the limit
    confirms = ConfirmReader(pub, total, timeout=60)
    flooder = Flooder(pub, "big", size=100 * 1024, batch=10, limit=total).start()
    assert wait_until(lambda: "connection blocked" in b.log_text(), 20)
    assert confirms.upto < total  # held: the rest is still in its socket
    consumer = SlowConsumer(b, "big", rate=None)
    assert wait_until(lambda: confirms.upto >= total, 40), confirms.upto
    flooder.thread.join(10)
    assert confirms.nacks == 0
    assert "connection unblocked" in b.log_text()
    assert wait_until(lambda: len(consumer.seqs) >= total, 20)
    assert_exactly_once(consumer.seqs, total)
    consumer.close()
    pub.close()
