"""Dead-lettering: reasons, the x-death header as RabbitMQ 3.10 writes it, routing, cycles."""

from __future__ import annotations

import asyncio
import datetime
import time

import aio_pika
import pika
from qf_helpers import ch_fixture, closed_with, conn_fixture, count, get_all, publish, wait_until  # noqa: F401


def dlx_setup(ch, uniq, **qargs):
    """A queue dead-lettering into a fanout exchange with one bound exclusive queue."""
    dlx, q, dlq = uniq("dlx"), uniq("src"), uniq("dlq")
    ch.exchange_declare(dlx, "fanout", auto_delete=True)
    ch.queue_declare(dlq, exclusive=True)
    ch.queue_bind(dlq, dlx)
    ch.queue_declare(q, exclusive=True, arguments={"x-dead-letter-exchange": dlx, **qargs})
    return dlx, q, dlq


def get_one(ch, q, timeout=3.0, auto_ack=True):
    """basic.get until a message arrives (dead letters travel asynchronously in RabbitMQ)."""
    def attempt():
        result = ch.basic_get(q, auto_ack=auto_ack)
        return result if result[0] is not None else None
    return wait_until(attempt, timeout)


def test_rejected_message_carries_x_death(ch, uniq):
    dlx, q, dlq = dlx_setup(ch, uniq)
    publish(ch, q, "hello", headers={"zz": "keep", "app": 7}, delivery_mode=2, message_id="m1")
    method, _, _ = ch.basic_get(q)
    before = int(time.time())
    ch.basic_reject(method.delivery_tag, requeue=False)
    method, props, body = get_one(ch, dlq)
    assert body == b"hello"
    assert method.exchange == dlx and method.routing_key == q and not method.redelivered
    assert props.delivery_mode == 2 and props.message_id == "m1"
    h = props.headers
    assert list(h) == ["app", "x-death", "x-first-death-exchange", "x-first-death-queue",
                       "x-first-death-reason", "zz"]  # RabbitMQ sorts the table when it writes it
    assert h["x-first-death-reason"] == "rejected" and h["x-first-death-queue"] == q
    assert h["x-first-death-exchange"] == "" and h["zz"] == "keep" and h["app"] == 7
    [death] = h["x-death"]
    assert list(death) == ["count", "reason", "queue", "time", "exchange", "routing-keys"]
    assert death["count"] == 1 and death["reason"] == "rejected" and death["queue"] == q
    assert death["exchange"] == "" and death["routing-keys"] == [q]
    assert isinstance(death["time"], datetime.datetime)
    assert abs(death["time"].replace(tzinfo=datetime.UTC).timestamp() - before) <= 2
    assert "x-last-death-reason" not in h  # RabbitMQ 3.10 writes only x-first-death-*


def test_nack_multiple_dead_letters_all_in_order(ch, uniq):
    _, q, dlq = dlx_setup(ch, uniq)
    for i in range(3):
        publish(ch, q, f"m{i}")
    tags = [ch.basic_get(q)[0].delivery_tag for _ in range(3)]
    ch.basic_nack(tags[-1], multiple=True, requeue=False)
    wait_until(lambda: count(ch, dlq) == 3)
    assert [b.decode() for _, _, b in get_all(ch, dlq)] == ["m0", "m1", "m2"]
    assert count(ch, q) == 0


def test_requeue_true_does_not_dead_letter(ch, uniq):
    _, q, dlq = dlx_setup(ch, uniq)
    publish(ch, q, "x")
    method, _, _ = ch.basic_get(q)
    ch.basic_nack(method.delivery_tag, requeue=True)
    assert count(ch, q) == 1 and count(ch, dlq) == 0


def test_dead_letter_routing_key_replaces_keys_and_drops_cc(ch, uniq):
    dlx, q, target, other = uniq("dlx"), uniq("src"), uniq("tgt"), uniq("oth")
    ch.exchange_declare(dlx, "direct", auto_delete=True)
    ch.queue_declare(target, exclusive=True)
    ch.queue_declare(other, exclusive=True)
    ch.queue_bind(target, dlx, "dead")
    ch.queue_bind(other, dlx, "cc-key")
    ch.queue_declare(q, exclusive=True, arguments={"x-dead-letter-exchange": dlx,
                                                   "x-dead-letter-routing-key": "dead"})
    publish(ch, q, "m", headers={"CC": ["cc-key"]})
    ch.basic_reject(ch.basic_get(q)[0].delivery_tag, requeue=False)
    method, props, _ = get_one(ch, target)
    assert method.routing_key == "dead" and method.exchange == dlx
    assert "CC" not in props.headers
    assert props.headers["x-death"][0]["routing-keys"] == [q, "cc-key"]
    assert count(ch, other) == 0


