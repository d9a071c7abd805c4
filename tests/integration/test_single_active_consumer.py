"""x-single-active-consumer: one consumer gets the messages; the next takes over when it goes."""

from __future__ import annotations

import asyncio
import time

import aio_pika
from qf_helpers import ch_fixture, closed_with, conn_fixture, publish, wait_until  # noqa: F401


def collector(into: list):
    async def on_message(message) -> None:
        into.append(message.body)
    return on_message


def pump(conn, cond, timeout=5.0):
    return wait_until(lambda: conn.process_data_events(0.01) or cond(), timeout)


def sac(ch, uniq, **extra):
    q = uniq("sac")
    ch.queue_declare(q, exclusive=True, arguments={"x-single-active-consumer": True, **extra})
    return q


def test_only_the_first_consumer_receives(conn, ch, uniq):
    q = sac(ch, uniq)
    got = {"a": [], "b": []}
    ch.basic_consume(q, lambda c, m, p, b: got["a"].append(b), auto_ack=True, consumer_tag="a")
    ch.basic_consume(q, lambda c, m, p, b: got["b"].append(b), auto_ack=True, consumer_tag="b")
    for i in range(10):
        publish(ch, q, f"m{i}")
    pump(conn, lambda: len(got["a"]) == 10)
    time.sleep(0.05)
    conn.process_data_events(0.02)
    assert got["b"] == []


def test_cancel_hands_over_to_the_next_consumer(conn, ch, uniq):
    q = sac(ch, uniq)
    got = {"a": [], "b": [], "c": []}
    for tag in ("a", "b", "c"):
        ch.basic_consume(q, lambda c, m, p, b, tag=tag: got[tag].append(b), auto_ack=True, consumer_tag=tag)
    publish(ch, q, "one")
    pump(conn, lambda: got["a"])
    ch.basic_cancel("a")
    publish(ch, q, "two")
    pump(conn, lambda: got["b"])
    assert got == {"a": [b"one"], "b": [b"two"], "c": []}


def test_channel_close_hands_over_with_unacked_requeued(conn, ch, uniq):
    q = sac(ch, uniq)
    first = conn.channel()
    seen_first = []
    first.basic_consume(q, lambda c, m, p, b: seen_first.append(b), consumer_tag="first")
    got = []
    ch.basic_consume(q, lambda c, m, p, b: (got.append((b, m.redelivered)), c.basic_ack(m.delivery_tag)),
                     consumer_tag="second")
    for i in range(3):
        publish(ch, q, f"m{i}")
    pump(conn, lambda: len(seen_first) == 3)
    assert got == []
    first.close()
    pump(conn, lambda: len(got) == 3)
    assert got == [(b"m0", True), (b"m1", True), (b"m2", True)]


def test_declare_ok_counts_every_consumer(ch, uniq):
    q = sac(ch, uniq)
    for tag in ("a", "b", "c"):
        ch.basic_consume(q, lambda *a: None, auto_ack=True, consumer_tag=tag)
    assert ch.queue_declare(q, passive=True).method.consumer_count == 3


def test_active_consumer_at_prefetch_blocks_the_others(conn, ch, uniq):
    q = sac(ch, uniq)
    ch.basic_qos(prefetch_count=1)
    a, b = [], []
    ch.basic_consume(q, lambda c, m, p, body: a.append(body), consumer_tag="a")
    other = conn.channel()
    other.basic_consume(q, lambda c, m, p, body: b.append(body), consumer_tag="b")
    for i in range(3):
        publish(ch, q, f"m{i}")
    pump(conn, lambda: a)
    time.sleep(0.1)
    conn.process_data_events(0.02)
    assert a == [b"m0"] and b == []
    assert ch.queue_declare(q, passive=True).method.message_count == 2


def test_exclusive_consume_is_refused(conn, ch, uniq):
    q = sac(ch, uniq)
    code, text = closed_with(conn, lambda c: c.basic_consume(q, lambda *a: None, exclusive=True))
    assert (code, text) == (403, f"ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use")


def test_argument_must_be_boolean(conn, uniq):
    q = uniq("bad")
    code, text = closed_with(conn, lambda c: c.queue_declare(q, arguments={"x-single-active-consumer": "yes"}))
    assert (code, text) == (406, f"PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue "
                                 f"'{q}' in vhost '/': {{unacceptable_type,longstr}}")


def test_aio_pika_failover(broker, uniq):
    async def run():
        conn1 = await aio_pika.connect(broker.url)
        conn2 = await aio_pika.connect(broker.url)
        try:
            ch1 = await conn1.channel()
            ch2 = await conn2.channel()
            name = uniq("asac")
            q1 = await ch1.declare_queue(name, arguments={"x-single-active-consumer": True}, auto_delete=False)
            q2 = await ch2.declare_queue(name, arguments={"x-single-active-consumer": True}, auto_delete=False)
            got1, got2 = [], []
            await q1.consume(collector(got1), no_ack=True)
            await q2.consume(collector(got2), no_ack=True)
            await ch2.default_exchange.publish(aio_pika.Message(b"a"), routing_key=name)
            for _ in range(100):
                if got1:
                    break
                await asyncio.sleep(0.02)
            await conn1.close()
            await ch2.default_exchange.publish(aio_pika.Message(b"b"), routing_key=name)
            for _ in range(100):
                if got2:
                    break
                await asyncio.sleep(0.02)
            await ch2.queue_delete(name)
            return got1, got2
        finally:
            await conn2.close()
            if not conn1.is_closed:
                await conn1.close()

    got1, got2 = asyncio.run(asyncio.wait_for(run(), 10))
    assert got1 == [b"a"] and got2 == [b"b"]
