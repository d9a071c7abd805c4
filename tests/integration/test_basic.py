"""basic.* class behaviour, method by method, as RabbitMQ 3.10 implements it (including error paths).

Every expectation here was checked against a real RabbitMQ 3.10 (run with AMQPD_TEST_URL=...).
Clients: pika (BlockingConnection and SelectConnection), aio-pika, and a raw pamqp socket client for
things pika will not send (immediate=true, duplicate consumer tags, server-generated consumer tags).
"""

from __future__ import annotations

import asyncio
import re
import time

import pika
import pika.exceptions
import pytest
from helpers import (  # tests/integration is on sys.path (rootdir conftest, no packages)
    assert_closed,
    conn_fixture,  # noqa: F401 (fixture)
    connect_fixture,  # noqa: F401 (fixture)
    drain,
    message_count,
    queue_fixture,  # noqa: F401 (fixture)
    raw_fixture,  # noqa: F401 (fixture)
    run_select_connection,
    settle,
    wait_count,
)
from pamqp import commands as C

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------------------------------------------------
# helpers


def rs_queue(broker, name: str) -> str:
    """rabbit_misc:rs/1 of a queue resource."""
    return f"queue '{name}' in vhost '{broker.vhost}'"


def publish_n(ch, queue: str, bodies) -> None:
    for b in bodies:
        ch.basic_publish("", queue, b if isinstance(b, bytes) else str(b).encode())


def get_unacked(ch, queue: str, n: int) -> None:
    """Publish n messages ("0", "1", ...) and basic.get all of them without acking (delivery tags 1..n)."""
    publish_n(ch, queue, range(n))
    wait_count(ch, queue, n)
    for _ in range(n):
        ch.basic_get(queue)


# ---------------------------------------------------------------------------------------------------------
# round trips with three different clients


def test_roundtrip_pika_blocking(conn, queue):
    q = queue()
    ch = conn.channel()
    ch.basic_publish("", q, b"hello", pika.BasicProperties(content_type="text/plain"))
    got = []
    ch.basic_consume(q, lambda c, m, p, b: (got.append((m, p, b)), c.basic_ack(m.delivery_tag)))
    assert drain(conn, lambda: got)
    m, p, b = got[0]
    assert b == b"hello"
    assert p.content_type == "text/plain"
    assert m.exchange == "" and m.routing_key == q
    assert m.delivery_tag == 1 and m.redelivered is False
    settle(conn, 0.2)
    assert message_count(ch, q) == 0


def test_roundtrip_pika_select_connection(broker, queue):
    q = queue()
    result: dict = {"messages": []}

    def on_channel(channel):
        result["channel"] = channel
        channel.basic_consume(q, on_message, callback=on_consume_ok)

    def on_consume_ok(frame):
        result["ctag"] = frame.method.consumer_tag
        for i in range(3):
            result["channel"].basic_publish("", q, f"m{i}".encode())

    def on_message(channel, method, props, body):
        result["messages"].append(body)
        channel.basic_ack(method.delivery_tag)
        if len(result["messages"]) == 3:
            channel.basic_cancel(method.consumer_tag, callback=lambda f: channel.connection.close())

    error, closed = run_select_connection(broker, on_channel)
    assert error is None
    assert result["messages"] == [b"m0", b"m1", b"m2"]
    assert isinstance(closed, pika.exceptions.ConnectionClosedByClient)


def test_roundtrip_aio_pika(broker, queue):
    import aio_pika

    q = queue()

    async def main():
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            await channel.default_exchange.publish(
                aio_pika.Message(b"async hello", headers={"k": "v"}, message_id="id-1"), routing_key=q)
            queue_obj = await channel.get_queue(q, ensure=True)
            async with queue_obj.iterator() as it:
                async for message in it:
                    async with message.process():
                        return message.body, message.headers, message.message_id, message.redelivered

    body, headers, mid, redelivered = asyncio.run(asyncio.wait_for(main(), 15))
    assert body == b"async hello"
    assert headers == {"k": "v"}
    assert mid == "id-1"
    assert redelivered is False


