"""Message content: body framing, basic properties, header field tables byte for byte, content errors.

Every expectation here was checked against a real RabbitMQ 3.10 (run with AMQPD_TEST_URL=...), except the
max_message_size test, which needs a private amqpd configuration (its text is RabbitMQ 3.10.8's
rabbit_channel:check_msg_size/3).
"""

from __future__ import annotations

import os
import time
from decimal import Decimal

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
)
from pamqp import commands as C
from rawclient import (
    FRAME_BODY,
    FRAME_HEADER,
    FRAME_METHOD,
    ConnectionClosedError,
    F,
    RawClient,
    encode_properties,
    encode_table,
)

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------------------------------------------------
# helpers


def consume_one(conn, ch, q, timeout=10.0):
    got = []
    tag = ch.basic_consume(q, lambda c, m, p, b: got.append((m, p, b)), auto_ack=True)
    assert drain(conn, lambda: got, timeout)
    ch.basic_cancel(tag)
    return got[0]


def start_publish(raw, queue) -> tuple[RawClient, int, str]:
    """A fresh queue, a raw connection with channel 1 open, and on it a basic.publish to the queue without
    its content: the test sends the content frames itself (or not)."""
    q = queue()
    c = raw()
    ch = c.open_channel(1)
    c.send_method(ch, C.Basic.Publish(exchange="", routing_key=q))
    return c, ch, q


def raw_get(c: RawClient, ch: int, q: str):
    c.send_method(ch, C.Basic.Get(queue=q, no_ack=True))
    return c.read_message(ch)


# ---------------------------------------------------------------------------------------------------------
# bodies and framing


@pytest.mark.parametrize("size", [1024 * 1024, 300 * 1024])
@pytest.mark.parametrize("frame_max", [131072, 4096])
def test_large_bodies_pika(connect, queue, size, frame_max):
    q = queue()
    conn = connect(frame_max=frame_max)
    ch = conn.channel()
    body = os.urandom(size)
    ch.basic_publish("", q, body)
    _m, _p, got = consume_one(conn, ch, q)
    assert len(got) == size
    assert got == body


