"""Direct reply-to (amq.rabbitmq.reply-to) and connection.update-secret, as RabbitMQ 3.10 does them."""

from __future__ import annotations

import asyncio
import time

import aio_pika
import pika
import pytest
from pamqp import commands as spec
from rawclient import RawClient

PSEUDO = "amq.rabbitmq.reply-to"


def wait_for(conn, cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    return cond()


def get_one(ch, conn, queue, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m, p, b = ch.basic_get(queue, auto_ack=True)
        if m is not None:
            return m, p, b
        conn.process_data_events(time_limit=0.05)
    raise AssertionError(f"nothing arrived in {queue}")


@pytest.fixture
def pair(broker):
    server = pika.BlockingConnection(broker.pika_params())
    client = pika.BlockingConnection(broker.pika_params())
    yield server, client
    for c in (client, server):
        if c.is_open:
            c.close()


def test_reply_reaches_the_requesting_channel(pair, uniq):
    server, client = pair
    sch, cch = server.channel(), client.channel()
    q = uniq("rpc")
    sch.queue_declare(q, auto_delete=True)
    replies = []
    cch.basic_consume(PSEUDO, lambda c, m, p, b: replies.append((b, m.routing_key, p.correlation_id)),
                      auto_ack=True)
    cch.basic_publish("", q, b"question", pika.BasicProperties(reply_to=PSEUDO, correlation_id="c1"))
    _, props, body = get_one(sch, server, q)
    assert props.reply_to.startswith(PSEUDO + ".") and len(props.reply_to) > len(PSEUDO) + 1
    assert props.correlation_id == "c1"
    sch.basic_publish("", props.reply_to, b"answer:" + body, pika.BasicProperties(correlation_id="c1"))
    assert wait_for(client, lambda: replies)
    assert replies == [(b"answer:question", props.reply_to, "c1")]


def test_request_without_reply_consumer_is_refused(broker, uniq):
    conn = pika.BlockingConnection(broker.pika_params())
    ch = conn.channel()
    q = uniq("rpc")
    ch.queue_declare(q, auto_delete=True)
    ch.basic_publish("", q, b"x", pika.BasicProperties(reply_to=PSEUDO))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.queue_declare(q, passive=True)  # the close arrives on the next synchronous call
    assert ei.value.reply_code == 406
    assert ei.value.reply_text == "PRECONDITION_FAILED - fast reply consumer does not exist"
    conn.close()


def test_reply_consumer_must_be_no_ack(broker):
    conn = pika.BlockingConnection(broker.pika_params())
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.basic_consume(PSEUDO, lambda *a: None, auto_ack=False)
    assert ei.value.reply_code == 406
    assert ei.value.reply_text == "PRECONDITION_FAILED - reply consumer cannot acknowledge"
    conn.close()


def test_reply_to_a_closed_channel_is_unroutable(pair, uniq):
    server, client = pair
    sch = server.channel()
    q = uniq("rpc")
    sch.queue_declare(q, auto_delete=True)
    cch = client.channel()
    cch.basic_consume(PSEUDO, lambda *a: None, auto_ack=True)
    cch.basic_publish("", q, b"q", pika.BasicProperties(reply_to=PSEUDO))
    _, props, _ = get_one(sch, server, q)
    cch.close()
    returned = []
    sch.add_on_return_callback(lambda c, m, p, b: returned.append(m.reply_code))
    sch.basic_publish("", props.reply_to, b"late", mandatory=True)
    assert wait_for(server, lambda: returned)
    assert returned == [312]


def test_aio_pika_rpc_with_direct_reply_to(broker, uniq):
    async def main():
        conn = await aio_pika.connect(broker.url)
        async with conn:
            server_ch = await conn.channel()
            q = await server_ch.declare_queue(uniq("rpc"), auto_delete=True)

            async def serve(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    await server_ch.default_exchange.publish(
                        aio_pika.Message(b"pong:" + message.body, correlation_id=message.correlation_id),
                        routing_key=message.reply_to)

            await q.consume(serve)
            client_ch = await conn.channel()
            reply_q = await client_ch.get_queue(PSEUDO, ensure=False)
            answers: asyncio.Queue = asyncio.Queue()
            await reply_q.consume(lambda m: answers.put_nowait((m.body, m.correlation_id)), no_ack=True)
            await client_ch.default_exchange.publish(
                aio_pika.Message(b"ping", reply_to=PSEUDO, correlation_id="42"), routing_key=q.name)
            return await asyncio.wait_for(answers.get(), 10)

    assert asyncio.run(main()) == (b"pong:ping", "42")


def test_update_secret_is_acknowledged(broker):
    with RawClient(broker.host, broker.port).connect() as c:
        c.send_method(0, spec.Connection.UpdateSecret(new_secret="guest", reason="rotation"))
        c.wait_method(0, spec.Connection.UpdateSecretOk, timeout=5)
        # the connection carries on
        c.send_method(1, spec.Channel.Open())
        c.wait_method(1, spec.Channel.OpenOk, timeout=5)
