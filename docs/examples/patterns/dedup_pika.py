#!/usr/bin/env python
"""Deduplication with pika, as rabbitmq-message-deduplication does it: a message is named by its
x-deduplication-header.

1. A queue with x-message-deduplication: true does not enqueue a message whose name it already holds
   (ready or unacknowledged); once that message has left, the name is accepted again.
2. An x-message-deduplication exchange (routes as fanout) does not route a name it routed within
   x-cache-ttl ms, remembering at most x-cache-size names.
Either way the publisher's confirm of a duplicate is an ack: pika raises nothing."""

import os
import time
import uuid

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def publish(channel, exchange, routing_key, order_id):
    channel.basic_publish(exchange, routing_key, f"order {order_id}".encode(),
                          pika.BasicProperties(headers={"x-deduplication-header": order_id}))


def depth(channel, queue):
    return channel.queue_declare(queue, passive=True).method.message_count


name = f"dedup-{uuid.uuid4().hex[:8]}"
with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
    channel = connection.channel()
    channel.confirm_delivery()  # a nack would raise pika.exceptions.NackError

    channel.queue_declare(name, exclusive=True, arguments={"x-message-deduplication": True})
    for order_id in ("A-1", "A-1", "A-2", "A-1"):
        publish(channel, "", name, order_id)
    print(f" [*] queue: published A-1, A-1, A-2, A-1 -> {depth(channel, name)} messages")
    assert depth(channel, name) == 2
    method, _, body = channel.basic_get(name)
    channel.basic_ack(method.delivery_tag)  # A-1 has left the queue: its name is free again
    publish(channel, "", name, "A-1")
    print(f" [*] queue: {body.decode()!r} consumed, A-1 published again -> {depth(channel, name)} messages")
    assert depth(channel, name) == 2

    # auto-delete: goes with its last binding (the exclusive queue's, when the connection closes)
    channel.exchange_declare(f"{name}-x", "x-message-deduplication", auto_delete=True,
                             arguments={"x-cache-size": 1000, "x-cache-ttl": 500})
    channel.queue_declare(f"{name}-xq", exclusive=True)
    channel.queue_bind(f"{name}-xq", f"{name}-x")
    for order_id in ("B-1", "B-1", "B-2", "B-1"):
        publish(channel, f"{name}-x", "any key", order_id)
    print(f" [*] exchange: published B-1, B-1, B-2, B-1 -> {depth(channel, f'{name}-xq')} routed")
    assert depth(channel, f"{name}-xq") == 2
    time.sleep(0.6)  # x-cache-ttl passed: B-1 is new again
    publish(channel, f"{name}-x", "", "B-1")
    print(f" [*] exchange: B-1 after the cache TTL -> {depth(channel, f'{name}-xq')} routed")
    assert depth(channel, f"{name}-xq") == 3
print("OK")
