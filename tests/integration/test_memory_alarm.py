"""Memory high watermark: publishers get connection.blocked and stop being read; others carry on."""

from __future__ import annotations

import time

import pika
import pytest


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_capability_advertised(broker):
    conn = pika.BlockingConnection(broker.pika_params())
    try:
        caps = conn._impl.params and conn._impl._impl if False else None  # noqa: F841
        server_caps = conn._impl.server_capabilities
        assert server_caps.get("connection.blocked") is True
    finally:
        conn.close()


def test_publisher_blocked_above_watermark_and_unblocked_below(broker_factory, tmp_path):
    # First learn the broker's idle footprint, then restart it with a limit 60 MB above that.
    probe = broker_factory()
    time.sleep(0.5)
    idle = rss(probe.proc.pid)
    probe.stop()
    b = broker_factory(f"vm_memory_high_watermark.absolute = {idle + 60 * 1024 * 1024}\n",
                       data_dir=tmp_path / "d2")
    events: list[str] = []
    pub = pika.BlockingConnection(b.pika_params())
    pub.add_on_connection_blocked_callback(lambda *a: events.append("blocked"))
    pub.add_on_connection_unblocked_callback(lambda *a: events.append("unblocked"))
    ch = pub.channel()
    ch.queue_declare("big")
    body = b"x" * (1024 * 1024)
    for _ in range(90):  # 90 MB of bodies: past the limit
        ch.basic_publish("", "big", body)
        pub.process_data_events(time_limit=0)
    deadline = time.monotonic() + 10
    while "blocked" not in events and time.monotonic() < deadline:
        pub.process_data_events(time_limit=0.1)
    assert events[:1] == ["blocked"]
    assert rss(b.proc.pid) > idle + 60 * 1024 * 1024

    # A connection that does not publish is not blocked: it drains the queue, memory goes back down.
    other = pika.BlockingConnection(b.pika_params())
    och = other.channel()
    drained = 0
    while True:
        method, _, _ = och.basic_get("big", auto_ack=True)
        if method is None:
            break
        drained += 1
    assert drained >= 60
    deadline = time.monotonic() + 10
    while "unblocked" not in events and time.monotonic() < deadline:
        pub.process_data_events(time_limit=0.1)
    assert events[:2] == ["blocked", "unblocked"]
    # after unblocking, the publisher's remaining publishes arrive and it can publish again
    ch.basic_publish("", "big", b"after")
    deadline = time.monotonic() + 5
    last = None
    while time.monotonic() < deadline:
        method, _, body_ = och.basic_get("big", auto_ack=True)
        if method is not None:
            last = body_
        elif last == b"after":
            break
        else:
            other.process_data_events(time_limit=0.1)
    assert last == b"after"
    other.close()
    pub.close()


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
