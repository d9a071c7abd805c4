"""aio-pika without pytest-asyncio: the fixture hands out an async context manager; the test runs its
own event loop with asyncio.run. (Under pytest-asyncio or anyio, ``async def`` tests use it the same way.)
"""

import asyncio

import aio_pika


def test_aio_pika_round_trip(aio_pika_connection):
    async def main():
        async with aio_pika_connection() as conn:
            channel = await conn.channel()
            queue = await channel.declare_queue("jobs")
            await channel.default_exchange.publish(aio_pika.Message(b"job-1"), routing_key="jobs")
            message = await queue.get(timeout=5)
            await message.ack()
            return message.body

    assert asyncio.run(main()) == b"job-1"


def test_aio_pika_consumer(aio_pika_connection):
    async def main():
        async with aio_pika_connection() as conn:
            channel = await conn.channel()
            await channel.set_qos(prefetch_count=10)
            queue = await channel.declare_queue("", exclusive=True)
            for i in range(5):
                await channel.default_exchange.publish(aio_pika.Message(str(i).encode()), routing_key=queue.name)
            bodies = []
            async with queue.iterator() as it:
                async for message in it:
                    async with message.process():
                        bodies.append(message.body)
                    if len(bodies) == 5:
                        break
            return bodies

    assert asyncio.run(main()) == [b"0", b"1", b"2", b"3", b"4"]
