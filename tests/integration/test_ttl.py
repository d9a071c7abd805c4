"""Message TTL: x-message-ttl, the expiration property, expiry at the head and by timer, TTL 0."""

from __future__ import annotations

import asyncio
import time

import aio_pika
import pika
from qf_helpers import ch_fixture, closed_with, conn_fixture, count, get_all, publish, wait_until  # noqa: F401


def test_queue_ttl_expires_without_consumers(ch, uniq):
    q = uniq("ttl")
    ch.queue_declare(q, exclusive=True, arguments={"x-message-ttl": 300})
    for i in range(5):
        publish(ch, q, f"m{i}")
    assert count(ch, q) > 0
    wait_until(lambda: count(ch, q) == 0, timeout=3)  # a timer removes them, nobody has to look


def test_per_message_expiration_expires_by_timer(ch, uniq):
    q = uniq("exp")
    ch.queue_declare(q, exclusive=True)
    publish(ch, q, "short", expiration="80")
    wait_until(lambda: count(ch, q) == 0, timeout=3)


def test_basic_get_never_returns_an_expired_message(ch, uniq):
    q = uniq("exp")
    ch.queue_declare(q, exclusive=True)
    publish(ch, q, "old", expiration="50")
    publish(ch, q, "fresh")
    time.sleep(0.15)
    assert [b for _, _, b in get_all(ch, q)] == [b"fresh"]


def test_lower_of_queue_and_message_ttl_applies(ch, uniq):
    q1, q2 = uniq("a"), uniq("b")
    ch.queue_declare(q1, exclusive=True, arguments={"x-message-ttl": 60000})
    ch.queue_declare(q2, exclusive=True, arguments={"x-message-ttl": 80})
    publish(ch, q1, "msg-short", expiration="80")
    publish(ch, q2, "queue-short", expiration="60000")
    wait_until(lambda: count(ch, q1) == 0 and count(ch, q2) == 0, timeout=3)


def test_per_message_ttl_only_expires_at_the_head(ch, uniq):
    q = uniq("head")
    ch.queue_declare(q, exclusive=True)
    publish(ch, q, "long", expiration="60000")
    publish(ch, q, "short", expiration="50")
    time.sleep(0.2)
    assert count(ch, q) == 2  # "short" is expired but not at the head yet
    method, _, body = ch.basic_get(q, auto_ack=True)
    assert body == b"long"
    assert ch.basic_get(q, auto_ack=True)[0] is None


def test_ttl_zero_reaches_a_waiting_consumer(conn, ch, uniq):
    q = uniq("zero")
    ch.queue_declare(q, exclusive=True, arguments={"x-message-ttl": 0})
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    publish(ch, q, "now")
    wait_until(lambda: conn.process_data_events(0.01) or got, timeout=3)
    assert got == [b"now"]


def test_ttl_zero_without_consumer_is_gone_at_once(ch, uniq):
    q = uniq("zero")
    ch.queue_declare(q, exclusive=True, arguments={"x-message-ttl": 0})
    publish(ch, q, "gone")
    assert count(ch, q) == 0
    q2 = uniq("zero-exp")
    ch.queue_declare(q2, exclusive=True)
    publish(ch, q2, "gone", expiration="0")
    assert count(ch, q2) == 0


def test_expiration_zero_goes_to_a_consumer_with_capacity_only(conn, ch, uniq):
    q = uniq("zero")
    ch.queue_declare(q, exclusive=True)
    ch.basic_qos(prefetch_count=1)
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b))
    publish(ch, q, "first", expiration="0")
    wait_until(lambda: conn.process_data_events(0.01) or got, timeout=3)
    publish(ch, q, "second", expiration="0")  # the consumer is at its prefetch limit: expires
    time.sleep(0.1)
    conn.process_data_events(0.05)
    assert got == [b"first"]
    assert count(ch, q) == 0


def test_requeued_message_keeps_its_deadline(ch, uniq):
    q = uniq("requeue")
    ch.queue_declare(q, exclusive=True, arguments={"x-message-ttl": 150})
    publish(ch, q, "m")
    method, _, _ = ch.basic_get(q)
    time.sleep(0.3)
    ch.basic_nack(method.delivery_tag, requeue=True)
    assert ch.basic_get(q, auto_ack=True)[0] is None


def test_unacked_messages_do_not_expire(ch, uniq):
    q = uniq("unacked")
    ch.queue_declare(q, exclusive=True, arguments={"x-message-ttl": 50})
    publish(ch, q, "m")
    method, _, _ = ch.basic_get(q)
    time.sleep(0.15)
    ch.basic_ack(method.delivery_tag)  # still a valid delivery