def test_publish_to_default_exchange_routes_by_queue_name(conn, queue):
    q1, q2 = queue(), queue()
    ch = conn.channel()
    ch.basic_publish("", q1, b"one")
    ch.basic_publish("", q2, b"two")
    assert wait_count(ch, q1, 1) == 1
    assert wait_count(ch, q2, 1) == 1
    assert ch.basic_get(q1, auto_ack=True)[2] == b"one"
    assert ch.basic_get(q2, auto_ack=True)[2] == b"two"


def test_message_without_consumers_is_kept(conn, queue):
    q = queue()
    ch = conn.channel()
    ch.basic_publish("", q, b"stay")
    settle(conn, 0.3)
    assert wait_count(ch, q, 1) == 1
    # still there when a consumer turns up later
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    assert drain(conn, lambda: got)
    assert got == [b"stay"]


def test_publish_to_missing_exchange_404(broker, conn, uniq):
    ch = conn.channel()
    name = uniq("nx")
    ch.basic_publish(name, "k", b"x")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.queue_declare("", exclusive=True)
    assert ei.value.reply_code == 404
    assert ei.value.reply_text == f"NOT_FOUND - no exchange '{name}' in vhost '{broker.vhost}'"
    assert conn.is_open


def test_exclusive_queue_of_other_connection(broker, connect):
    owner = connect().channel()
    q = owner.queue_declare("", exclusive=True).method.queue
    locked = (f"RESOURCE_LOCKED - cannot obtain exclusive access to locked {rs_queue(broker, q)}. It could be "
              "originally declared on another connection or the exclusive property value does not match that "
              "of the original declaration.")
    other = connect()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        other.channel().basic_consume(q, lambda *a: None)
    assert (ei.value.reply_code, ei.value.reply_text) == (405, locked)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        other.channel().basic_get(q)
    assert (ei.value.reply_code, ei.value.reply_text) == (405, locked)
    # publishing into somebody else's exclusive queue is allowed
    ch = other.channel()
    ch.basic_publish("", q, b"into-exclusive")
    assert wait_count(owner, q, 1) == 1


# ---------------------------------------------------------------------------------------------------------
# mandatory / immediate


def test_mandatory_unroutable_is_returned(conn, uniq, queue):
    ch = conn.channel()
    returned = []
    ch.add_on_return_callback(lambda c, m, p, b: returned.append((m, p, b)))
    missing = uniq("nobody")
    ch.basic_publish("", missing, b"r1", pika.BasicProperties(message_id="m-1"), mandatory=True)
    ch.basic_publish("amq.direct", missing, b"r2", mandatory=True)
    # not mandatory: silently dropped
    ch.basic_publish("amq.direct", missing, b"dropped")
    # mandatory but routable: not returned
    q = queue()
    ch.basic_publish("", q, b"routed", mandatory=True)
    assert drain(conn, lambda: len(returned) >= 2)
    settle(conn, 0.3)
    assert len(returned) == 2
    (m1, p1, b1), (m2, _p2, b2) = returned
    assert (m1.reply_code, m1.reply_text, m1.exchange, m1.routing_key) == (312, "NO_ROUTE", "", missing)
    assert p1.message_id == "m-1" and b1 == b"r1"
    assert (m2.reply_code, m2.reply_text, m2.exchange, m2.routing_key) == (312, "NO_ROUTE", "amq.direct", missing)
    assert b2 == b"r2"
    assert ch.is_open
    assert wait_count(ch, q, 1) == 1


def test_mandatory_return_select_connection(broker, uniq):
    missing = uniq("nobody")
    returns: list = []

    def on_channel(channel):
        channel.add_on_return_callback(on_return)
        channel.basic_publish("amq.direct", missing, b"back", mandatory=True)

    def on_return(channel, method, props, body):
        returns.append((method.reply_code, method.reply_text, method.routing_key, body))
        channel.connection.close()

    error, _closed = run_select_connection(broker, on_channel)
    assert error is None
    assert returns == [(312, "NO_ROUTE", missing, b"back")]


