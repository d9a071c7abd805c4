#!/usr/bin/env python
"""Tutorial four, "Routing", with pika: emit_log_direct.py and receive_logs_direct.py.

    python pika_4_routing.py URL emit_log_direct [--exchange direct_logs] severity [message ...]
    python pika_4_routing.py URL receive_logs_direct [--exchange direct_logs] [--count N] [--timeout T] severity ...

Logs are published to the direct exchange "direct_logs" with their severity (info, warning, error)
as routing key. A receiver binds its exclusive, server-named queue once per severity it wants, so it
gets exactly the logs whose severity it subscribed to.
"""

import argparse
import sys

import pika


def connection_parameters(url_or_params):
    if isinstance(url_or_params, str):
        return pika.URLParameters(url_or_params)
    return url_or_params


def emit_log_direct(url_or_params, *logs, exchange="direct_logs"):
    """Publish each ``(severity, message)`` of ``logs`` in order over one channel."""
    connection = pika.BlockingConnection(connection_parameters(url_or_params))
    channel = connection.channel()

    channel.exchange_declare(exchange=exchange, exchange_type="direct")

    for severity, message in logs or (("info", "Hello World!"),):
        channel.basic_publish(exchange=exchange, routing_key=severity, body=message)
        print(f" [x] Sent {severity}:{message}")
    connection.close()


def receive_logs_direct(url_or_params, severities, exchange="direct_logs", count=None, timeout=10.0,
                        on_ready=None):
    """Return the ``(severity, message)`` logs received until ``count`` arrived or ``timeout`` passed."""
    connection = pika.BlockingConnection(connection_parameters(url_or_params))
    channel = connection.channel()

    channel.exchange_declare(exchange=exchange, exchange_type="direct")

    result = channel.queue_declare(queue="", exclusive=True)
    queue_name = result.method.queue

    for severity in severities:
        channel.queue_bind(exchange=exchange, queue=queue_name, routing_key=severity)

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
    parser = argparse.ArgumentParser(prog="pika_4_routing.py")
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("emit_log_direct")
    p.add_argument("--exchange", default="direct_logs")
    p.add_argument("severity", nargs="?", default="info")
    p.add_argument("message", nargs="*")
    p = sub.add_parser("receive_logs_direct")
    p.add_argument("--exchange", default="direct_logs")
    p.add_argument("--count", type=int)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("severity", nargs="+")
    args = parser.parse_args(argv)

    if args.role == "emit_log_direct":
        message = " ".join(args.message) or "Hello World!"
        return emit_log_direct(url_or_params, (args.severity, message), exchange=args.exchange)
    return receive_logs_direct(url_or_params, args.severity, exchange=args.exchange, count=args.count,
                               timeout=args.timeout)


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