def test_expired_messages_dead_letter_with_original_expiration(ch, uniq):
    q, dlq = uniq("src"), uniq("dlq")
    ch.queue_declare(dlq, exclusive=True)
    ch.queue_declare(q, exclusive=True, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq,
                                                   "x-message-ttl": 60000})
    publish(ch, q, "per-msg", expiration="60", delivery_mode=2)
    wait_until(lambda: count(ch, dlq) == 1, timeout=3)
    method, props, body = ch.basic_get(dlq, auto_ack=True)
    assert body == b"per-msg" and props.expiration is None and props.delivery_mode == 2
    [death] = props.headers["x-death"]
    assert list(death) == ["count", "reason", "queue", "time", "exchange", "routing-keys", "original-expiration"]
    assert death["reason"] == "expired" and death["original-expiration"] == "60" and death["queue"] == q
    assert props.headers["x-first-death-reason"] == "expired"


def test_queue_ttl_dead_letters_without_original_expiration(ch, uniq):
    q, dlq = uniq("src"), uniq("dlq")
    ch.queue_declare(dlq, exclusive=True)
    ch.queue_declare(q, exclusive=True, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq,
                                                   "x-message-ttl": 50})
    for i in range(3):
        publish(ch, q, f"m{i}")
    wait_until(lambda: count(ch, dlq) == 3, timeout=3)
    got = get_all(ch, dlq)
    assert [b for _, _, b in got] == [b"m0", b"m1", b"m2"]
    assert "original-expiration" not in got[0][1].headers["x-death"][0]


def test_invalid_expiration_closes_the_channel(conn, uniq):
    cases = {
        "abc": "no_integer",
        "": "no_integer",
        "-1": "{value_negative,-1}",
        "10abc": '{leftover_string,"abc"}',
        "1.5": '{leftover_string,".5"}',
        "315360000001": "{value_too_large,315360000001}",
    }
    for value, err in cases.items():
        code, text = closed_with(conn, lambda c: (
            c.basic_publish("", "whatever", b"x", pika.BasicProperties(expiration=value)),  # noqa: B023 - run at once
            c.queue_declare("", exclusive=True)))
        assert (code, text) == (406, f"PRECONDITION_FAILED - invalid expiration '{value}': {err}")


def test_valid_odd_expirations_are_accepted(ch, uniq):
    q = uniq("odd")
    ch.queue_declare(q, exclusive=True)
    for value in ("+60000", "007000", "-0"):
        publish(ch, q, value, expiration=value)
    got = get_all(ch, q)
    assert [(b.decode(), p.expiration) for _, p, b in got][:2] == [("+60000", "+60000"), ("007000", "007000")]


def test_message_ttl_validation(conn, uniq):
    cases = {-1: "{value_negative,-1}", "10": '"expected integer, got longstr"',
             315360000001: "{value_too_large,315360000001}"}
    for value, err in cases.items():
        q = uniq("bad")
        code, text = closed_with(conn, lambda c: c.queue_declare(q, arguments={"x-message-ttl": value}))  # noqa: B023 - run at once
        assert (code, text) == (406, f"PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue '{q}' in "
                                     f"vhost '/': {err}")


def test_aio_pika_expiration_and_dead_letter(broker, uniq):
    async def run():
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            dlq = await channel.declare_queue(uniq("adlq"), exclusive=True)
            src = await channel.declare_queue(uniq("asrc"), exclusive=True, arguments={
                "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq.name})
            await channel.default_exchange.publish(aio_pika.Message(b"soon", expiration=0.1),
                                                   routing_key=src.name)
            await channel.default_exchange.publish(aio_pika.Message(b"later"), routing_key=src.name)
            for _ in range(150):
                dead = await dlq.get(fail=False, no_ack=True)
                if dead is not None:
                    live = await src.get(no_ack=True)
                    return dead, live
                await asyncio.sleep(0.02)
            raise AssertionError("nothing expired")

    dead, live = asyncio.run(asyncio.wait_for(run(), 10))
    assert dead.body == b"soon" and dead.expiration is None
    assert dead.headers["x-death"][0]["original-expiration"] == "100"
    assert live.body == b"later"


def test_expiration_on_a_plain_queue_after_it_emptied(ch, uniq):
    q = uniq("plain")
    ch.queue_declare(q, exclusive=True)
    publish(ch, q, "a", expiration="60000")
    method, _, _ = ch.basic_get(q)  # the queue is empty now, the delivery still has its deadline
    publish(ch, q, "b")
    assert [b for _, _, b in get_all(ch, q)] == [b"b"]
    publish(ch, q, "c", expiration="50")
    time.sleep(0.15)
    assert ch.basic_get(q, auto_ack=True)[0] is None
    ch.basic_nack(method.delivery_tag, requeue=True)
    assert [b for _, _, b in get_all(ch, q)] == [b"a"]


def test_requeued_expired_message_on_a_plain_queue_is_dropped(ch, uniq):
    q = uniq("plain")
    ch.queue_declare(q, exclusive=True)
    publish(ch, q, "x", expiration="100")
    method, _, _ = ch.basic_get(q)
    time.sleep(0.25)
    ch.basic_nack(method.delivery_tag, requeue=True)
    assert ch.basic_get(q, auto_ack=True)[0] is None
