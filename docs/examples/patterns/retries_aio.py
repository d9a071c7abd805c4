#!/usr/bin/env python
"""Retries with exponential backoff with aio-pika: x-retry-delays as a table {base, factor, max}.

The wait before retry n+1 is base * factor**n, at most max: here 100, 200, then 300 (capped) ms. The
consumer fails (nack without requeue) the first three attempts and succeeds on the fourth, reading the
attempt number from x-retry-count; nothing reaches the dead-letter queue."""

import asyncio
import os
import time
import uuid

import aio_pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
BACKOFF = {"base": 100, "factor": 2, "max": 300}


async def main():
    work, parked = f"work-{uuid.uuid4().hex[:8]}", f"parked-{uuid.uuid4().hex[:8]}"
    async with await aio_pika.connect(URL) as connection:
        channel = await connection.channel()
        # exclusive queues: gone when the connection closes
        dead = await channel.declare_queue(parked, exclusive=True)
        queue = await channel.declare_queue(work, exclusive=True, arguments={
            "x-retry-delays": BACKOFF, "x-retry-limit": 5,
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": parked})
        await channel.default_exchange.publish(aio_pika.Message(b"job"), routing_key=work)

        attempts = []
        async with asyncio.timeout(5), queue.iterator() as messages:
            async for message in messages:
                retry = message.headers.get("x-retry-count", 0)
                attempts.append(time.monotonic())
                if retry < 3:
                    print(f" [x] attempt {retry + 1} (x-retry-count={retry}): failing, nack")
                    await message.nack(requeue=False)
                else:
                    print(f" [x] attempt {retry + 1} (x-retry-count={retry}): done, ack")
                    await message.ack()
                    break
        gaps = [round((b - a) * 1000) for a, b in zip(attempts, attempts[1:], strict=False)]
        print(f" [*] waits between attempts: {gaps} ms")
        assert len(gaps) == 3, gaps
        assert all(gap >= want - 10 for gap, want in zip(gaps, (100, 200, 300), strict=True)), gaps
        await asyncio.sleep(0.1)
        assert await dead.get(fail=False) is None, "nothing should have been dead-lettered"
    print("OK")


asyncio.run(main())
