#!/usr/bin/env python
"""Tutorial three, "Publish/Subscribe", with aio-pika: emit_log.py and receive_logs.py.

    python aio_3_publish_subscribe.py URL emit_log [--exchange logs] [message ...]
    python aio_3_publish_subscribe.py URL receive_logs [--exchange logs] [--count N] [--timeout T]

The emitter publishes to the fanout exchange "logs". Every receiver declares an exclusive queue
with a server-generated name, binds it to "logs" and gets a copy of every log emitted while it runs.
"""

import argparse
import asyncio
import sys

from aio_pika import DeliveryMode, ExchangeType, Message, connect


async def emit_log(url, *messages, exchange="logs"):
    # Perform connection
    connection = await connect(url)

    async with connection:
        # Creating a channel
        channel = await connection.channel()

        logs_exchange = await channel.declare_exchange(exchange, ExchangeType.FANOUT)

        for message_body in messages or ("info: Hello World!",):
            message = Message(message_body.encode(), delivery_mode=DeliveryMode.PERSISTENT)

            # Sending the message
            await logs_exchange.publish(message, routing_key="info")
            print(f" [x] Sent {message_body}")


async def receive_logs(url, exchange="logs", count=None, timeout=10.0, on_ready=None):
    """Print logs until ``count`` arrived or ``timeout`` passed; ``on_ready(queue_name)`` once bound."""
    received = []

    # Perform connection
    connection = await connect(url)

    async with connection:
        # Creating a channel
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1)

        logs_exchange = await channel.declare_exchange(exchange, ExchangeType.FANOUT)

        # Declaring a server-named, exclusive queue
        queue = await channel.declare_queue(exclusive=True)

        # Binding the queue to the exchange
        await queue.bind(logs_exchange)

        async with queue.iterator() as queue_iter:
            print(f" [*] Waiting for logs on {queue.name}. To exit press CTRL+C")
            if on_ready is not None:
                on_ready(queue.name)
            try:
                async with asyncio.timeout(timeout):
                    async for message in queue_iter:
                        async with message.process():
                            print(f" [x] {message.body.decode()}")
                            received.append(message.body.decode())
                        if count is not None and len(received) >= count:
                            break
            except TimeoutError:
                pass
    return received


def main(url, *argv):
    parser = argparse.ArgumentParser(prog="aio_3_publish_subscribe.py")
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("emit_log")
    p.add_argument("--exchange", default="logs")
    p.add_argument("message", nargs="*")
    p = sub.add_parser("receive_logs")
    p.add_argument("--exchange", default="logs")
    p.add_argument("--count", type=int)
    p.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)

    if args.role == "emit_log":
        return asyncio.run(emit_log(url, " ".join(args.message) or "info: Hello World!", exchange=args.exchange))
    return asyncio.run(receive_logs(url, exchange=args.exchange, count=args.count, timeout=args.timeout))


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
