#!/usr/bin/env python
"""Deduplication with aio-pika (rabbitmq-message-deduplication compatible).

1. Queue level (x-message-deduplication: true): a name stays taken while its message is unacknowledged,
   and is free again once the consumer acks it.
2. Exchange level (type x-message-deduplication): the header x-cache-ttl overrides the exchange's
   x-cache-ttl for one message; a duplicate published as mandatory is returned (it is routed nowhere)."""

import asyncio
import os
import uuid

import aio_pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def order(order_id, **headers):
    headers["x-deduplication-header"] = order_id
    return aio_pika.Message(f"order {order_id}".encode(), headers=headers)


async def main():
    name = f"dedup-{uuid.uuid4().hex[:8]}"
    async with await aio_pika.connect(URL) as connection:
        channel = await connection.channel(on_return_raises=True)  # publisher confirms are on by default
        queue = await channel.declare_queue(name, exclusive=True, arguments={"x-message-deduplication": True})
        await channel.default_exchange.publish(order("C-1"), routing_key=name)
        held = await queue.get(no_ack=False)  # delivered, not acked yet: still "in the queue"
        await channel.default_exchange.publish(order("C-1"), routing_key=name)
        depth = (await queue.declare()).message_count
        print(f" [*] queue: C-1 again while the first is unacked -> {depth} ready")
        assert depth == 0
        await held.ack()
        await channel.default_exchange.publish(order("C-1"), routing_key=name)
        depth = (await queue.declare()).message_count
        print(f" [*] queue: C-1 again after the ack -> {depth} ready")
        assert depth == 1

        exchange = await channel.declare_exchange(f"{name}-x", "x-message-deduplication", auto_delete=True,
                                                  arguments={"x-cache-size": 100, "x-cache-ttl": 60_000})
        bound = await channel.declare_queue(f"{name}-xq", exclusive=True)
        await bound.bind(exchange)
        await exchange.publish(order("D-1", **{"x-cache-ttl": 200}), routing_key="")  # remembered 200 ms only
        try:
            await exchange.publish(order("D-1"), routing_key="", mandatory=True)
            raise AssertionError("a mandatory duplicate should be returned")
        except aio_pika.exceptions.DeliveryError as e:
            print(f" [!] exchange: mandatory duplicate D-1 returned ({e.message.body.decode()!r})")
        await asyncio.sleep(0.3)
        await exchange.publish(order("D-1"), routing_key="")  # its 200 ms have passed
        depth = (await bound.declare()).message_count
        print(f" [*] exchange: D-1 routed {depth} times (first, then after its own 200 ms TTL)")
        assert depth == 2
    print("OK")


asyncio.run(main())
