"""x-expires: an unused queue is deleted after its time; consumers, basic.get and redeclare reset it."""

from __future__ import annotations

import asyncio
import time

import aio_pika
import pika
from qf_helpers import ch_fixture, closed_with, conn_fixture, publish  # noqa: F401


def exists(conn, name: str) -> bool:
    channel = conn.channel()
    try:
        channel.queue_declare(name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        assert exc.reply_code == 404
        return False
    channel.close()
    return True


def expires_eventually(conn, name: str, expires_ms: int, attempts: int = 5) -> bool:
    """A passive declare is itself a use that restarts the countdown, so look only after waiting
    well past the expiry each time."""
    for _ in range(attempts):
        time.sleep(expires_ms / 1000 * 2.5)
        conn.process_data_events(0)
        if not exists(conn, name):
            return True
    return False


def test_passive_declare_counts_as_use(conn, ch, uniq):
    q = uniq("exp")
    ch.queue_declare(q, arguments={"x-expires": 200})
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        assert exists(conn, q)
        time.sleep(0.05)
    assert expires_eventually(conn, q, 200)


def test_unused_queue_expires(conn, ch, uniq):
    q = uniq("exp")
    ch.queue_declare(q, arguments={"x-expires": 150})
    publish(ch, q, "messages do not keep it alive")
    assert expires_eventually(conn, q, 150)


def test_consumer_keeps_queue_then_cancel_starts_the_clock(conn, ch, uniq):
    q = uniq("exp")
    ch.queue_declare(q, arguments={"x-expires": 150})
    tag = ch.basic_consume(q, lambda *a: None, auto_ack=True)
    time.sleep(0.4)
    conn.process_data_events(0)
    assert exists(conn, q)
    ch.basic_cancel(tag)
    assert expires_eventually(conn, q, 150)


def test_closing_the_consumer_channel_starts_the_clock(conn, uniq):
    q = uniq("exp")
    c1 = conn.channel()
    c1.queue_declare(q, arguments={"x-expires": 150})
    c1.basic_consume(q, lambda *a: None, auto_ack=True)
    time.sleep(0.3)
    assert exists(conn, q)
    c1.close()
    assert expires_eventually(conn, q, 150)


def test_basic_get_and_redeclare_reset_the_clock(conn, ch, uniq):
    q = uniq("exp")
    ch.queue_declare(q, arguments={"x-expires": 250})
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        ch.basic_get(q, auto_ack=True)
        time.sleep(0.08)
    assert exists(conn, q)
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        ch.queue_declare(q, arguments={"x-expires": 250})
        time.sleep(0.08)
    assert exists(conn, q)
    assert expires_eventually(conn, q, 150)


def test_expires_validation(conn, uniq):
    for value, err in ((0, "{value_zero,0}"), (-5, "{value_negative,-5}"),
                       ("x", '"expected integer, got longstr"')):
        q = uniq("bad")
        code, text = closed_with(conn, lambda c: c.queue_declare(q, arguments={"x-expires": value}))  # noqa: B023 - run at once
        assert (code, text) == (406, f"PRECONDITION_FAILED - invalid arg 'x-expires' for queue '{q}' in vhost "
                                     f"'/': {err}")


def test_aio_pika_queue_expires(broker, uniq):
    async def run():
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(uniq("aexp"), arguments={"x-expires": 150})
            for _ in range(10):
                await asyncio.sleep(0.4)  # a passive declare is a use: look only after the expiry
                probe = await connection.channel()
                try:
                    await probe.declare_queue(queue.name, passive=True)
                except aio_pika.exceptions.ChannelNotFoundEntity:
                    return True
                await probe.close()
            return False

    assert asyncio.run(asyncio.wait_for(run(), 10))
