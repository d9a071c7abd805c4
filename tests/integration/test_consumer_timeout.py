"""consumer_timeout: a delivery left unacknowledged longer than the timeout closes its channel with
RabbitMQ 3.10's 406 (checked against RabbitMQ with consumer_timeout = 3000: same text, class 0 method 0,
message requeued as redelivered). RabbitMQ checks once a minute; amqpd within a second."""

from __future__ import annotations

import time

import pytest
from pamqp import commands as C
from rawclient import RawClient  # tests/integration is on sys.path

pytestmark = pytest.mark.timeout(60)


def text(channel: int, ms: int) -> str:
    return (f"PRECONDITION_FAILED - delivery acknowledgement on channel {channel} timed out. Timeout value used: "
            f"{ms} ms. This timeout value can be configured, see consumers doc guide to learn more")


@pytest.fixture
def b(broker_factory):
    return broker_factory("consumer_timeout = 1000\n")


@pytest.fixture
def c(b):
    client = RawClient(b.host, b.port, timeout=10).connect()
    client.open_channel(1)
    client.open_channel(3)
    yield client
    client.close()


def test_unacked_delivery_times_out(b, c):
    q = c.declare_queue(1, "", exclusive=True).queue
    c.publish(1, b"m1", "", q)
    c.publish(1, b"m2", "", q)
    c.rpc(3, C.Basic.Qos(prefetch_count=1), C.Basic.QosOk)
    c.rpc(3, C.Basic.Consume(queue=q, consumer_tag="ct"), C.Basic.ConsumeOk)
    c.read_message(3)
    t0 = time.monotonic()
    close = c.wait_method(3, C.Channel.Close)
    waited = time.monotonic() - t0
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (406, text(3, 1000), 0, 0)
    assert 0.9 <= waited < 2.0, waited
    c.send_method(3, C.Channel.CloseOk())
    c.send_method(1, C.Basic.Get(queue=q, no_ack=True))
    get, _, body, _ = c.read_message(1)
    assert (get.redelivered, body, get.message_count) == (True, b"m1", 1)
    assert "consumer timed out waiting for delivery acknowledgement" in b.log_text()


def test_acks_in_time_keep_the_channel(c):
    q = c.declare_queue(1, "", exclusive=True).queue
    for i in range(8):
        c.publish(1, b"m%d" % i, "", q)
    c.rpc(3, C.Basic.Qos(prefetch_count=1), C.Basic.QosOk)
    c.rpc(3, C.Basic.Consume(queue=q, consumer_tag="ct"), C.Basic.ConsumeOk)
    for _ in range(8):  # 8 x 0.4 s: far past the timeout in total, each ack within it
        m = c.read_message(3)[0]
        time.sleep(0.4)
        c.send_method(3, C.Basic.Ack(delivery_tag=m.delivery_tag))
    time.sleep(1.5)  # nothing unacked: no timeout
    c.rpc(3, C.Queue.Declare(queue=q, passive=True), C.Queue.DeclareOk)


def test_basic_get_without_ack_times_out(c):
    q = c.declare_queue(1, "", exclusive=True).queue
    c.publish(1, b"m1", "", q)
    c.send_method(3, C.Basic.Get(queue=q))
    c.read_message(3)
    close = c.wait_method(3, C.Channel.Close)
    assert (close.reply_code, close.reply_text) == (406, text(3, 1000))
    c.send_method(3, C.Channel.CloseOk())
    c.open_channel(3)  # a new channel on the number has no timer left from the old one
    time.sleep(1.5)
    c.rpc(3, C.Queue.Declare(queue=q, passive=True), C.Queue.DeclareOk)
