"""Memory is given back (issue 15): once a large backlog is deleted, purged or drained, the broker's
resident set falls back within seconds instead of staying at its peak until the next memory alarm
(glibc keeps freed memory mapped; amqpd/memory.py trims once a second when much is free)."""

from __future__ import annotations

import os
import time

import pika
import pytest
from flow_helpers import MIB, rss
from helpers import close_quietly

pytestmark = pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd")


def _load(ch, queue: str, pid: int) -> int:
    ch.queue_declare(queue)
    body = b"x" * 10_000
    for _ in range(15_000):  # 150 MB of transient messages, nobody consuming
        ch.basic_publish("", queue, body)
    assert ch.queue_declare(queue, passive=True).method.message_count == 15_000
    return rss(pid)


def _settles(pid: int, before: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while rss(pid) - before > 40 * MIB and time.monotonic() < deadline:
        time.sleep(0.1)
    return rss(pid)


@pytest.mark.parametrize("how", ["delete", "purge", "drain"])
def test_rss_falls_after_a_backlog_goes(broker_factory, how):
    b = broker_factory("heartbeat = 0\n")
    c = pika.BlockingConnection(b.pika_params())
    try:
        ch = c.channel()
        before = rss(b.proc.pid)
        loaded = _load(ch, "backlog", b.proc.pid)
        assert loaded - before > 120 * MIB, (before, loaded)
        if how == "delete":
            ch.queue_delete("backlog")
        elif how == "purge":
            assert ch.queue_purge("backlog").method.message_count == 15_000
        else:
            got = 0
            for _method, _props, _body in ch.consume("backlog", auto_ack=True, inactivity_timeout=5):
                if _method is None:
                    break
                got += 1
                if got == 15_000:
                    break
            ch.cancel()
            assert got == 15_000
        after = _settles(b.proc.pid, before)
        assert after - before < 40 * MIB, (before, loaded, after)
    finally:
        close_quietly(c)