def test_without_dl_routing_key_cc_keys_route_again(ch, uniq):
    dlx, q, a, b = uniq("dlx"), uniq("src"), uniq("a"), uniq("b")
    ch.exchange_declare(dlx, "direct", auto_delete=True)
    for name, key in ((a, q), (b, "extra")):
        ch.queue_declare(name, exclusive=True)
        ch.queue_bind(name, dlx, key)
    ch.queue_declare(q, exclusive=True, arguments={"x-dead-letter-exchange": dlx})
    publish(ch, q, "m", headers={"CC": ["extra"]})
    ch.basic_reject(ch.basic_get(q)[0].delivery_tag, requeue=False)
    ma, pa, _ = get_one(ch, a)
    mb, pb, _ = get_one(ch, b)
    assert ma.routing_key == q and mb.routing_key == q
    assert pa.headers["CC"] == ["extra"]
    assert pa.headers["x-death"][0]["routing-keys"] == [q, "extra"]


def test_repeated_deaths_count_up_newest_first(ch, uniq):
    q = uniq("loop")
    # Rejections may cycle: the message comes back to q through the default exchange each time.
    ch.queue_declare(q, exclusive=True, arguments={"x-dead-letter-exchange": "",
                                                   "x-dead-letter-routing-key": q})
    publish(ch, q, "m")
    for _ in range(3):
        method, _, _ = get_one(ch, q, auto_ack=False)
        ch.basic_reject(method.delivery_tag, requeue=False)
    method, props, _ = get_one(ch, q)
    [death] = props.headers["x-death"]
    assert death["count"] == 3 and death["reason"] == "rejected" and death["queue"] == q
    assert list(death) == sorted(death)  # updated entries are written sorted
    assert method.exchange == "" and method.routing_key == q


def test_deaths_in_two_queues_newest_first(ch, uniq):
    q1, q2 = uniq("one"), uniq("two")
    ch.queue_declare(q2, exclusive=True, arguments={"x-dead-letter-exchange": "",
                                                    "x-dead-letter-routing-key": q1})
    ch.queue_declare(q1, exclusive=True, arguments={"x-dead-letter-exchange": "",
                                                    "x-dead-letter-routing-key": q2})
    publish(ch, q1, "m")
    ch.basic_reject(get_one(ch, q1, auto_ack=False)[0].delivery_tag, requeue=False)
    method = get_one(ch, q2, auto_ack=False)[0]
    ch.basic_reject(method.delivery_tag, requeue=False)
    _, props, _ = get_one(ch, q1)
    deaths = props.headers["x-death"]
    assert [(d["queue"], d["count"]) for d in deaths] == [(q2, 1), (q1, 1)]
    assert deaths[0]["exchange"] == "" and deaths[0]["routing-keys"] == [q2]
    assert props.headers["x-first-death-queue"] == q1


def test_expired_cycle_is_dropped(conn, ch, uniq):
    q = uniq("selfttl")
    ch.queue_declare(q, exclusive=True, arguments={"x-message-ttl": 50, "x-dead-letter-exchange": "",
                                                   "x-dead-letter-routing-key": q})
    publish(ch, q, "m")
    time.sleep(0.4)
    assert count(ch, q) == 0


def test_two_queue_expiry_cycle_stops_after_one_lap(ch, uniq):
    a, b, watch = uniq("a"), uniq("b"), uniq("watch")
    fan = uniq("fan")
    ch.exchange_declare(fan, "fanout", auto_delete=True)
    ch.queue_declare(watch, exclusive=True)
    ch.queue_bind(watch, fan)
    ch.queue_declare(a, exclusive=True, arguments={"x-message-ttl": 30, "x-dead-letter-exchange": fan})
    ch.queue_bind(a, fan)
    ch.queue_declare(b, exclusive=True, arguments={"x-message-ttl": 30, "x-dead-letter-exchange": "",
                                                   "x-dead-letter-routing-key": a})
    publish(ch, b, "m")
    # b -> a (expired in b) -> fan: to watch, and back to a, where it already died: dropped there.
    time.sleep(0.5)
    assert count(ch, a) == 0 and count(ch, b) == 0
    got = get_all(ch, watch)
    assert len(got) == 1
    deaths = got[0][1].headers["x-death"]
    assert [(d["queue"], d["reason"]) for d in deaths] == [(a, "expired"), (b, "expired")]


