#!/usr/bin/env python
"""Tutorial two, "Work Queues", with aio-pika: new_task.py and worker.py.

    python aio_2_work_queues.py URL new_task [--queue task_queue] [message ...]
    python aio_2_work_queues.py URL worker [--queue task_queue] [--seconds-per-dot S] [--count N] [--timeout T]

Tasks go to the durable queue "task_queue" as persistent messages. A worker sets
``prefetch_count=1`` (fair dispatch), pretends to work one second per dot in the body
(``--seconds-per-dot`` scales that) and acknowledges through ``message.process()`` once done.
"""

import argparse
import asyncio
import sys
from typing import NamedTuple

from aio_pika import DeliveryMode, Message, connect
from aio_pika.abc import AbstractIncomingMessage


class Task(NamedTuple):
    body: str
    delivery_mode: int | None
    redelivered: bool


async def new_task(url, *messages, queue="task_queue"):
    # Perform connection
    connection = await connect(url)

    async with connection:
        # Creating a channel
        channel = await connection.channel()

        await channel.declare_queue(queue, durable=True)

        for message_body in messages or ("Hello World!",):
            message = Message(message_body.encode(), delivery_mode=DeliveryMode.PERSISTENT)

            # Sending the message
            await channel.default_exchange.publish(message, routing_key=queue)
            print(f" [x] Sent {message_body}")


async def worker(url, queue="task_queue", seconds_per_dot=1.0, count=None, timeout=30.0, stop=None,
                 results=None, on_ready=None):
    """Work on tasks until ``count`` are done, ``stop`` (an asyncio.Event) is set or ``timeout`` passed.

    Every finished task is appended to ``results`` (a new list unless one is given), which is returned.
    """
    done = results if results is not None else []
    enough = asyncio.Event()

    async def on_message(message: AbstractIncomingMessage) -> None:
        async with message.process():
            print(f" [x] Received {message.body.decode()}")
            await asyncio.sleep(message.body.count(b".") * seconds_per_dot)
            print(" [x] Done")
        mode = message.delivery_mode
        done.append(Task(message.body.decode(), None if mode is None else int(mode), bool(message.redelivered)))
        if count is not None and len(done) >= count:
            enough.set()

    # Perform connection
    connection = await connect(url)

    async with connection:
        # Creating a channel
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1)

        # Declaring queue
        task_queue = await channel.declare_queue(queue, durable=True)

        # Start listening the queue
        consumer_tag = await task_queue.consume(on_message)

        print(" [*] Waiting for messages. To exit press CTRL+C")
        if on_ready is not None:
            on_ready(queue)
        waiters = [asyncio.ensure_future(event.wait()) for event in (enough, stop) if event is not None]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        await task_queue.cancel(consumer_tag)
    return done


def main(url, *argv):
    parser = argparse.ArgumentParser(prog="aio_2_work_queues.py")
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("new_task")
    p.add_argument("--queue", default="task_queue")
    p.add_argument("message", nargs="*")
    p = sub.add_parser("worker")
    p.add_argument("--queue", default="task_queue")
    p.add_argument("--seconds-per-dot", type=float, default=1.0)
    p.add_argument("--count", type=int)
    p.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)

    if args.role == "new_task":
        return asyncio.run(new_task(url, " ".join(args.message) or "Hello World!", queue=args.queue))
    return asyncio.run(worker(url, queue=args.queue, seconds_per_dot=args.seconds_per_dot, count=args.count,
                              timeout=args.timeout))


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
