"""Publisher deduplication (issue 17), compatible with the rabbitmq-message-deduplication plugin: a queue
with x-message-deduplication does not enqueue a message whose x-deduplication-header is already in it (until
it leaves); an x-message-deduplication exchange does not route one it routed within x-cache-ttl, keeps at
most x-cache-size names, and with x-cache-persistence disk keeps them across a kill -9. Duplicates are
still confirmed with an ack."""

from __future__ import annotations

import os
import signal
import time

import pika
import pytest
from conftest import start_amqpd
from helpers import close_quietly

pytestmark = pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd")


@pytest.fixture(scope="module")
def amqpd(tmp_path_factory):
    b = start_amqpd(tmp_path_factory.mktemp("dedup"), conf="heartbeat = 0\n")
    yield b
    b.stop()


@pytest.fixture
def ch(amqpd):
    c = pika.BlockingConnection(amqpd.pika_params())
    ch = c.channel()
    ch.confirm_delivery()  # a nack would raise NackError: duplicates must be acked
    yield ch
    close_quietly(c)


def pub(ch, exchange: str, key: str, body: bytes, name: str | None, **headers) -> None:
    if name is not None:
        headers["x-deduplication-header"] = name
    ch.basic_publish(exchange, key, body, pika.BasicProperties(headers=headers or None, delivery_mode=2))


def count(ch, queue: str) -> int:
    return ch.queue_declare(queue, passive=True).method.message_count


def test_queue_drops_a_name_it_holds_until_that_message_leaves(amqpd, ch):
    ch.queue_declare("dq", durable=True, arguments={"x-message-deduplication": True})
    for body, name in ((b"a1", "a"), (b"a2", "a"), (b"b1", "b"), (b"n1", None), (b"n2", None)):
        pub(ch, "", "dq", body, name)
    assert count(ch, "dq") == 4  # the second "a" was dropped, messages without a name are not checked
    second = pika.BlockingConnection(amqpd.pika_params()).channel()  # another publisher, same queue
    second.confirm_delivery()
    pub(second, "", "dq", b"b2", "b")
    assert count(ch, "dq") == 4
    method, _, body = ch.basic_get("dq")
    assert body == b"a1"
    pub(ch, "", "dq", b"a3", "a")  # still in the queue (unacknowledged): dropped
    assert count(ch, "dq") == 3
    ch.basic_ack(method.delivery_tag)
    pub(ch, "", "dq", b"a4", "a")  # gone now: enqueued
    assert count(ch, "dq") == 4


def test_exchange_routes_a_name_once_within_the_ttl(ch):
    ch.exchange_declare("dx", "x-message-deduplication", arguments={"x-cache-size": 100, "x-cache-ttl": 300})
    ch.queue_declare("dxq")
    ch.queue_bind("dxq", "dx", "any")
    for _ in range(5):
        pub(ch, "dx", "whatever", b"x", "same")
    pub(ch, "dx", "", b"y", "other")
    pub(ch, "dx", "", b"z", None)
    assert count(ch, "dxq") == 3  # fanout: routing keys do not matter
    time.sleep(0.35)
    pub(ch, "dx", "", b"x-again", "same")  # the ttl passed
    pub(ch, "dx", "", b"short", "brief", **{"x-cache-ttl": 50})
    time.sleep(0.1)
    pub(ch, "dx", "", b"brief-again", "brief")  # its own ttl (header) passed
    assert count(ch, "dxq") == 6


def test_exchange_cache_size_is_bounded(ch):
    ch.exchange_declare("small", "x-message-deduplication", arguments={"x-cache-size": 3})
    ch.queue_declare("smallq")
    ch.queue_bind("smallq", "small", "")
    for name in ("a", "b", "c", "d"):  # "a" is evicted when "d" comes
        pub(ch, "small", "", b"1", name)
    pub(ch, "small", "", b"2", "a")
    pub(ch, "small", "", b"2", "d")
    assert count(ch, "smallq") == 5


def test_exchange_arguments_are_checked(amqpd):
    c = pika.BlockingConnection(amqpd.pika_params())
    for args in ({}, {"x-cache-size": 0}, {"x-cache-size": 5, "x-cache-persistence": "cloud"}):
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            c.channel().exchange_declare("bad-dedup", "x-message-deduplication", arguments=args)
        assert exc.value.reply_code == 406
    close_quietly(c)


def test_windows_survive_kill_9(tmp_path):
    b = start_amqpd(tmp_path, conf="heartbeat = 0\n")
    try:
        c = pika.BlockingConnection(b.pika_params())
        ch = c.channel()
        ch.confirm_delivery()
        ch.queue_declare("kq", durable=True, arguments={"x-message-deduplication": True})
        ch.exchange_declare("kx", "x-message-deduplication", durable=True,
                            arguments={"x-cache-size": 10, "x-cache-persistence": "disk"})
        ch.queue_declare("kxq", durable=True)
        ch.queue_bind("kxq", "kx", "")
        pub(ch, "", "kq", b"q1", "order-1")
        pub(ch, "kx", "", b"x1", "order-1")
        b.stop(signal.SIGKILL)
        b = start_amqpd(tmp_path, conf="heartbeat = 0\n", data_dir=b.data_dir)
        c = pika.BlockingConnection(b.pika_params())
        ch = c.channel()
        ch.confirm_delivery()
        pub(ch, "", "kq", b"q2", "order-1")
        pub(ch, "kx", "", b"x2", "order-1")
        assert (count(ch, "kq"), count(ch, "kxq")) == (1, 1)  # both still known as duplicates
        pub(ch, "", "kq", b"q3", "order-2")
        assert count(ch, "kq") == 2
        close_quietly(c)
    finally:
        b.stop()
