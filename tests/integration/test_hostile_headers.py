"""A headers table nested thousands of levels deep (issue 15: every count a client controls is bounded).
amqpd passes properties through verbatim and decodes headers only where it must; where it must, a table
too deep to decode is an answer (501 at routing, a marker in the HTTP API), never a crash or a traceback
repeated by the statistics sampler."""

from __future__ import annotations

import base64
import json
import os
import struct
import time
import urllib.request

import pamqp.commands as spec
import pika
import pytest
from pamqp import frame as pamqp_frame
from rawclient import RawClient, raw_frame

pytestmark = pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd")

DEPTH = 3000  # Python's default recursion limit is 1000


def deep_header_frame(depth: int = DEPTH) -> bytes:
    inner = b""
    for _ in range(depth):
        inner = b"\x01a" + b"F" + struct.pack(">I", len(inner)) + inner
    props = struct.pack(">H", 1 << 13) + struct.pack(">I", len(inner)) + inner
    return raw_frame(2, 1, struct.pack(">HHQ", 60, 0, 1) + props)


def publish_deep(b, exchange: str, routing_key: str) -> RawClient:
    c = RawClient(b.host, b.port).connect()
    c.open_channel(1)
    c.send_raw(pamqp_frame.marshal(spec.Basic.Publish(exchange=exchange, routing_key=routing_key), 1))
    c.send_raw(deep_header_frame())
    c.send_raw(raw_frame(3, 1, b"x"))
    return c


def get_messages(b, queue: str) -> list:
    req = urllib.request.Request(
        f"http://127.0.0.1:{b.http_port}/api/queues/%2F/{queue}/get", method="POST",
        data=json.dumps({"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}).encode(),
        headers={"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode(),
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def test_deep_headers_stored_shown_and_refused_where_decoded(broker_factory):
    b = broker_factory("collect_statistics_interval = 200\nheartbeat = 0\n")
    admin = pika.BlockingConnection(b.pika_params())
    ch = admin.channel()
    ch.queue_declare("deep")
    ch.queue_declare("matched")
    ch.queue_bind("matched", "amq.match", arguments={"x-match": "any", "a": 1})
    # through the default exchange nothing decodes the headers: stored as published
    c = publish_deep(b, "", "deep")
    deadline = time.monotonic() + 5
    while ch.queue_declare("deep", passive=True).method.message_count != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ch.queue_declare("deep", passive=True).method.message_count == 1
    time.sleep(0.6)  # a few statistics samples walk the queue's head
    msg = get_messages(b, "deep")[0]
    assert msg["properties"] == {"headers": {"x-amqpd-undecodable": "headers table nested too deeply"}}, msg
    c.close()
    # a headers exchange has to decode them to route: the publisher's connection is closed with 501
    c = publish_deep(b, "amq.match", "")
    close = c.wait_close(timeout=5)
    assert close.reply_code == 501, close
    assert close.reply_text == "FRAME_ERROR - cannot decode content header properties: headers table nested too deeply"
    assert (close.class_id, close.method_id) == (60, 40)
    c.close()
    assert ch.queue_declare("matched", passive=True).method.message_count == 0
    admin.close()
    text = b.log_text()
    assert "Traceback" not in text and "RecursionError" not in text, text[-3000:]
    assert "statistics sampling failed" not in text


def test_deep_table_under_a_name_no_binding_uses_is_routed(broker_factory):
    """A headers exchange decodes only the header names its bindings look at (RabbitMQ routes such a message
    whatever its depth; amqpd steps over the deep table by its length)."""
    b = broker_factory("heartbeat = 0\n")
    admin = pika.BlockingConnection(b.pika_params())
    ch = admin.channel()
    ch.queue_declare("by-zz")
    ch.queue_bind("by-zz", "amq.match", arguments={"x-match": "all", "zz": 1})
    inner = b""
    for _ in range(DEPTH):
        inner = b"\x01a" + b"F" + struct.pack(">I", len(inner)) + inner
    table = b"\x04deepF" + struct.pack(">I", len(inner)) + inner + b"\x02zzb\x01"
    props = struct.pack(">H", 1 << 13) + struct.pack(">I", len(table)) + table
    c = RawClient(b.host, b.port).connect()
    c.open_channel(1)
    c.send_raw(pamqp_frame.marshal(spec.Basic.Publish(exchange="amq.match", routing_key=""), 1)
               + raw_frame(2, 1, struct.pack(">HHQ", 60, 0, 1) + props) + raw_frame(3, 1, b"x"))
    c.send_method(1, spec.Exchange.Declare(exchange="amq.match", exchange_type="headers", passive=True))
    c.wait_method(1, spec.Exchange.DeclareOk, timeout=5)  # the connection is still open: no 501
    assert ch.queue_declare("by-zz", passive=True).method.message_count == 1
    c.close()
    admin.close()
    assert "Traceback" not in b.log_text()
