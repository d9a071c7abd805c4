#!/usr/bin/env python
"""Tutorial three, "Publish/Subscribe", with pika: emit_log.py and receive_logs.py.

    python pika_3_publish_subscribe.py URL emit_log [--exchange logs] [message ...]
    python pika_3_publish_subscribe.py URL receive_logs [--exchange logs] [--count N] [--timeout T]

The emitter publishes to the fanout exchange "logs" (the routing key is ignored). Every receiver
declares a fresh, server-named, exclusive queue, binds it to "logs" and so gets a copy of every log
emitted while it runs; logs emitted while nobody listens are dropped.
"""

import argparse
import sys

import pika


def connection_parameters(url_or_params):
    if isinstance(url_or_params, str):
        return pika.URLParameters(url_or_params)
    return url_or_params


def emit_log(url_or_params, *messages, exchange="logs"):
    connection = pika.BlockingConnection(connection_parameters(url_or_params))
    channel = connection.channel()

    channel.exchange_declare(exchange=exchange, exchange_type="fanout")

    for message in messages or ("info: Hello World!",):
        channel.basic_publish(exchange=exchange, routing_key="", body=message)
        print(f" [x] Sent {message}")
    connection.close()


def receive_logs(url_or_params, exchange="logs", count=None, timeout=10.0, on_ready=None):
    """Print logs until ``count`` arrived or ``timeout`` passed; ``on_ready(queue_name)`` once bound."""
    connection = pika.BlockingConnection(connection_parameters(url_or_params))
    channel = connection.channel()

    channel.exchange_declare(exchange=exchange, exchange_type="fanout")

    result = channel.queue_declare(queue="", exclusive=True)
    queue_name = result.method.queue

    channel.queue_bind(exchange=exchange, queue=queue_name)

    received = []

    def callback(ch, method, properties, body):
        print(f" [x] {body.decode()}")
        received.append(body.decode())
        if count is not None and len(received) >= count:
            ch.stop_consuming()

    channel.basic_consume(queue=queue_name, on_message_callback=callback, auto_ack=True)
    connection.call_later(timeout, channel.stop_consuming)

    print(f" [*] Waiting for logs on {queue_name}. To exit press CTRL+C")
    if on_ready is not None:
        on_ready(queue_name)
    try:
        channel.start_consuming()
    finally:
        connection.close()
    return received


def main(url_or_params, *argv):
    parser = argparse.ArgumentParser(prog="pika_3_publish_subscribe.py")
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("emit_log")
    p.add_argument("--exchange", default="logs")
    p.add_argument("message", nargs="*")
    p = sub.add_parser("receive_logs")
    p.add_argument("--exchange", default="logs")
    p.add_argument("--count", type=int)
    p.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)

    if args.role == "emit_log":
        return emit_log(url_or_params, " ".join(args.message) or "info: Hello World!", exchange=args.exchange)
    return receive_logs(url_or_params, exchange=args.exchange, count=args.count, timeout=args.timeout)


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
