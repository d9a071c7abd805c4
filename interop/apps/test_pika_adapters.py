"""pika programs in its connection adapters: BlockingConnection, SelectConnection, AsyncioConnection."""

from __future__ import annotations

import asyncio
import time

import pika
import pytest
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.exceptions import ChannelClosedByBroker, UnroutableError


def params(url: str, **kw) -> pika.URLParameters:
    p = pika.URLParameters(url)
    p.heartbeat = kw.get("heartbeat", 10)
    p.blocked_connection_timeout = 30
    p.socket_timeout = 10
    return p


# --- BlockingConnection ------------------------------------------------------------------------------------


@pytest.fixture
def blocking(amqp_url):
    conn = pika.BlockingConnection(params(amqp_url))
    yield conn
    if conn.is_open:
        conn.close()


def test_blocking_publish_consume_confirm(blocking, uniq):
    ch = blocking.channel()
    ch.confirm_delivery()
    ex, q = uniq("ex"), uniq("q")
    ch.exchange_declare(ex, "direct", auto_delete=True)
    ch.queue_declare(q, exclusive=True)
    ch.queue_bind(q, ex, routing_key="k")
    for i in range(100):
        ch.basic_publish(ex, "k", str(i).encode(), pika.BasicProperties(delivery_mode=2, headers={"i": i}),
                         mandatory=True)
    ch.basic_qos(prefetch_count=10)
    got = []

    def on_msg(c, method, props, body):
        assert props.headers["i"] == int(body)
        got.append(int(body))
        c.basic_ack(method.delivery_tag)
        if len(got) == 100:
            c.stop_consuming()

    ch.basic_consume(q, on_msg)
    deadline = time.monotonic() + 20
    while len(got) < 100 and time.monotonic() < deadline:
        blocking.process_data_events(time_limit=0.5)
    assert got == list(range(100))
    ch.exchange_delete(ex)


def test_blocking_unroutable_mandatory(blocking, uniq):
    ch = blocking.channel()
    ch.confirm_delivery()
    ex = uniq("ex")
    ch.exchange_declare(ex, "direct", auto_delete=True)
    with pytest.raises(UnroutableError):
        ch.basic_publish(ex, "nobody", b"x", mandatory=True)
    ch.exchange_delete(ex)


def test_blocking_basic_get_nack_requeue(blocking, uniq):
    ch = blocking.channel()
    q = ch.queue_declare(uniq("q"), exclusive=True).method.queue
    ch.basic_publish("", q, b"m1")
    method, _, body = ch.basic_get(q)
    assert body == b"m1" and not method.redelivered
    ch.basic_nack(method.delivery_tag, requeue=True)
    method, _, body = ch.basic_get(q)
    assert body == b"m1" and method.redelivered and method.message_count == 0
    ch.basic_ack(method.delivery_tag)
    assert ch.basic_get(q) == (None, None, None)


def test_blocking_passive_declare_missing_queue(blocking, uniq):
    ch = blocking.channel()
    name = uniq("missing")
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare(name, passive=True)
    assert info.value.reply_code == 404
    assert info.value.reply_text == f"NOT_FOUND - no queue '{name}' in vhost '/'"
    assert blocking.is_open  # a channel error leaves the connection open
    assert blocking.channel().is_open


def test_blocking_transactions(blocking, uniq):
    ch = blocking.channel()
    q = ch.queue_declare(uniq("q"), exclusive=True).method.queue
    ch.tx_select()
    ch.basic_publish("", q, b"rolled-back")
    ch.tx_rollback()
    ch.basic_publish("", q, b"committed")
    ch.tx_commit()
    assert ch.queue_declare(q, passive=True).method.message_count == 1
    assert ch.basic_get(q, auto_ack=True)[2] == b"committed"


