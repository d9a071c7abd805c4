#!/usr/bin/env python3
"""Publish -> consume throughput benchmark for amqpd (and RabbitMQ, for comparison).

One producer connection and one consumer connection, each in its own process, push small transient
messages through a fresh non-durable queue on the default exchange and the figure printed is
messages consumed per second. See bench/README.md for the options and how to read the numbers.

The clients (bench/amqpclient.py) are deliberately lean so that they are not the bottleneck: pamqp is
used only for the connection handshake and to build frames once; the publisher writes a pre-marshalled
basic.publish + content header + body in large batches straight to the transport, and the consumer
counts frames with struct.unpack_from over a fixed receive buffer (asyncio.BufferedProtocol) without
ever copying or re-slicing the whole buffer.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from dataclasses import dataclass

from pamqp import commands

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from amqpclient import (  # noqa: E402  (bench/ is not a package)
    BATCH_BYTES,
    DEFAULT_URL,
    MAX_IN_FLIGHT_BYTES,
    BenchError,
    ClientOpts,
    Consumer,
    Producer,
    RunStatus,
    Shared,
    build_message,
    cancel_and_delete,
    consume_until_finished,
    finish_publishing,
    open_connection,
    parse_url,
    publish_batches,
    session,
    supervise,
)
from harness import (  # noqa: E402
    AmqpdServer,
    alternate,
    cpu_text,
    log,
    out,
    print_medians,
    print_ratio,
    report_problems,
    require_broker,
    resolve_ack_every,
    run_main,
    status_mark,
    targets,
)

# --------------------------------------------------------------------------------------------------
# The two clients
# --------------------------------------------------------------------------------------------------


async def consumer_run(url: str, queue: str, o: ClientOpts, sh: Shared, report: dict) -> None:
    conn: Consumer = await open_connection(lambda: Consumer(o, sh), url)
    async with session(conn, sh, report) as watcher:
        conn.send(commands.Queue.Declare(queue=queue, durable=False, auto_delete=True))
        await conn.expect(commands.Queue.DeclareOk)
        if not o.no_ack:
            conn.send(commands.Basic.Qos(prefetch_count=o.prefetch))
            await conn.expect(commands.Basic.QosOk)
        conn.send(commands.Basic.Consume(queue=queue, consumer_tag="bench", no_ack=o.no_ack))
        await conn.expect(commands.Basic.ConsumeOk)
        sh.cons_state.value = 1
        await consume_until_finished(conn, sh, watcher)
        # Clean up: the queue is auto-delete anyway, but delete it explicitly (messages left over
        # after an early stop are dropped with it).
        try:
            await cancel_and_delete(conn, queue, 5, 5)
        except BenchError as e:
            report["warning"] = f"cleanup: {e}"


async def producer_run(url: str, queue: str, o: ClientOpts, sh: Shared, report: dict) -> None:
    conn: Producer = await open_connection(lambda: Producer(sh), url)
    async with session(conn, sh, report) as watcher:
        if o.confirm:
            conn.send(commands.Confirm.Select())
            await conn.expect(commands.Confirm.SelectOk)
        one, _ = build_message(queue, o.size, conn.frame_max)
        batch = min(o.batch, max(1, BATCH_BYTES // len(one)))
        if o.confirm:
            batch = min(batch, max(1, o.window // 4))
        if o.max_in_flight:
            batch = min(batch, max(1, min(o.max_in_flight, MAX_IN_FLIGHT_BYTES // len(one)) // 4))
        full_batch = one * batch
        max_in_flight = o.max_in_flight
        if max_in_flight:  # big messages: also bound the bytes the broker has to hold
            max_in_flight = min(max_in_flight, max(1, MAX_IN_FLIGHT_BYTES // len(one)))

        def write(_published: int, k: int) -> None:
            conn.transport.write(full_batch if k == batch else one * k)

        window = o.window if o.confirm else 0
        published = await publish_batches(conn, sh, watcher, o.messages, batch, window, max_in_flight, write)
        await finish_publishing(conn, sh, watcher, published, o.confirm)


# --------------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------------


@dataclass
class Result(RunStatus):
    consumed: int = 0
    published: int = 0
    elapsed: float = 0.0
    rate: float = 0.0
    pub_rate: float = 0.0


def run_load(label: str, url: str, args, o: ClientOpts) -> Result:
    queue = f"amqpd-bench-{uuid.uuid4().hex[:12]}"
    res = Result(label)

    def stall_reason(sh: Shared) -> str:
        return (
            f"consumer stalled: no delivery for {args.stall_timeout:g} s "
            f"(consumed {sh.consumed.value} of {o.messages}, published {sh.published.value})"
        )

    sh = supervise(
        res,
        url,
        queue,
        o,
        consumer=consumer_run,
        producer=producer_run,
        ready_timeout=20,
        stall_timeout=args.stall_timeout,
        stall_reason=stall_reason,
        seconds=args.seconds,
        nack_warnings=True,
    )
    if res.status == "error" and not res.errors:
        res.errors.append("unknown failure")

    res.consumed = sh.consumed.value
    res.published = sh.published.value
    t0 = sh.t_pub_first.value
    if t0:
        t_last = sh.t_cons_last.value if res.consumed else res.t_end
        res.elapsed = max(t_last - t0, 1e-9)
        res.rate = res.consumed / res.elapsed
        t_pub = sh.t_pub_done.value or res.t_end
        res.pub_rate = res.published / max(t_pub - t0, 1e-9)
    if res.status == "ok" and res.consumed < o.messages:
        res.status = "error"
    return res


def format_result(r: Result, size: int) -> str:
    return (
        f"{r.label}: {r.consumed} msgs of {size} B in {r.elapsed:.2f} s = {r.rate:,.0f} msg/s "
        f"(publish {r.pub_rate:,.0f} msg/s)"
    ) + status_mark(r.status)


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Publish -> consume throughput of small transient messages, 1 producer and "
        "1 consumer connection, through a fresh non-durable queue."
    )
    ap.add_argument("--url", default=DEFAULT_URL, help="broker under test (default %(default)s)")
    ap.add_argument("--messages", type=int, default=200_000, help="messages to send (default %(default)s)")
    ap.add_argument("--size", type=int, default=100, help="body size in bytes (default %(default)s)")
    ap.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="stop after this many seconds and report the partial figure",
    )
    ap.add_argument("--confirm", action="store_true", help="use publisher confirms")
    ap.add_argument(
        "--window",
        type=int,
        default=1000,
        help="with --confirm: max unconfirmed messages (default %(default)s)",
    )
    ap.add_argument("--no-ack", action="store_true", help="consume with no_ack=True")
    ap.add_argument(
        "--prefetch", type=int, default=1000, help="consumer basic.qos prefetch (default %(default)s)"
    )
    ap.add_argument(
        "--ack-every",
        type=int,
        default=None,
        help="ack (multiple=True) every N deliveries (default prefetch/4)",
    )
    ap.add_argument(
        "--max-in-flight",
        type=int,
        default=20_000,
        help="max messages published but not yet consumed; 0 = unbounded (default %(default)s)",
    )
    ap.add_argument(
        "--batch", type=int, default=1000, help="messages per transport write (default %(default)s)"
    )
    ap.add_argument(
        "--coalesce-ms",
        type=float,
        default=1.0,
        help="consumer pauses reading this long after a small read, to read bigger batches "
        "and use less CPU; 0 = off; automatically off when prefetch - ack-every "
        "< 500 per ms (default %(default)s)",
    )
    ap.add_argument(
        "--stall-timeout",
        type=float,
        default=10.0,
        help="give up when no delivery arrives for this long (default %(default)s s)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each measurement N times and also print the median (default %(default)s)",
    )
    ap.add_argument(
        "--compare-rabbitmq",
        action="store_true",
        help="also run against RabbitMQ at --rabbitmq-url and print the ratio",
    )
    ap.add_argument("--rabbitmq-url", default=DEFAULT_URL, help="default %(default)s")
    ap.add_argument(
        "--start-amqpd",
        action="store_true",
        help="start `python -m amqpd` on a free port with a temporary data dir and test it",
    )
    ap.add_argument("--keep-data", action="store_true", help="with --start-amqpd: keep its data dir and log")
    ap.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop in the clients")
    ap.add_argument("-v", "--verbose", action="store_true", help="also print client CPU usage")
    args = ap.parse_args(argv)
    if min(args.messages, args.batch, args.window, args.repeat) <= 0 or args.size < 0:
        ap.error("--messages, --batch, --window and --repeat must be positive, --size non-negative")
    if args.prefetch < 0 or args.max_in_flight < 0:
        ap.error("--prefetch and --max-in-flight must not be negative")
    resolve_ack_every(ap, args)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    o = ClientOpts.from_args(args)

    def report(r: Result) -> None:
        out(format_result(r, args.size))
        report_problems(r.errors, r.warnings)
        if args.verbose and r.cpu:
            log(
                f"  client CPU: {cpu_text(r.cpu)} (over {r.elapsed:.2f} s of measurement); "
                f"consumer socket reads: {r.reads} ({r.consumed / max(r.reads, 1):.0f} msgs/read)"
            )

    def body(stack) -> int:
        server: AmqpdServer | None = None
        url = args.url
        if args.start_amqpd:
            server = AmqpdServer(args.keep_data)
            stack.callback(server.stop)
            server.start()
            url = server.url
        else:
            host, port = require_broker(url, "; start the broker or use --start-amqpd")
            if args.compare_rabbitmq and (host, port) == parse_url(args.rabbitmq_url)[:2]:
                log("note: --url and --rabbitmq-url point to the same broker")
        brokers = targets(url, args)
        runs: dict[str, list[Result]] = {label: [] for label, _ in brokers}
        exit_code = 0
        for label, target_url in alternate(brokers, args.repeat):
            r = run_load(label, target_url, args, o)
            report(r)
            runs[label].append(r)
            if r.failed:
                exit_code = 1
            if server is not None and server.proc is not None and server.proc.poll() is not None:
                log(f"amqpd exited with status {server.proc.returncode}:\n{server.log_tail()}")
                return 1
        print_ratio(runs, print_medians(runs, lambda r: r.rate, args.repeat))
        return exit_code

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
