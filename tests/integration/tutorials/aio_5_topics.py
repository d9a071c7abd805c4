#!/usr/bin/env python
"""Tutorial five, "Topics", with aio-pika: emit_log_topic.py and receive_logs_topic.py.

    python aio_5_topics.py URL emit_log_topic [--exchange topic_logs] routing_key [message ...]
    python aio_5_topics.py URL receive_logs_topic [--exchange topic_logs] [--count N] [--timeout T] binding_key ...

Logs go to the topic exchange "topic_logs" with a "<facility>.<severity>" routing key; a receiver
binds its exclusive queue with patterns such as "#", "kern.*" or "*.critical" ("*" is exactly one
word, "#" zero or more words).
"""

import argparse
import asyncio
import sys

from aio_pika import DeliveryMode, ExchangeType, Message, connect


async def emit_log_topic(url, *logs, exchange="topic_logs"):
    """Publish each ``(routing_key, message)`` of ``logs`` in order over one channel."""
    # Perform connection
    connection = await connect(url)

    async with connection:
        # Creating a channel
        channel = await connection.channel()

        topic_logs_exchange = await channel.declare_exchange(exchange, ExchangeType.TOPIC)

        for routing_key, message_body in logs or (("anonymous.info", "Hello World!"),):
            message = Message(message_body.encode(), delivery_mode=DeliveryMode.PERSISTENT)

            # Sending the message
            await topic_logs_exchange.publish(message, routing_key=routing_key)
            print(f" [x] Sent {routing_key}:{message_body}")


async def receive_logs_topic(url, binding_keys, exchange="topic_logs", count=None, timeout=10.0,
                             on_ready=None):
    """Return the ``(routing_key, message)`` logs received until ``count`` arrived or ``timeout`` passed."""
    received = []

    # Perform connection
    connection = await connect(url)

    async with connection:
        # Creating a channel
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1)

        # Declare an exchange
        topic_logs_exchange = await channel.declare_exchange(exchange, ExchangeType.TOPIC)

        # Declaring a server-named, exclusive queue
        queue = await channel.declare_queue(exclusive=True)

        for binding_key in binding_keys:
            await queue.bind(topic_logs_exchange, routing_key=binding_key)

        async with queue.iterator() as queue_iter:
            print(f" [*] Waiting for logs on {queue.name}. To exit press CTRL+C")
            if on_ready is not None:
                on_ready(queue.name)
            try:
                async with asyncio.timeout(timeout):
                    async for message in queue_iter:
                        async with message.process():
                            print(f" [x] {message.routing_key}:{message.body.decode()}")
                            received.append((message.routing_key, message.body.decode()))
                        if count is not None and len(received) >= count:
                            break
            except TimeoutError:
                pass
    return received


def main(url, *argv):
    parser = argparse.ArgumentParser(prog="aio_5_topics.py")
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("emit_log_topic")
    p.add_argument("--exchange", default="topic_logs")
    p.add_argument("routing_key", nargs="?", default="anonymous.info")
    p.add_argument("message", nargs="*")
    p = sub.add_parser("receive_logs_topic")
    p.add_argument("--exchange", default="topic_logs")
    p.add_argument("--count", type=int)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("binding_key", nargs="+")
    args = parser.parse_args(argv)

    if args.role == "emit_log_topic":
        message = " ".join(args.message) or "Hello World!"
        return asyncio.run(emit_log_topic(url, (args.routing_key, message), exchange=args.exchange))
    return asyncio.run(receive_logs_topic(url, args.binding_key, exchange=args.exchange, count=args.count,
                                          timeout=args.timeout))


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