def test_blocking_consumer_cancelled_by_queue_delete(blocking, uniq):
    """Deleting a queue cancels its consumers with basic.cancel (consumer_cancel_notify capability)."""
    ch = blocking.channel()
    q = ch.queue_declare(uniq("q")).method.queue
    cancelled = []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    tag = ch.basic_consume(q, lambda *a: None)
    other = blocking.channel()
    other.queue_delete(q)
    deadline = time.monotonic() + 5
    while not cancelled and time.monotonic() < deadline:
        blocking.process_data_events(time_limit=0.2)
    assert cancelled == [tag]


def test_blocking_heartbeats_keep_idle_connection(amqp_url):
    conn = pika.BlockingConnection(params(amqp_url, heartbeat=1))
    try:
        assert conn._impl.params.heartbeat == 1
        deadline = time.monotonic() + 4  # several heartbeat intervals of idle time
        while time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.5)
        assert conn.is_open
        assert conn.channel().is_open
    finally:
        conn.close()


def test_blocking_server_properties(blocking):
    props = blocking._impl.server_properties
    caps = props["capabilities"]
    for cap in ("publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
                "connection.blocked", "authentication_failure_close", "per_consumer_qos", "direct_reply_to"):
        assert caps.get(cap) is True, cap
    assert props["product"] and props["version"]


def test_blocking_direct_reply_to(blocking, uniq):
    """RPC with the amq.rabbitmq.reply-to pseudo queue."""
    server = blocking.channel()
    rpcq = server.queue_declare(uniq("rpc"), exclusive=True).method.queue

    def serve(c, method, props, body):
        c.basic_publish("", props.reply_to, body.upper(), pika.BasicProperties(correlation_id=props.correlation_id))
        c.basic_ack(method.delivery_tag)

    server.basic_consume(rpcq, serve)
    client = blocking.channel()
    replies = []
    client.basic_consume("amq.rabbitmq.reply-to", lambda c, m, p, b: replies.append((p.correlation_id, b)),
                         auto_ack=True)
    client.basic_publish("", rpcq, b"ping", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to",
                                                                  correlation_id="c1"))
    deadline = time.monotonic() + 5
    while not replies and time.monotonic() < deadline:
        blocking.process_data_events(time_limit=0.2)
    assert replies == [("c1", b"PING")]


def test_blocking_bad_credentials(amqp_url):
    p = params(amqp_url)
    p.credentials = pika.PlainCredentials("guest", "wrong-password")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(p)


# --- SelectConnection and AsyncioConnection: one callback-driven program for both -----------------------------


class CallbackProgram:
    """Open, confirm, declare, bind, qos, consume, publish N with confirms, receive N, trip a channel error,
    close -- all through callbacks, as an asynchronous pika application does."""

    N = 200

    def __init__(self, name: str, stop_loop):
        self.name = name
        self.stop_loop = stop_loop
        self.confirms = 0
        self.received: list[int] = []
        self.channel_error = None
        self.closed_reason = None
        self.failed: str | None = None
        self.conn = None
        self.steps: list[str] = []

    def fail(self, why: str) -> None:
        self.failed = self.failed or why
        if self.conn is not None and self.conn.is_open:
            self.conn.close()
        else:
            self.stop_loop()

    def on_open(self, conn):
        self.steps.append("open")
        conn.channel(on_open_callback=self.on_channel)

    def on_open_error(self, conn, err):
        self.fail(f"connection failed: {err!r}")

    def on_conn_closed(self, conn, reason):
        self.closed_reason = reason
        self.stop_loop()

    def on_channel(self, ch):
        self.ch = ch
        ch.add_on_close_callback(self.on_main_channel_closed)
        ch.confirm_delivery(self.on_confirm, callback=lambda _: ch.exchange_declare(
            f"{self.name}-ex", "topic", auto_delete=True, callback=self.on_exchange))

    def on_main_channel_closed(self, ch, reason):
        if not isinstance(reason, pika.exceptions.ChannelClosedByClient):
            self.fail(f"main channel closed: {reason!r}")

    def on_exchange(self, _):
        self.ch.queue_declare("", exclusive=True, callback=self.on_queue)

    def on_queue(self, frame):
        self.queue = frame.method.queue
        self.ch.queue_bind(self.queue, f"{self.name}-ex", routing_key="a.*", callback=self.on_bind)

    def on_bind(self, _):
        self.ch.basic_qos(prefetch_count=20, callback=self.on_qos)

    def on_qos(self, _):
        self.ch.basic_consume(self.queue, self.on_message, callback=self.on_consume_ok)

    def on_consume_ok(self, _):
        self.steps.append("consuming")
        for i in range(self.N):
            self.ch.basic_publish(f"{self.name}-ex", "a.b", str(i).encode(),
                                  pika.BasicProperties(content_type="text/plain", message_id=str(i)))

    def on_confirm(self, frame):
        if isinstance(frame.method, pika.spec.Basic.Ack):
            self.confirms += (frame.method.delivery_tag - self.confirms) if frame.method.multiple else 1
        else:
            self.fail(f"nack: {frame.method}")
        self.maybe_done()

    def on_message(self, ch, method, props, body):
        if props.message_id != body.decode():
            self.fail(f"properties mismatch {props.message_id} {body!r}")
        self.received.append(int(body))
        ch.basic_ack(method.delivery_tag)
        self.maybe_done()

    def maybe_done(self):
        if self.confirms == self.N and len(self.received) == self.N and "channel-error" not in self.steps:
            self.steps.append("channel-error")
            self.conn.channel(on_open_callback=self.on_probe_channel)

    def on_probe_channel(self, ch):
        def closed(c, reason):
            self.channel_error = reason
            self.conn.close()

        ch.add_on_close_callback(closed)
        ch.queue_declare(f"{self.name}-does-not-exist", passive=True)


