"""Memory is given back (issue 15): once a large backlog is deleted the broker's resident set falls back,
instead of staying at its peak until the next memory alarm."""

from __future__ import annotations

import os
import time

import pika
import pytest
from flow_helpers import MIB, rss
from helpers import close_quietly

pytestmark = pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd")


def test_rss_falls_after_a_deleted_backlog(broker_factory):
    b = broker_factory("heartbeat = 0\n")
    c = pika.BlockingConnection(b.pika_params())
    try:
        ch = c.channel()
        ch.queue_declare("backlog")
        before = rss(b.proc.pid)
        body = b"x" * 10_000
        for _ in range(20_000):  # 200 MB of transient messages, nobody consuming
            ch.basic_publish("", "backlog", body)
        assert ch.queue_declare("backlog", passive=True).method.message_count == 20_000
        loaded = rss(b.proc.pid)
        assert loaded - before > 150 * MIB, (before, loaded)
        ch.queue_delete("backlog")
        deadline = time.monotonic() + 10
        while rss(b.proc.pid) - before > 50 * MIB and time.monotonic() < deadline:
            time.sleep(0.1)
        assert rss(b.proc.pid) - before < 50 * MIB, (before, loaded, rss(b.proc.pid))
    finally:
        close_quietly(c)
