#!/usr/bin/env python
"""Tutorial two, "Work Queues", with pika: new_task.py and worker.py.

    python pika_2_work_queues.py URL new_task [--queue task_queue] [message ...]
    python pika_2_work_queues.py URL worker [--queue task_queue] [--seconds-per-dot S] [--count N] [--timeout T]

Tasks go to the durable queue "task_queue" as persistent messages. A worker pretends to work one
second per dot in the body (``--seconds-per-dot`` scales that), acknowledges manually once it is done,
and uses ``basic_qos(prefetch_count=1)`` so the broker gives it no new task while it is busy
(fair dispatch). A worker killed in the middle of a task leaves it unacknowledged, so the broker
hands it to another worker.
"""

import argparse
import sys
import time
from typing import NamedTuple

import pika


class Task(NamedTuple):
    body: str
    delivery_mode: int | None
    redelivered: bool


def connection_parameters(url_or_params):
    if isinstance(url_or_params, str):
        return pika.URLParameters(url_or_params)
    return url_or_params


def new_task(url_or_params, *messages, queue="task_queue"):
    connection = pika.BlockingConnection(connection_parameters(url_or_params))
    channel = connection.channel()

    channel.queue_declare(queue=queue, durable=True)

    for message in messages or ("Hello World!",):
        channel.basic_publish(
            exchange="",
            routing_key=queue,
            body=message,
            properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
        )
        print(f" [x] Sent {message}")
    connection.close()


def worker(url_or_params, queue="task_queue", seconds_per_dot=1.0, count=None, timeout=30.0,
           stop=None, results=None, on_ready=None):
    """Work on tasks until ``count`` are done, ``stop`` (a threading.Event) is set or ``timeout`` passed.

    Every finished task is appended to ``results`` (a new list unless one is given), which is returned.
    """
    connection = pika.BlockingConnection(connection_parameters(url_or_params))
    channel = connection.channel()

    channel.queue_declare(queue=queue, durable=True)

    done = results if results is not None else []

    def callback(ch, method, properties, body):
        print(f" [x] Received {body.decode()}")
        time.sleep(body.count(b".") * seconds_per_dot)
        print(" [x] Done")
        ch.basic_ack(delivery_tag=method.delivery_tag)
        done.append(Task(body.decode(), properties.delivery_mode, method.redelivered))
        if count is not None and len(done) >= count:
            ch.stop_consuming()

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue=queue, on_message_callback=callback)

    deadline = time.monotonic() + timeout

    def watchdog():
        if (stop is not None and stop.is_set()) or time.monotonic() >= deadline:
            channel.stop_consuming()
        else:
            connection.call_later(0.05, watchdog)

    connection.call_later(0.05, watchdog)

    print(" [*] Waiting for messages. To exit press CTRL+C")
    if on_ready is not None:
        on_ready(queue)
    try:
        channel.start_consuming()
    finally:
        connection.close()
    return done


def main(url_or_params, *argv):
    parser = argparse.ArgumentParser(prog="pika_2_work_queues.py")
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
        return new_task(url_or_params, " ".join(args.message) or "Hello World!", queue=args.queue)
    return worker(url_or_params, queue=args.queue, seconds_per_dot=args.seconds_per_dot,
                  count=args.count, timeout=args.timeout)


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
