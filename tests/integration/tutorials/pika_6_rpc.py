#!/usr/bin/env python
"""Tutorial six, "RPC", with pika: rpc_server.py and rpc_client.py (blocking and SelectConnection).

    python pika_6_rpc.py URL rpc_server [--queue rpc_queue] [--max-requests N] [--timeout T]
    python pika_6_rpc.py URL rpc_client [--queue rpc_queue] [--select] [--timeout T] n ...

The server consumes requests from "rpc_queue" (prefetch 1, manual acks), computes fib(n) and
publishes the answer through the default exchange to the request's ``reply_to`` queue, copying its
``correlation_id``. The client declares an exclusive, server-named callback queue, sends each request
with ``reply_to`` set to it and a fresh ``correlation_id``, and ignores answers whose correlation id
it does not know.

``FibonacciRpcClient`` is the tutorial's BlockingConnection client (one call at a time);
``SelectFibonacciRpcClient`` does the same with pika's asynchronous SelectConnection and has all its
requests outstanding at once.
"""

import argparse
import sys
import time
import uuid

import pika


def connection_parameters(url_or_params):
    if isinstance(url_or_params, str):
        return pika.URLParameters(url_or_params)
    return url_or_params


def fib(n):
    if n == 0:
        return 0
    elif n == 1:
        return 1
    else:
        return fib(n - 1) + fib(n - 2)


def rpc_server(url_or_params, queue="rpc_queue", max_requests=None, timeout=30.0, stop=None,
               on_ready=None):
    """Serve until ``max_requests`` were answered, ``stop`` (threading.Event) is set or ``timeout`` passed.

    Returns the list of the n it was asked for, in order.
    """
    connection = pika.BlockingConnection(connection_parameters(url_or_params))
    channel = connection.channel()

    channel.queue_declare(queue=queue)

    served = []

    def on_request(ch, method, props, body):
        n = int(body)

        print(f" [.] fib({n})")
        response = fib(n)

        ch.basic_publish(
            exchange="",
            routing_key=props.reply_to,
            properties=pika.BasicProperties(correlation_id=props.correlation_id),
            body=str(response),
        )
        ch.basic_ack(delivery_tag=method.delivery_tag)
        served.append(n)
        if max_requests is not None and len(served) >= max_requests:
            ch.stop_consuming()

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue=queue, on_message_callback=on_request)

    deadline = time.monotonic() + timeout

    def watchdog():
        if (stop is not None and stop.is_set()) or time.monotonic() >= deadline:
            channel.stop_consuming()
        else:
            connection.call_later(0.05, watchdog)

    connection.call_later(0.05, watchdog)

    print(" [x] Awaiting RPC requests")
    if on_ready is not None:
        on_ready(queue)
    try:
        channel.start_consuming()
    finally:
        connection.close()
    return served


class FibonacciRpcClient:
    def __init__(self, url_or_params, queue="rpc_queue", timeout=10.0):
        self.queue = queue
        self.timeout = timeout
        self.connection = pika.BlockingConnection(connection_parameters(url_or_params))

        self.channel = self.connection.channel()

        result = self.channel.queue_declare(queue="", exclusive=True)
        self.callback_queue = result.method.queue

        self.channel.basic_consume(
            queue=self.callback_queue,
            on_message_callback=self.on_response,
            auto_ack=True,
        )

        self.response = None
        self.corr_id = None
        self.ignored = []  # answers whose correlation id was not the one we waited for

    def on_response(self, ch, method, props, body):
        if self.corr_id == props.correlation_id:
            self.response = body
        else:
            self.ignored.append((props.correlation_id, body))

    def call(self, n):
        self.response = None
        self.corr_id = str(uuid.uuid4())
        self.channel.basic_publish(
            exchange="",
            routing_key=self.queue,
            properties=pika.BasicProperties(
                reply_to=self.callback_queue,
                correlation_id=self.corr_id,
            ),
            body=str(n),
        )
        deadline = time.monotonic() + self.timeout
        while self.response is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer to fib({n}) within {self.timeout}s")
            self.connection.process_data_events(time_limit=min(remaining, 0.25))
        return int(self.response)

    def close(self):
        if self.connection.is_open:
            self.connection.close()