def test_immediate_true_is_not_implemented(raw, queue):
    q = queue()
    c = raw()
    ch = c.open_channel(1)
    c.publish(ch, b"x", routing_key=q, immediate=True)
    assert_closed(c.wait_close(), 540, "NOT_IMPLEMENTED - immediate=true", (60, 40))


# ---------------------------------------------------------------------------------------------------------
# consumers


def test_server_generated_consumer_tag_and_cancel(raw, queue):
    q = queue()
    c = raw()
    ch = c.open_channel(1)
    ok = c.rpc(ch, C.Basic.Consume(queue=q, consumer_tag=""), C.Basic.ConsumeOk)
    # RabbitMQ: "amq.ctag-" + 16 random bytes in url-safe base64 without padding
    assert re.fullmatch(r"amq\.ctag-[A-Za-z0-9_-]{22}", ok.consumer_tag), ok.consumer_tag
    ok2 = c.rpc(ch, C.Basic.Consume(queue=q, consumer_tag=""), C.Basic.ConsumeOk)
    assert ok2.consumer_tag.startswith("amq.ctag-") and ok2.consumer_tag != ok.consumer_tag
    cancel_ok = c.rpc(ch, C.Basic.Cancel(consumer_tag=ok.consumer_tag), C.Basic.CancelOk)
    assert cancel_ok.consumer_tag == ok.consumer_tag
    # the cancelled consumer gets nothing more, the other one gets the message
    c.publish(ch, b"after-cancel", routing_key=q)
    m, _h, body, _ = c.read_message(ch)
    assert isinstance(m, C.Basic.Deliver) and m.consumer_tag == ok2.consumer_tag and body == b"after-cancel"
    # cancelling an unknown tag is not an error: cancel-ok all the same
    cancel_ok = c.rpc(ch, C.Basic.Cancel(consumer_tag="no-such-tag"), C.Basic.CancelOk)
    assert cancel_ok.consumer_tag == "no-such-tag"
    c.send_method(ch, C.Basic.Ack(delivery_tag=m.delivery_tag))
    c.rpc(ch, C.Basic.Qos(prefetch_count=0), C.Basic.QosOk)  # channel still fine


def test_client_chosen_consumer_tag_is_echoed(raw, queue):
    q = queue()
    c = raw()
    ch = c.open_channel(1)
    ok = c.rpc(ch, C.Basic.Consume(queue=q, consumer_tag="my-tag"), C.Basic.ConsumeOk)
    assert ok.consumer_tag == "my-tag"


def test_duplicate_consumer_tag_is_connection_error(raw, queue):
    q1, q2 = queue(), queue()
    c = raw()
    ch = c.open_channel(1)
    c.rpc(ch, C.Basic.Consume(queue=q1, consumer_tag="dup"), C.Basic.ConsumeOk)
    c.send_method(ch, C.Basic.Consume(queue=q2, consumer_tag="dup"))
    # not_allowed is a "hard" error code, so RabbitMQ closes the whole connection
    assert_closed(c.wait_close(), 530, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'", (60, 20))


def test_same_consumer_tag_on_two_channels_is_fine(raw, queue):
    q = queue()
    c = raw()
    c.open_channel(1)
    c.open_channel(2)
    assert c.rpc(1, C.Basic.Consume(queue=q, consumer_tag="same"), C.Basic.ConsumeOk).consumer_tag == "same"
    assert c.rpc(2, C.Basic.Consume(queue=q, consumer_tag="same"), C.Basic.ConsumeOk).consumer_tag == "same"


def test_exclusive_consume_on_queue_with_consumer_refused(broker, conn, connect, queue):
    q = queue()
    ch1 = conn.channel()
    ch1.basic_consume(q, lambda *a: None)
    ch2 = connect().channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch2.basic_consume(q, lambda *a: None, exclusive=True)
    assert ei.value.reply_code == 403
    assert ei.value.reply_text == f"ACCESS_REFUSED - {rs_queue(broker, q)} in exclusive use"
    # even on the same channel as the existing consumer
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch1.basic_consume(q, lambda *a: None, exclusive=True)
    assert ei.value.reply_code == 403
    assert ei.value.reply_text == f"ACCESS_REFUSED - {rs_queue(broker, q)} in exclusive use"


def test_consume_on_queue_with_exclusive_consumer_refused(broker, conn, connect, queue):
    q = queue()
    ch1 = conn.channel()
    ch1.basic_consume(q, lambda *a: None, exclusive=True)
    ch2 = connect().channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch2.basic_consume(q, lambda *a: None)
    assert ei.value.reply_code == 403
    assert ei.value.reply_text == f"ACCESS_REFUSED - {rs_queue(broker, q)} in exclusive use"
    # the exclusive consumer keeps working
    ch3 = connect().channel()
    ch3.basic_publish("", q, b"to-exclusive")
    got = []
    ch1.basic_cancel(ch1.consumer_tags[0])
    ch1.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True, exclusive=True)
    assert drain(conn, lambda: got)
    assert got == [b"to-exclusive"]


