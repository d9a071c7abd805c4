"""The client processes of bench/loadgen.py: publisher, consumer groups and the queue-depth sampler (the
null sink / blast source that measure the load generator's own ceiling are in loadceiling.py).

Built on amqpclient.py (the lean asyncio connection, handshake, confirm tracking). What this module adds:

* Publisher: a batch of B pre-marshalled messages (basic.publish + content header + one body frame,
  routing keys cycling through a fixed list) lives in one bytearray; before each write only the
  per-message sequence numbers (and, for some scenarios, a timestamp or a priority) are patched in
  place with struct.pack_into at offsets computed once. No per-message allocation.
* Consumers: one process runs several connections on one event loop; each connection has one channel
  per queue, so the frame header's channel number says which queue a delivery belongs to. The hot loop
  walks frames with struct.unpack_from over the fixed receive buffer and checks each body's sequence
  number against the queue's expected next number; only an out-of-order number falls back to a set
  of holes (FIFO queue, one publisher: deliveries arrive in order, so this stays cheap).
* Board: every counter the parent watches, in lock-free shared memory (each slot has one writer).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import pickle
import signal
import struct
import time
from dataclasses import dataclass, field

from amqpclient import (
    ACK_FRAME,
    FRAME_HEADER,
    U32,
    U64,
    BenchError,
    Conn,
    Producer,
    finish_publishing,
    open_connection,
)
from pamqp import body as pbody
from pamqp import commands
from pamqp import frame as pframe
from pamqp import header as pheader

BASIC_DELIVER = (60 << 16) | 60
SEQ_TS = struct.Struct(">Qd")
PACK_U64 = struct.Struct(">Q").pack_into
PACK_F64 = struct.Struct(">d").pack_into
LAT_BUCKET = 20e-6  # confirm-latency histogram resolution (20 us), up to LAT_BUCKETS * 20 us = 5 s
LAT_BUCKETS = 250_000
Q_FIELDS = ("uniq", "dup", "holes", "ooo", "viol")  # per-queue counters, in Board.q


class Board:
    """Shared counters. q: per-queue counters (Q_FIELDS x nq); c: per consumer process (state, first
    delivery time, last delivery time). Publisher fields mimic amqpclient.Shared so that
    amqpclient.Producer / finish_publishing work on it."""

    def __init__(self, ctx, nq: int, nprocs: int) -> None:
        self.nq = nq
        for name in ("stop", "stop_pub", "prod_state", "published", "confirmed", "nacks", "consumed"):
            setattr(self, name, ctx.RawValue("q", 0))
        for name in ("t_pub_first", "t_pub_done"):
            setattr(self, name, ctx.RawValue("d", 0.0))
        self.q = ctx.RawArray("q", len(Q_FIELDS) * nq)
        self.cstate = ctx.RawArray("q", max(nprocs, 1))  # 0 starting, 1 consuming, 2 done, -1 failed
        self.ct = ctx.RawArray("d", 3 * max(nprocs, 1))  # ready, first delivery, last delivery

    def qsum(self, fld: str) -> int:
        i = Q_FIELDS.index(fld) * self.nq
        return sum(self.q[i : i + self.nq])

    def qget(self, fld: str, qi: int) -> int:
        return self.q[Q_FIELDS.index(fld) * self.nq + qi]


@dataclass
class PubPlan:
    exchange: str
    keys: list[str]  # routing keys, cycled: message seq uses keys[(seq - 1) % len(keys)]
    n: int
    size: int
    persistent: bool = False
    window: int = 0  # 0: no confirms
    rate: float = 0.0  # 0: unthrottled, else messages per second (the body carries a timestamp)
    priorities: bytes = b""  # per message (index seq - 1), patched into the header and body byte 8
    batch_bytes: int = 256 << 10
    close_timeout: float = 5.0


@dataclass
class ConsPlan:
    conns: list[list[tuple[str, int]]]  # per connection: (queue, queue index) of each channel
    expected: list[int]  # per queue index
    steps: list[tuple[int, ...]]  # per queue index: seq -> next expected seq is seq + steps[seq % K]
    first: list[int]  # per queue index: the first sequence number it receives
    size: int
    n: int  # messages published (sequence numbers 1..n)
    no_ack: bool = True
    prefetch: int = 0  # 0: no basic.qos
    ack: str = "none"  # none | each (one basic.ack per delivery) | multiple
    ack_every: int = 250
    mode: str = "fifo"  # fifo | latency | priority
    coalesce: float = 0.001


# --------------------------------------------------------------------------------------------------
# Child-process plumbing
# --------------------------------------------------------------------------------------------------


def child_entry(fn, args: tuple, report_path: str, role: str) -> None:
    """Run fn(*args, report) on a fresh event loop; the report dict is written to report_path (pickle,
    atomically renamed) so that the parent never blocks on a half-written pipe of a killed child."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    report: dict = {"role": role}
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    try:
        asyncio.run(fn(*args, report))
    except BenchError as e:
        report["error"] = str(e)
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        report["error"] = f"{type(e).__name__}: {e}"
    with open(report_path + ".tmp", "wb") as f:
        pickle.dump(report, f)
    os.replace(report_path + ".tmp", report_path)