class SelectFibonacciRpcClient:
    """The same client on pika's asynchronous SelectConnection: every request is in flight at once."""

    def __init__(self, url_or_params, numbers, queue="rpc_queue", timeout=10.0):
        self.parameters = connection_parameters(url_or_params)
        self.numbers = list(numbers)
        self.queue = queue
        self.timeout = timeout
        self.connection = None
        self.channel = None
        self.callback_queue = None
        self.pending = {}  # correlation_id -> index into numbers
        self.results = [None] * len(self.numbers)
        self.error = None

    def run(self):
        self.connection = pika.SelectConnection(
            self.parameters,
            on_open_callback=self.on_connection_open,
            on_open_error_callback=self.on_connection_open_error,
            on_close_callback=self.on_connection_closed,
        )
        self.connection.ioloop.call_later(self.timeout, self.on_timeout)
        self.connection.ioloop.start()
        if self.error is not None:
            raise self.error
        return self.results

    def on_connection_open(self, connection):
        connection.channel(on_open_callback=self.on_channel_open)

    def on_connection_open_error(self, connection, error):
        self.error = error if isinstance(error, BaseException) else ConnectionError(str(error))
        connection.ioloop.stop()

    def on_connection_closed(self, connection, reason):
        connection.ioloop.stop()

    def on_channel_open(self, channel):
        self.channel = channel
        channel.queue_declare(queue="", exclusive=True, callback=self.on_queue_declareok)

    def on_queue_declareok(self, frame):
        self.callback_queue = frame.method.queue
        self.channel.basic_consume(
            queue=self.callback_queue,
            on_message_callback=self.on_response,
            auto_ack=True,
            callback=self.on_consumeok,
        )

    def on_consumeok(self, frame):
        for index, n in enumerate(self.numbers):
            corr_id = str(uuid.uuid4())
            self.pending[corr_id] = index
            print(f" [x] Requesting fib({n})")
            self.channel.basic_publish(
                exchange="",
                routing_key=self.queue,
                properties=pika.BasicProperties(reply_to=self.callback_queue, correlation_id=corr_id),
                body=str(n),
            )
        if not self.pending:
            self.connection.close()

    def on_response(self, channel, method, props, body):
        index = self.pending.pop(props.correlation_id, None)
        if index is None:
            return
        self.results[index] = int(body)
        print(f" [.] Got {self.results[index]}")
        if not self.pending:
            self.connection.close()

    def on_timeout(self):
        if self.pending or self.callback_queue is None:
            self.error = TimeoutError(f"{len(self.pending)} RPC answers missing after {self.timeout}s")
        if self.connection.is_open:
            self.connection.close()
        elif not self.connection.is_closing:
            self.connection.ioloop.stop()


def rpc_client(url_or_params, *numbers, queue="rpc_queue", timeout=10.0):
    fibonacci_rpc = FibonacciRpcClient(url_or_params, queue=queue, timeout=timeout)
    try:
        results = []
        for n in numbers:
            print(f" [x] Requesting fib({n})")
            response = fibonacci_rpc.call(n)
            print(f" [.] Got {response}")
            results.append(response)
        return results
    finally:
        fibonacci_rpc.close()


def rpc_client_select(url_or_params, *numbers, queue="rpc_queue", timeout=10.0):
    return SelectFibonacciRpcClient(url_or_params, numbers, queue=queue, timeout=timeout).run()


def main(url_or_params, *argv):
    parser = argparse.ArgumentParser(prog="pika_6_rpc.py")
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("rpc_server")
    p.add_argument("--queue", default="rpc_queue")
    p.add_argument("--max-requests", type=int)
    p.add_argument("--timeout", type=float, default=30.0)
    p = sub.add_parser("rpc_client")
    p.add_argument("--queue", default="rpc_queue")
    p.add_argument("--select", action="store_true", help="use the SelectConnection client")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("n", type=int, nargs="*")
    args = parser.parse_args(argv)

    if args.role == "rpc_server":
        return rpc_server(url_or_params, queue=args.queue, max_requests=args.max_requests, timeout=args.timeout)
    client = rpc_client_select if args.select else rpc_client
    return client(url_or_params, *(args.n or [30]), queue=args.queue, timeout=args.timeout)


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
