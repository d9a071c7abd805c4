"""x-queue-type: classic, quorum (declare rules, delivery limit, x-delivery-count), refused types."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from qf_helpers import ch_fixture, closed_with, conn_fixture, count, get_all, publish, wait_until  # noqa: F401

QUORUM = {"x-queue-type": "quorum"}


@pytest.fixture
def quorum(ch, uniq):
    """A durable quorum queue, deleted afterwards (quorum queues cannot be exclusive)."""
    made = []

    def make(**args):
        q = uniq("qq")
        ch.queue_declare(q, durable=True, arguments={**QUORUM, **args})
        made.append(q)
        return q

    yield make
    for q in made:
        try:
            ch.queue_delete(q)
        except Exception:
            pass


def get_one(ch, q, auto_ack=False):
    def attempt():
        result = ch.basic_get(q, auto_ack=auto_ack)
        return result if result[0] is not None else None
    return wait_until(attempt, 5)


def test_classic_is_the_default_and_equivalent_to_no_type(ch, uniq):
    q = uniq("classic")
    ch.queue_declare(q, exclusive=True, arguments={"x-queue-type": "classic"})
    ch.queue_declare(q, exclusive=True)


def test_lazy_mode_is_accepted(ch, uniq):
    q = uniq("lazy")
    ch.queue_declare(q, exclusive=True, arguments={"x-queue-mode": "lazy"})
    publish(ch, q, "m")
    assert [b for _, _, b in get_all(ch, q)] == [b"m"]


@pytest.mark.parametrize("durable,exclusive,auto_delete,prop", [
    (False, False, False, "non-durable"),
    (True, True, False, "exclusive-owner"),
    (True, False, True, "auto-delete"),
])
def test_quorum_declare_rules(conn, uniq, durable, exclusive, auto_delete, prop):
    q = uniq("qq")
    code, text = closed_with(conn, lambda c: c.queue_declare(q, durable=durable, exclusive=exclusive,
                                                             auto_delete=auto_delete, arguments=QUORUM))
    assert (code, text) == (406, f"PRECONDITION_FAILED - invalid property '{prop}' for queue '{q}' in vhost '/'")


def test_quorum_cannot_be_server_named(conn):
    code, text = closed_with(conn, lambda c: c.queue_declare("", durable=True, arguments=QUORUM))
    assert (code, text) == (406, "PRECONDITION_FAILED - Cannot declare a server-named queue for type "
                                 "rabbit_quorum_queue")


def test_classic_only_arguments_are_refused_on_quorum(conn, uniq):
    for key, value in (("x-max-priority", 5), ("x-queue-mode", "lazy")):
        q = uniq("qq")
        code, text = closed_with(conn, lambda c: c.queue_declare(q, durable=True,  # noqa: B023 - run at once
                                                                 arguments={**QUORUM, key: value}))  # noqa: B023 - run at once
        assert (code, text) == (406, f"PRECONDITION_FAILED - invalid arg '{key}' for queue '{q}' in vhost '/' "
                                     f"of queue type rabbit_quorum_queue")


def test_quorum_only_arguments_are_refused_on_classic(conn, uniq):
    q = uniq("cq")
    code, text = closed_with(conn, lambda c: c.queue_declare(q, arguments={"x-delivery-limit": 3}))
    assert (code, text) == (406, f"PRECONDITION_FAILED - invalid arg 'x-delivery-limit' for queue '{q}' in "
                                 f"vhost '/' of queue type rabbit_classic_queue")


def test_unknown_queue_type(conn, uniq):
    q = uniq("t")
    code, text = closed_with(conn, lambda c: c.queue_declare(q, arguments={"x-queue-type": "bogus"}))
    assert (code, text) == (406, f"PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue '{q}' in vhost "
                                 f"'/': \"unsupported queue type 'bogus'\"")
    q = uniq("t")
    code, text = closed_with(conn, lambda c: c.queue_declare(q, arguments={"x-queue-type": 7}))
    assert (code, text) == (406, f"PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue '{q}' in vhost "
                                 f"'/': {{unacceptable_type,signedint}}")


def test_stream_is_declared_durable(conn, uniq):
    q = uniq("s")
    ok = conn.channel().queue_declare(q, durable=True, arguments={"x-queue-type": "stream"})
    assert ok.method.message_count == 0 and ok.method.consumer_count == 0
    code, text = closed_with(conn, lambda c: c.queue_declare(q, durable=True))
    assert (code, text) == (406, f"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue '{q}' in "
                                 f"vhost '/': received none but current is the value 'stream' of type 'longstr'")
    conn.channel().queue_delete(q)


def test_redeclare_quorum_without_type_is_inequivalent(conn, quorum):
    q = quorum()
    code, text = closed_with(conn, lambda c: c.queue_declare(q, durable=True))
    assert (code, text) == (406, f"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue '{q}' in "
                                 f"vhost '/': received none but current is the value 'quorum' of type 'longstr'")


def test_quorum_basic_flow(ch, quorum):
    q = quorum()
    for i in range(3):
        publish(ch, q, f"m{i}")
    wait_until(lambda: count(ch, q) == 3)  # RabbitMQ appends to the raft log asynchronously
    got = get_all(ch, q)
    assert [b for _, _, b in got] == [b"m0", b"m1", b"m2"]
    assert all(p.headers == {"x-delivery-count": 0} for _, p, _ in got)  # basic.get always says it


def test_quorum_nack_requeues_at_the_back_and_counts(ch, quorum):
    q = quorum()
    for name in ("a", "b", "c"):
        publish(ch, q, name)
    ma, pa, _ = get_one(ch, q)
    mb, _, _ = get_one(ch, q)
    assert pa.headers == {"x-delivery-count": 0} and not ma.redelivered
    ch.basic_nack(mb.delivery_tag, requeue=True)
    ch.basic_nack(ma.delivery_tag, requeue=True)
    got = []
    for _ in range(3):
        method, props, body = get_one(ch, q, auto_ack=True)
        got.append((body.decode(), method.redelivered, props.headers["x-delivery-count"]))
    assert got == [("c", False, 0), ("b", True, 1), ("a", True, 1)]


def test_quorum_with_delivery_limit_returns_go_first(ch, quorum):
    q = quorum(**{"x-delivery-limit": 5})
    for name in ("a", "b", "c"):
        publish(ch, q, name)
    ma, pa, _ = get_one(ch, q)
    mb, _, _ = get_one(ch, q)
    assert pa.headers == {"x-delivery-count": 0} and not ma.redelivered
    ch.basic_nack(mb.delivery_tag, requeue=True)
    ch.basic_nack(ma.delivery_tag, requeue=True)
    got = []
    for _ in range(3):
        method, props, body = get_one(ch, q, auto_ack=True)
        got.append((body.decode(), method.redelivered, props.headers["x-delivery-count"]))
    assert got == [("b", True, 1), ("a", True, 1), ("c", False, 0)]


def test_quorum_delivery_limit_dead_letters(ch, quorum, uniq):
    dlq = uniq("dlq")
    ch.queue_declare(dlq, exclusive=True)
    q = quorum(**{"x-delivery-limit": 2, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
    publish(ch, q, "poison", headers={"app": "x"})
    counts = []
    for _ in range(3):
        method, props, _ = get_one(ch, q)
        counts.append((props.headers or {}).get("x-delivery-count"))
        ch.basic_nack(method.delivery_tag, requeue=True)
    assert counts == [0, 1, 2]
    _, props, body = get_one(ch, dlq, auto_ack=True)
    assert body == b"poison"
    death = props.headers["x-death"][0]
    assert death["reason"] == "delivery_limit" and death["queue"] == q and death["count"] == 1
    assert props.headers["x-first-death-reason"] == "delivery_limit"
    assert "x-delivery-count" not in props.headers and props.headers["app"] == "x"
    assert count(ch, q) == 0


def test_quorum_closed_channel_returns_go_first(conn, ch, quorum):
    q = quorum()
    for name in ("a", "b", "c"):
        publish(ch, q, name)
    other = conn.channel()
    wait_until(lambda: count(ch, q) == 3)
    ma, _, _ = get_one(other, q)
    mb, _, _ = get_one(other, q)
    other.close()
    got = []
    for _ in range(3):
        method, props, body = get_one(ch, q, auto_ack=True)
        got.append((body.decode(), method.redelivered, props.headers["x-delivery-count"]))
    assert got == [("a", True, 1), ("b", True, 1), ("c", False, 0)]


def test_quorum_reject_dead_letters(ch, quorum, uniq):
    dlq = uniq("dlq")
    ch.queue_declare(dlq, exclusive=True)
    q = quorum(**{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
    publish(ch, q, "m")
    ch.basic_reject(get_one(ch, q)[0].delivery_tag, requeue=False)
    _, props, _ = get_one(ch, dlq, auto_ack=True)
    assert props.headers["x-death"][0]["reason"] == "rejected"


def test_aio_pika_quorum_consumer_sees_delivery_count(broker, uniq):
    async def run():
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(uniq("aqq"), durable=True, arguments=QUORUM)
            try:
                await channel.default_exchange.publish(aio_pika.Message(b"m"), routing_key=queue.name)
                seen = []
                async with queue.iterator() as it:
                    async for message in it:
                        seen.append((message.redelivered, (message.headers or {}).get("x-delivery-count")))
                        if len(seen) == 1:
                            await message.reject(requeue=True)
                        else:
                            await message.ack()
                            break
                return seen
            finally:
                await queue.delete(if_unused=False, if_empty=False)

    assert asyncio.run(asyncio.wait_for(run(), 10)) == [(False, None), (True, 1)]


def test_redeclare_compares_feature_arguments(conn, ch, uniq):
    q = uniq("eq")
    args = {"x-message-ttl": 100, "x-dead-letter-exchange": "dlx", "x-single-active-consumer": False,
            "x-overflow": "reject-publish", "x-max-length": 3}
    ch.queue_declare(q, exclusive=True, arguments=args)
    ch.queue_declare(q, exclusive=True, arguments=dict(args, **{"x-unknown": "ignored"}))
    res = f"queue '{q}' in vhost '/'"
    cases = [
        ({**args, "x-message-ttl": 200}, f"inequivalent arg 'x-message-ttl' for {res}: received '200' but current is '100'"),
        ({**args, "x-single-active-consumer": True},
         f"inequivalent arg 'x-single-active-consumer' for {res}: received 'true' but current is 'false'"),
        ({**args, "x-dead-letter-exchange": "other"},
         f"inequivalent arg 'x-dead-letter-exchange' for {res}: received 'other' but current is 'dlx'"),
        ({k: v for k, v in args.items() if k != "x-max-length"},
         f"inequivalent arg 'x-max-length' for {res}: received none but current is the value '3' of type 'signedint'"),
        ({**args, "x-expires": 1000},
         f"inequivalent arg 'x-expires' for {res}: received the value '1000' of type 'signedint' but current is none"),
    ]
    for new_args, text in cases:
        code, got = closed_with(conn, lambda c: c.queue_declare(q, exclusive=True, arguments=new_args))  # noqa: B023 - run at once
        assert (code, got) == (406, f"PRECONDITION_FAILED - {text}")
