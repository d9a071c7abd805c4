"""consumer_max_per_channel (RabbitMQ 3.12's key, issue 15): a basic.consume past the limit closes the
connection with 530 "reached maximum (N) of consumers per channel", as rabbit_channel does; cancelling
one makes room again, and the limit is per channel, not per connection. Without the key there is no
limit."""

from __future__ import annotations

import os

import pika
import pytest
from conftest import start_amqpd
from helpers import close_quietly

pytestmark = pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd")


def test_consume_past_the_limit_closes_the_connection_with_530(tmp_path):
    b = start_amqpd(tmp_path, conf="consumer_max_per_channel = 3\nheartbeat = 0\n")
    try:
        conn = pika.BlockingConnection(b.pika_params())
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        tags = [ch.basic_consume(q, lambda *a: None) for _ in range(3)]
        ch.basic_cancel(tags[0])
        ch.basic_consume(q, lambda *a: None)  # a cancelled consumer's place is free again
        other = conn.channel()  # the count is per channel
        for _ in range(3):
            other.basic_consume(q, lambda *a: None)
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as exc:
            ch.basic_consume(q, lambda *a: None)
        assert exc.value.reply_code == 530
        assert exc.value.reply_text == "NOT_ALLOWED - reached maximum (3) of consumers per channel"

        conn = pika.BlockingConnection(b.pika_params())
        ch = conn.channel()  # direct reply-to's consumer counts as one
        ch.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=True)
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_consume(q, lambda *a: None)
        ch.basic_consume(q, lambda *a: None)
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker):
            ch.basic_consume(q, lambda *a: None)
        assert "consumers per channel" in b.log_text()
    finally:
        b.stop()


def test_no_limit_by_default(broker):
    conn = pika.BlockingConnection(broker.pika_params())
    try:
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        for _ in range(2000):
            ch.basic_consume(q, lambda *a: None)
        assert ch.queue_declare(q, passive=True).method.consumer_count == 2000
    finally:
        close_quietly(conn)