def test_exclusive_consumer_cancel_frees_queue(conn, connect, queue):
    q = queue()
    ch1 = conn.channel()
    tag = ch1.basic_consume(q, lambda *a: None, exclusive=True)
    ch1.basic_cancel(tag)
    ch2 = connect().channel()
    ch2.basic_consume(q, lambda *a: None)  # no error now
    assert ch2.is_open


def test_server_cancels_consumer_when_queue_deleted(conn, connect, queue):
    q = queue()
    ch = conn.channel()
    cancels = []
    ch.add_on_cancel_callback(lambda frame: cancels.append(frame.method))
    tag = ch.basic_consume(q, lambda *a: None)
    assert conn._impl.server_capabilities.get("consumer_cancel_notify") is True
    other = connect().channel()
    assert other.queue_delete(q).method.message_count == 0
    assert drain(conn, lambda: cancels)
    assert cancels[0].consumer_tag == tag
    assert ch.is_open
    assert ch.consumer_tags == []
    # the channel is still usable
    ch.queue_declare("", exclusive=True)


def test_server_cancel_ends_blocking_consume_generator(conn, connect, queue):
    q = queue()
    ch = conn.channel()
    ch.basic_publish("", q, b"first")
    gen = ch.consume(q, inactivity_timeout=0.2)
    method, _props, body = next(gen)
    assert body == b"first"
    ch.basic_ack(method.delivery_tag)
    connect().channel().queue_delete(q)
    # after the broker's basic.cancel the generator yields its pending items then stops
    deadline = time.monotonic() + 5
    ended = False
    while time.monotonic() < deadline:
        try:
            item = next(gen)
        except StopIteration:
            ended = True
            break
        assert item == (None, None, None)
    assert ended
    assert ch.is_open


def test_server_cancel_aio_pika(broker, uniq):
    import aio_pika

    q = uniq("q")

    async def main():
        connection = await aio_pika.connect(broker.url)
        async with connection:
            ch = await connection.channel()
            queue_obj = await ch.declare_queue(q)

            async def on_message(message):
                pass

            tag = await queue_obj.consume(on_message)
            underlay = await ch.get_underlay_channel()
            assert tag in underlay.consumers
            ch2 = await connection.channel()
            await ch2.queue_delete(q)
            # aiormq drops the consumer when the broker's basic.cancel arrives
            while tag in underlay.consumers:
                await asyncio.sleep(0.02)
            # the channel survives the server-side cancel
            await ch.declare_queue(exclusive=True)
            return ch.is_closed

    assert asyncio.run(asyncio.wait_for(main(), 15)) is False


# ---------------------------------------------------------------------------------------------------------
# basic.get


def test_get_and_get_empty_with_message_count(conn, queue):
    q = queue()
    ch = conn.channel()
    assert ch.basic_get(q) == (None, None, None)  # get-empty
    publish_n(ch, q, [1, 2, 3])
    assert wait_count(ch, q, 3) == 3
    counts = []
    for expected in (b"1", b"2", b"3"):
        m, _p, b = ch.basic_get(q, auto_ack=True)
        assert b == expected
        assert m.redelivered is False and m.exchange == "" and m.routing_key == q
        counts.append(m.message_count)
    # message_count in get-ok = messages still ready in the queue after this one
    assert counts == [2, 1, 0]
    assert ch.basic_get(q) == (None, None, None)


