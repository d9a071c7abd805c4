#!/usr/bin/env python3
"""Persistent-with-confirms throughput benchmark for amqpd (and RabbitMQ, for comparison).

One producer publishes N persistent messages (delivery_mode=2, 100 B bodies by default) to a fresh
durable queue, with publisher confirms and at most --window (1000) messages unconfirmed. One consumer
takes them with manual acks (basic.qos prefetch 200, multiple acks every prefetch/4). Each client runs in
its own process. Every body starts with the message's sequence number, so the consumer also checks that
the messages arrive in publish order. The figure printed is messages consumed per second. See
bench/README.md.

The clients come from bench/amqpclient.py (the same lean framing and parsing as bench/throughput.py);
this module adds the sequence-numbered persistent producer, the order-checking consumer and a phase
runner, which bench/backlog.py reuses.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pamqp import commands

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from amqpclient import (  # noqa: E402  (bench/ is not a package)
    BATCH_BYTES,
    DEFAULT_URL,
    U64,
    BenchError,
    ClientOpts,
    Conn,
    Consumer,
    Producer,
    RunStatus,
    Shared,
    build_message,
    cancel_and_delete,
    consume_until_finished,
    delete_queue,
    finish_publishing,
    open_connection,
    publish_batches,
    session,
    supervise,
)
from harness import (  # noqa: E402
    AmqpdServer,
    alternate,
    amqpd_version,
    cpu_text,
    log,
    mib,
    out,
    print_medians,
    print_ratio,
    proc_mem,
    report_problems,
    require_broker,
    resolve_ack_every,
    run_main,
    status_mark,
    targets,
)

# --------------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------------


@dataclass
class POpts(ClientOpts):
    confirm: bool = True  # always: the producer publishes with confirms
    prefetch: int = 200
    ack_every: int = 50
    max_in_flight: int = 0  # 0: only the confirm window bounds the producer
    producer_declares: bool = False  # backlog: no consumer, the producer declares the queue
    delete_queue: bool = True  # consumer deletes the queue after the run
    target_from_declare: bool = False  # drain: consume min(messages, declare-ok message_count)


async def declare_durable(conn: Conn, queue: str) -> int:
    conn.send(commands.Queue.Declare(queue=queue, durable=True, auto_delete=False))
    ok = await conn.expect(commands.Queue.DeclareOk, timeout=30, what="queue.declare-ok")
    return ok.message_count


# --------------------------------------------------------------------------------------------------
# Producer: persistent, sequence-numbered, confirm-windowed
# --------------------------------------------------------------------------------------------------


async def producer_run(url: str, queue: str, o: POpts, sh: Shared, report: dict) -> None:
    conn: Producer = await open_connection(lambda: Producer(sh), url)
    async with session(conn, sh, report) as watcher:
        if o.producer_declares:
            await declare_durable(conn, queue)
        conn.send(commands.Confirm.Select())
        await conn.expect(commands.Confirm.SelectOk)
        one, seq_off = build_message(queue, o.size, conn.frame_max, persistent=True)
        length = len(one)
        batch = min(o.batch, max(1, BATCH_BYTES // length), max(1, o.window // 4))
        if o.max_in_flight:
            batch = min(batch, max(1, o.max_in_flight // 4))
        template = bytearray(one * batch)
        offsets = [i * length + seq_off for i in range(batch)]
        pack = U64.pack_into

        def write(published: int, k: int) -> None:
            for i in range(k):
                pack(template, offsets[i], published + i + 1)  # sequence numbers start at 1
            # bytes(): the transport may keep a reference to what it could not send yet.
            conn.transport.write(bytes(template) if k == batch else bytes(template[: k * length]))

        published = await publish_batches(conn, sh, watcher, o.messages, batch, o.window, o.max_in_flight, write)
        await finish_publishing(conn, sh, watcher, published, confirm=True)


# --------------------------------------------------------------------------------------------------
# Consumer: manual multiple acks, order check
# --------------------------------------------------------------------------------------------------


async def consumer_run(url: str, queue: str, o: POpts, sh: Shared, report: dict) -> None:
    conn: Consumer = await open_connection(lambda: Consumer(o, sh, check_order=True), url)
    async with session(conn, sh, report) as watcher:
        count = await declare_durable(conn, queue)
        sh.queue_count.value = count
        if o.target_from_declare and count < conn.target:
            conn.target = count
        sh.target.value = conn.target
        conn.send(commands.Basic.Qos(prefetch_count=o.prefetch))
        await conn.expect(commands.Basic.QosOk)
        sh.t_cons_start.value = time.monotonic()
        conn.send(commands.Basic.Consume(queue=queue, consumer_tag="bench", no_ack=False))
        await conn.expect(commands.Basic.ConsumeOk, timeout=30, what="basic.consume-ok")
        sh.cons_state.value = 1
        if conn.target == 0:
            conn.finished = True
            sh.cons_state.value = 2
        await consume_until_finished(conn, sh, watcher)
        if conn.finished and o.delete_queue:
            try:
                await cancel_and_delete(conn, queue, 10, 30)
                sh.deleted.value = 1
            except BenchError as e:
                report["warning"] = f"cleanup: {e}"


# --------------------------------------------------------------------------------------------------
# Phase runner
# --------------------------------------------------------------------------------------------------


@dataclass
class Phase(RunStatus):
    published: int = 0
    confirmed: int = 0
    nacks: int = 0
    consumed: int = 0
    target: int = 0
    queue_count: int = -1
    order_errors: int = 0
    bad_expected: int = 0
    bad_got: int = 0
    last_seq: int = 0
    redelivered: int = 0
    deleted: bool = False
    t_pub_first: float = 0.0
    t_pub_done: float = 0.0
    t_cons_start: float = 0.0
    t_cons_first: float = 0.0
    t_cons_last: float = 0.0

    @property
    def pub_rate(self) -> float:
        if not self.t_pub_first:
            return 0.0
        return self.confirmed / max((self.t_pub_done or self.t_end) - self.t_pub_first, 1e-9)

    @property
    def pub_seconds(self) -> float:
        return (self.t_pub_done or self.t_end) - self.t_pub_first if self.t_pub_first else 0.0

    @property
    def rate(self) -> float:
        """Messages consumed per second, end to end."""
        return self.consumed / self.end_to_end_seconds if self.t_pub_first else 0.0

    @property
    def end_to_end_seconds(self) -> float:
        """First publish -> last complete delivery (both clients running)."""
        return max((self.t_cons_last or self.t_end) - self.t_pub_first, 1e-9) if self.t_pub_first else 0.0

    @property
    def drain_seconds(self) -> float:
        """basic.consume sent -> last complete delivery (consumer only)."""
        return max((self.t_cons_last or self.t_end) - self.t_cons_start, 1e-9) if self.t_cons_start else 0.0


def run_phase(
    label: str,
    url: str,
    queue: str,
    o: POpts,
    *,
    consumer: bool,
    producer: bool,
    stall_timeout: float,
    seconds: float | None = None,
    on_tick: Callable[[float, int, Shared], str | None] | None = None,
) -> Phase:
    """Run the consumer and/or producer process and watch them until done, stalled, failed or aborted.

    Progress is deliveries when there is a consumer, else confirms. on_tick(now, progress, shared) is
    called every 50 ms; a non-empty return value aborts the phase with that reason.
    """
    ph = Phase(label)

    def stall_reason(sh: Shared) -> str:
        what = "delivery" if consumer else "confirm"
        return (
            f"stalled: no {what} for {stall_timeout:g} s (published {sh.published.value}, "
            f"confirmed {sh.confirmed.value}, consumed {sh.consumed.value})"
        )

    sh = supervise(
        ph,
        url,
        queue,
        o,
        consumer=consumer_run if consumer else None,
        producer=producer_run if producer else None,
        ready_timeout=60,
        stall_timeout=stall_timeout,
        stall_reason=stall_reason,
        seconds=seconds,
        on_tick=on_tick,
    )
    if ph.status == "ok" and ph.errors:
        ph.status = "error"
    ph.published, ph.confirmed, ph.nacks = sh.published.value, sh.confirmed.value, sh.nacks.value
    ph.consumed, ph.target, ph.queue_count = sh.consumed.value, sh.target.value, sh.queue_count.value
    ph.order_errors, ph.last_seq, ph.redelivered = (
        sh.order_errors.value,
        sh.last_seq.value,
        sh.redelivered.value,
    )
    ph.bad_expected, ph.bad_got, ph.deleted = sh.bad_expected.value, sh.bad_got.value, bool(sh.deleted.value)
    ph.t_pub_first, ph.t_pub_done = sh.t_pub_first.value, sh.t_pub_done.value
    ph.t_cons_start, ph.t_cons_first, ph.t_cons_last = (
        sh.t_cons_start.value,
        sh.t_cons_first.value,
        sh.t_cons_last.value,
    )
    if ph.nacks:
        ph.warnings.append(f"producer: broker sent {ph.nacks} basic.nack frame(s)")
    if ph.order_errors:
        ph.warnings.append(
            f"consumer: {ph.order_errors} deliveries out of order (first: expected #{ph.bad_expected}, "
            f"got #{ph.bad_got})"
        )
    if ph.status == "ok" and consumer and ph.consumed < o.messages and not o.target_from_declare:
        ph.status = "error"
    return ph


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Persistent messages with publisher confirms: 1 producer (confirm window), 1 consumer "
        "(manual acks), one fresh durable queue. Starts amqpd itself unless --url is given."
    )
    ap.add_argument("--url", default=None, help="test an already running broker instead of starting amqpd")
    ap.add_argument("--messages", type=int, default=100_000, help="messages per run (default %(default)s)")
    ap.add_argument("--size", type=int, default=100, help="body size in bytes, >= 8 (default %(default)s)")
    ap.add_argument("--window", type=int, default=1000, help="max unconfirmed messages (default %(default)s)")
    ap.add_argument(
        "--prefetch", type=int, default=200, help="consumer basic.qos prefetch (default %(default)s)"
    )
    ap.add_argument("--ack-every", type=int, default=None, help="ack (multiple) every N (default prefetch/4)")
    ap.add_argument(
        "--max-in-flight",
        type=int,
        default=0,
        help="also bound published-but-not-consumed messages; 0 = only the confirm window (default)",
    )
    ap.add_argument("--seconds", type=float, default=None, help="stop a run after this many seconds")
    ap.add_argument(
        "--stall-timeout", type=float, default=15.0, help="no delivery for this long = stalled (default 15 s)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per broker; prints medians (default 1)")
    ap.add_argument(
        "--compare-rabbitmq", action="store_true", help="also measure RabbitMQ and print the ratio"
    )
    ap.add_argument("--rabbitmq-url", default=DEFAULT_URL, help="default %(default)s")
    ap.add_argument("--keep-data", action="store_true", help="keep amqpd's data dir and log")
    ap.add_argument("--no-uvloop", action="store_true", help="default asyncio loop in the clients")
    ap.add_argument("-v", "--verbose", action="store_true", help="print client CPU time")
    args = ap.parse_args(argv)
    if min(args.messages, args.window, args.prefetch, args.repeat) <= 0 or args.size < 8:
        ap.error("--messages, --window, --prefetch, --repeat must be positive and --size at least 8")
    resolve_ack_every(ap, args)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    o = POpts.from_args(args)

    def body(stack) -> int:
        server: AmqpdServer | None = None
        if args.url:
            url = args.url
            require_broker(url)
        else:
            server = AmqpdServer(args.keep_data)
            stack.callback(server.stop)
            server.start()
            url = server.url
            log(f"amqpd {amqpd_version()} started on port {server.port}")
        brokers = targets(url, args)
        runs: dict[str, list[Phase]] = {label: [] for label, _ in brokers}
        exit_code = 0
        for label, target_url in alternate(brokers, args.repeat):
            queue = f"amqpd-bench-persistent-{uuid.uuid4().hex[:12]}"

            def tick(_now: float, _progress: int, _sh: Shared, label: str = label) -> str | None:
                if server is not None and label == "amqpd" and server.proc.poll() is not None:
                    return f"amqpd exited with status {server.proc.returncode}"
                return None

            ph = run_phase(
                label,
                target_url,
                queue,
                o,
                consumer=True,
                producer=True,
                stall_timeout=args.stall_timeout,
                seconds=args.seconds,
                on_tick=tick,
            )
            runs[label].append(ph)
            out(
                f"{label}: {ph.consumed} persistent msgs of {args.size} B in {ph.end_to_end_seconds:.2f} s "
                f"= {ph.rate:,.0f} msg/s (publish+confirm {ph.pub_rate:,.0f} msg/s)" + status_mark(ph.status)
            )
            report_problems(ph.errors, ph.warnings)
            if args.verbose and ph.cpu:
                log("  client CPU: " + cpu_text(ph.cpu))
            if ph.failed:
                exit_code = 1
            if not ph.deleted and not (server is not None and server.proc.poll() is not None):
                err = delete_queue(target_url, queue)
                if err:
                    log(f"  warning: {err}")
            if server is not None and label == "amqpd" and server.proc.poll() is not None:
                log(f"amqpd exited with status {server.proc.returncode}; log tail:\n{server.log_tail()}")
                return 1
        medians = print_medians(runs, lambda p: p.rate, args.repeat)
        if server is not None:
            rss, hwm = proc_mem(server.proc.pid)
            log(f"amqpd RSS now {mib(rss)}, peak (VmHWM) {mib(hwm)}")
        print_ratio(runs, medians)
        return exit_code

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