def test_large_body_server_splits_by_negotiated_frame_max(raw, queue):
    q = queue()
    c = raw(frame_max=4096)
    assert c.frame_max == 4096
    ch = c.open_channel(1)
    body = os.urandom(300 * 1024)
    c.publish(ch, body, routing_key=q)
    _m, hdr, got, frames = raw_get(c, ch, q)
    assert hdr.body_size == len(body)
    assert got == body
    # every body frame but the last carries exactly frame_max - 8 octets
    assert all(len(f) == 4088 for f in frames[:-1])
    assert 0 < len(frames[-1]) <= 4088
    assert len(frames) == -(-len(body) // 4088)


def test_empty_body(conn, raw, queue):
    q = queue()
    ch = conn.channel()
    ch.basic_publish("", q, b"", pika.BasicProperties(message_id="empty"))
    _m, p, b = consume_one(conn, ch, q)
    assert b == b"" and p.message_id == "empty"
    # on the wire: a content header with body size 0 and no body frame at all
    c = raw()
    rch = c.open_channel(1)
    c.publish(rch, b"", routing_key=q)
    m, hdr, body, frames = raw_get(c, rch, q)
    assert isinstance(m, C.Basic.GetOk)
    assert hdr.body_size == 0 and body == b"" and frames == []
    # the next frame on the channel is the reply to the next method, not a body frame
    c.send_method(rch, C.Basic.Get(queue=q))
    c.wait_method(rch, C.Basic.GetEmpty)


def test_zero_body_size_content_is_complete_after_header(raw, queue):
    c, ch, q = start_publish(raw, queue)
    c.send_header(ch, 0, encode_properties())
    # content is complete right after the header: the next method is processed normally
    c.rpc(ch, C.Basic.Qos(prefetch_count=0), C.Basic.QosOk)
    _m, hdr, _body, frames = raw_get(c, ch, q)
    assert hdr.body_size == 0 and frames == []


def test_empty_body_frame_after_zero_size_header_is_unexpected(raw, queue):
    """With body size 0 no body frame may follow, not even an empty one."""
    c, ch, _q = start_publish(raw, queue)
    c.send_header(ch, 0)
    c.send_body(ch, b"")
    assert_closed(c.wait_close(), 505,
                  "UNEXPECTED_FRAME - expected method frame, got non method frame instead", (0, 0))


def test_zero_length_body_frames_inside_body_are_fine(raw, queue):
    c, ch, q = start_publish(raw, queue)
    c.send_header(ch, 3)
    c.send_body(ch, b"a")
    c.send_body(ch, b"")
    c.send_body(ch, b"bc")
    _m, _hdr, body, _ = raw_get(c, ch, q)
    assert body == b"abc"


@pytest.mark.parametrize("delta,expected_frames", [(-8, [4088]), (-7, [4088, 1]), (-9, [4087])])
def test_body_at_frame_max_boundary(raw, connect, queue, delta, expected_frames):
    q = queue()
    size = 4096 + delta
    body = os.urandom(size)
    # publish with pika negotiated to frame_max 4096 (pika splits at frame_max - 8)
    pconn = connect(frame_max=4096)
    pch = pconn.channel()
    pch.basic_publish("", q, body)
    # receive with a raw client that also negotiated 4096 to see the server's frames
    c = raw(frame_max=4096)
    ch = c.open_channel(1)
    deadline = time.monotonic() + 5
    while True:
        ok = c.rpc(ch, C.Queue.Declare(queue=q, passive=True), C.Queue.DeclareOk)
        if ok.message_count == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    _m, hdr, got, frames = raw_get(c, ch, q)
    assert got == body
    assert [len(f) for f in frames] == expected_frames
    # and pika receives it intact too
    pch.basic_publish("", q, body)
    _m, _p, got2 = consume_one(pconn, pch, q)
    assert got2 == body


def test_raw_publish_split_at_frame_max(raw, queue):
    """The server reassembles bodies sent as many maximal frames and as many tiny frames."""
    q = queue()
    c = raw(frame_max=4096)
    ch = c.open_channel(1)
    body = bytes(range(256)) * 40  # 10240 bytes
    c.publish(ch, body, routing_key=q)  # 4088 + 4088 + 2064
    c.send_method(ch, C.Basic.Publish(exchange="", routing_key=q))
    c.send_header(ch, len(body))
    for i in range(0, len(body), 1000):
        c.send_body(ch, body[i:i + 1000])
    for _ in range(2):
        _m, _hdr, got, _ = raw_get(c, ch, q)
        assert got == body


# ---------------------------------------------------------------------------------------------------------
# properties


ALL_PROPS = dict(
    content_type="application/json",
    content_encoding="gzip",
    headers={"h1": "v1", "n": 42, "nested": {"a": [1, "two"]}},
    delivery_mode=2,
    priority=7,
    correlation_id="corr-1",
    reply_to="reply.queue",
    expiration="60000",
    message_id="msg-1",
    timestamp=1700000000,
    type="my.type",
    user_id="guest",
    app_id="the-app",
    # cluster_id is "reserved, must be empty" in 0-9-1 errata, but RabbitMQ passes it through unchanged
    cluster_id="cluster-x",
)


def test_all_basic_properties_roundtrip_pika(conn, queue):
    q = queue()
    ch = conn.channel()
    ch.basic_publish("", q, b"props", pika.BasicProperties(**ALL_PROPS))
    _m, p, b = consume_one(conn, ch, q)
    assert b == b"props"
    for name, value in ALL_PROPS.items():
        got = getattr(p, name)
        if name == "headers":
            got = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in got.items()}
        assert got == value, name


def test_no_properties_roundtrip_raw(raw, queue):
    q = queue()
    c = raw()
    ch = c.open_channel(1)
    c.publish(ch, b"bare", routing_key=q, properties=encode_properties())
    _m, hdr, body, _ = raw_get(c, ch, q)
    assert hdr.header_properties == b"\x00\x00"
    assert body == b"bare"


def test_all_properties_byte_exact_raw(raw, queue):
    q = queue()
    c = raw()
    ch = c.open_channel(1)
    props = encode_properties(
        content_type="text/plain", content_encoding="utf-8", headers=[("k", F("S", "v"))], delivery_mode=1,
        priority=0, correlation_id="c", reply_to="r", expiration="60000", message_id="m", timestamp=2**40,
        type="t", user_id="guest", app_id="a", cluster_id="cl",
    )
    c.publish(ch, b"x", routing_key=q, properties=props)
    _m, hdr, _body, _ = raw_get(c, ch, q)
    assert hdr.header_properties == props
    assert hdr.payload[:4] == b"\x00\x3c\x00\x00"  # class 60, weight 0


