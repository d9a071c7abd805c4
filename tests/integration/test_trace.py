"""The firehose: amq.rabbitmq.trace and the publish./deliver. copies RabbitMQ's rabbit_trace makes when
tracing is on for a vhost. Header names, order and field types were compared byte for byte with RabbitMQ
3.10.8 after `rabbitmqctl trace_on` (only the node name, queue names and ports differ)."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from pamqp import commands as C
from rawclient import F, RawClient, encode_properties  # tests/integration is on sys.path

pytestmark = pytest.mark.timeout(60)
TRACE = "amq.rabbitmq.trace"
NODE = "amqpd@" + socket.gethostname().split(".")[0]


def walk(table: bytes) -> list[tuple[str, str, object]]:
    """(name, type tag, value) of a field table, in wire order; nested tables as such lists."""
    out, pos = [], 0
    while pos < len(table):
        n = table[pos]
        name = table[pos + 1:pos + 1 + n].decode()
        pos += 1 + n
        tag = chr(table[pos])
        pos += 1
        value, pos = _value(tag, table, pos)
        out.append((name, tag, value))
    return out


def _value(tag: str, data: bytes, pos: int):
    if tag == "S":
        n = struct.unpack_from(">I", data, pos)[0]
        return data[pos + 4:pos + 4 + n].decode(), pos + 4 + n
    if tag == "I":
        return struct.unpack_from(">i", data, pos)[0], pos + 4
    if tag == "F":
        n = struct.unpack_from(">I", data, pos)[0]
        return walk(data[pos + 4:pos + 4 + n]), pos + 4 + n
    if tag == "A":
        n = struct.unpack_from(">I", data, pos)[0]
        items, p, end = [], pos + 4, pos + 4 + n
        while p < end:
            t = chr(data[p])
            v, p = _value(t, data, p + 1)
            items.append((t, v))
        return items, end
    raise AssertionError(f"unexpected field type {tag!r}")


def trace_headers(hdr) -> list:
    props = hdr.header_properties
    assert struct.unpack(">H", props[:2])[0] == 0x2000  # headers only: a transient message
    n = struct.unpack(">I", props[2:6])[0]
    return walk(props[6:6 + n])


@pytest.fixture
def traced(broker_factory):
    b = broker_factory("amqpd.trace.vhosts = /\n")
    c = RawClient(b.host, b.port).connect()
    c.open_channel(1)
    c.open_channel(2)
    tq = c.declare_queue(2, "", exclusive=True).queue
    c.rpc(2, C.Queue.Bind(queue=tq, exchange=TRACE, routing_key="#"), C.Queue.BindOk)
    yield c, tq
    c.close()


def next_trace(c: RawClient, tq: str):
    deadline = time.monotonic() + 3
    while True:
        c.send_method(2, C.Basic.Get(queue=tq, no_ack=True))
        f = c.read_frame()
        if isinstance(f.method, C.Basic.GetOk):
            break
        assert isinstance(f.method, C.Basic.GetEmpty) and time.monotonic() < deadline
        time.sleep(0.02)
    hdr = c.read_frame()
    body = b""
    while len(body) < hdr.body_size:
        body += c.read_frame().payload
    return f.method, hdr, body


def test_publish_and_deliver_are_traced(traced):
    c, tq = traced
    q = c.declare_queue(1, "", exclusive=True).queue
    local = c.sock.getsockname()
    conn_name = f"{local[0]}:{local[1]} -> 127.0.0.1:{c.port}"
    props = encode_properties(
        content_type="text/plain", headers=[("h1", F("S", "v")), ("CC", F("A", [F("S", "cc1")]))],
        delivery_mode=2, priority=3, correlation_id="cid", reply_to="rt", expiration="60000",
        message_id="mid", timestamp=1700000000, type="ty", user_id="guest", app_id="app", cluster_id="clu")
    c.publish(1, b"hello", "", q, properties=props)
    c.publish(1, b"x2", "amq.direct", "nowhere")

    properties = [
        ("cluster_id", "S", "clu"), ("app_id", "S", "app"), ("user_id", "S", "guest"), ("type", "S", "ty"),
        ("timestamp", "I", 1700000000), ("message_id", "S", "mid"), ("expiration", "S", "60000"),
        ("reply_to", "S", "rt"), ("correlation_id", "S", "cid"), ("priority", "I", 3),
        ("delivery_mode", "I", 2), ("headers", "F", [("h1", "S", "v"), ("CC", "A", [("S", "cc1")])]),
        ("content_type", "S", "text/plain")]
    about = [("exchange_name", "S", ""), ("routing_keys", "A", [("S", q), ("S", "cc1")]),
             ("properties", "F", properties), ("node", "S", NODE)]
    who = [("vhost", "S", "/"), ("connection", "S", conn_name), ("channel", "I", 1), ("user", "S", "guest")]

    m, hdr, body = next_trace(c, tq)
    assert (m.exchange, m.routing_key, body) == (TRACE, "publish.", b"hello")
    # the default exchange names a queue per routing key, existing or not (RabbitMQ's usort)
    assert trace_headers(hdr) == about + who + [("routed_queues", "A", sorted([("S", q), ("S", "cc1")]))]

    m, hdr, body = next_trace(c, tq)
    assert (m.routing_key, body) == ("publish.amq.direct", b"x2")
    assert trace_headers(hdr) == [("exchange_name", "S", "amq.direct"), ("routing_keys", "A", [("S", "nowhere")]),
                                  ("properties", "F", []), ("node", "S", NODE)] + who + [("routed_queues", "A", [])]

    # basic.get-ok, then a consumer's redelivery, are traced as deliveries
    c.send_method(1, C.Basic.Get(queue=q, no_ack=False))
    get = c.read_message(1)[0]
    m, hdr, body = next_trace(c, tq)
    assert (m.routing_key, body) == (f"deliver.{q}", b"hello")
    assert trace_headers(hdr) == about + [("redelivered", "I", 0)] + who
    c.send_method(1, C.Basic.Nack(delivery_tag=get.delivery_tag, requeue=True))
    c.rpc(1, C.Basic.Consume(queue=q, consumer_tag="ct", no_ack=True), C.Basic.ConsumeOk)
    deliver = c.read_message(1)[0]
    assert deliver.redelivered is True
    m, hdr, body = next_trace(c, tq)
    assert m.routing_key == f"deliver.{q}"
    assert trace_headers(hdr) == about + [("redelivered", "I", 1)] + who
    c.send_method(2, C.Basic.Get(queue=tq, no_ack=True))
    c.wait_method(2, C.Basic.GetEmpty)  # trace messages themselves are never traced


def test_trace_exchange_is_internal_durable_topic(broker):
    c = RawClient(broker.host, broker.port).connect()
    try:
        c.open_channel(1)
        c.rpc(1, C.Exchange.Declare(exchange=TRACE, exchange_type="topic", durable=True, internal=True),
              C.Exchange.DeclareOk)
        c.publish(1, b"x", TRACE, "publish.x")
        m = c.wait_channel_close(1)
        assert (m.reply_code, m.reply_text) == (
            403, "ACCESS_REFUSED - cannot publish to internal exchange 'amq.rabbitmq.trace' in vhost '/'")
        c.open_channel(1)
        c.send_method(1, C.Exchange.Delete(exchange=TRACE))
        m = c.wait_channel_close(1)
        assert (m.reply_code, m.reply_text) == (
            403, "ACCESS_REFUSED - deletion of system exchange 'amq.rabbitmq.trace' in vhost '/' not allowed")
    finally:
        c.close()


def test_tracing_is_off_by_default(broker):
    c = RawClient(broker.host, broker.port).connect()
    try:
        c.open_channel(1)
        tq = c.declare_queue(1, "", exclusive=True).queue
        c.rpc(1, C.Queue.Bind(queue=tq, exchange=TRACE, routing_key="#"), C.Queue.BindOk)
        q = c.declare_queue(1, "", exclusive=True).queue
        c.publish(1, b"x", "", q)
        c.send_method(1, C.Basic.Get(queue=q, no_ack=True))
        c.read_message(1)
        time.sleep(0.2)
        assert c.rpc(1, C.Queue.Declare(queue=tq, passive=True), C.Queue.DeclareOk).message_count == 0
    finally:
        c.close()
