#!/usr/bin/env python
"""Tutorial one, "Hello World!", with pika: send.py and receive.py.

    python pika_1_hello.py URL send [--queue hello] [message ...]
    python pika_1_hello.py URL receive [--queue hello] [--count N] [--timeout SECONDS]

The producer sends "Hello World!" to the queue "hello" through the default exchange; the consumer
declares the same queue (whichever program runs first creates it) and prints what it receives,
acknowledging automatically.
"""

import argparse
import sys

import pika


def connection_parameters(url_or_params):
    if isinstance(url_or_params, str):
        return pika.URLParameters(url_or_params)
    return url_or_params


def send(url_or_params, *messages, queue="hello"):
    connection = pika.BlockingConnection(connection_parameters(url_or_params))
    channel = connection.channel()

    channel.queue_declare(queue=queue)

    for message in messages or ("Hello World!",):
        channel.basic_publish(exchange="", routing_key=queue, body=message)
        print(f" [x] Sent {message!r}")
    connection.close()


def receive(url_or_params, queue="hello", count=None, timeout=10.0, on_ready=None):
    """Consume from ``queue`` until ``count`` messages arrived or ``timeout`` seconds passed."""
    connection = pika.BlockingConnection(connection_parameters(url_or_params))
    channel = connection.channel()

    channel.queue_declare(queue=queue)

    received = []

    def callback(ch, method, properties, body):
        print(f" [x] Received {body.decode()}")
        received.append(body.decode())
        if count is not None and len(received) >= count:
            ch.stop_consuming()

    channel.basic_consume(queue=queue, on_message_callback=callback, auto_ack=True)
    connection.call_later(timeout, channel.stop_consuming)

    print(" [*] Waiting for messages. To exit press CTRL+C")
    if on_ready is not None:
        on_ready(queue)
    try:
        channel.start_consuming()
    finally:
        connection.close()
    return received


def main(url_or_params, *argv):
    parser = argparse.ArgumentParser(prog="pika_1_hello.py")
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
        return send(url_or_params, " ".join(args.message) or "Hello World!", queue=args.queue)
    return receive(url_or_params, queue=args.queue, count=args.count, timeout=args.timeout)


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