def header_table_all_types():
    return [
        ("longstr", F("S", "hello")),
        ("long-longstr", F("S", "é" * 2000)),
        ("empty-str", F("S", "")),
        ("i8", F("b", -128)),
        ("u8", F("B", 255)),
        ("i16", F("s", -32768)),
        ("u16", F("u", 65535)),
        ("i32", F("I", -2147483648)),
        ("u32", F("i", 4294967295)),
        ("i64", F("l", -(2**63))),
        ("f32", F("f", 1.5)),
        ("f64", F("d", -2.25e100)),
        ("decimal", F("D", Decimal("-3.14159"))),
        ("decimal-raw", F("D", (2, 12345))),
        ("timestamp", F("T", 1700000000)),
        ("true", F("t", True)),
        ("false", F("t", False)),
        ("bytes", F("x", b"\x00\x01\xfe\xff")),
        ("empty-bytes", F("x", b"")),
        ("void", F("V")),
        ("table", F("F", [
            ("inner", F("S", "x")),
            ("deeper", F("F", [("n", F("I", 1)), ("arr", F("A", [F("t", True), F("V")]))])),
            ("empty", F("F", [])),
        ])),
        ("array", F("A", [
            F("b", 1), F("B", 2), F("s", 3), F("u", 4), F("I", 5), F("i", 6), F("l", 7),
            F("f", 0.5), F("d", 0.25), F("D", (1, 5)), F("T", 9), F("t", False), F("x", b"\x7f"), F("V"),
            F("S", "in-array"), F("F", [("k", F("S", "v"))]), F("A", [F("A", [])]),
        ])),
        ("empty-array", F("A", [])),
        # same key twice is representable on the wire; kept verbatim
        ("dup", F("S", "first")),
        ("dup", F("S", "second")),
    ]


def test_header_field_types_byte_exact(raw, queue):
    q = queue(durable=True)
    table = encode_table(header_table_all_types())
    props = encode_properties(content_type="application/octet-stream", headers=table, delivery_mode=2,
                              message_id="typed")
    c = raw()
    ch = c.open_channel(1)
    # via basic.get ...
    c.publish(ch, b"typed-1", routing_key=q, properties=props)
    m, hdr, body, _ = raw_get(c, ch, q)
    assert isinstance(m, C.Basic.GetOk) and body == b"typed-1"
    assert hdr.header_properties == props
    # ... and via basic.deliver
    c.rpc(ch, C.Basic.Consume(queue=q, consumer_tag="typed", no_ack=True), C.Basic.ConsumeOk)
    c.publish(ch, b"typed-2", routing_key=q, properties=props)
    m, hdr, body, _ = c.read_message(ch)
    assert isinstance(m, C.Basic.Deliver) and body == b"typed-2"
    assert hdr.header_properties == props


def test_header_field_types_decoded_by_pika(raw, conn, queue):
    """The same typed table decodes to the expected values in a client (sanity check of the encoder)."""
    q = queue()
    table = encode_table([("i8", F("b", -5)), ("u32", F("i", 4294967295)), ("i64", F("l", -(2**40))),
                          ("d", F("D", Decimal("1.25"))), ("t", F("t", True)), ("V", F("V")),
                          ("tbl", F("F", [("a", F("A", [F("I", 1), F("S", "s")]))]))])
    c = raw()
    ch = c.open_channel(1)
    c.publish(ch, b"x", routing_key=q, properties=encode_properties(headers=table))
    pch = conn.channel()
    _m, p, _b = consume_one(conn, pch, q)
    h = p.headers
    assert h["i8"] == -5 and h["u32"] == 4294967295 and h["i64"] == -(2**40)
    assert h["d"] == Decimal("1.25") and h["t"] is True and h["V"] is None
    assert h["tbl"] == {"a": [1, "s"]}  # pika hands back valid UTF-8 longstrs as str


# ---------------------------------------------------------------------------------------------------------
# property validation


def test_user_id_must_match_authenticated_user(conn, raw, queue):
    q = queue()
    ch = conn.channel()
    ch.basic_publish("", q, b"x", pika.BasicProperties(user_id="bob"))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.queue_declare(q, passive=True)
    assert ei.value.reply_code == 406
    assert ei.value.reply_text == "PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was 'guest'"
    assert conn.is_open
    ch = conn.channel()
    assert message_count(ch, q) == 0
    # the close names basic.publish
    c = raw()
    rch = c.open_channel(1)
    c.publish(rch, b"x", routing_key=q, properties=encode_properties(user_id="bob"))
    close = c.wait_channel_close(rch)
    assert close.reply_code == 406 and (close.class_id, close.method_id) == (60, 40)


