#!/usr/bin/env python
"""Tutorial five, "Topics", with pika: emit_log_topic.py and receive_logs_topic.py.

    python pika_5_topics.py URL emit_log_topic [--exchange topic_logs] routing_key [message ...]
    python pika_5_topics.py URL receive_logs_topic [--exchange topic_logs] [--count N] [--timeout T] binding_key ...

Logs are published to the topic exchange "topic_logs" with a "<facility>.<severity>" routing key.
A receiver binds its exclusive, server-named queue with patterns where "*" stands for exactly one
word and "#" for zero or more words: "#" gets everything, "kern.*" every kernel log, "*.critical"
every critical log, and a queue bound with several matching patterns still gets a log only once.
"""

import argparse
import sys

import pika


def connection_parameters(url_or_params):
    if isinstance(url_or_params, str):
        return pika.URLParameters(url_or_params)
    return url_or_params


def emit_log_topic(url_or_params, *logs, exchange="topic_logs"):
    """Publish each ``(routing_key, message)`` of ``logs`` in order over one channel."""
    connection = pika.BlockingConnection(connection_parameters(url_or_params))
    channel = connection.channel()

    channel.exchange_declare(exchange=exchange, exchange_type="topic")

    for routing_key, message in logs or (("anonymous.info", "Hello World!"),):
        channel.basic_publish(exchange=exchange, routing_key=routing_key, body=message)
        print(f" [x] Sent {routing_key}:{message}")
    connection.close()


def receive_logs_topic(url_or_params, binding_keys, exchange="topic_logs", count=None, timeout=10.0,
                       on_ready=None):
    """Return the ``(routing_key, message)`` logs received until ``count`` arrived or ``timeout`` passed."""
    connection = pika.BlockingConnection(connection_parameters(url_or_params))
    channel = connection.channel()

    channel.exchange_declare(exchange=exchange, exchange_type="topic")

    result = channel.queue_declare(queue="", exclusive=True)
    queue_name = result.method.queue

    for binding_key in binding_keys:
        channel.queue_bind(exchange=exchange, queue=queue_name, routing_key=binding_key)

    received = []

    def callback(ch, method, properties, body):
        print(f" [x] {method.routing_key}:{body.decode()}")
        received.append((method.routing_key, body.decode()))
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
    parser = argparse.ArgumentParser(prog="pika_5_topics.py")
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("emit_log_topic")
    p.add_argument("--exchange", default="topic_logs")
    p.add_argument("routing_key", nargs="?", default="anonymous.info")
    p.add_argument("message", nargs="*")
    p = sub.add_parser("receive_logs_topic")
    p.add_argument("--exchange", default="topic_logs")
    p.add_argument("--count", type=int)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("binding_key", nargs="+")
    args = parser.parse_args(argv)

    if args.role == "emit_log_topic":
        message = " ".join(args.message) or "Hello World!"
        return emit_log_topic(url_or_params, (args.routing_key, message), exchange=args.exchange)
    return receive_logs_topic(url_or_params, args.binding_key, exchange=args.exchange, count=args.count,
                              timeout=args.timeout)


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