def test_missing_dead_letter_exchange_drops(ch, uniq):
    q = uniq("nodlx")
    ch.queue_declare(q, exclusive=True, arguments={"x-dead-letter-exchange": uniq("nowhere")})
    publish(ch, q, "m")
    ch.basic_reject(ch.basic_get(q)[0].delivery_tag, requeue=False)
    assert count(ch, q) == 0


def test_purge_and_delete_do_not_dead_letter(ch, uniq):
    dlx, q, dlq = dlx_setup(ch, uniq)
    for i in range(3):
        publish(ch, q, f"m{i}")
    assert ch.queue_purge(q).method.message_count == 3
    publish(ch, q, "again")
    assert ch.queue_delete(q).method.message_count == 1
    time.sleep(0.1)
    assert count(ch, dlq) == 0


def test_dead_letter_into_reject_publish_queue_is_dropped(ch, uniq):
    dlx, q, dlq = uniq("dlx"), uniq("src"), uniq("full")
    ch.exchange_declare(dlx, "fanout", auto_delete=True)
    ch.queue_declare(dlq, exclusive=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    ch.queue_bind(dlq, dlx)
    ch.queue_declare(q, exclusive=True, arguments={"x-dead-letter-exchange": dlx})
    publish(ch, q, "a")
    publish(ch, q, "b")
    for _ in range(2):
        ch.basic_reject(ch.basic_get(q)[0].delivery_tag, requeue=False)
    time.sleep(0.1)
    assert [b for _, _, b in get_all(ch, dlq)] == [b"a"]


def test_dead_letter_exchange_must_be_a_string(conn, uniq):
    q = uniq("bad")
    code, text = closed_with(conn, lambda c: c.queue_declare(q, arguments={"x-dead-letter-exchange": 5}))
    assert (code, text) == (406, f"PRECONDITION_FAILED - invalid type 'signedint' for arg "
                                 f"'x-dead-letter-exchange' in queue '{q}' in vhost '/'")
    q = uniq("bad")
    code, text = closed_with(conn, lambda c: c.queue_declare(q, arguments={"x-dead-letter-routing-key": "k"}))
    assert (code, text) == (406, f"PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue "
                                 f"'{q}' in vhost '/': routing_key_but_no_dlx_defined")


def test_aio_pika_reject_to_dead_letter_queue(broker, uniq):
    async def run():
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            dlq = await channel.declare_queue(uniq("adlq"), exclusive=True)
            src = await channel.declare_queue(uniq("asrc"), exclusive=True, arguments={
                "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq.name})
            await channel.default_exchange.publish(
                aio_pika.Message(b"payload", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=src.name)
            message = await src.get(timeout=5)
            await message.reject(requeue=False)
            for _ in range(100):
                dead = await dlq.get(fail=False)
                if dead is not None:
                    return src.name, dead
                await asyncio.sleep(0.02)
            raise AssertionError("nothing dead-lettered")

    src_name, dead = asyncio.run(asyncio.wait_for(run(), 10))
    assert dead.body == b"payload" and dead.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert dead.headers["x-first-death-reason"] == "rejected"
    death = dead.headers["x-death"][0]
    assert death["queue"] == src_name and death["reason"] == "rejected" and death["count"] == 1


def test_pika_select_connection_dead_letter_sees_death(broker, uniq):
    """The same through pika's callback API, where headers arrive on the deliver callback."""
    q, dlq = uniq("sel"), uniq("seldlq")
    conn = pika.BlockingConnection(broker.pika_params())
    try:
        ch = conn.channel()
        ch.queue_declare(dlq, exclusive=True)
        ch.queue_declare(q, exclusive=True, arguments={"x-dead-letter-exchange": "",
                                                       "x-dead-letter-routing-key": dlq})
        publish(ch, q, "x")
        seen = []
        ch.basic_consume(q, lambda c, m, p, b: c.basic_nack(m.delivery_tag, requeue=False), consumer_tag="n")
        ch.basic_consume(dlq, lambda c, m, p, b: seen.append(p.headers), auto_ack=True)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            conn.process_data_events(0.02)
        assert seen and seen[0]["x-death"][0]["reason"] == "rejected"
    finally:
        conn.close()
