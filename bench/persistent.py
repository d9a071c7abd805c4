#!/usr/bin/env python3
"""Persistent-with-confirms throughput benchmark for amqpd (and RabbitMQ, for comparison).

One producer publishes N persistent messages (delivery_mode=2, 100 B bodies by default) to a fresh
durable queue, with publisher confirms and at most --window (1000) messages unconfirmed. One consumer
takes them with manual acks (basic.qos prefetch 200, multiple acks every prefetch/4). Each client runs in
its own process. Every body starts with the message's sequence number, so the consumer also checks that
the messages arrive in publish order. The figure printed is messages consumed per second. See
bench/README.md.

The clients come from bench/throughput.py (same lean framing and parsing); this module adds the
sequence-numbered persistent producer, the order-checking consumer and a phase runner, which
bench/backlog.py reuses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from pamqp import body as pbody
from pamqp import commands
from pamqp import frame as pframe
from pamqp import header as pheader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import throughput as tp  # noqa: E402  (bench/ is not a package)
from throughput import (  # noqa: E402
    BASIC_DELIVER,
    BATCH_BYTES,
    CHANNEL,
    DEFAULT_URL,
    FRAME_BODY,
    FRAME_END,
    FRAME_HEADER,
    FRAME_HEADER_T,
    FRAME_METHOD,
    U32,
    U64,
    BenchError,
    Conn,
    open_connection,
    parse_url,
    port_answers,
)

MIB = 1 << 20


# --------------------------------------------------------------------------------------------------
# Shared state and options
# --------------------------------------------------------------------------------------------------


class PShared(tp.Shared):
    """throughput.Shared plus confirm, order and queue-depth counters (one writer per field)."""

    INTS = tp.Shared.INTS + (
        "confirmed",  # producer: messages confirmed (ack or nack)
        "nacks",  # producer: basic.nack frames received
        "order_errors",  # consumer: deliveries whose sequence number was not last + 1
        "bad_expected",  # consumer: first order error, expected sequence number
        "bad_got",  # consumer: first order error, sequence number received
        "last_seq",  # consumer: sequence number of the last complete delivery
        "redelivered",  # consumer: deliveries flagged redelivered
        "queue_count",  # consumer: message_count of queue.declare-ok (-1 = not known yet)
        "target",  # consumer: messages it will consume (may be lowered to queue_count)
        "deleted",  # consumer: 1 once the queue was deleted
    )
    FLOATS = tp.Shared.FLOATS + ("t_cons_start",)  # consumer: basic.consume sent


@dataclass
class POpts:
    messages: int
    size: int
    window: int = 1000
    prefetch: int = 200
    ack_every: int = 50
    max_in_flight: int = 0  # 0: only the confirm window bounds the producer
    batch: int = 1000
    uvloop: bool = True
    coalesce_ms: float = 1.0
    no_ack: bool = False  # for throughput.Consumer's constructor; always manual acks here
    producer_declares: bool = False  # backlog: no consumer, the producer declares the queue
    delete_queue: bool = True  # consumer deletes the queue after the run
    target_from_declare: bool = False  # drain: consume min(messages, declare-ok message_count)


# --------------------------------------------------------------------------------------------------
# Producer: persistent, sequence-numbered, confirm-windowed
# --------------------------------------------------------------------------------------------------


def build_persistent_message(queue: str, size: int, frame_max: int) -> tuple[bytes, int]:
    """basic.publish + content header (delivery_mode=2) + body frame(s), marshalled once.

    Returns the frames and the offset of the 8-byte big-endian sequence number that starts the body.
    """
    if size < 8:
        raise BenchError("--size must be at least 8 (the body starts with a 64-bit sequence number)")
    payload = bytes(8) + bytes((i * 7 + 13) & 0xFF for i in range(size - 8))
    method = pframe.marshal(commands.Basic.Publish(exchange="", routing_key=queue), CHANNEL)
    header = pframe.marshal(
        pheader.ContentHeader(0, size, commands.Basic.Properties(delivery_mode=2)), CHANNEL
    )
    parts = [method, header]
    chunk = frame_max - 8
    for i in range(0, size, chunk):
        parts.append(pframe.marshal(pbody.ContentBody(payload[i : i + chunk]), CHANNEL))
    return b"".join(parts), len(method) + len(header) + 7


class SeqProducer(tp.Producer):
    """throughput.Producer (confirm tracking) that also publishes its counts to PShared."""

    def __init__(self, sh: PShared) -> None:
        super().__init__()
        self.sh = sh

    def parse(self, pos: int, end: int) -> int:
        pos = super().parse(pos, end)
        self.sh.confirmed.value = self.confirmed
        self.sh.nacks.value = self.nacks
        return pos


async def declare_durable(conn: Conn, queue: str) -> int:
    conn.send(commands.Queue.Declare(queue=queue, durable=True, auto_delete=False))
    ok = await conn.expect(commands.Queue.DeclareOk, timeout=30, what="queue.declare-ok")
    return ok.message_count


async def producer_run(url: str, queue: str, o: POpts, sh: PShared, report: dict) -> None:
    conn: SeqProducer = await open_connection(lambda: SeqProducer(sh), url)
    ppid = os.getppid()
    watcher = asyncio.create_task(tp._watch(sh, conn, ppid))
    try:
        if o.producer_declares:
            await declare_durable(conn, queue)
        conn.send(commands.Confirm.Select())
        await conn.expect(commands.Confirm.SelectOk)
        one, seq_off = build_persistent_message(queue, o.size, conn.frame_max)
        length = len(one)
        batch = min(o.batch, max(1, BATCH_BYTES // length), max(1, o.window // 4))
        if o.max_in_flight:
            batch = min(batch, max(1, o.max_in_flight // 4))
        template = bytearray(one * batch)
        offsets = [i * length + seq_off for i in range(batch)]
        pack = U64.pack_into
        n, window, max_in_flight = o.messages, o.window, o.max_in_flight
        consumed, stop = sh.consumed, sh.stop
        published = 0
        sh.prod_state.value = 1
        sh.t_pub_first.value = time.monotonic()
        while published < n:
            k = batch if n - published >= batch else n - published
            while True:  # flow control: confirm window, optional in-flight bound, transport buffer
                if stop.value or watcher.done():
                    break
                conn.check()
                if published + k - conn.confirmed > window:
                    await conn.wait(0.05)
                elif max_in_flight and published + k - consumed.value > max_in_flight:
                    await asyncio.sleep(0.001)
                elif conn.paused:
                    await conn.wait(0.05)
                else:
                    break
            if stop.value or watcher.done():
                break
            for i in range(k):
                pack(template, offsets[i], published + i + 1)  # sequence numbers start at 1
            # bytes(): the transport may keep a reference to what it could not send yet.
            conn.transport.write(bytes(template) if k == batch else bytes(template[: k * length]))
            published += k
            sh.published.value = published
        while not stop.value and not watcher.done():  # publishing ends with the last confirm
            conn.check()
            if conn.confirmed >= published:
                sh.t_pub_done.value = conn.t_last_confirm
                break
            await conn.wait(0.05)
        if sh.t_pub_done.value:
            sh.prod_state.value = 2
        while not stop.value and not watcher.done():  # keep the connection until the parent says stop
            conn.check()
            await conn.wait(0.1)
    finally:
        watcher.cancel()
        report["published"] = sh.published.value
        report["nacks"] = conn.nacks
        with contextlib.suppress(Exception):
            await conn.close()


# --------------------------------------------------------------------------------------------------
# Consumer: manual multiple acks, order check
# --------------------------------------------------------------------------------------------------


class SeqConsumer(tp.Consumer):
    """throughput.Consumer (read coalescing, batched multiple acks) that checks sequence numbers."""

    def __init__(self, o: POpts, sh: PShared) -> None:
        super().__init__(o, sh)
        self.last_seq = 0
        self.order_errors = 0
        self.redelivered = 0

    def parse(self, pos: int, end: int) -> int:
        buf = self.buf
        unpack_hdr = FRAME_HEADER.unpack_from
        unpack_u32 = U32.unpack_from
        unpack_u64 = U64.unpack_from
        count, tag, done_tag, remaining = self.count, self.tag, self.done_tag, self.remaining
        last_seq, order_errors, redelivered = self.last_seq, self.order_errors, self.redelivered
        expected_size = self.size
        while end - pos >= 7:
            ftype, _ch, size = unpack_hdr(buf, pos)
            fend = pos + size + 8
            if fend > end:
                break
            if buf[fend - 1] != FRAME_END:
                self.fail(f"bad frame end byte (frame type {ftype}, size {size})")
                return end
            if ftype == FRAME_BODY:
                if remaining == expected_size:  # first body frame: starts with the sequence number
                    seq = unpack_u64(buf, pos + 7)[0]
                    if seq != last_seq + 1:
                        if not order_errors:
                            self.sh.bad_expected.value = last_seq + 1
                            self.sh.bad_got.value = seq
                        order_errors += 1
                    last_seq = seq
                remaining -= size
                if remaining <= 0:
                    if remaining:
                        self.fail(f"body frames exceed the declared body size by {-remaining} B")
                        return end
                    count += 1
                    done_tag = tag
            elif ftype == FRAME_HEADER_T:
                remaining = unpack_u64(buf, pos + 11)[0]
                if remaining != expected_size:
                    self.fail(f"delivery has a {remaining} B body, expected {expected_size} B")
                    return end
            elif ftype == FRAME_METHOD and unpack_u32(buf, pos + 7)[0] == BASIC_DELIVER:
                at = pos + 12 + buf[pos + 11]  # skip the consumer tag shortstr
                tag = unpack_u64(buf, at)[0]
                if buf[at + 8] & 1:
                    redelivered += 1
            else:
                self.on_control_frame(pos, fend)
            pos = fend
        self.tag, self.remaining = tag, remaining
        self.last_seq, self.order_errors, self.redelivered = last_seq, order_errors, redelivered
        if count != self.count:
            sh = self.sh
            now = time.monotonic()
            if self.count == 0:
                sh.t_cons_first.value = now
            self.count = count
            self.done_tag = done_tag
            sh.consumed.value = count
            sh.last_seq.value = last_seq
            sh.order_errors.value = order_errors
            sh.redelivered.value = redelivered
            sh.t_cons_last.value = now
            if count >= self.target:
                self.finished = True
                sh.cons_state.value = 2
                self.kick()
            if done_tag - self.acked_tag >= self.ack_every or (self.finished and done_tag > self.acked_tag):
                self.acked_tag = done_tag
                self.transport.write(
                    tp.ACK_FRAME.pack(FRAME_METHOD, CHANNEL, 13, 60, 80, done_tag, 1, FRAME_END)
                )
        return pos


async def consumer_run(url: str, queue: str, o: POpts, sh: PShared, report: dict) -> None:
    conn: SeqConsumer = await open_connection(lambda: SeqConsumer(o, sh), url)
    ppid = os.getppid()
    watcher = asyncio.create_task(tp._watch(sh, conn, ppid))
    try:
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
        while not conn.finished and not sh.stop.value and not watcher.done():
            conn.check()
            await conn.wait(None)
        conn.check()
        if conn.finished and o.delete_queue:
            try:
                conn.send(commands.Basic.Cancel(consumer_tag="bench"))
                await conn.expect(commands.Basic.CancelOk, timeout=10)
                conn.send(commands.Queue.Delete(queue=queue))
                await conn.expect(commands.Queue.DeleteOk, timeout=30)
                sh.deleted.value = 1
            except BenchError as e:
                report["warning"] = f"cleanup: {e}"
    finally:
        watcher.cancel()
        report["count"] = conn.count
        report["reads"] = conn.reads
        with contextlib.suppress(Exception):
            await conn.close()


async def _delete_queue(url: str, queue: str) -> None:
    conn = await open_connection(Conn, url)
    try:
        conn.send(commands.Queue.Delete(queue=queue))
        await conn.expect(commands.Queue.DeleteOk, timeout=30)
    finally:
        with contextlib.suppress(Exception):
            await conn.close()


def delete_queue(url: str, queue: str) -> str | None:
    """Best-effort removal of a benchmark queue left behind by a failed run; returns an error text."""
    try:
        asyncio.run(asyncio.wait_for(_delete_queue(url, queue), 45))
    except Exception as e:  # noqa: BLE001
        return f"could not delete queue {queue!r}: {e!r}"
    return None


# --------------------------------------------------------------------------------------------------
# Phase runner
# --------------------------------------------------------------------------------------------------


@dataclass
class Phase:
    label: str
    status: str = "ok"  # ok | capped | stalled | error | aborted
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cpu: dict = field(default_factory=dict)
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
    t_end: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status in ("stalled", "error", "aborted")

    @property
    def pub_rate(self) -> float:
        if not self.t_pub_first:
            return 0.0
        return self.confirmed / max((self.t_pub_done or self.t_end) - self.t_pub_first, 1e-9)

    @property
    def pub_seconds(self) -> float:
        return (self.t_pub_done or self.t_end) - self.t_pub_first if self.t_pub_first else 0.0

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
    on_tick: Callable[[float, int, PShared], str | None] | None = None,
) -> Phase:
    """Run the consumer and/or producer process and watch them until done, stalled, failed or aborted.

    Progress is deliveries when there is a consumer, else confirms. on_tick(now, progress, shared) is
    called every 50 ms; a non-empty return value aborts the phase with that reason.
    """
    ctx = mp.get_context("spawn")
    sh = PShared(ctx)
    sh.queue_count.value = -1
    results = ctx.Queue()
    ph = Phase(label)
    procs: list = []
    reason = ""

    def spawn(role: str, fn) -> None:
        p = ctx.Process(
            target=tp._child_entry,
            name=f"bench-{role}",
            args=(role, fn, url, queue, o, sh, results),
            daemon=True,
        )
        procs.append(p)
        p.start()

    try:
        if consumer:
            spawn("consumer", consumer_run)
            deadline = time.monotonic() + 60
            while sh.cons_state.value == 0 and procs[0].is_alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            if sh.cons_state.value not in (1, 2):
                ph.status = "error"
                if sh.cons_state.value == 0 and procs[0].is_alive():
                    reason = "consumer did not get ready within 60 s"
        if ph.status == "ok" and producer:
            spawn("producer", producer_run)
        if ph.status == "ok":
            t_start = time.monotonic()
            last, last_change = -1, t_start
            while True:
                time.sleep(0.05)
                now = time.monotonic()
                progress = sh.consumed.value if consumer else sh.confirmed.value
                if progress != last:
                    last, last_change = progress, now
                if on_tick is not None:
                    abort = on_tick(now, progress, sh)
                    if abort:
                        ph.status = "aborted"
                        reason = abort
                        break
                if (consumer and sh.cons_state.value == 2) or (not consumer and sh.prod_state.value == 2):
                    break
                if sh.cons_state.value == -1 or sh.prod_state.value == -1:
                    ph.status = "error"
                    break
                if any(not p.is_alive() for p in procs):
                    ph.status = "error"
                    reason = "a client process exited unexpectedly"
                    break
                t0 = sh.t_cons_start.value if not producer else sh.t_pub_first.value
                if producer and sh.prod_state.value == 0:
                    if now - t_start > 60:
                        ph.status = "error"
                        reason = "producer did not start publishing within 60 s"
                        break
                    last_change = now
                    continue
                if seconds and t0 and now - t0 >= seconds:
                    ph.status = "capped"
                    break
                if now - max(last_change, t0) >= stall_timeout:
                    ph.status = "stalled"
                    what = "delivery" if consumer else "confirm"
                    reason = (
                        f"stalled: no {what} for {stall_timeout:g} s (published {sh.published.value}, "
                        f"confirmed {sh.confirmed.value}, consumed {sh.consumed.value})"
                    )
                    break
    finally:
        ph.t_end = time.monotonic()
        sh.stop.value = 1
        tp._stop_processes(procs)
    while True:
        try:
            rep = results.get(timeout=0.5)
        except Exception:  # noqa: BLE001 - queue.Empty
            break
        ph.cpu[rep["role"]] = rep.get("cpu", 0.0)
        if "error" in rep:
            ph.errors.append(f"{rep['role']}: {rep['error']}")
        if "warning" in rep:
            ph.warnings.append(f"{rep['role']}: {rep['warning']}")
    if reason:
        ph.errors.insert(0, reason)
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
# Process memory
# --------------------------------------------------------------------------------------------------


def proc_mem(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes; (0, 0) if it cannot be read."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return rss, hwm


def listener_pid(port: int) -> int | None:
    """pid of the process listening on TCP port `port` (needs permission to read its /proc/*/fd)."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(f"socket:[{parts[9]}]")
        except OSError:
            continue
    if not inodes:
        return None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return int(pid)
        except OSError:
            continue
    return None


def amqpd_version() -> str:
    """The commit of the amqpd being measured (`git describe --always --dirty`), or "unknown"."""
    try:
        r = subprocess.run(
            ["git", "-C", str(tp.REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return r.stdout.strip() or "unknown"


def mib(n: float) -> str:
    return f"{n / MIB:,.0f} MiB"


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
    if args.ack_every is None:
        args.ack_every = max(1, args.prefetch // 4)
    if not 1 <= args.ack_every <= args.prefetch:
        ap.error("--ack-every must be between 1 and --prefetch")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    o = POpts(
        messages=args.messages,
        size=args.size,
        window=args.window,
        prefetch=args.prefetch,
        ack_every=args.ack_every,
        max_in_flight=args.max_in_flight,
        uvloop=not args.no_uvloop,
    )

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    server: tp.AmqpdServer | None = None
    exit_code = 0
    try:
        if args.url:
            url = args.url
            host, port = parse_url(url)[:2]
            if not port_answers(host, port):
                log(f"error: nothing answers at {host}:{port} (--url)")
                return 2
        else:
            server = tp.AmqpdServer(args.keep_data)
            try:
                server.start()
            except BenchError as e:
                log(f"error: {e}")
                return 2
            url = server.url
            log(f"amqpd {amqpd_version()} started on port {server.port}")
        targets = [("amqpd", url)]
        if args.compare_rabbitmq:
            host, port = parse_url(args.rabbitmq_url)[:2]
            if port_answers(host, port):
                targets.append(("rabbitmq", args.rabbitmq_url))
            else:
                log(f"rabbitmq: nothing answers at {host}:{port}; comparison skipped")
        runs: dict[str, list[Phase]] = {label: [] for label, _ in targets}
        for _ in range(args.repeat):  # alternate the brokers so that drift affects both alike
            for label, target_url in targets:
                queue = f"amqpd-bench-persistent-{uuid.uuid4().hex[:12]}"

                def tick(_now: float, _progress: int, _sh: PShared, label: str = label) -> str | None:
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
                rate = ph.consumed / ph.end_to_end_seconds if ph.t_pub_first else 0.0
                line = (
                    f"{label}: {ph.consumed} persistent msgs of {args.size} B in {ph.end_to_end_seconds:.2f} s "
                    f"= {rate:,.0f} msg/s (publish+confirm {ph.pub_rate:,.0f} msg/s)"
                )
                if ph.status == "capped":
                    line += " [stopped at --seconds cap]"
                elif ph.failed:
                    line += f" [{'STALLED' if ph.status == 'stalled' else 'FAILED'}, partial figure]"
                print(line, flush=True)
                for e in ph.errors:
                    log(f"  error: {e}")
                for w in ph.warnings:
                    log(f"  warning: {w}")
                if args.verbose and ph.cpu:
                    log("  client CPU: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(ph.cpu.items())))
                if ph.failed:
                    exit_code = 1
                if not ph.deleted and not (server is not None and server.proc.poll() is not None):
                    err = delete_queue(target_url, queue)
                    if err:
                        log(f"  warning: {err}")
                if server is not None and label == "amqpd" and server.proc.poll() is not None:
                    log(f"amqpd exited with status {server.proc.returncode}; log tail:\n{server.log_tail()}")
                    return 1
        medians: dict[str, float] = {}
        for label, phs in runs.items():
            if any(p.failed for p in phs):
                continue
            rates = sorted(p.consumed / p.end_to_end_seconds for p in phs)
            medians[label] = statistics.median(rates)
            if args.repeat > 1:
                print(
                    f"{label}: median of {len(phs)} runs = {medians[label]:,.0f} msg/s "
                    f"(min {rates[0]:,.0f}, max {rates[-1]:,.0f})",
                    flush=True,
                )
        if server is not None:
            rss, hwm = proc_mem(server.proc.pid)
            log(f"amqpd RSS now {mib(rss)}, peak (VmHWM) {mib(hwm)}")
        if "rabbitmq" in runs and "amqpd" in medians and medians.get("rabbitmq"):
            print(f"ratio amqpd/rabbitmq: {medians['amqpd'] / medians['rabbitmq']:.2f}", flush=True)
    except BenchError as e:
        log(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if server is not None:
            server.stop()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
