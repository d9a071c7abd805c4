#!/usr/bin/env python
"""Delayed messages with aio-pika: an x-delayed-message exchange routing as a topic exchange.

Three messages published with x-delay 900, 300 and 600 ms arrive in due order, each with its x-delay
negated; one with a negative x-delay is routed at once. See docs/patterns.md."""

import asyncio
import os
import time
import uuid

import aio_pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


async def main():
    name = f"delayed-{uuid.uuid4().hex[:8]}"
    async with await aio_pika.connect(URL) as connection:
        channel = await connection.channel()  # publisher confirms are on by default
        # auto-delete exchange, exclusive queue: nothing is left behind when the connection closes
        exchange = await channel.declare_exchange(name, "x-delayed-message", auto_delete=True,
                                                  arguments={"x-delayed-type": "topic"})
        queue = await channel.declare_queue(name, exclusive=True)
        await queue.bind(exchange, routing_key="reminders.#")

        sent = time.monotonic()
        for delay in (900, 300, 600, -1):
            message = aio_pika.Message(f"{delay} ms".encode(), headers={"x-delay": delay})
            await exchange.publish(message, routing_key="reminders.email")
        print(" [*] published 4 messages, 3 of them delayed")

        got = []
        async with asyncio.timeout(5), queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    got.append((message.body.decode(), message.headers["x-delay"]))
                    print(f" [x] {message.body.decode()!r} after {time.monotonic() - sent:.2f}s,"
                          f" x-delay={message.headers['x-delay']}")
                if len(got) == 4:
                    break
        assert got == [("-1 ms", -1), ("300 ms", -300), ("600 ms", -600), ("900 ms", -900)], got
        assert time.monotonic() - sent >= 0.89
    print("OK")


asyncio.run(main())
