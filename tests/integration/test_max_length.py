"""x-max-length / x-max-length-bytes with each x-overflow mode, confirms, and dead-lettering."""

from __future__ import annotations

import asyncio
import time

import aio_pika
import pika
import pytest
from qf_helpers import ch_fixture, closed_with, conn_fixture, count, get_all, publish, wait_until  # noqa: F401


def names(got):
    return [b.decode() for _, _, b in got]


def declare_with_dlq(ch, uniq, **args):
    q, dlq = uniq("lim"), uniq("dlq")
    ch.queue_declare(dlq, exclusive=True)
    ch.queue_declare(q, exclusive=True, arguments={"x-dead-letter-exchange": "",
                                                   "x-dead-letter-routing-key": dlq, **args})
    return q, dlq


def test_drop_head_is_the_default_and_dead_letters_maxlen(ch, uniq):
    q, dlq = declare_with_dlq(ch, uniq, **{"x-max-length": 3})
    for i in range(5):
        publish(ch, q, f"m{i}")
    assert names(get_all(ch, q)) == ["m2", "m3", "m4"]
    wait_until(lambda: count(ch, dlq) == 2)
    dead = get_all(ch, dlq)
    assert names(dead) == ["m0", "m1"]
    death = dead[0][1].headers["x-death"][0]
    assert death["reason"] == "maxlen" and death["queue"] == q
    assert dead[0][1].headers["x-first-death-reason"] == "maxlen"


def test_max_length_bytes_counts_bodies(ch, uniq):
    q = uniq("bytes")
    ch.queue_declare(q, exclusive=True, arguments={"x-max-length-bytes": 25})
    for i in range(4):
        publish(ch, q, f"{i}" * 10, headers={"padding": "x" * 100})  # headers do not count
    assert names(get_all(ch, q)) == ["2" * 10, "3" * 10]


def test_both_limits_apply(ch, uniq):
    q = uniq("both")
    ch.queue_declare(q, exclusive=True, arguments={"x-max-length": 10, "x-max-length-bytes": 4})
    for i in range(4):
        publish(ch, q, f"m{i}")
    assert names(get_all(ch, q)) == ["m2", "m3"]


def test_reject_publish_nacks_with_confirms(ch, uniq):
    q = uniq("rej")
    ch.queue_declare(q, exclusive=True, arguments={"x-max-length": 2, "x-overflow": "reject-publish"})
    ch.confirm_delivery()
    publish(ch, q, "a")
    publish(ch, q, "b")
    with pytest.raises(pika.exceptions.NackError):
        publish(ch, q, "c")
    assert count(ch, q) == 2
    ch.basic_get(q, auto_ack=True)
    publish(ch, q, "d")
    assert names(get_all(ch, q)) == ["b", "d"]


def test_reject_publish_without_confirms_drops_silently(ch, uniq):
    q = uniq("rej")
    ch.queue_declare(q, exclusive=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    for i in range(3):
        publish(ch, q, f"m{i}")
    assert names(get_all(ch, q)) == ["m0"]


def test_reject_publish_does_not_dead_letter(ch, uniq):
    q, dlq = declare_with_dlq(ch, uniq, **{"x-max-length": 1, "x-overflow": "reject-publish"})
    publish(ch, q, "kept")
    publish(ch, q, "refused")
    time.sleep(0.1)
    assert count(ch, dlq) == 0 and count(ch, q) == 1


def test_reject_publish_dlx_nacks_and_dead_letters(ch, uniq):
    q, dlq = declare_with_dlq(ch, uniq, **{"x-max-length": 1, "x-overflow": "reject-publish-dlx"})
    ch.confirm_delivery()
    publish(ch, q, "kept")
    with pytest.raises(pika.exceptions.NackError):
        publish(ch, q, "refused")
    wait_until(lambda: count(ch, dlq) == 1)
    [(_, props, body)] = get_all(ch, dlq)
    assert body == b"refused" and props.headers["x-death"][0]["reason"] == "maxlen"
    assert names(get_all(ch, q)) == ["kept"]


def test_max_length_zero_feeds_a_waiting_consumer_only(conn, ch, uniq):
    q = uniq("zero")
    ch.queue_declare(q, exclusive=True, arguments={"x-max-length": 0})
    publish(ch, q, "lost")
    assert count(ch, q) == 0
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    publish(ch, q, "taken")
    wait_until(lambda: conn.process_data_events(0.01) or got)
    assert got == [b"taken"]


def test_requeue_over_the_limit_drops_the_head(ch, uniq):
    q, dlq = declare_with_dlq(ch, uniq, **{"x-max-length": 2})
    publish(ch, q, "m0")
    publish(ch, q, "m1")
    method, _, _ = ch.basic_get(q)
    publish(ch, q, "m2")
    ch.basic_nack(method.delivery_tag, requeue=True)  # m0 back at the head: three ready, limit two
    assert names(get_all(ch, q)) == ["m1", "m2"]
    wait_until(lambda: count(ch, dlq) == 1)
    assert names(get_all(ch, dlq)) == ["m0"]


def test_drop_head_on_a_priority_queue_drops_the_highest_priority(ch, uniq):
    q = uniq("prio")
    ch.queue_declare(q, exclusive=True, arguments={"x-max-length": 2, "x-max-priority": 5})
    publish(ch, q, "low", priority=1)
    publish(ch, q, "high", priority=5)
    publish(ch, q, "mid", priority=3)  # over the limit: the head, i.e. "high", goes
    assert names(get_all(ch, q)) == ["mid", "low"]


def test_confirms_stay_in_order_across_nacks(broker, uniq):
    async def run():
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            queue = await channel.declare_queue(uniq("order"), exclusive=True, arguments={
                "x-max-length": 2, "x-overflow": "reject-publish"})
            results = await asyncio.gather(*[
                channel.default_exchange.publish(aio_pika.Message(f"m{i}".encode()), routing_key=queue.name)
                for i in range(5)], return_exceptions=True)
            other = await channel.default_exchange.publish(aio_pika.Message(b"elsewhere"),
                                                           routing_key=uniq("unrouted"))
            return results, other

    results, other = asyncio.run(asyncio.wait_for(run(), 10))
    assert [isinstance(r, Exception) for r in results] == [False, False, True, True, True]
    assert not isinstance(other, Exception)


def test_max_length_validation(conn, uniq):
    cases = [("x-max-length", -1, "{value_negative,-1}"),
             ("x-max-length", "1", '"expected integer, got longstr"'),
             ("x-max-length-bytes", -5, "{value_negative,-5}"),
             ("x-overflow", "drop-tail", "invalid_overflow"),
             ("x-overflow", 1, "{unacceptable_type,signedint}")]
    for key, value, err in cases:
        q = uniq("bad")
        code, text = closed_with(conn, lambda c: c.queue_declare(q, arguments={key: value}))  # noqa: B023 - run at once
        assert (code, text) == (406, f"PRECONDITION_FAILED - invalid arg '{key}' for queue '{q}' in vhost "
                                     f"'/': {err}")


def test_reject_publish_with_max_length_zero_refuses_even_with_a_consumer(conn, ch, uniq):
    q = uniq("zero")
    ch.queue_declare(q, exclusive=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    ch.confirm_delivery()
    with pytest.raises(pika.exceptions.NackError):
        publish(ch, q, "refused")
    conn.process_data_events(0.1)
    assert got == []