@pytest.mark.parametrize("expiration,text", [
    ("abc", "PRECONDITION_FAILED - invalid expiration 'abc': no_integer"),
    ("-1", "PRECONDITION_FAILED - invalid expiration '-1': {value_negative,-1}"),
])
def test_invalid_expiration(raw, queue, expiration, text):
    q = queue()
    c = raw()
    ch = c.open_channel(1)
    c.publish(ch, b"x", routing_key=q, properties=encode_properties(expiration=expiration))
    assert_closed(c.wait_channel_close(ch), 406, text, (60, 40))


def test_max_message_size_configured(broker_factory):
    b = broker_factory("max_message_size = 2048\n")
    c = RawClient(b.host, b.port).connect()
    try:
        ch = c.open_channel(1)
        q = "mms-q"
        c.declare_queue(ch, q)
        c.publish(ch, b"a" * 2048, routing_key=q)  # exactly the limit is fine
        _m, _h, body, _ = raw_get(c, ch, q)
        assert len(body) == 2048
        c.publish(ch, b"a" * 4096, routing_key=q)
        assert_closed(c.wait_channel_close(ch), 406,
                      "PRECONDITION_FAILED - message size 4096 is larger than configured max size 2048", (60, 40))
        ch = c.open_channel(2)
        ok = c.rpc(ch, C.Queue.Declare(queue=q, passive=True), C.Queue.DeclareOk)
        assert ok.message_count == 0
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------------------
# content framing errors


def test_method_in_middle_of_content_is_unexpected_frame(raw, queue):
    c, ch, q = start_publish(raw, queue)
    c.send_header(ch, 10)
    c.send_method(ch, C.Basic.Publish(exchange="", routing_key=q))
    assert_closed(c.wait_close(), 505,
                  "UNEXPECTED_FRAME - expected content body, got non content body frame instead", (60, 40))


def test_method_instead_of_content_header_is_unexpected_frame(raw, queue):
    c, ch, q = start_publish(raw, queue)
    c.send_method(ch, C.Basic.Publish(exchange="", routing_key=q))
    assert_closed(c.wait_close(), 505,
                  "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead",
                  (60, 40))


def test_content_header_for_wrong_class_is_unexpected_frame(raw, queue):
    c, ch, _q = start_publish(raw, queue)
    c.send_header(ch, 1, class_id=50)
    assert_closed(c.wait_close(), 505,
                  "UNEXPECTED_FRAME - expected content header for class 60, got one for class 50 instead", (60, 40))


@pytest.mark.parametrize("ftype", [FRAME_HEADER, FRAME_BODY])
def test_content_frame_without_method_is_unexpected_frame(raw, ftype):
    c = raw()
    ch = c.open_channel(1)
    if ftype == FRAME_HEADER:
        c.send_header(ch, 1)
    else:
        c.send_body(ch, b"x")
    assert_closed(c.wait_close(), 505,
                  "UNEXPECTED_FRAME - expected method frame, got non method frame instead", (0, 0))


def test_body_larger_than_declared_size(broker, raw, queue):
    """RabbitMQ 3.10 keeps waiting for body frames once the declared size is overshot (its remaining size
    goes negative and never reaches 0); the message is never routed, and the next non-body frame is an
    UNEXPECTED_FRAME connection error."""
    c, ch, q = start_publish(raw, queue)
    c.send_header(ch, 5)
    c.send_body(ch, b"0123456789")
    early = None
    try:
        f = c.read_frame(timeout=0.5)
        early = f
    except TimeoutError:
        pass
    if broker.external:
        assert early is None  # RabbitMQ says nothing yet
    close = None
    if early is not None:
        # amqpd may reject the oversized body right away (better than RabbitMQ's silent wait)
        assert early.type == FRAME_METHOD and isinstance(early.method, C.Connection.Close), early
        close = early.method
        try:
            c.send_method(0, C.Connection.CloseOk())
        except OSError:
            pass
    else:
        try:
            c.send_method(ch, C.Basic.Qos(prefetch_count=1))
            close = c.wait_close()
        except (OSError, ConnectionClosedError):
            pytest.fail("connection dropped without connection.close")
    if broker.external:
        assert close.reply_code == 505
        assert close.reply_text == "UNEXPECTED_FRAME - expected content body, got non content body frame instead"
        assert (close.class_id, close.method_id) == (60, 40)
    else:
        # amqpd: a framing error either way (505 like RabbitMQ, or 501 FRAME_ERROR for the overshoot)
        assert close.reply_code in (501, 505), (close.reply_code, close.reply_text)
    # nothing was enqueued
    with pika.BlockingConnection(broker.pika_params()) as pc:
        assert message_count(pc.channel(), q) == 0
