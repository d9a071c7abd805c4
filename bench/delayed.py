"""A million delayed messages: what they cost amqpd's memory while they wait, and how punctually they come.

Starts amqpd (harness.AmqpdServer), declares an x-delayed-message exchange bound to a queue and publishes
--messages persistent messages of --size bytes with x-delay far in the future (an hour), from --publishers
processes at once so that the client is not what limits the rate. It prints the broker's resident memory
before and after (the waiting messages live in RocksDB, not in the Python heap) and the
`messages_delayed` count from the HTTP API. Then it publishes --punctual messages with delays spread
over two seconds and reports how early or late each arrived (min, median, p99, max in ms).

    python3 bench/delayed.py --messages 1000000

RabbitMQ's plugin is not installed with Debian's rabbitmq-server, so there is no side-by-side run; the
plugin keeps delayed messages in a Mnesia disc_copies table, which also holds every one in memory.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing as mp
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pika  # noqa: E402
from harness import AmqpdServer, free_port, mib, proc_mem  # noqa: E402

EXCHANGE, QUEUE = "bench-delayed", "bench-delayed-q"


def _publisher(url: str, count: int, size: int) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    props = pika.BasicProperties(headers={"x-delay": 3_600_000}, delivery_mode=2)
    body = b"x" * size
    for i in range(count):
        ch.basic_publish(EXCHANGE, "k", body, props)
        if i % 10_000 == 0:
            conn.process_data_events(0)
    conn.close()


def _delayed_count(http_port: int) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{http_port}/api/exchanges/%2F/{EXCHANGE}",
                                 headers={"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
    return json.load(urllib.request.urlopen(req, timeout=30)).get("messages_delayed", 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--publishers", type=int, default=4)
    ap.add_argument("--punctual", type=int, default=200)
    args = ap.parse_args()
    http_port = free_port()
    server = AmqpdServer(keep=False, extra_args=("--management-port", str(http_port)))
    server.start()
    try:
        conn = pika.BlockingConnection(pika.URLParameters(server.url))
        ch = conn.channel()
        ch.exchange_declare(EXCHANGE, "x-delayed-message", durable=True, arguments={"x-delayed-type": "direct"})
        ch.queue_declare(QUEUE, durable=True)
        ch.queue_bind(QUEUE, EXCHANGE, "k")
        time.sleep(1)
        rss0 = proc_mem(server.proc.pid)[0]
        started = time.monotonic()
        per = args.messages // args.publishers
        procs = [mp.Process(target=_publisher, args=(server.url, per, args.size)) for _ in range(args.publishers)]
        for p in procs:
            p.start()
        peak = rss0
        while any(p.is_alive() for p in procs):
            peak = max(peak, proc_mem(server.proc.pid)[0])
            time.sleep(0.2)
        total = per * args.publishers
        while _delayed_count(http_port) < total and time.monotonic() - started < 600:
            peak = max(peak, proc_mem(server.proc.pid)[0])
            time.sleep(0.5)
        seconds = time.monotonic() - started
        rss1 = proc_mem(server.proc.pid)[0]
        print(f"amqpd: {_delayed_count(http_port):,} delayed messages of {args.size} B waiting, published in "
              f"{seconds:.1f} s ({total / seconds:,.0f} msg/s)")
        print(f"amqpd: RSS {mib(rss0)} before, {mib(rss1)} after, peak {mib(peak)} "
              f"({(rss1 - rss0) / total:.1f} bytes per waiting message)")

        # punctuality: delays spread over two seconds, arrival compared with the due time
        got: list[float] = []
        due: dict[bytes, float] = {}
        ch.basic_consume(QUEUE, lambda c, m, p, b: (got.append((time.time() - due[b]) * 1000),
                                                    c.basic_ack(m.delivery_tag)))
        for i in range(args.punctual):
            delay = 50 + (i * 1950) // args.punctual
            key = b"p%d" % i
            due[key] = time.time() + delay / 1000
            ch.basic_publish(EXCHANGE, "k", key, pika.BasicProperties(headers={"x-delay": delay}))
        deadline = time.monotonic() + 10
        while len(got) < args.punctual and time.monotonic() < deadline:
            conn.process_data_events(0.01)
        got.sort()
        print(f"amqpd: {len(got)}/{args.punctual} punctual messages; lateness ms min {got[0]:.1f}, median "
              f"{statistics.median(got):.1f}, p99 {got[int(len(got) * 0.99) - 1]:.1f}, max {got[-1]:.1f}")
        conn.close()
        return 0 if len(got) == args.punctual else 1
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
