#!/usr/bin/env python
"""Tutorial one, "Hello World!", with aio-pika: send.py and receive.py.

    python aio_1_hello.py URL send [--queue hello] [message ...]
    python aio_1_hello.py URL receive [--queue hello] [--count N] [--timeout SECONDS]

The producer publishes "Hello World!" through the default exchange with the queue name "hello" as
routing key; the consumer declares the same queue and consumes with ``no_ack=True``.
"""

import argparse
import asyncio
import sys

from aio_pika import Message, connect
from aio_pika.abc import AbstractIncomingMessage


async def send(url, *messages, queue="hello"):
    # Perform connection
    connection = await connect(url)

    async with connection:
        # Creating a channel
        channel = await connection.channel()

        # Declaring queue
        await channel.declare_queue(queue)

        for message in messages or ("Hello World!",):
            # Sending the message
            await channel.default_exchange.publish(Message(message.encode()), routing_key=queue)
            print(f" [x] Sent {message!r}")


async def receive(url, queue="hello", count=None, timeout=10.0, on_ready=None):
    """Consume from ``queue`` until ``count`` messages arrived or ``timeout`` seconds passed."""
    received = []
    enough = asyncio.Event()

    async def on_message(message: AbstractIncomingMessage) -> None:
        if enough.is_set():
            return
        print(f" [x] Received {message.body.decode()}")
        received.append(message.body.decode())
        if count is not None and len(received) >= count:
            enough.set()

    # Perform connection
    connection = await connect(url)

    async with connection:
        # Creating a channel
        channel = await connection.channel()

        # Declaring queue
        hello = await channel.declare_queue(queue)

        # Start listening the queue
        consumer_tag = await hello.consume(on_message, no_ack=True)

        print(" [*] Waiting for messages. To exit press CTRL+C")
        if on_ready is not None:
            on_ready(queue)
        try:
            await asyncio.wait_for(enough.wait(), timeout)
        except TimeoutError:
            pass
        await hello.cancel(consumer_tag)
    return received


def main(url, *argv):
    parser = argparse.ArgumentParser(prog="aio_1_hello.py")
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("send")
    p.add_argument("--queue", default="hello")
    p.add_argument("message", nargs="*")
    p = sub.add_parser("receive")
    p.add_argument("--queue", default="hello")
    p.add_argument("--count", type=int)
    p.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)

    if args.role == "send":
        return asyncio.run(send(url, " ".join(args.message) or "Hello World!", queue=args.queue))
    return asyncio.run(receive(url, queue=args.queue, count=args.count, timeout=args.timeout))


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