def test_get_empty_raw_reserved_field(raw, queue):
    q = queue()
    c = raw()
    ch = c.open_channel(1)
    c.send_method(ch, C.Basic.Get(queue=q))
    empty = c.wait_method(ch, C.Basic.GetEmpty)
    assert empty.cluster_id == ""


def test_get_delivery_tags_increase_and_unacked_count(conn, queue):
    q = queue()
    ch = conn.channel()
    publish_n(ch, q, [1, 2, 3])
    wait_count(ch, q, 3)
    tags = [ch.basic_get(q)[0].delivery_tag for _ in range(3)]
    assert tags == [1, 2, 3]
    assert message_count(ch, q) == 0  # unacked do not count as ready
    ch.basic_ack(3, multiple=True)
    settle(conn, 0.1)
    assert message_count(ch, q) == 0


def test_consume_from_missing_queue_404(broker, raw, uniq):
    name = uniq("missing")
    c = raw()
    ch = c.open_channel(1)
    c.send_method(ch, C.Basic.Consume(queue=name))
    assert_closed(c.wait_channel_close(ch), 404, f"NOT_FOUND - no {rs_queue(broker, name)}", (60, 20))


def test_get_from_missing_queue_404(broker, conn, uniq):
    ch = conn.channel()
    name = uniq("missing")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.basic_get(name)
    assert ei.value.reply_code == 404
    assert ei.value.reply_text == f"NOT_FOUND - no {rs_queue(broker, name)}"


# ---------------------------------------------------------------------------------------------------------
# ack / nack / reject


def test_requeued_messages_keep_original_position(conn, queue):
    q = queue()
    ch = conn.channel()
    publish_n(ch, q, [1, 2, 3, 4, 5])
    wait_count(ch, q, 5)
    got = [ch.basic_get(q) for _ in range(5)]
    assert [b for _, _, b in got] == [b"1", b"2", b"3", b"4", b"5"]
    assert [m.delivery_tag for m, _, _ in got] == [1, 2, 3, 4, 5]
    ch.basic_nack(2, multiple=False, requeue=True)
    ch.basic_nack(4, multiple=False, requeue=True)
    ch.basic_reject(3, requeue=True)
    assert wait_count(ch, q, 3) == 3
    received = []
    ch.basic_consume(q, lambda c, m, p, b: received.append((b, m.redelivered, m.delivery_tag)))
    assert drain(conn, lambda: len(received) >= 3)
    settle(conn, 0.2)
    assert [(b, r) for b, r, _ in received] == [(b"2", True), (b"3", True), (b"4", True)]
    # delivery tags keep counting on the channel
    assert [t for _, _, t in received] == [6, 7, 8]
    ch.basic_ack(0, multiple=True)
    settle(conn, 0.1)
    assert message_count(ch, q) == 0


def test_nack_multiple_requeue_and_reject_discard(conn, queue):
    q = queue()
    ch = conn.channel()
    publish_n(ch, q, [1, 2, 3, 4])
    wait_count(ch, q, 4)
    for _ in range(4):
        ch.basic_get(q)
    ch.basic_nack(3, multiple=True, requeue=True)  # 1, 2, 3 back, 4 still unacked
    assert wait_count(ch, q, 3) == 3
    ch.basic_reject(4, requeue=False)  # dropped
    settle(conn, 0.1)
    assert message_count(ch, q) == 3
    bodies = []
    for _ in range(3):
        m, _p, b = ch.basic_get(q)
        assert m.redelivered is True
        bodies.append(b)
        ch.basic_nack(m.delivery_tag, requeue=False)  # dropped
    assert bodies == [b"1", b"2", b"3"]
    settle(conn, 0.1)
    assert message_count(ch, q) == 0
    assert ch.basic_get(q) == (None, None, None)


