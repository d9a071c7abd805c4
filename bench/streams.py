#!/usr/bin/env python3
"""Streams over AMQP 0-9-1 (issue 16): N messages into a stream with confirms, then R readers from
`first` at once, amqpd side by side with RabbitMQ 3.10; and whether amqpd's memory stays flat however
long the stream is.

Per broker: publish N messages with confirms (--window in flight) to a fresh stream; then start R
readers together, each on its own connection in its own process (basic.qos --prefetch, x-stream-offset
`first`, a `multiple` ack every --ack-every), each until it has all N. Reported: confirmed msg/s,
per-reader and aggregate msg/s, time to drain, and the broker's VmRSS (every 100 ms). Every reader must
get offsets 0..N-1 exactly once and in order: the x-stream-offset header of every delivery is checked,
and each body's sequence number against its offset. Then (--flat-factor k) the same on a fresh amqpd
with k*N messages: a broker that held the stream in memory would need more memory to read it; one
that reads pages from its store needs the same.

The clients are bench/amqpclient.py's (pre-marshalled publish batches; BufferedProtocol readers parsed
with struct.unpack_from), so that they are not the bottleneck: the offset check costs one
bytearray.find per delivery. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import resource
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from pamqp import commands

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import amqpclient as ac  # noqa: E402  (bench/ is not a package)
import harness as hs  # noqa: E402
from harness import log, out  # noqa: E402
from loadclients import child_entry, read_report, stopped  # noqa: E402

OFFSET_PAT = b"\x0fx-stream-offsetl"  # the header's field name (shortstr) and type: signed 64-bit
I64 = struct.Struct(">q")
# the hot path's constants as module globals (no attribute lookup per frame)
FRAME_END, FRAME_METHOD, FRAME_HEADER_T, FRAME_BODY = ac.FRAME_END, ac.FRAME_METHOD, ac.FRAME_HEADER_T, ac.FRAME_BODY
BASIC_DELIVER, ACK_FRAME, CHANNEL = ac.BASIC_DELIVER, ac.ACK_FRAME, ac.CHANNEL
STREAM_ARGS = {"x-queue-type": "stream"}
# Per reader, in Board.r: 0 starting, 1 ready, 2 done; deliveries; first and last offset;
# offsets skipped forward, deliveries whose offset went backwards (duplicates), deliveries without the
# header, bodies whose sequence number is not offset + 1.
R_FIELDS = ("state", "count", "first", "last", "skipped", "backwards", "no_header", "body_bad")
T_FIELDS = ("t_first", "t_last")


@dataclass
class SOpts(ac.ClientOpts):
    confirm: bool = True
    max_in_flight: int = 0  # the confirm window is the only bound
    offset: str = "first"
    linger: float = 0.3  # after the last expected delivery: anything more is counted as extra


async def declare_stream(conn: ac.Conn, queue: str, passive: bool = False) -> int:
    conn.send(commands.Queue.Declare(queue=queue, durable=True, passive=passive, arguments=STREAM_ARGS))
    ok = await conn.expect(commands.Queue.DeclareOk, timeout=30, what="queue.declare-ok")
    return ok.message_count


async def producer_run(url: str, queue: str, o: SOpts, sh: ac.Shared, report: dict) -> None:
    """bench/persistent.py's producer, into a stream it declares: sequence numbers 1..N in the bodies."""
    conn: ac.Producer = await ac.open_connection(lambda: ac.Producer(sh), url)
    async with ac.session(conn, sh, report) as watcher:
        await declare_stream(conn, queue)
        conn.send(commands.Confirm.Select())
        await conn.expect(commands.Confirm.SelectOk)
        one, seq_off = ac.build_message(queue, o.size, conn.frame_max, persistent=True)
        length = len(one)
        batch = min(o.batch, max(1, ac.BATCH_BYTES // length), max(1, o.window // 4))
        template = bytearray(one * batch)
        offsets = [i * length + seq_off for i in range(batch)]
        pack = ac.U64.pack_into

        def write(published: int, k: int) -> None:
            for i in range(k):
                pack(template, offsets[i], published + i + 1)
            conn.transport.write(bytes(template) if k == batch else bytes(template[: k * length]))

        published = await ac.publish_batches(conn, sh, watcher, o.messages, batch, o.window, 0, write)
        await ac.finish_publishing(conn, sh, watcher, published, confirm=True)


# --------------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------------


class Board:
    """What the parent and the reader processes share: go / stop flags, and per field (R_FIELDS,
    T_FIELDS) one slot per reader, each written by that reader only."""

    def __init__(self, ctx, readers: int) -> None:
        self.n = readers
        self.go, self.stop, self.t_go = ctx.RawValue("q", 0), ctx.RawValue("q", 0), ctx.RawValue("d", 0.0)
        self.f = {k: ctx.RawArray("q", readers) for k in R_FIELDS} | {k: ctx.RawArray("d", readers) for k in T_FIELDS}

    def column(self, fld: str) -> list:
        return list(self.f[fld])


class StreamReader(ac.Consumer):
    """amqpclient.Consumer (read coalescing, multiple acks) with a parser that also follows the
    x-stream-offset header of every delivery: each must be the previous one + 1."""

    def __init__(self, o: SOpts, bd: Board, slot: int) -> None:
        super().__init__(o, None)
        self.bd, self.slot = bd, slot
        self.next_off = 0  # the offset the next delivery must carry
        self.off = -1  # offset of the delivery being received
        self.first = -1
        self.skipped = self.backwards = self.no_header = self.body_bad = 0
        self.counts, self.t_firsts, self.t_lasts = bd.f["count"], bd.f["t_first"], bd.f["t_last"]

    def parse(self, pos: int, end: int) -> int:
        buf = self.buf
        unpack_hdr, unpack_u32, unpack_u64, unpack_i64 = (
            ac.FRAME_HEADER.unpack_from, ac.U32.unpack_from, ac.U64.unpack_from, I64.unpack_from)
        find = buf.find
        count, tag, done_tag, remaining = self.count, self.tag, self.done_tag, self.remaining
        off, next_off, size_expected = self.off, self.next_off, self.size
        while end - pos >= 7:
            ftype, _ch, size = unpack_hdr(buf, pos)
            fend = pos + size + 8
            if fend > end:
                break
            if buf[fend - 1] != FRAME_END:
                self.fail(f"bad frame end byte (frame type {ftype}, size {size})")
                return end
            if ftype == FRAME_BODY:
                if remaining == size_expected and unpack_u64(buf, pos + 7)[0] != off + 1:
                    self.body_bad += 1
                remaining -= size
                if remaining <= 0:
                    count += 1
                    done_tag = tag
            elif ftype == FRAME_HEADER_T:
                remaining = unpack_u64(buf, pos + 11)[0]
                if remaining != size_expected:
                    self.fail(f"delivery has a {remaining} B body, expected {size_expected} B")
                    return end
                at = find(OFFSET_PAT, pos + 21, fend - 1)
                if at < 0:
                    self.no_header += 1
                    off = next_off
                else:
                    off = unpack_i64(buf, at + 17)[0]
                    if off != next_off:
                        if off > next_off:
                            self.skipped += off - next_off
                        else:
                            self.backwards += 1
                if self.first < 0:
                    self.first = off
                next_off = off + 1
            elif ftype == FRAME_METHOD and unpack_u32(buf, pos + 7)[0] == BASIC_DELIVER:
                tag = unpack_u64(buf, pos + 12 + buf[pos + 11])[0]
            else:
                self.on_control_frame(pos, fend)
            pos = fend
        self.tag, self.remaining, self.off, self.next_off = tag, remaining, off, next_off
        if count != self.count:
            now, slot = time.monotonic(), self.slot
            if self.count == 0:
                self.t_firsts[slot] = now
            self.count, self.done_tag = count, done_tag
            self.counts[slot] = count
            self.t_lasts[slot] = now
            if count >= self.target and not self.finished:
                self.finished = True
                self.publish_checks()
                self.bd.f["state"][slot] = 2
                self.kick()
            if done_tag - self.acked_tag >= self.ack_every or (self.finished and done_tag > self.acked_tag):
                self.acked_tag = done_tag
                self.transport.write(ACK_FRAME.pack(FRAME_METHOD, CHANNEL, 13, 60, 80, done_tag, 1, FRAME_END))
        return pos

    def publish_checks(self) -> None:
        for name, v in (("first", self.first), ("last", self.next_off - 1), ("skipped", self.skipped),
                        ("backwards", self.backwards), ("no_header", self.no_header), ("body_bad", self.body_bad)):
            self.bd.f[name][self.slot] = v


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def reader_run(url: str, queue: str, o: SOpts, bd: Board, slot: int, report: dict) -> None:
    conn: StreamReader = await ac.open_connection(lambda: StreamReader(o, bd, slot), url)
    stop = bd.stop
    cpu0 = 0.0
    async with ac.session(conn, bd, report):  # bd has the stop flag session() watches
        try:
            await declare_stream(conn, queue, passive=True)
            conn.send(commands.Basic.Qos(prefetch_count=o.prefetch))
            await conn.expect(commands.Basic.QosOk)
            bd.f["state"][slot] = 1
            while not bd.go.value and not stop.value:  # all readers start together
                await asyncio.sleep(0.001)
            if stop.value:
                return
            cpu0 = cpu_seconds()
            conn.send(commands.Basic.Consume(queue=queue, consumer_tag="bench",
                                             arguments={"x-stream-offset": o.offset}))
            await conn.expect(commands.Basic.ConsumeOk, timeout=30, what="basic.consume-ok")
            waiter = asyncio.ensure_future(stopped(stop))
            while not conn.finished and not waiter.done():
                conn.check()
                await conn.wait(0.2)
            waiter.cancel()
            conn.check()
            if conn.finished:
                await asyncio.sleep(o.linger)  # anything after the N-th delivery is a duplicate or a stray
                conn.send(commands.Basic.Cancel(consumer_tag="bench"))
                await conn.expect(commands.Basic.CancelOk, timeout=10)
        finally:
            conn.publish_checks()
            report["count"] = conn.count
            report["cpu"] = cpu_seconds() - cpu0 if cpu0 else 0.0  # from basic.consume on


# --------------------------------------------------------------------------------------------------
# One broker: publish, then read
# --------------------------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    n: int
    status: str = "ok"
    errors: list[str] = field(default_factory=list)
    pub_rate: float = 0.0
    pub_seconds: float = 0.0
    rss_base: int = 0
    rss_pub_peak: int = 0
    rss_pub_after: int = 0
    rss_read_peak: int = 0
    rss_after: int = 0
    rates: list[float] = field(default_factory=list)  # per reader: N / (basic.consume -> last delivery)
    agg_rate: float = 0.0
    drain_seconds: float = 0.0
    first_delivery: float = 0.0  # the slowest reader's basic.consume -> first delivery
    checks_ok: bool = False
    broker_cpu: tuple[float, float] = (0.0, 0.0)  # CPU seconds publishing, reading
    client_cpu: float = 0.0  # the readers' CPU seconds, all together
    other_cpu: float = 0.0  # CPU seconds the rest of the machine used while reading
    other_cpu_pub: float = 0.0  # and while publishing


class Broker:
    """The process whose RSS is sampled: amqpd started here, or whatever listens on the port."""

    def __init__(self, pid: int | None, server: hs.AmqpdServer | None = None) -> None:
        self.pid, self.server = pid, server

    def alive(self) -> bool:
        if self.server is not None:
            return self.server.alive
        return bool(self.pid) and os.path.exists(f"/proc/{self.pid}")

    def rss(self) -> int:
        return hs.proc_mem(self.pid)[0] if self.pid else 0

    def cpu(self) -> float:
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError, TypeError):
            return 0.0


def machine_busy() -> float:
    """CPU seconds all cores spent busy so far (user nice system irq softirq steal)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def start_spy(args, broker: Broker, name: str) -> tuple[subprocess.Popen, str] | None:
    """py-spy record on amqpd for one phase (--py-spy DIR), folded stacks, aggregated per function."""
    if not (args.py_spy and broker.server and shutil.which("py-spy")):
        return None
    path = os.path.join(args.py_spy, f"{name}.folded")
    cmd = ["py-spy", "record", "--pid", str(broker.pid), "--rate", "50", "--format", "raw", "--function",
           "--nonblocking", "--output", path]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), path


def stop_spy(spy: tuple[subprocess.Popen, str] | None) -> None:
    if spy is None:
        return
    proc, path = spy
    proc.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    own: Counter[str] = Counter()  # samples with the function on top of the stack
    incl: Counter[str] = Counter()  # ... anywhere on the stack
    with contextlib.suppress(OSError, ValueError), open(path) as f:
        for line in f:
            stack, _, n = line.rstrip().rpartition(" ")
            # "name (path:line)" -> "name (file)"
            frames = [f"{name} ({loc.rsplit(':', 1)[0].rsplit('/', 1)[-1]})"
                      for name, _, loc in (fr.partition(" (") for fr in stack.split(";"))]
            own[frames[-1]] += int(n)
            for fr in set(frames):
                incl[fr] += int(n)
    total = sum(own.values()) or 1
    top = [f"{100 * v / total:.0f}% {k}" for k, v in own.most_common(12)]
    # inclusive, without the frames every sample has (main, the event loop)
    inc = [f"{100 * v / total:.0f}% {k}" for k, v in incl.most_common() if v < 0.9 * total][:12]
    log(f"  py-spy {path}: {sum(own.values())} samples\n    self: " + ", ".join(top)
        + "\n    inclusive: " + ", ".join(inc))


def publish(res: Result, url: str, queue: str, o: SOpts, broker: Broker, args) -> bool:
    st = ac.RunStatus(res.label)
    ticks = [0]

    def tick(_now: float, _progress: int, _sh: ac.Shared) -> str | None:
        ticks[0] += 1
        if ticks[0] % 2 == 0:
            res.rss_pub_peak = max(res.rss_pub_peak, broker.rss())
        return None if broker.alive() else "the broker process is gone"

    spy = start_spy(args, broker, f"{res.label}-{res.n}-publish")
    cpu0, busy0 = broker.cpu(), machine_busy()
    try:
        sh = ac.supervise(st, url, queue, o, consumer=None, producer=producer_run, ready_timeout=60,
                          stall_timeout=args.stall_timeout, seconds=args.seconds, on_tick=tick,
                          stall_reason=lambda sh: f"no confirm for {args.stall_timeout:g} s (published "
                                                  f"{sh.published.value}, confirmed {sh.confirmed.value})")
    finally:
        stop_spy(spy)
    res.broker_cpu = (broker.cpu() - cpu0, 0.0)
    res.other_cpu_pub = max(0.0, machine_busy() - busy0 - res.broker_cpu[0] - sum(st.cpu.values()))
    res.pub_seconds = (sh.t_pub_done.value or st.t_end) - sh.t_pub_first.value if sh.t_pub_first.value else 0.0
    res.pub_rate = sh.confirmed.value / res.pub_seconds if res.pub_seconds > 0 else 0.0
    res.errors += st.errors + st.warnings
    if sh.nacks.value:
        res.errors.append(f"producer: {sh.nacks.value} basic.nack")
    if st.status != "ok" or sh.confirmed.value < res.n or st.errors:
        res.status = st.status if st.status != "ok" else "error"
        return False
    time.sleep(args.settle)
    res.rss_pub_after = broker.rss()
    return True


def read(res: Result, url: str, queue: str, o: SOpts, broker: Broker, args) -> None:
    ctx = mp.get_context("spawn")
    bd = Board(ctx, args.readers)
    tmp = tempfile.mkdtemp(prefix="amqpd-bench-streams-")
    procs = []
    for i in range(args.readers):
        path = os.path.join(tmp, f"reader{i}.report")
        p = ctx.Process(target=child_entry, args=(reader_run, (url, queue, o, bd, i), path, f"reader{i}"),
                        daemon=True, name=f"bench-reader{i}")
        p.report_path = path
        p.start()
        procs.append(p)
    spy = None
    cpu0 = 0.0
    try:
        deadline = time.monotonic() + 60
        while not all(s >= 1 for s in bd.column("state")):
            if time.monotonic() > deadline or not all(p.is_alive() for p in procs):
                raise ac.BenchError("readers not ready within 60 s")
            time.sleep(0.02)
        spy = start_spy(args, broker, f"{res.label}-{res.n}-read")
        cpu0, busy0 = broker.cpu(), machine_busy()
        bd.t_go.value = t_go = time.monotonic()
        bd.go.value = 1
        last, t_change, tick = -1, t_go, 0
        while True:
            time.sleep(0.05)
            now, tick = time.monotonic(), tick + 1
            if tick % 2 == 0:
                res.rss_read_peak = max(res.rss_read_peak, broker.rss())
            states = bd.column("state")
            if all(s == 2 for s in states):
                break
            progress = sum(bd.column("count"))
            if progress != last:
                last, t_change = progress, now
            dead = [p.name for i, p in enumerate(procs) if not p.is_alive() and states[i] != 2]
            if dead:
                raise ac.BenchError(f"a reader failed ({', '.join(dead) or 'see below'})")
            if not broker.alive():
                raise ac.BenchError("the broker process is gone")
            if args.seconds and now - t_go >= args.seconds:
                res.status = "capped"
                break
            if now - t_change >= args.stall_timeout:
                res.status = "stalled"
                res.errors.append(f"no delivery for {args.stall_timeout:g} s ({progress:,} of "
                                  f"{args.readers * res.n:,} delivered)")
                break
    except ac.BenchError as e:
        res.status = "error"
        res.errors.append(str(e))
    finally:
        stop_spy(spy)
        res.broker_cpu = (res.broker_cpu[0], broker.cpu() - cpu0 if cpu0 else 0.0)
        busy = machine_busy() - busy0 if cpu0 else 0.0
        bd.stop.value = 1
        deadline = time.monotonic() + 8
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(3)
        reports = [read_report(p.report_path) or {"role": p.name, "error": f"no report (exit {p.exitcode})"}
                   for p in procs]
        shutil.rmtree(tmp, ignore_errors=True)
    for r in reports:
        if "error" in r:
            res.errors.append(f"{r['role']}: {r['error']}")
    res.client_cpu = sum(r.get("cpu", 0.0) for r in reports)
    # what neither the broker nor the readers used while reading: other jobs on the machine
    res.other_cpu = max(0.0, busy - res.broker_cpu[1] - res.client_cpu)
    t_go = bd.t_go.value
    lasts = bd.column("t_last")
    counts = bd.column("count")
    res.rates = [counts[i] / (lasts[i] - t_go) if lasts[i] > t_go else 0.0 for i in range(args.readers)]
    total = sum(counts)
    res.drain_seconds = max(lasts) - t_go if t_go and max(lasts) > t_go else 0.0
    res.agg_rate = total / res.drain_seconds if res.drain_seconds else 0.0
    res.first_delivery = max((t - t_go for t in bd.column("t_first") if t), default=0.0)
    ok = res.status == "ok"
    firsts = bd.column("t_first")
    per = [f"#{i} {1000 * (firsts[i] - t_go):,.0f} ms {lasts[i] - t_go:.1f} s {res.rates[i]:,.0f}" if firsts[i]
           else f"#{i} -" for i in range(args.readers)]
    log(f"  {res.label} N={res.n:,} per reader (basic.consume -> first delivery, -> last, msg/s): " + ", ".join(per))
    for i in range(args.readers):
        c = {f: bd.f[f][i] for f in R_FIELDS}
        bad = []
        if c["count"] != res.n:
            bad.append(f"{c['count']:,} deliveries, expected {res.n:,}")
        if c["count"] and (c["first"] != 0 or c["last"] != res.n - 1):
            bad.append(f"offsets {c['first']}..{c['last']}, expected 0..{res.n - 1}")
        bad += [f"{c[f]:,} {what}" for f, what in (("skipped", "offsets skipped (lost)"),
                                                  ("backwards", "deliveries out of order or duplicated"),
                                                  ("no_header", "deliveries without x-stream-offset"),
                                                  ("body_bad", "bodies whose sequence number is not offset+1"))
                if c[f]]
        if bad:
            ok = False
            res.errors.append(f"reader {i}: " + "; ".join(bad))
    res.checks_ok = ok and not any("error" in r for r in reports)
    if res.status == "ok" and not res.checks_ok:
        res.status = "error"
    time.sleep(args.settle)
    res.rss_after = broker.rss()


def run_broker(label: str, url: str, broker: Broker, n: int, args) -> Result:
    res = Result(label, n)
    o = SOpts.from_args(argparse.Namespace(**{**vars(args), "messages": n}))
    queue = f"amqpd-bench-stream-{uuid.uuid4().hex[:12]}"
    res.rss_base = broker.rss()
    log(f"{label}: publishing {n:,} x {args.size} B to stream {queue} (broker pid {broker.pid})")
    try:
        if publish(res, url, queue, o, broker, args):
            log(f"{label}: {n:,} confirmed at {res.pub_rate:,.0f} msg/s; {args.readers} readers from {args.offset}")
            read(res, url, queue, o, broker, args)
    finally:
        if broker.alive():
            err = ac.delete_queue(url, queue)
            if err:
                log(f"  warning: {err}")
    for e in res.errors:
        log(f"  {label} error: {e}")
    return res


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


def rate(v: float) -> str:
    return f"{v:,.0f}" if v else "-"


def mb(v: int) -> str:
    return f"{v / hs.MIB:,.0f} MiB" if v else "-"


def table(results: list[Result], args) -> None:
    rows = [
        ("publish+confirm msg/s", lambda r: rate(r.pub_rate)),
        ("publish time", lambda r: f"{r.pub_seconds:.1f} s"),
        ("per-reader msg/s min / median / max", lambda r: " / ".join(
            rate(v) for v in (min(r.rates), statistics.median(r.rates), max(r.rates))) if r.rates else "-"),
        ("aggregate read msg/s", lambda r: rate(r.agg_rate)),
        ("time to drain (all readers)", lambda r: f"{r.drain_seconds:.1f} s"),
        ("slowest first delivery", lambda r: f"{r.first_delivery * 1000:.0f} ms"),
        ("RSS before publishing", lambda r: mb(r.rss_base)),
        ("peak RSS publishing", lambda r: mb(r.rss_pub_peak)),
        ("RSS after publishing", lambda r: mb(r.rss_pub_after)),
        ("peak RSS reading", lambda r: mb(r.rss_read_peak)),
        ("RSS after reading", lambda r: mb(r.rss_after)),
        ("broker CPU publish / read", lambda r: f"{r.broker_cpu[0]:.1f} s / {r.broker_cpu[1]:.1f} s"),
        ("readers' CPU (all), reading", lambda r: f"{r.client_cpu:.1f} s"),
        ("other jobs' CPU publish / read", lambda r: f"{r.other_cpu_pub:.1f} s / {r.other_cpu:.1f} s"),
        ("offsets 0..N-1, in order, once", lambda r: "PASS" if r.checks_ok else f"FAIL ({r.status})"),
    ]
    head = [f"{r.label} N={r.n:,}" for r in results]
    out(f"\n{args.readers} readers, {args.size} B bodies, prefetch {args.prefetch}, ack every {args.ack_every}, "
        f"confirm window {args.window}\n")
    out("| | " + " | ".join(head) + " |")
    out("|---|" + "---|" * len(head))
    for name, fn in rows:
        out(f"| {name} | " + " | ".join(fn(r) for r in results) + " |")


def flat_check(small: Result, big: Result, factor: int, size: int) -> bool:
    """Reading k*N must not need more memory than reading N: the extra (k-1)*N records would cost at
    least their bodies if they were held; allow 5 % of that (the store's index and filter blocks grow
    with the data) and 32 MiB of noise."""
    grow = big.rss_read_peak - small.rss_read_peak
    extra = (factor - 1) * small.n
    allowed = max(32 * hs.MIB, extra * size // 20)
    ok = grow <= allowed and small.checks_ok and big.checks_ok
    out(f"\nmemory stays flat (amqpd, fresh process each): peak RSS reading N={small.n:,}: {mb(small.rss_read_peak)}"
        f" (after publishing {mb(small.rss_pub_after)}); N={big.n:,}: {mb(big.rss_read_peak)} (after publishing "
        f"{mb(big.rss_pub_after)}); growth {grow / hs.MIB:+,.0f} MiB = {grow / extra:+.1f} B per extra record "
        f"(allowed {allowed / hs.MIB:,.0f} MiB): {'PASS' if ok else 'FAIL'}")
    return ok


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="N messages into a stream with confirms, then R readers from "
                                 "`first` at once; amqpd vs RabbitMQ, and amqpd's memory at N vs k*N.")
    ap.add_argument("--url", default=None, help="an amqpd already running (no flat check then)")
    ap.add_argument("--start-amqpd", action="store_true", help="start a fresh amqpd per measurement")
    ap.add_argument("--compare-rabbitmq", action="store_true", help="also measure RabbitMQ")
    ap.add_argument("--rabbitmq-url", default=ac.DEFAULT_URL, help="default %(default)s")
    ap.add_argument("--rabbitmq-only", action="store_true", help="measure RabbitMQ only")
    ap.add_argument("--messages", type=int, default=1_000_000, help="N (default %(default)s)")
    ap.add_argument("--size", type=int, default=100, help="body size, >= 8 (default %(default)s)")
    ap.add_argument("--readers", type=int, default=10, help="R (default %(default)s)")
    ap.add_argument("--offset", default="first", help="x-stream-offset of the readers (default first)")
    ap.add_argument("--window", type=int, default=1000, help="unconfirmed messages (default %(default)s)")
    ap.add_argument("--prefetch", type=int, default=1000, help="readers' basic.qos (default %(default)s)")
    ap.add_argument("--ack-every", type=int, default=250, help="a multiple ack every N (default %(default)s)")
    ap.add_argument("--flat-factor", type=int, default=2, help="amqpd memory check at k*N; 0 = off (default 2)")
    ap.add_argument("--seconds", type=float, default=900, help="cap per phase (default %(default)s)")
    ap.add_argument("--stall-timeout", type=float, default=20, help="no progress for this long (default 20 s)")
    ap.add_argument("--settle", type=float, default=1.0, help="wait before the RSS 'after' samples (default 1 s)")
    ap.add_argument("--py-spy", metavar="DIR", default=None, help="profile amqpd per phase with py-spy into DIR")
    ap.add_argument("--keep-data", action="store_true", help="keep amqpd's data dir and log")
    ap.add_argument("--no-uvloop", action="store_true", help="default asyncio loop in the clients")
    args = ap.parse_args(argv)
    if min(args.messages, args.readers, args.window, args.prefetch, args.ack_every) <= 0 or args.size < 8:
        ap.error("--messages, --readers, --window, --prefetch, --ack-every must be positive, --size >= 8")
    if args.ack_every > args.prefetch:
        ap.error("--ack-every must not exceed --prefetch")
    if not (args.start_amqpd or args.url or args.rabbitmq_only):
        ap.error("give --start-amqpd, --url or --rabbitmq-only")
    args.coalesce_ms = 1.0
    args.batch = 1000
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.py_spy:
        os.makedirs(args.py_spy, exist_ok=True)

    def body(stack) -> int:
        log(f"amqpd {hs.amqpd_version()}; load average {loadavg()} on {os.cpu_count()} cores")
        servers: list[hs.AmqpdServer] = []
        stack.callback(lambda: [s.stop() for s in servers])

        def amqpd(n: int) -> Result:
            if args.url:
                hs.require_broker(args.url)
                return run_broker("amqpd", args.url, Broker(hs.listener_pid(ac.parse_url(args.url)[1])), n, args)
            server = hs.AmqpdServer(args.keep_data, prefix="amqpd-bench-streams-")
            servers.append(server)
            server.start()
            try:
                res = run_broker("amqpd", server.url, Broker(server.proc.pid, server), n, args)
                if not server.alive:
                    log(f"amqpd exited with status {server.proc.returncode}:\n{server.log_tail()}")
                return res
            finally:
                server.stop()
                servers.remove(server)

        results: list[Result] = []
        if not args.rabbitmq_only:
            results.append(amqpd(args.messages))
        if args.compare_rabbitmq or args.rabbitmq_only:
            host, port = ac.parse_url(args.rabbitmq_url)[:2]
            if hs.port_answers(host, port):
                results.append(run_broker("rabbitmq", args.rabbitmq_url, Broker(hs.listener_pid(port)), args.messages,
                                          args))
            else:
                log(f"rabbitmq: nothing answers on port {port}; comparison skipped")
        big = None
        if args.flat_factor > 1 and args.start_amqpd and not args.rabbitmq_only:  # needs a fresh amqpd
            big = amqpd(args.messages * args.flat_factor)
            results.append(big)
        if not results:
            raise ac.BenchError("no broker to test")
        log(f"load average at the end {loadavg()}")
        table(results, args)
        flat_ok = big is None or flat_check(results[0], big, args.flat_factor, args.size)
        return 0 if flat_ok and all(r.checks_ok for r in results) else 1

    return hs.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
