#!/usr/bin/env python
"""Tutorial six, "RPC", with aio-pika: rpc_server.py and rpc_client.py.

    python aio_6_rpc.py URL rpc_server [--queue rpc_queue] [--max-requests N] [--timeout T]
    python aio_6_rpc.py URL rpc_client [--queue rpc_queue] [--timeout T] n ...

The server iterates over "rpc_queue", answers fib(n) to each request's ``reply_to`` queue with the
request's ``correlation_id`` and acknowledges it via ``message.process(requeue=False)``. The client
keeps one future per correlation id, consumes its exclusive callback queue with ``no_ack=True`` and
resolves the future whose id the answer carries, so many calls can be in flight at once.
"""

import argparse
import asyncio
import logging
import sys
import uuid
from collections.abc import MutableMapping

from aio_pika import Message, connect
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue


def fib(n: int) -> int:
    if n == 0:
        return 0
    elif n == 1:
        return 1
    else:
        return fib(n - 1) + fib(n - 2)


async def rpc_server(url, queue="rpc_queue", max_requests=None, timeout=30.0, stop=None, on_ready=None):
    """Serve until ``max_requests`` were answered, ``stop`` (asyncio.Event) is set or ``timeout`` passed.

    Returns the list of the n it was asked for, in order.
    """
    served = []

    # Perform connection
    connection = await connect(url)

    async with connection:
        # Creating a channel
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1)
        exchange = channel.default_exchange

        # Declaring queue
        rpc_queue = await channel.declare_queue(queue)

        async with rpc_queue.iterator() as qiterator:
            print(" [x] Awaiting RPC requests")
            if on_ready is not None:
                on_ready(queue)

            async def close_on_stop():
                await stop.wait()
                await qiterator.close()

            watcher = asyncio.create_task(close_on_stop()) if stop is not None else None
            try:
                async with asyncio.timeout(timeout):
                    message: AbstractIncomingMessage
                    async for message in qiterator:
                        try:
                            async with message.process(requeue=False):
                                assert message.reply_to is not None

                                n = int(message.body.decode())

                                print(f" [.] fib({n})")
                                response = str(fib(n)).encode()

                                await exchange.publish(
                                    Message(body=response, correlation_id=message.correlation_id),
                                    routing_key=message.reply_to,
                                )
                                served.append(n)
                        except Exception:
                            logging.exception("Processing error for message %r", message)
                        if max_requests is not None and len(served) >= max_requests:
                            break
            except TimeoutError:
                pass
            finally:
                if watcher is not None:
                    watcher.cancel()
    return served


class FibonacciRpcClient:
    connection: AbstractConnection
    channel: AbstractChannel
    callback_queue: AbstractQueue

    def __init__(self, url, queue="rpc_queue", timeout=10.0) -> None:
        self.url = url
        self.queue = queue
        self.timeout = timeout
        self.futures: MutableMapping[str, asyncio.Future] = {}
        self.ignored = []  # answers with a correlation id no call is waiting for

    async def connect(self) -> "FibonacciRpcClient":
        self.connection = await connect(self.url)
        self.channel = await self.connection.channel()
        self.callback_queue = await self.channel.declare_queue(exclusive=True)
        await self.callback_queue.consume(self.on_response, no_ack=True)

        return self

    async def on_response(self, message: AbstractIncomingMessage) -> None:
        future = self.futures.pop(message.correlation_id, None) if message.correlation_id else None
        if future is None:
            print(f"Bad message {message!r}")
            self.ignored.append((message.correlation_id, message.body))
            return

        future.set_result(message.body)

    async def call(self, n: int) -> int:
        correlation_id = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        self.futures[correlation_id] = future

        await self.channel.default_exchange.publish(
            Message(
                str(n).encode(),
                content_type="text/plain",
                correlation_id=correlation_id,
                reply_to=self.callback_queue.name,
            ),
            routing_key=self.queue,
        )

        try:
            return int(await asyncio.wait_for(future, self.timeout))
        finally:
            self.futures.pop(correlation_id, None)

    async def close(self) -> None:
        await self.connection.close()


async def rpc_client(url, *numbers, queue="rpc_queue", timeout=10.0):
    """Call fib for every n at once and return the answers in the order of ``numbers``."""
    fibonacci_rpc = await FibonacciRpcClient(url, queue=queue, timeout=timeout).connect()
    try:
        for n in numbers:
            print(f" [x] Requesting fib({n})")
        results = await asyncio.gather(*(fibonacci_rpc.call(n) for n in numbers))
        for response in results:
            print(f" [.] Got {response}")
        return list(results)
    finally:
        await fibonacci_rpc.close()


def main(url, *argv):
    parser = argparse.ArgumentParser(prog="aio_6_rpc.py")
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("rpc_server")
    p.add_argument("--queue", default="rpc_queue")
    p.add_argument("--max-requests", type=int)
    p.add_argument("--timeout", type=float, default=30.0)
    p = sub.add_parser("rpc_client")
    p.add_argument("--queue", default="rpc_queue")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("n", type=int, nargs="*")
    args = parser.parse_args(argv)

    if args.role == "rpc_server":
        return asyncio.run(rpc_server(url, queue=args.queue, max_requests=args.max_requests, timeout=args.timeout))
    return asyncio.run(rpc_client(url, *(args.n or [30]), queue=args.queue, timeout=args.timeout))


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