def test_nack_multiple_zero_requeues_all(conn, queue):
    q = queue()
    ch = conn.channel()
    publish_n(ch, q, [1, 2, 3])
    wait_count(ch, q, 3)
    for _ in range(3):
        ch.basic_get(q)
    ch.basic_nack(0, multiple=True, requeue=True)
    assert wait_count(ch, q, 3) == 3
    assert [ch.basic_get(q, auto_ack=True)[2] for _ in range(3)] == [b"1", b"2", b"3"]


def test_ack_unknown_delivery_tag_closes_channel(conn, queue):
    q = queue()
    ch = conn.channel()
    ch.basic_ack(42)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.queue_declare(q, passive=True)
    assert ei.value.reply_code == 406
    assert ei.value.reply_text == "PRECONDITION_FAILED - unknown delivery tag 42"
    assert conn.is_open  # a channel error only


def test_ack_unknown_tag_close_names_basic_ack(raw):
    c = raw()
    ch = c.open_channel(1)
    c.send_method(ch, C.Basic.Ack(delivery_tag=42))
    assert_closed(c.wait_channel_close(ch), 406, "PRECONDITION_FAILED - unknown delivery tag 42", (60, 80))
    # reject and nack name themselves
    ch = c.open_channel(2)
    c.send_method(ch, C.Basic.Reject(delivery_tag=7))
    assert_closed(c.wait_channel_close(ch), 406, "PRECONDITION_FAILED - unknown delivery tag 7", (60, 90))
    ch = c.open_channel(3)
    c.send_method(ch, C.Basic.Nack(delivery_tag=8))
    assert_closed(c.wait_channel_close(ch), 406, "PRECONDITION_FAILED - unknown delivery tag 8", (60, 120))
    # delivery tag 0 without multiple is unknown as well
    ch = c.open_channel(4)
    c.send_method(ch, C.Basic.Ack(delivery_tag=0, multiple=False))
    close = c.wait_channel_close(ch)
    assert (close.reply_code, close.reply_text) == (406, "PRECONDITION_FAILED - unknown delivery tag 0")


def test_double_ack_closes_channel(conn, queue):
    q = queue()
    ch = conn.channel()
    ch.basic_publish("", q, b"x")
    wait_count(ch, q, 1)
    m, _, _ = ch.basic_get(q)
    ch.basic_ack(m.delivery_tag)
    ch.basic_ack(m.delivery_tag)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.queue_declare(q, passive=True)
    assert ei.value.reply_code == 406
    assert ei.value.reply_text == f"PRECONDITION_FAILED - unknown delivery tag {m.delivery_tag}"


def test_ack_of_auto_ack_delivery_is_unknown(conn, queue):
    q = queue()
    ch = conn.channel()
    ch.basic_publish("", q, b"x")
    wait_count(ch, q, 1)
    m, _, _ = ch.basic_get(q, auto_ack=True)
    ch.basic_ack(m.delivery_tag)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.queue_declare(q, passive=True)
    assert (ei.value.reply_code, ei.value.reply_text) == (406, "PRECONDITION_FAILED - unknown delivery tag 1")


def test_ack_multiple_zero_acks_all_outstanding(conn, queue):
    q = queue()
    ch = conn.channel()
    get_unacked(ch, q, 5)
    ch.basic_ack(0, multiple=True)
    # nothing outstanding any more: a second multiple/0 ack is a no-op, not an error
    ch.basic_ack(0, multiple=True)
    settle(conn, 0.1)
    assert message_count(ch, q) == 0
    ch.close()  # nothing requeued on close
    ch = conn.channel()
    settle(conn, 0.2)
    assert message_count(ch, q) == 0


def test_ack_multiple_acks_up_to_tag_only(conn, queue):
    q = queue()
    ch = conn.channel()
    get_unacked(ch, q, 5)
    ch.basic_ack(3, multiple=True)
    ch.close()  # 4 and 5 were unacked: requeued
    ch = conn.channel()
    assert wait_count(ch, q, 2) == 2
    got = [ch.basic_get(q, auto_ack=True) for _ in range(2)]
    assert [(b, m.redelivered) for m, _, b in got] == [(b"3", True), (b"4", True)]


