#!/usr/bin/env python
"""Tutorial four, "Routing", with aio-pika: emit_log_direct.py and receive_logs_direct.py.

    python aio_4_routing.py URL emit_log_direct [--exchange direct_logs] severity [message ...]
    python aio_4_routing.py URL receive_logs_direct [--exchange direct_logs] [--count N] [--timeout T] severity ...

Logs go to the direct exchange "direct_logs" with their severity as routing key; a receiver binds
its exclusive queue once per severity it is interested in.
"""

import argparse
import asyncio
import sys

from aio_pika import DeliveryMode, ExchangeType, Message, connect


async def emit_log_direct(url, *logs, exchange="direct_logs"):
    """Publish each ``(severity, message)`` of ``logs`` in order over one channel."""
    # Perform connection
    connection = await connect(url)

    async with connection:
        # Creating a channel
        channel = await connection.channel()

        direct_logs_exchange = await channel.declare_exchange(exchange, ExchangeType.DIRECT)

        for severity, message_body in logs or (("info", "Hello World!"),):
            message = Message(message_body.encode(), delivery_mode=DeliveryMode.PERSISTENT)

            # Sending the message
            await direct_logs_exchange.publish(message, routing_key=severity)
            print(f" [x] Sent {severity}:{message_body}")


async def receive_logs_direct(url, severities, exchange="direct_logs", count=None, timeout=10.0,
                              on_ready=None):
    """Return the ``(severity, message)`` logs received until ``count`` arrived or ``timeout`` passed."""
    received = []

    # Perform connection
    connection = await connect(url)

    async with connection:
        # Creating a channel
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1)

        direct_logs_exchange = await channel.declare_exchange(exchange, ExchangeType.DIRECT)

        # Declaring a server-named, exclusive queue
        queue = await channel.declare_queue(exclusive=True)

        for severity in severities:
            await queue.bind(direct_logs_exchange, routing_key=severity)

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
    parser = argparse.ArgumentParser(prog="aio_4_routing.py")
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("emit_log_direct")
    p.add_argument("--exchange", default="direct_logs")
    p.add_argument("severity", nargs="?", default="info")
    p.add_argument("message", nargs="*")
    p = sub.add_parser("receive_logs_direct")
    p.add_argument("--exchange", default="direct_logs")
    p.add_argument("--count", type=int)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("severity", nargs="+")
    args = parser.parse_args(argv)

    if args.role == "emit_log_direct":
        message = " ".join(args.message) or "Hello World!"
        return asyncio.run(emit_log_direct(url, (args.severity, message), exchange=args.exchange))
    return asyncio.run(receive_logs_direct(url, args.severity, exchange=args.exchange, count=args.count,
                                           timeout=args.timeout))


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
