"""Paging under memory pressure is bounded by bytes, not by a count of messages (amqpd/paging.py).

A queue used to keep the content of its first 1,000 ready messages in memory whatever their size: with
100 KB messages that is 100 MB, so a backlog of them behind a watermark only 64 MiB above the broker's idle
footprint set the memory alarm for good, and the publisher stayed blocked for ever. Now what a queue keeps
is a share of a byte budget: the backlog pages out, the publisher gets through (blocked at most for a
while, then unblocked), and a consumer gets every message back intact.
"""

from __future__ import annotations

import random
import struct
import threading
import time

import pika
from flow_helpers import MIB, idle_rss, rss

SIZE = 100 * 1024
COUNT = 2000  # 200 MB: twice what the old rule kept of a queue of 100 KB messages, before the watermark


def test_backlog_of_large_messages_pages_out_instead_of_blocking_for_ever(broker_factory, tmp_path):
    idle = idle_rss(broker_factory)
    watermark = idle + 64 * MIB
    b = broker_factory(f"heartbeat = 0\nvm_memory_high_watermark.absolute = {watermark}\n",
                       data_dir=tmp_path / "bytes")
    pattern = random.Random(7).randbytes(SIZE)
    events: list[str] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def publisher() -> None:
        try:
            conn = pika.BlockingConnection(b.pika_params())
            conn.add_on_connection_blocked_callback(lambda *a: events.append("blocked"))
            conn.add_on_connection_unblocked_callback(lambda *a: events.append("unblocked"))
            ch = conn.channel()
            ch.queue_declare("large")
            for i in range(COUNT):
                ch.basic_publish("", "large", struct.pack(">Q", i) + pattern[8:])
                conn.process_data_events(time_limit=0)
            # pika sends nothing more while blocked; a passive declare answered means it got through
            while events and events[-1] == "blocked":
                conn.process_data_events(time_limit=0.1)
            assert ch.queue_declare("large", passive=True).method.message_count == COUNT
            done.set()
            conn.close()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    thread = threading.Thread(target=publisher, daemon=True)
    thread.start()
    peak = 0
    deadline = time.monotonic() + 30  # a backstop: the broker lets it through in seconds, or never (the old rule)
    while not done.is_set() and not errors and time.monotonic() < deadline:
        peak = max(peak, rss(b.proc.pid))
        time.sleep(0.02)
    assert not errors, errors
    assert done.is_set(), (f"publisher of {COUNT} x 100 KB still held (events {events}, RSS {rss(b.proc.pid) // MIB} "
                           f"MiB, watermark {watermark // MIB} MiB): the kept content never let the alarm clear")
    assert "paging started" in b.log_text()  # the backlog did press on memory
    # kept content is a share of the paging limit, not 1,000 messages: RSS stays near the watermark
    assert peak < watermark + 32 * MIB, (peak // MIB, watermark // MIB)
    # RabbitMQ's pairs: every connection.blocked was followed by connection.unblocked
    assert events == ["blocked", "unblocked"] * (len(events) // 2), events
    if events:
        log = b.log_text()
        assert log.index("memory alarm set") < log.index("memory alarm cleared")

    # every message comes back, in order and intact (paged ones are read back from the store)
    conn = pika.BlockingConnection(b.pika_params())
    ch = conn.channel()
    ch.basic_qos(prefetch_count=200)
    got = 0
    for method, _props, body in ch.consume("large", inactivity_timeout=10):
        assert method is not None, f"only {got} of {COUNT} delivered"
        assert len(body) == SIZE and body[:8] == struct.pack(">Q", got), (got, len(body), body[:8].hex())
        assert body[8:] == pattern[8:], f"message {got}: content corrupted"
        ch.basic_ack(method.delivery_tag)
        got += 1
        if got == COUNT:
            break
    ch.cancel()
    assert ch.queue_declare("large", passive=True).method.message_count == 0
    ch.queue_delete("large")
    conn.close()
    thread.join(5)