def check_program(prog: CallbackProgram):
    assert prog.failed is None, prog.failed
    assert prog.received == list(range(prog.N))
    assert prog.confirms == prog.N
    assert isinstance(prog.channel_error, ChannelClosedByBroker)
    assert prog.channel_error.reply_code == 404
    assert isinstance(prog.closed_reason, pika.exceptions.ConnectionClosedByClient)


def test_select_connection_program(amqp_url, uniq):
    prog = CallbackProgram(uniq("select"), stop_loop=lambda: prog.conn.ioloop.stop())
    prog.conn = pika.SelectConnection(params(amqp_url), on_open_callback=prog.on_open,
                                      on_open_error_callback=prog.on_open_error,
                                      on_close_callback=prog.on_conn_closed)
    prog.conn.ioloop.call_later(30, lambda: prog.fail(f"timed out after steps {prog.steps}"))
    prog.conn.ioloop.start()
    check_program(prog)


def test_asyncio_connection_program(amqp_url, uniq):
    loop = asyncio.new_event_loop()
    try:
        prog = CallbackProgram(uniq("asyncio"), stop_loop=loop.stop)
        prog.conn = AsyncioConnection(params(amqp_url), on_open_callback=prog.on_open,
                                      on_open_error_callback=prog.on_open_error,
                                      on_close_callback=prog.on_conn_closed, custom_ioloop=loop)
        loop.call_later(30, lambda: prog.fail(f"timed out after steps {prog.steps}"))
        loop.run_forever()
        check_program(prog)
    finally:
        loop.close()


def test_select_connection_many_channels(amqp_url):
    """Open 50 channels concurrently on one SelectConnection, then close them all."""
    opened, closed = [], []
    conn = None

    def on_open(c):
        for _ in range(50):
            c.channel(on_open_callback=on_channel)

    def on_channel(ch):
        opened.append(ch.channel_number)
        ch.add_on_close_callback(lambda c, r: (closed.append(c.channel_number),
                                               len(closed) == 50 and conn.close()))
        if len(opened) == 50:
            for n in list(conn._channels):
                conn._channels[n].close()

    conn = pika.SelectConnection(params(amqp_url), on_open_callback=on_open,
                                 on_close_callback=lambda c, r: c.ioloop.stop())
    conn.ioloop.call_later(20, conn.ioloop.stop)
    conn.ioloop.start()
    assert sorted(opened) == list(range(1, 51))
    assert sorted(closed) == list(range(1, 51))