def test_ack_multiple_unknown_tag_above_outstanding_is_error(conn, queue):
    q = queue()
    ch = conn.channel()
    get_unacked(ch, q, 2)
    ch.basic_ack(10, multiple=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.queue_declare(q, passive=True)
    assert (ei.value.reply_code, ei.value.reply_text) == (406, "PRECONDITION_FAILED - unknown delivery tag 10")
    # the failed ack acked nothing: both messages are back in the queue
    ch = conn.channel()
    assert wait_count(ch, q, 2) == 2


# ---------------------------------------------------------------------------------------------------------
# qos


def _count_unacked_per_consumer(conn, ch, q, n_consumers, n_messages, settle_s=0.5):
    got: dict[str, list] = {}
    for i in range(n_consumers):
        tag = f"c{i}"
        got[tag] = []
        ch.basic_consume(q, lambda c, m, p, b: got[m.consumer_tag].append(b), consumer_tag=tag)
    publish_n(ch, q, range(n_messages))
    settle(conn, settle_s)
    return got


@pytest.mark.parametrize("qos,counts,left", [
    ([(2, False)], {"c0": 2, "c1": 2}, 6),
    # the channel-wide limit is shared; round-robin hands out c0, c1, c0 and then the channel is full
    ([(3, True)], {"c0": 2, "c1": 1}, 7),
    # each consumer at most 2, the channel at most 3
    ([(2, False), (3, True)], {"c0": 2, "c1": 1}, 7),
    # RabbitMQ 3.10: a per-consumer basic.qos lifts the global limit set before it
    ([(3, True), (2, False)], {"c0": 2, "c1": 2}, 6),
], ids=["per_consumer", "global_is_per_channel", "global_and_per_consumer_combined", "per_consumer_lifts_global"])
def test_qos_prefetch_limits(conn, queue, qos, counts, left):
    q = queue()
    ch = conn.channel()
    for prefetch_count, global_qos in qos:
        ch.basic_qos(prefetch_count=prefetch_count, global_qos=global_qos)
    got = _count_unacked_per_consumer(conn, ch, q, 2, 10)
    assert {k: len(v) for k, v in got.items()} == counts
    assert message_count(ch, q) == left


def test_qos_per_consumer_applies_to_later_consumers_only(conn, queue):
    q = queue()
    ch = conn.channel()
    got = {"early": [], "late": []}
    ch.basic_consume(q, lambda c, m, p, b: got["early"].append(b), consumer_tag="early")
    ch.basic_qos(prefetch_count=2, global_qos=False)
    ch.basic_consume(q, lambda c, m, p, b: got["late"].append(b), consumer_tag="late")
    publish_n(ch, q, range(10))
    settle(conn, 0.5)
    assert len(got["late"]) == 2
    assert len(got["early"]) == 8


def test_qos_ack_releases_next_message(conn, queue):
    q = queue()
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1)
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(m))
    publish_n(ch, q, range(3))
    settle(conn, 0.3)
    assert len(got) == 1
    ch.basic_ack(got[0].delivery_tag)
    assert drain(conn, lambda: len(got) == 2)
    settle(conn, 0.2)
    assert len(got) == 2
    ch.basic_ack(got[1].delivery_tag)
    assert drain(conn, lambda: len(got) == 3)


def test_qos_prefetch_size_not_implemented(conn):
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as ei:
        ch.basic_qos(prefetch_size=1000, prefetch_count=1)
    assert ei.value.reply_code == 540
    assert ei.value.reply_text == "NOT_IMPLEMENTED - prefetch_size!=0 (1000)"


# ---------------------------------------------------------------------------------------------------------
# recover


def test_recover_requeue_redelivers_unacked(conn, queue):
    q = queue()
    ch = conn.channel()
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append((b, m.redelivered)))
    publish_n(ch, q, [1, 2, 3])
    assert drain(conn, lambda: len(got) == 3)
    assert got == [(b"1", False), (b"2", False), (b"3", False)]
    ch.basic_recover(requeue=True)
    assert drain(conn, lambda: len(got) == 6)
    assert got[3:] == [(b"1", True), (b"2", True), (b"3", True)]
    ch.basic_ack(0, multiple=True)
    settle(conn, 0.2)
    assert len(got) == 6


