"""One scripted workload whose message statistics RabbitMQ 3.10 recorded (stats_shapes.json).

interop/rabbitmq_access/record_stats.py runs it against RabbitMQ and writes the fixture;
test_api_stats.py runs it against a fresh amqpd and compares the counts. One connection, two channels:
channel 1 publishes 50 routed messages (with confirms) and one unroutable; channel 2 gets 5 with acks and
one without, then consumes, acking odd deliveries and nacking even ones (requeued below the 10th).
"""

from __future__ import annotations

from typing import Any

import pika

QUEUE, EXCHANGE = "stats-q", "stats-x"
PATHS = {"overview": "/overview", "queue": f"/queues/%2F/{QUEUE}", "exchange": f"/exchanges/%2F/{EXCHANGE}",
         "vhost": "/vhosts/%2F", "channels": "/channels", "connections": "/connections", "node": "/nodes"}


def run(host: str, port: int) -> Any:
    """Drive the workload; returns the open connection (its channels must exist when stats are read)."""
    conn = pika.BlockingConnection(pika.ConnectionParameters(host, port, heartbeat=0))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare(QUEUE)
    ch.exchange_declare(EXCHANGE, "direct")
    ch.queue_bind(QUEUE, EXCHANGE, "k")
    for _ in range(50):
        ch.basic_publish(EXCHANGE, "k", b"x")
    ch.basic_publish(EXCHANGE, "nokey", b"x")
    ch2 = conn.channel()
    for _ in range(5):
        method, _props, _body = ch2.basic_get(QUEUE)
        ch2.basic_ack(method.delivery_tag)
    ch2.basic_get(QUEUE, auto_ack=True)
    n = 0
    for method, _props, _body in ch2.consume(QUEUE, inactivity_timeout=1):
        if method is None:
            break
        n += 1
        if n % 2:
            ch2.basic_ack(method.delivery_tag)
        else:
            ch2.basic_nack(method.delivery_tag, requeue=n < 10)
        if n > 30:
            break
    return conn


def cleanup(conn: Any) -> None:
    ch = conn.channel()
    ch.queue_delete(QUEUE)
    ch.exchange_delete(EXCHANGE)
    conn.close()
