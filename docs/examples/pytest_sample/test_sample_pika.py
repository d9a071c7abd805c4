"""A sample suite as an application would write it: every test gets its own vhost and user.

Runs unchanged against the amqpd the plugin starts and against RabbitMQ (--amqp-url). See docs/testing.md.
"""

import pika
import pika.exceptions
import pytest


def test_publish_and_get(pika_connection):
    ch = pika_connection.channel()
    ch.queue_declare("orders", durable=True)
    ch.basic_publish("", "orders", b"order-1", pika.BasicProperties(delivery_mode=2))
    method, props, body = ch.basic_get("orders", auto_ack=True)
    assert body == b"order-1" and props.delivery_mode == 2


def test_every_test_starts_with_an_empty_vhost(pika_connection):
    # "orders" was declared (and left) by the previous test, in the previous test's vhost.
    ch = pika_connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.queue_declare("orders", passive=True)
    assert exc.value.reply_code == 404


def test_topic_routing_and_consume(pika_connection):
    ch = pika_connection.channel()
    ch.exchange_declare("events", "topic")
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "events", "order.*")
    for key in ("order.created", "invoice.created", "order.paid"):
        ch.basic_publish("events", key, key.encode())
    got = []
    for method, _props, body in ch.consume(q, inactivity_timeout=5):
        if method is None:
            break
        ch.basic_ack(method.delivery_tag)
        got.append(body)
        if len(got) == 2:
            break
    ch.cancel()
    assert got == [b"order.created", b"order.paid"]


def test_publisher_confirms(pika_connection):
    ch = pika_connection.channel()
    ch.confirm_delivery()
    ch.queue_declare("confirmed")
    ch.basic_publish("", "confirmed", b"x", mandatory=True)
    with pytest.raises(pika.exceptions.UnroutableError):
        ch.basic_publish("", "no-such-queue", b"x", mandatory=True)


def test_the_test_user_is_confined_to_its_vhost(amqp_url):
    # Same host and credentials, default vhost "/": refused.
    other = amqp_url.rsplit("/", 1)[0] + "/%2F"
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(pika.URLParameters(other))
