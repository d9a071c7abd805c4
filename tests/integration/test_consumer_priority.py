"""Consumer priorities (x-priority on basic.consume): the highest with capacity is served first."""

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


def settle_briefly(conn):
    time.sleep(0.05)
    conn.process_data_events(0.02)


def test_high_priority_consumer_takes_everything_while_it_has_capacity(conn, ch, uniq):
    q = uniq("cp")
    ch.queue_declare(q, exclusive=True)
    low, high = [], []
    ch.basic_consume(q, lambda c, m, p, b: low.append(b), auto_ack=True, consumer_tag="low")
    ch.basic_consume(q, lambda c, m, p, b: high.append(b), auto_ack=True, consumer_tag="high",
                     arguments={"x-priority": 10})
    for i in range(20):
        publish(ch, q, f"m{i}")
    pump(conn, lambda: len(high) == 20)
    settle_briefly(conn)
    assert low == []


def test_lower_priority_gets_messages_when_higher_is_full(conn, ch, uniq):
    q = uniq("cp")
    ch.queue_declare(q, exclusive=True)
    ch.basic_qos(prefetch_count=2)
    low, high = [], []
    ch.basic_consume(q, lambda c, m, p, b: high.append(m.delivery_tag), consumer_tag="high",
                     arguments={"x-priority": 5})
    ch.basic_consume(q, lambda c, m, p, b: low.append(m.delivery_tag), consumer_tag="low",
                     arguments={"x-priority": -3})
    for i in range(3):
        publish(ch, q, f"m{i}")
    pump(conn, lambda: len(high) == 2 and len(low) == 1)
    ch.basic_ack(high[0])
    publish(ch, q, "next")
    pump(conn, lambda: len(high) == 3)
    settle_briefly(conn)
    assert len(low) == 1


def test_equal_priorities_round_robin(conn, ch, uniq):
    q = uniq("cp")
    ch.queue_declare(q, exclusive=True)
    seen = {"a": 0, "b": 0, "z": 0}
    for tag, prio in (("a", 7), ("b", 7), ("z", 1)):
        ch.basic_consume(q, lambda c, m, p, b, tag=tag: seen.__setitem__(tag, seen[tag] + 1), auto_ack=True,
                         consumer_tag=tag, arguments={"x-priority": prio})
    for i in range(10):
        publish(ch, q, f"m{i}")
    pump(conn, lambda: seen["a"] + seen["b"] == 10)
    assert seen == {"a": 5, "b": 5, "z": 0}


def test_priority_must_be_an_integer(conn, uniq):
    q = uniq("cp")
    setup = conn.channel()
    setup.queue_declare(q, exclusive=True)
    code, text = closed_with(conn, lambda c: c.basic_consume(q, lambda *a: None,
                                                             arguments={"x-priority": "high"}))
    assert (code, text) == (406, f"PRECONDITION_FAILED - invalid arg 'x-priority' for queue '{q}' in vhost "
                                 f"'/': \"expected integer, got longstr\"")


def test_broker_advertises_consumer_priorities(conn):
    caps = conn._impl.server_properties["capabilities"]
    assert caps["consumer_priorities"] is True


def test_aio_pika_consumer_priority(broker, uniq):
    async def run():
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(uniq("acp"), exclusive=True)
            low, high = [], []
            await queue.consume(collector(low), no_ack=True, arguments={"x-priority": 1})
            await queue.consume(collector(high), no_ack=True, arguments={"x-priority": 2})
            for i in range(5):
                await channel.default_exchange.publish(aio_pika.Message(b"%d" % i), routing_key=queue.name)
            for _ in range(100):
                if len(high) == 5:
                    break
                await asyncio.sleep(0.02)
            return low, high

    low, high = asyncio.run(asyncio.wait_for(run(), 10))
    assert low == [] and len(high) == 5