def test_recover_requeue_false_is_not_implemented(raw):
    c = raw()
    ch = c.open_channel(1)
    c.send_method(ch, C.Basic.Recover(requeue=False))
    assert_closed(c.wait_close(), 540, "NOT_IMPLEMENTED - requeue=false", (60, 110))


# ---------------------------------------------------------------------------------------------------------
# distribution and requeue on close


def test_round_robin_three_consumers(conn, queue):
    q = queue()
    ch = conn.channel()
    order = []
    for i in range(3):
        ch.basic_consume(q, lambda c, m, p, b: order.append((m.consumer_tag, b)), auto_ack=True,
                         consumer_tag=f"rr{i}")
    publish_n(ch, q, range(9))
    assert drain(conn, lambda: len(order) == 9)
    assert order == [(f"rr{i % 3}", str(i).encode()) for i in range(9)]


def test_unacked_requeued_when_channel_closes(conn, connect, queue):
    q = queue()
    ch1 = conn.channel()
    first = []
    ch1.basic_consume(q, lambda c, m, p, b: first.append(b))
    publish_n(ch1, q, [1, 2, 3])
    assert drain(conn, lambda: len(first) == 3)
    conn2 = connect()
    ch2 = conn2.channel()
    second = []
    ch2.basic_consume(q, lambda c, m, p, b: second.append((b, m.redelivered)), auto_ack=True)
    settle(conn2, 0.2)
    assert second == []  # ch1 still holds them
    ch1.close()
    assert drain(conn2, lambda: len(second) == 3)
    assert second == [(b"1", True), (b"2", True), (b"3", True)]


def test_unacked_requeued_when_connection_closes(connect, queue):
    q = queue()
    conn1 = connect()
    ch1 = conn1.channel()
    first = []
    ch1.basic_consume(q, lambda c, m, p, b: first.append(b))
    publish_n(ch1, q, [1, 2])
    assert drain(conn1, lambda: len(first) == 2)
    conn2 = connect()
    ch2 = conn2.channel()
    second = []
    ch2.basic_consume(q, lambda c, m, p, b: second.append((b, m.redelivered)), auto_ack=True)
    conn1.close()
    assert drain(conn2, lambda: len(second) == 2)
    assert second == [(b"1", True), (b"2", True)]


def test_unacked_get_requeued_when_channel_closes(conn, queue):
    q = queue()
    ch = conn.channel()
    publish_n(ch, q, [1])
    wait_count(ch, q, 1)
    m, _, _ = ch.basic_get(q)
    assert m.redelivered is False
    ch.close()
    ch = conn.channel()
    assert wait_count(ch, q, 1) == 1
    m, _, b = ch.basic_get(q, auto_ack=True)
    assert b == b"1" and m.redelivered is True


def test_no_ack_consumer(conn, queue):
    q = queue()
    ch = conn.channel()
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(m), auto_ack=True)
    publish_n(ch, q, range(5))
    assert drain(conn, lambda: len(got) == 5)
    assert [m.delivery_tag for m in got] == [1, 2, 3, 4, 5]
    ch.close()  # nothing to requeue
    ch = conn.channel()
    settle(conn, 0.2)
    assert message_count(ch, q) == 0


def test_cancel_keeps_unacked_deliveries_ackable(conn, queue):
    q = queue()
    ch = conn.channel()
    got = []
    tag = ch.basic_consume(q, lambda c, m, p, b: got.append(m))
    publish_n(ch, q, [1, 2])
    assert drain(conn, lambda: len(got) == 2)
    ch.basic_cancel(tag)
    # cancelling does not requeue; the deliveries can still be acked
    settle(conn, 0.1)
    assert message_count(ch, q) == 0
    ch.basic_ack(got[1].delivery_tag, multiple=True)
    ch.close()
    ch = conn.channel()
    settle(conn, 0.2)
    assert message_count(ch, q) == 0