def read_report(report_path: str) -> dict | None:
    try:
        with open(report_path, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None


async def stopped(flag, also=None) -> None:
    ppid = os.getppid()
    while not flag.value and not (also is not None and also.value) and os.getppid() == ppid:
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------------------------------
# Publisher
# --------------------------------------------------------------------------------------------------


def build_batch(p: PubPlan, frame_max: int):
    """(batch bytearray, message start offsets (+ end), seq offsets, ts offsets, prio offsets (header, body))."""
    if p.size + 8 > frame_max:
        raise BenchError(f"body size {p.size} does not fit one body frame")
    payload = bytes(16) + bytes((i * 7 + 13) & 0xFF for i in range(max(0, p.size - 16)))
    payload = payload[: p.size]
    props = {"delivery_mode": 2 if p.persistent else 1}
    if p.priorities:
        props["priority"] = 0
    one_h = pframe.marshal(pheader.ContentHeader(0, p.size, commands.Basic.Properties(**props)), 1)
    prio_off = -1
    if p.priorities:  # find the priority byte by marshalling twice
        props["priority"] = 7
        h7 = pframe.marshal(pheader.ContentHeader(0, p.size, commands.Basic.Properties(**props)), 1)
        prio_off = next(i for i in range(len(h7)) if h7[i] != one_h[i])
    body = pframe.marshal(pbody.ContentBody(payload), 1)
    k = len(p.keys)
    msgs = []
    for key in p.keys:
        m = pframe.marshal(commands.Basic.Publish(exchange=p.exchange, routing_key=key), 1)
        msgs.append((m, len(m)))
    avg = sum(ln for _, ln in msgs) / k + len(one_h) + len(body)
    reps = max(1, int(p.batch_bytes // (avg * k)))
    if p.window:
        reps = max(1, min(reps, (p.window // 8) // k))
    if p.rate:
        reps = max(1, 64 // k)
    buf = bytearray()
    starts, seq_offs, ts_offs, hprio, bprio = [], [], [], [], []
    for _ in range(reps):
        for m, _ln in msgs:
            starts.append(len(buf))
            buf += m
            hprio.append(len(buf) + prio_off)
            buf += one_h
            seq_offs.append(len(buf) + 7)
            ts_offs.append(len(buf) + 15)
            bprio.append(len(buf) + 15)
            buf += body
    starts.append(len(buf))
    return buf, starts, seq_offs, ts_offs, (hprio, bprio)


class LgProducer(Producer):
    """amqpclient.Producer plus a histogram of confirm latencies (publish time of the batch -> confirm)."""

    def __init__(self, sh, batch: int) -> None:
        super().__init__(sh)
        self.B = batch
        self.bt = array.array("d")  # write time of each batch
        self.hist = array.array("q", bytes(8 * (LAT_BUCKETS + 1)))
        self.lat_max = 0.0

    def _add(self, lo: int, hi: int, now: float) -> None:
        B, bt, hist = self.B, self.bt, self.hist
        while lo <= hi:
            b = (lo - 1) // B
            bend = min(hi, (b + 1) * B)
            lat = now - bt[b] if b < len(bt) else 0.0
            hist[min(int(lat / LAT_BUCKET), LAT_BUCKETS)] += bend - lo + 1
            if lat > self.lat_max:
                self.lat_max = lat
            lo = bend + 1

    def _confirm(self, tag: int, multiple: int) -> None:
        now = time.monotonic()
        if multiple:
            if tag > self.confirm_upto:
                if self.confirm_singles:
                    for t in range(self.confirm_upto + 1, tag + 1):
                        if t not in self.confirm_singles:
                            self._add(t, t, now)
                else:
                    self._add(self.confirm_upto + 1, tag, now)
        elif tag > self.confirm_upto and tag not in self.confirm_singles:
            self._add(tag, tag, now)
        super()._confirm(tag, multiple)

    def percentiles(self) -> dict:
        total = sum(self.hist)
        res = {"lat_n": total, "lat_max": self.lat_max * 1000}
        if not total:
            return res
        want = {"lat_p50": 0.50 * total, "lat_p99": 0.99 * total}
        acc = 0
        for i, c in enumerate(self.hist):
            if not c:
                continue
            acc += c
            for name, w in list(want.items()):
                if acc >= w:
                    res[name] = (i + 0.5) * LAT_BUCKET * 1000
                    del want[name]
            if not want:
                break
        return res


async def publisher_main(url: str, p: PubPlan, bd: Board, report: dict) -> None:
    conn = await open_connection(lambda: LgProducer(bd, 1), url)
    try:
        if p.window:
            conn.send(commands.Confirm.Select())
            await conn.expect(commands.Confirm.SelectOk)
        buf, starts, seq_offs, ts_offs, (hprio, bprio) = build_batch(p, conn.frame_max)
        B = len(seq_offs)
        conn.B = B
        prios = p.priorities
        write = conn.transport.write
        stop, stop_pub = bd.stop, bd.stop_pub
        bt = conn.bt
        n, window, rate = p.n, p.window, p.rate
        published = 0
        bd.prod_state.value = 1
        t0 = time.monotonic()
        bd.t_pub_first.value = t0
        while published < n and not stop.value and not stop_pub.value:
            conn.check()
            k = min(B, n - published)
            if rate:
                due = int((time.monotonic() - t0) * rate) - published
                if due <= 0:
                    await asyncio.sleep(0.0005)
                    continue
                k = min(k, due)
            if (window and published + k - conn.confirmed > window) or conn.paused:
                await conn.wait(0.05)
                continue
            for j in range(k):
                PACK_U64(buf, seq_offs[j], published + j + 1)
            if rate:
                now = time.monotonic()
                for j in range(k):
                    PACK_F64(buf, ts_offs[j], now)
            if prios:
                for j in range(k):
                    buf[hprio[j]] = buf[bprio[j]] = prios[published + j]
            if window:
                bt.append(time.monotonic())
            # bytes(): the transport may keep a reference to unsent data, and buf is patched again
            write(bytes(buf) if k == B else bytes(buf[: starts[k]]))
            published += k
            bd.published.value = published
        if not stop_pub.value:
            watcher = asyncio.ensure_future(stopped(stop, stop_pub))
            try:
                await finish_publishing(conn, bd, watcher, published, bool(window))
            finally:
                watcher.cancel()
        report.update(published=published, nacks=conn.nacks)
        if window:
            report.update(conn.percentiles())
    except BaseException:
        bd.prod_state.value = -1
        raise
    finally:
        with contextlib.suppress(Exception):
            await conn.close(p.close_timeout)


# --------------------------------------------------------------------------------------------------
# Consumers
# --------------------------------------------------------------------------------------------------


class GroupConsumer(Conn):
    """One connection, channel c (1..k) consuming queue chans[c-1]."""

    def __init__(self, plan: ConsPlan, chans: list[tuple[str, int]], bd: Board, slot: int, lat) -> None:
        super().__init__()
        k = len(chans)
        self.plan, self.bd, self.slot = plan, bd, slot
        self.qidx = [-1] + [qi for _, qi in chans]
        self.steps = [(1,)] + [plan.steps[qi] for _, qi in chans]
        self.K = len(self.steps[1])
        self.nxt = [0] + [plan.first[qi] for _, qi in chans]
        self.target = [0] + [plan.expected[qi] for _, qi in chans]
        self.cnt = [0] * (k + 1)
        self.dup = [0] * (k + 1)
        self.ooo = [0] * (k + 1)
        self.viol = [0] * (k + 1)
        self.holes: list[set] = [set() for _ in range(k + 1)]
        self.extra = [0] * (k + 1)
        self.tags = [0] * (k + 1)
        self.acked = [0] * (k + 1)
        self.last_prio = [99] * (k + 1)
        self.last_seq = [0] * (k + 1)
        self.seen = bytearray(plan.n + 2) if plan.mode == "priority" else None
        self.lat = lat
        self.finished = all(t == 0 for t in self.target[1:])
        self.read_paused = False

    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        if self.plan.coalesce and nbytes < (64 << 10) and not self.finished and not self.read_paused:
            if not self.closed:
                self.read_paused = True
                self.transport.pause_reading()
                self.loop.call_later(self.plan.coalesce, self._resume)

    def _resume(self) -> None:
        self.read_paused = False
        if not self.closed and not self.transport.is_closing():
            self.transport.resume_reading()

    def anomaly(self, ch: int, seq: int) -> None:
        e = self.nxt[ch]
        st, K = self.steps[ch], self.K
        holes = self.holes[ch]
        if seq < e:
            if seq in holes:
                holes.discard(seq)
                self.ooo[ch] += 1
            else:
                self.dup[ch] += 1
            return
        i = e
        while i < seq:
            holes.add(i)
            i += st[i % K]
        if i != seq or seq > self.plan.n:  # not a message of this queue
            self.dup[ch] += 1
            return
        self.ooo[ch] += 1
        self.nxt[ch] = seq + st[seq % K]

    def parse(self, pos: int, end: int) -> int:
        buf = self.buf
        unpack_hdr, unpack_u32, unpack_u64 = FRAME_HEADER.unpack_from, U32.unpack_from, U64.unpack_from
        nxt, steps, K, cnt, tags = self.nxt, self.steps, self.K, self.cnt, self.tags
        size = self.plan.size
        mode = self.plan.mode
        ack_each = self.plan.ack == "each"
        acks = bytearray() if ack_each else None
        n0 = sum(cnt)
        while end - pos >= 7:
            ftype, ch, fsize = unpack_hdr(buf, pos)
            fend = pos + fsize + 8
            if fend > end:
                break
            if buf[fend - 1] != 0xCE:
                self.fail(f"bad frame end byte (frame type {ftype}, size {fsize})")
                return end
            if ftype == 3:
                if fsize != size:
                    self.fail(f"body frame of {fsize} B, expected one frame of {size} B")
                    return end
                seq = unpack_u64(buf, pos + 7)[0]
                if mode == "fifo":
                    if seq == nxt[ch]:
                        nxt[ch] = seq + steps[ch][seq % K]
                    else:
                        self.anomaly(ch, seq)
                else:
                    self.slow_body(ch, seq, pos)
                cnt[ch] += 1
                if ack_each:
                    acks += ACK_FRAME.pack(1, ch, 13, 60, 80, tags[ch], 0, 0xCE)
            elif ftype == 1 and unpack_u32(buf, pos + 7)[0] == BASIC_DELIVER:
                tags[ch] = unpack_u64(buf, pos + 12 + buf[pos + 11])[0]
            elif ftype != 2:
                self.on_control_frame(pos, fend)
            pos = fend
        if acks:
            self.transport.write(acks)
        if sum(cnt) != n0:
            self.progress()
        return pos

    def slow_body(self, ch: int, seq: int, pos: int) -> None:
        if self.plan.mode == "latency":
            now = time.monotonic()
            seq, ts = SEQ_TS.unpack_from(self.buf, pos + 7)
            self.lat.append(now - ts)
            if seq == self.nxt[ch]:
                self.nxt[ch] = seq + 1
            else:
                self.anomaly(ch, seq)
            return
        prio = self.buf[pos + 15]  # priority mode: any order is accepted for loss/dup; order is checked
        if seq > self.plan.n or self.seen[seq]:
            self.dup[ch] += 1
        else:
            self.seen[seq] = 1
        if prio > self.last_prio[ch] or (prio == self.last_prio[ch] and seq < self.last_seq[ch]):
            self.viol[ch] += 1
        self.last_prio[ch], self.last_seq[ch] = prio, seq

    def count_beyond(self, ch: int) -> int:
        """Sequence numbers above n that the in-order path accepted on channel ch (the fast path does not
        check the upper bound, so n + 1 would pass as the next expected message). Error path only."""
        st, K, n = self.steps[ch], self.K, self.plan.n
        first = self.plan.first[self.qidx[ch]] or n + 1
        s = first + max(0, (n - first) // K) * K  # same residue as first, so also one of ours
        while s <= n:
            s += st[s % K]
        count = 0
        while s < self.nxt[ch]:
            count += 1
            s += st[s % K]
        return count

    def progress(self) -> None:
        bd, nq = self.bd, self.bd.nq
        now = time.monotonic()
        ct = bd.ct
        if not ct[3 * self.slot + 1]:
            ct[3 * self.slot + 1] = now
        ct[3 * self.slot + 2] = now
        done = True
        q = bd.q
        for ch in range(1, len(self.qidx)):
            qi = self.qidx[ch]
            if self.nxt[ch] > self.plan.n + self.K:  # in-order sequence numbers beyond n: not ours
                self.extra[ch] = self.count_beyond(ch)
            dup = self.dup[ch] + self.extra[ch]
            uniq = self.cnt[ch] - dup
            q[qi], q[nq + qi], q[2 * nq + qi] = uniq, dup, len(self.holes[ch])
            q[3 * nq + qi], q[4 * nq + qi] = self.ooo[ch], self.viol[ch]
            if uniq < self.target[ch]:
                done = False
            if self.plan.ack == "multiple":
                t = self.tags[ch]
                if t - self.acked[ch] >= self.plan.ack_every or (uniq >= self.target[ch] and t > self.acked[ch]):
                    self.acked[ch] = t
                    self.transport.write(ACK_FRAME.pack(1, ch, 13, 60, 80, t, 1, 0xCE))
        if done and not self.finished:
            self.finished = True
            self.kick()


async def consumer_main(url: str, plan: ConsPlan, conn_ids: list[int], bd: Board, slot: int, report: dict) -> None:
    lat = array.array("d")
    conns: list[GroupConsumer] = []
    try:
        for ci in conn_ids:
            chans = plan.conns[ci]
            c = await open_connection(lambda chans=chans: GroupConsumer(plan, chans, bd, slot, lat), url)
            conns.append(c)
            for ch in range(2, len(chans) + 1):
                c.send(commands.Channel.Open(), ch)
                await c.expect(commands.Channel.OpenOk)
            if not bd.ct[3 * slot]:
                bd.ct[3 * slot] = time.monotonic()  # basic.consume sent: the drain phases start here
            for ch, (queue, _qi) in enumerate(chans, 1):
                if plan.prefetch:
                    c.send(commands.Basic.Qos(prefetch_count=plan.prefetch), ch)
                    await c.expect(commands.Basic.QosOk)
                c.send(commands.Basic.Consume(queue=queue, consumer_tag=f"lg{ch}", no_ack=plan.no_ack), ch)
                await c.expect(commands.Basic.ConsumeOk, timeout=20)
        bd.cstate[slot] = 1
        ppid = os.getppid()
        while not bd.stop.value and os.getppid() == ppid:
            for c in conns:
                c.check()
            if all(c.finished for c in conns):
                bd.cstate[slot] = 2  # then stay connected until the parent says stop
            await conns[0].wait(0.05)
        report["lat"] = lat.tobytes() if plan.mode == "latency" else b""
    except BaseException:
        bd.cstate[slot] = -1
        raise
    finally:
        for c in conns:
            with contextlib.suppress(Exception):
                await c.close(3)


# --------------------------------------------------------------------------------------------------
# Control connection (parent side): declare, sample depth, delete
# --------------------------------------------------------------------------------------------------


async def control_ops(url: str, ops: list, timeout: float = 30.0) -> list:
    """Send the methods in ops on channel 1, pipelined, and return their replies (in order)."""
    c = await open_connection(Conn, url)
    try:
        replies = []
        for i in range(0, len(ops), 200):
            chunk = ops[i : i + 200]
            for m in chunk:
                c.send(m)
            for _ in chunk:
                replies.append(await c.expect(object, timeout=timeout))
        return replies
    finally:
        with contextlib.suppress(Exception):
            await c.close(3)


@dataclass
class DepthSampler:
    """Runs in a thread of the parent: every `interval` s while `active()` the sum of message_count
    over the queues (passive queue.declare, pipelined, on its own connection)."""

    url: str
    queues: list[str]
    active: object
    interval: float = 0.3
    samples: list[int] = field(default_factory=list)
    error: str = ""
    done: bool = False
    ready: bool = False  # connected

    def run(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception as e:  # noqa: BLE001
            self.error = f"{type(e).__name__}: {e}"

    async def _run(self) -> None:
        c = await open_connection(Conn, self.url)
        self.ready = True
        try:
            while not self.done:
                t = time.monotonic()
                if self.active():
                    for q in self.queues:
                        c.send(commands.Queue.Declare(queue=q, passive=True))
                    total = 0
                    for _ in self.queues:
                        total += (await c.expect(commands.Queue.DeclareOk, timeout=10)).message_count
                    self.samples.append(total)
                await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - t)))
        finally:
            with contextlib.suppress(Exception):
                await c.close(2)
