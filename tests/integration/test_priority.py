"""x-max-priority: per-priority FIFO, capped priorities, requeue position, prefetch, validation."""

from __future__ import annotations

import asyncio

import aio_pika
import pika
from qf_helpers import bodies, ch_fixture, closed_with, conn_fixture, connect, publish  # noqa: F401


def declare(ch, name, **args):
    ch.queue_declare(name, exclusive=True, arguments=args)


def test_highest_priority_first_fifo_within_priority(ch, uniq):
    q = uniq("prio")
    declare(ch, q, **{"x-max-priority": 10})
    for body, prio in [("a1", 1), ("b5", 5), ("c3", 3), ("d5", 5), ("e0", 0), ("f", None), ("g10", 10),
                       ("h1", 1)]:
        publish(ch, q, body, priority=prio)
    assert bodies(ch, q) == ["g10", "b5", "d5", "c3", "a1", "h1", "e0", "f"]


def test_priority_above_max_counts_as_max(ch, uniq):
    q = uniq("prio")
    declare(ch, q, **{"x-max-priority": 3})
    publish(ch, q, "p3", priority=3)
    publish(ch, q, "p200", priority=200)
    publish(ch, q, "p2", priority=2)
    publish(ch, q, "p9", priority=9)
    assert bodies(ch, q) == ["p3", "p200", "p9", "p2"]


def test_without_max_priority_the_property_is_ignored(ch, uniq):
    q = uniq("fifo")
    declare(ch, q)
    for i, prio in enumerate([1, 9, 0, 5]):
        publish(ch, q, f"m{i}", priority=prio)
    assert bodies(ch, q) == ["m0", "m1", "m2", "m3"]


def test_max_priority_zero_is_accepted_and_fifo(ch, uniq):
    q = uniq("prio0")
    declare(ch, q, **{"x-max-priority": 0})
    for i, prio in enumerate([1, 9, 0]):
        publish(ch, q, f"m{i}", priority=prio)
    assert bodies(ch, q) == ["m0", "m1", "m2"]


def test_requeue_returns_to_place_within_priority(ch, uniq):
    q = uniq("prio")
    declare(ch, q, **{"x-max-priority": 5})
    publish(ch, q, "a", priority=5)
    publish(ch, q, "b", priority=5)
    publish(ch, q, "c", priority=1)
    publish(ch, q, "d", priority=5)
    m1, _, _ = ch.basic_get(q)
    m2, _, _ = ch.basic_get(q)
    ch.basic_nack(m2.delivery_tag, requeue=True)  # b goes back before d
    ch.basic_nack(m1.delivery_tag, requeue=True)  # a goes back before b
    got = []
    while True:
        method, _, body = ch.basic_get(q, auto_ack=True)
        if method is None:
            break
        got.append((body.decode(), method.redelivered))
    assert got == [("a", True), ("b", True), ("d", False), ("c", False)]


def test_prefetch_and_round_robin_hold(conn, ch, uniq):
    q = uniq("prio")
    declare(ch, q, **{"x-max-priority": 9})
    for i in range(6):
        publish(ch, q, f"lo{i}", priority=1)
    for i in range(6):
        publish(ch, q, f"hi{i}", priority=8)
    c2 = conn.channel()
    ch.basic_qos(prefetch_count=1)
    c2.basic_qos(prefetch_count=1)
    seen: dict[str, list] = {"a": [], "b": []}

    def handler(name, channel):
        def on(_ch, method, _props, body):
            seen[name].append(body.decode())
            channel.basic_ack(method.delivery_tag)
        return on

    ch.basic_consume(q, handler("a", ch), consumer_tag="a")
    c2.basic_consume(q, handler("b", c2), consumer_tag="b")
    import time
    deadline = time.monotonic() + 5
    while len(seen["a"]) + len(seen["b"]) < 12 and time.monotonic() < deadline:
        conn.process_data_events(0.02)
    assert sorted(seen["a"] + seen["b"]) == sorted([f"lo{i}" for i in range(6)] + [f"hi{i}" for i in range(6)])
    assert seen["a"] and seen["b"]
    for name in ("a", "b"):  # each consumer saw every high before any low, in order
        got = seen[name]
        his = [x for x in got if x.startswith("hi")]
        assert his == sorted(his, key=lambda s: int(s[2:]))
        if any(x.startswith("lo") for x in got):
            first_lo = next(i for i, x in enumerate(got) if x.startswith("lo"))
            assert all(x.startswith("lo") for x in got[first_lo:])


def test_redeclare_with_other_max_priority_is_inequivalent(conn, ch, uniq):
    q = uniq("prio")
    declare(ch, q, **{"x-max-priority": 5})
    code, text = closed_with(conn, lambda c: c.queue_declare(q, exclusive=True, arguments={"x-max-priority": 6}))
    assert code == 406
    assert text == (f"PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue '{q}' in vhost '/': "
                    "received '6' but current is '5'")
    ch.queue_declare(q, exclusive=True, arguments={"x-max-priority": 5})


def test_max_priority_validation(conn, uniq):
    cases = {
        256: "{max_value_exceeded,256}",
        -1: "{value_negative,-1}",
        "high": '"expected integer, got longstr"',
        True: '"expected integer, got bool"',
    }
    for value, err in cases.items():
        q = uniq("bad")
        code, text = closed_with(conn, lambda c: c.queue_declare(q, arguments={"x-max-priority": value}))  # noqa: B023 - run at once
        assert (code, text) == (406, f"PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '{q}' "
                                     f"in vhost '/': {err}")


def test_aio_pika_priority_consume(broker, uniq):
    async def run():
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(uniq("aprio"), exclusive=True, arguments={"x-max-priority": 4})
            for body, prio in [("x", 0), ("y", 4), ("z", 2), ("w", 4)]:
                await channel.default_exchange.publish(aio_pika.Message(body.encode(), priority=prio),
                                                       routing_key=queue.name)
            got = []
            async with queue.iterator() as it:
                async for message in it:
                    async with message.process():
                        got.append(message.body.decode())
                    if len(got) == 4:
                        break
            return got

    assert asyncio.run(asyncio.wait_for(run(), 10)) == ["y", "w", "z", "x"]


def test_pika_blocking_priority_survives_many_messages(ch, uniq):
    q = uniq("prio")
    declare(ch, q, **{"x-max-priority": 9})
    import random
    rnd = random.Random(7)
    sent = [(i, rnd.randint(0, 9)) for i in range(300)]
    for i, prio in sent:
        ch.basic_publish("", q, str(i).encode(), pika.BasicProperties(priority=prio))
    expected = [str(i) for i, _ in sorted(sent, key=lambda t: (-t[1], t[0]))]
    assert bodies(ch, q) == expected
