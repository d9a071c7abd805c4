#!/usr/bin/env python3
"""Publish -> consume throughput benchmark for amqpd (and RabbitMQ, for comparison).

One producer connection and one consumer connection, each in its own process, push small transient
messages through a fresh non-durable queue on the default exchange and the figure printed is
messages consumed per second. See bench/README.md for the options and how to read the numbers.

The clients are deliberately lean so that they are not the bottleneck: pamqp is used only for the
connection handshake and to build frames once; the publisher writes a pre-marshalled
basic.publish + content header + body in large batches straight to the transport, and the consumer
counts frames with struct.unpack_from over a fixed receive buffer (asyncio.BufferedProtocol) without
ever copying or re-slicing the whole buffer.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import fcntl
import multiprocessing as mp
import os
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pamqp import body as pbody
from pamqp import commands
from pamqp import frame as pframe
from pamqp import header as pheader
from pamqp import heartbeat as pheartbeat

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
REPO_ROOT = Path(__file__).resolve().parent.parent

FRAME_HEADER = struct.Struct(">BHI")  # type, channel, payload size; then payload, then 0xCE
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")
# A complete basic.ack frame on channel 1: header, class 60 / method 80, delivery tag, multiple bit, end.
ACK_FRAME = struct.Struct(">BHIHHQBB")
FRAME_END = 0xCE
FRAME_METHOD, FRAME_HEADER_T, FRAME_BODY = 1, 2, 3
BASIC_DELIVER = (60 << 16) | 60
BASIC_ACK = (60 << 16) | 80
BASIC_NACK = (60 << 16) | 120
MAX_FRAME = 131072
BATCH_BYTES = 256 << 10  # upper bound for one transport write of pre-marshalled messages
MAX_IN_FLIGHT_BYTES = 64 << 20  # --max-in-flight is also capped to this many bytes of messages
RECV_BUF = 1 << 20
COALESCE_BELOW = 64 << 10  # consumer reads smaller than this make it pause reading for --coalesce-ms
COALESCE_MIN_ROOM = 500  # messages of prefetch room needed per ms of pause (caps the pause at 500k msg/s)
CHANNEL = 1


class BenchError(Exception):
    pass


def parse_url(url: str) -> tuple[str, int, str, str, str]:
    u = urllib.parse.urlparse(url)
    if u.scheme != "amqp":
        raise BenchError(f"unsupported URL scheme {u.scheme!r} (only amqp://)")
    vhost = urllib.parse.unquote(u.path[1:]) if len(u.path) > 1 else "/"
    return (
        u.hostname or "127.0.0.1",
        u.port or 5672,
        urllib.parse.unquote(u.username or "guest"),
        urllib.parse.unquote(u.password or "guest"),
        vhost,
    )


# --------------------------------------------------------------------------------------------------
# Lean AMQP client connection
# --------------------------------------------------------------------------------------------------


class Conn(asyncio.BufferedProtocol):
    """One AMQP connection with channel 1 open.

    Incoming data lands in a fixed bytearray (get_buffer returns a memoryview slice of it, so there is
    no per-read allocation). Subclasses override parse() with their own hot path; anything that is not
    on a hot path goes through on_control_frame(), which decodes it with pamqp.
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.buf = bytearray(RECV_BUF)
        self.mv = memoryview(self.buf)
        self.start = 0  # first unparsed byte
        self.end = 0  # end of received data
        self.frame_max = MAX_FRAME
        self.transport: asyncio.Transport | None = None
        self.control: collections.deque = collections.deque()
        self.waiters: list[asyncio.Future] = []
        self.error: str | None = None
        self.closed = False
        self.closing = False
        self.paused = False
        self.got_first_bytes = False
        self.reads = 0  # number of socket reads, for -v

    # ---- asyncio protocol callbacks ------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.set_write_buffer_limits(high=4 << 20, low=1 << 20)

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.error is None and not self.closing:
            self.error = f"connection lost: {exc or 'closed by peer'}"
        self.kick()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.kick()

    def get_buffer(self, sizehint: int):
        if RECV_BUF - self.end < self.frame_max + 64:  # not enough room for a whole frame: compact
            n = self.end - self.start
            self.buf[0:n] = self.buf[self.start : self.end]  # only the partial frame is copied
            self.start, self.end = 0, n
        return self.mv[self.end :]

    def buffer_updated(self, nbytes: int) -> None:
        self.end += nbytes
        self.reads += 1
        if not self.got_first_bytes:
            self.got_first_bytes = True
            if self.end >= 4 and self.buf[0:4] == b"AMQP":  # the server refused our protocol version
                self.fail(f"server refused the protocol header: {bytes(self.buf[0:8])!r}")
                return
        try:
            self.start = self.parse(self.start, self.end)
        except Exception as e:  # noqa: BLE001 - a benchmark reports, it does not crash silently
            self.fail(f"client error while parsing: {e!r}")
            return
        if self.start == self.end:
            self.start = self.end = 0

    def eof_received(self):
        return False

    # ---- parsing --------------------------------------------------------------------------------

    def parse(self, pos: int, end: int) -> int:
        """Generic parser: every frame goes through pamqp. Returns the new start position."""
        buf = self.buf
        while end - pos >= 7:
            _ftype, _ch, size = FRAME_HEADER.unpack_from(buf, pos)
            fend = pos + size + 8
            if fend > end:
                break
            if buf[fend - 1] != FRAME_END:
                self.fail(f"bad frame end byte at offset {pos}")
                return end
            self.on_control_frame(pos, fend)
            pos = fend
        return pos

    def on_control_frame(self, pos: int, fend: int) -> None:
        try:
            _n, _ch, value = pframe.unmarshal(bytes(self.mv[pos:fend]))
        except Exception as e:  # noqa: BLE001
            self.fail(f"cannot decode frame {bytes(self.mv[pos : min(fend, pos + 40)])!r}: {e}")
            return
        if isinstance(value, pheartbeat.Heartbeat):
            return
        if isinstance(value, commands.Connection.Close):
            self.send(commands.Connection.CloseOk(), 0)
            self.fail(f"broker closed the connection: {value.reply_code} {value.reply_text}")
            return
        if isinstance(value, commands.Channel.Close):
            self.send(commands.Channel.CloseOk(), CHANNEL)
            self.fail(f"broker closed the channel: {value.reply_code} {value.reply_text}")
            return
        if isinstance(value, commands.Basic.Cancel):
            self.fail("broker cancelled the consumer (queue deleted?)")
            return
        if isinstance(value, commands.Connection.Blocked):
            return  # not advertised, so not expected; the transport pauses anyway
        self.control.append(value)
        self.kick()

    # ---- helpers --------------------------------------------------------------------------------

    def fail(self, msg: str) -> None:
        if self.error is None:
            self.error = msg
        self.kick()
        if self.transport is not None and not self.closing:
            self.transport.close()

    def kick(self) -> None:
        waiters, self.waiters = self.waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Wait for any state change (frame, confirm, resume, error), at most timeout seconds."""
        fut = self.loop.create_future()
        self.waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            pass

    def check(self) -> None:
        if self.error is not None:
            raise BenchError(self.error)

    def send(self, value, channel: int = CHANNEL) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(pframe.marshal(value, channel))

    async def expect(self, cls, timeout: float = 10.0, what: str = ""):
        deadline = self.loop.time() + timeout
        while True:
            self.check()
            if self.control:
                value = self.control.popleft()
                if isinstance(value, cls):
                    return value
                raise BenchError(f"expected {cls.__name__}, got {value.name}")
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                raise BenchError(f"timed out after {timeout:g} s waiting for {what or cls.__name__}")
            await self.wait(remaining)

    async def handshake(self, user: str, password: str, vhost: str) -> None:
        self.transport.write(pframe.marshal(pheader.ProtocolHeader(), 0))
        start = await self.expect(commands.Connection.Start)
        mechanisms = (start.mechanisms or "").split()
        if "PLAIN" not in mechanisms:
            raise BenchError(f"broker does not offer PLAIN auth (offers {mechanisms})")
        self.send(
            commands.Connection.StartOk(
                client_properties={
                    "product": "amqpd-bench",
                    "platform": "Python asyncio",
                    "capabilities": {
                        "publisher_confirms": True,
                        "basic.nack": True,
                        "consumer_cancel_notify": True,
                        "authentication_failure_close": True,
                    },
                },
                mechanism="PLAIN",
                response=f"\0{user}\0{password}",
                locale="en_US",
            ),
            0,
        )
        tune = await self.expect(commands.Connection.Tune)
        self.frame_max = min(tune.frame_max or MAX_FRAME, MAX_FRAME)
        self.send(
            commands.Connection.TuneOk(channel_max=tune.channel_max, frame_max=self.frame_max, heartbeat=0), 0
        )
        self.send(commands.Connection.Open(virtual_host=vhost), 0)
        await self.expect(commands.Connection.OpenOk)
        self.send(commands.Channel.Open(), CHANNEL)
        await self.expect(commands.Channel.OpenOk)

    async def close(self, timeout: float = 5.0) -> None:
        if self.closed or self.transport is None:
            return
        self.closing = True
        try:
            if self.error is None:
                self.send(
                    commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0), 0
                )
                deadline = self.loop.time() + timeout
                while not self.closed and self.loop.time() < deadline:
                    while self.control:
                        if isinstance(self.control.popleft(), commands.Connection.CloseOk):
                            return
                    await self.wait(deadline - self.loop.time())
        finally:
            self.transport.close()


async def open_connection(factory, url: str, timeout: float = 10.0):
    host, port, user, password, vhost = parse_url(url)
    loop = asyncio.get_running_loop()
    try:
        _t, conn = await asyncio.wait_for(loop.create_connection(factory, host, port), timeout)
    except (TimeoutError, OSError) as e:
        raise BenchError(f"cannot connect to {host}:{port}: {e!r}") from None
    try:
        await asyncio.wait_for(conn.handshake(user, password, vhost), timeout)
    except TimeoutError:
        conn.transport.close()
        raise BenchError(f"AMQP handshake with {host}:{port} timed out") from None
    except BenchError as e:
        conn.transport.close()
        raise BenchError(f"AMQP handshake with {host}:{port} failed: {e}") from None
    except BaseException:
        conn.transport.close()
        raise
    return conn


# --------------------------------------------------------------------------------------------------
# Shared state between the orchestrating process and the two client processes
# --------------------------------------------------------------------------------------------------


class Shared:
    """Lock-free shared counters (each field is written by exactly one process)."""

    INTS = ("consumed", "published", "stop", "cons_state", "prod_state")
    FLOATS = ("t_pub_first", "t_pub_done", "t_cons_first", "t_cons_last")
    # states: 0 starting, 1 ready/publishing, 2 finished, -1 failed

    def __init__(self, ctx) -> None:
        for name in self.INTS:
            setattr(self, name, ctx.RawValue("q", 0))
        for name in self.FLOATS:
            setattr(self, name, ctx.RawValue("d", 0.0))


@dataclass
class ClientOpts:
    messages: int
    size: int
    confirm: bool
    window: int
    no_ack: bool
    prefetch: int
    ack_every: int
    max_in_flight: int
    batch: int
    uvloop: bool
    coalesce_ms: float


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _child_entry(role: str, coro_fn, url: str, queue: str, o: ClientOpts, sh: Shared, results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and tells us to stop
    report: dict = {"role": role}
    cpu0 = _cpu()
    try:
        if o.uvloop:
            try:
                import uvloop

                asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            except ImportError:
                pass
        asyncio.run(coro_fn(url, queue, o, sh, report))
    except BenchError as e:
        report["error"] = str(e)
    except BaseException as e:  # noqa: BLE001
        report["error"] = f"{type(e).__name__}: {e}"
    report["cpu"] = _cpu() - cpu0
    if "error" in report:
        state = sh.cons_state if role == "consumer" else sh.prod_state
        state.value = -1
    results.put(report)


async def _watch(sh: Shared, conn: Conn, ppid: int) -> None:
    """Periodic check: stop flag set by the parent, or the parent died."""
    while True:
        await asyncio.sleep(0.1)
        if sh.stop.value or os.getppid() != ppid:
            conn.kick()
            return


# --------------------------------------------------------------------------------------------------
# Consumer
# --------------------------------------------------------------------------------------------------


class Consumer(Conn):
    def __init__(self, o: ClientOpts, sh: Shared) -> None:
        super().__init__()
        self.target = o.messages
        self.size = o.size
        self.no_ack = o.no_ack
        self.ack_every = o.ack_every
        self.sh = sh
        self.count = 0  # complete messages received
        self.tag = 0  # delivery tag of the message being received
        self.done_tag = 0  # delivery tag of the last complete message
        self.acked_tag = 0
        self.remaining = 0  # body bytes still expected for the current message
        self.finished = False
        self.coalesce = o.coalesce_ms / 1000.0
        if not o.no_ack and o.prefetch and (o.prefetch - o.ack_every) < COALESCE_MIN_ROOM * o.coalesce_ms:
            # While we pause, the broker can only send what the prefetch window leaves room for
            # (at least prefetch - ack_every): a small window would make the pause the bottleneck.
            self.coalesce = 0.0
        self.read_paused = False

    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        # Small reads cost a syscall + an event-loop round each: when the broker trickles data,
        # stop reading for a moment so that the next read picks up a bigger batch. This keeps the
        # consumer cheap (it shares 2 cores with the broker) without limiting the broker: the
        # prefetch window and the socket buffers keep it busy meanwhile.
        if (
            self.coalesce
            and nbytes < COALESCE_BELOW
            and not self.finished
            and not self.read_paused
            and not self.closed
        ):
            self.read_paused = True
            self.transport.pause_reading()
            self.loop.call_later(self.coalesce, self._resume_reading)

    def _resume_reading(self) -> None:
        self.read_paused = False
        if not self.closed and not self.transport.is_closing():
            self.transport.resume_reading()

    def parse(self, pos: int, end: int) -> int:
        buf = self.buf
        unpack_hdr = FRAME_HEADER.unpack_from
        unpack_u32 = U32.unpack_from
        unpack_u64 = U64.unpack_from
        count, tag, done_tag, remaining = self.count, self.tag, self.done_tag, self.remaining
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
                remaining -= size
                if remaining <= 0:
                    if remaining:
                        self.fail(f"body frames exceed the declared body size by {-remaining} B")
                        return end
                    count += 1
                    done_tag = tag
            elif ftype == FRAME_HEADER_T:
                remaining = unpack_u64(buf, pos + 11)[0]  # after class id + weight
                if remaining != expected_size:
                    self.fail(f"delivery has a {remaining} B body, expected {expected_size} B")
                    return end
                if remaining == 0:
                    count += 1
                    done_tag = tag
            elif ftype == FRAME_METHOD and unpack_u32(buf, pos + 7)[0] == BASIC_DELIVER:
                tag = unpack_u64(buf, pos + 12 + buf[pos + 11])[0]  # skip the consumer tag shortstr
            else:
                self.on_control_frame(pos, fend)
            pos = fend
        self.tag, self.remaining = tag, remaining
        if count != self.count:
            sh = self.sh
            now = time.monotonic()
            if self.count == 0:
                sh.t_cons_first.value = now
            self.count = count
            self.done_tag = done_tag
            sh.consumed.value = count
            sh.t_cons_last.value = now
            if count >= self.target:
                self.finished = True
                sh.cons_state.value = 2
                self.kick()
            if not self.no_ack and (
                done_tag - self.acked_tag >= self.ack_every or (self.finished and done_tag > self.acked_tag)
            ):
                self.acked_tag = done_tag
                self.transport.write(
                    ACK_FRAME.pack(FRAME_METHOD, CHANNEL, 13, 60, 80, done_tag, 1, FRAME_END)
                )
        return pos


async def consumer_run(url: str, queue: str, o: ClientOpts, sh: Shared, report: dict) -> None:
    conn: Consumer = await open_connection(lambda: Consumer(o, sh), url)
    ppid = os.getppid()
    watcher = asyncio.create_task(_watch(sh, conn, ppid))
    try:
        conn.send(commands.Queue.Declare(queue=queue, durable=False, auto_delete=True))
        await conn.expect(commands.Queue.DeclareOk)
        if not o.no_ack:
            conn.send(commands.Basic.Qos(prefetch_count=o.prefetch))
            await conn.expect(commands.Basic.QosOk)
        conn.send(commands.Basic.Consume(queue=queue, consumer_tag="bench", no_ack=o.no_ack))
        await conn.expect(commands.Basic.ConsumeOk)
        sh.cons_state.value = 1
        while not conn.finished and not sh.stop.value and not watcher.done():
            conn.check()
            await conn.wait(None)
        conn.check()
        # Clean up: the queue is auto-delete anyway, but delete it explicitly (messages left over
        # after an early stop are dropped with it).
        try:
            conn.send(commands.Basic.Cancel(consumer_tag="bench"))
            await conn.expect(commands.Basic.CancelOk, timeout=5)
            conn.send(commands.Queue.Delete(queue=queue))
            await conn.expect(commands.Queue.DeleteOk, timeout=5)  # stray deliveries: hot path
        except BenchError as e:
            report["warning"] = f"cleanup: {e}"
    finally:
        watcher.cancel()
        report["count"] = conn.count
        report["reads"] = conn.reads
        with contextlib.suppress(Exception):
            await conn.close()


# --------------------------------------------------------------------------------------------------
# Producer
# --------------------------------------------------------------------------------------------------


class Producer(Conn):
    def __init__(self) -> None:
        super().__init__()
        self.confirm_upto = 0  # every tag <= this has been confirmed
        self.confirm_singles: set[int] = set()  # individually confirmed tags > confirm_upto
        self.confirmed = 0
        self.nacks = 0
        self.t_last_confirm = 0.0

    def parse(self, pos: int, end: int) -> int:
        buf = self.buf
        unpack_hdr = FRAME_HEADER.unpack_from
        changed = False
        while end - pos >= 7:
            ftype, _ch, size = unpack_hdr(buf, pos)
            fend = pos + size + 8
            if fend > end:
                break
            if buf[fend - 1] != FRAME_END:
                self.fail(f"bad frame end byte (frame type {ftype}, size {size})")
                return end
            method = U32.unpack_from(buf, pos + 7)[0] if ftype == FRAME_METHOD else 0
            if method == BASIC_ACK or method == BASIC_NACK:
                tag = U64.unpack_from(buf, pos + 11)[0]
                multiple = buf[pos + 19] & 1
                if method == BASIC_NACK:
                    self.nacks += 1
                self._confirm(tag, multiple)
                changed = True
            else:
                self.on_control_frame(pos, fend)
            pos = fend
        if changed:
            self.confirmed = self.confirm_upto + len(self.confirm_singles)
            self.t_last_confirm = time.monotonic()
            self.kick()
        return pos

    def _confirm(self, tag: int, multiple: int) -> None:
        singles = self.confirm_singles
        if multiple:
            if tag > self.confirm_upto:
                self.confirm_upto = tag
                if singles:
                    self.confirm_singles = singles = {t for t in singles if t > tag}
        elif tag > self.confirm_upto:
            singles.add(tag)
        upto = self.confirm_upto
        while singles and upto + 1 in singles:
            upto += 1
            singles.discard(upto)
        self.confirm_upto = upto


def unsent_bytes(transport) -> int:
    """Bytes in the kernel send queue not yet acknowledged by the peer (Linux TIOCOUTQ), else 0."""
    sock = transport.get_extra_info("socket")
    if sock is None or not hasattr(termios, "TIOCOUTQ"):
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def build_message(queue: str, size: int, frame_max: int) -> bytes:
    """basic.publish + content header + body frame(s), marshalled once by pamqp."""
    payload = bytes((i * 7 + 13) & 0xFF for i in range(size))
    parts = [
        pframe.marshal(commands.Basic.Publish(exchange="", routing_key=queue), CHANNEL),
        pframe.marshal(pheader.ContentHeader(0, size, commands.Basic.Properties(delivery_mode=1)), CHANNEL),
    ]
    chunk = frame_max - 8
    for i in range(0, size, chunk):
        parts.append(pframe.marshal(pbody.ContentBody(payload[i : i + chunk]), CHANNEL))
    return b"".join(parts)


async def producer_run(url: str, queue: str, o: ClientOpts, sh: Shared, report: dict) -> None:
    conn: Producer = await open_connection(Producer, url)
    ppid = os.getppid()
    watcher = asyncio.create_task(_watch(sh, conn, ppid))
    try:
        if o.confirm:
            conn.send(commands.Confirm.Select())
            await conn.expect(commands.Confirm.SelectOk)
        one = build_message(queue, o.size, conn.frame_max)
        batch = min(o.batch, max(1, BATCH_BYTES // len(one)))
        if o.confirm:
            batch = min(batch, max(1, o.window // 4))
        if o.max_in_flight:
            batch = min(batch, max(1, min(o.max_in_flight, MAX_IN_FLIGHT_BYTES // len(one)) // 4))
        full_batch = one * batch
        n = o.messages
        window = o.window if o.confirm else 0
        max_in_flight = o.max_in_flight
        if max_in_flight:  # big messages: also bound the bytes the broker has to hold
            max_in_flight = min(max_in_flight, max(1, MAX_IN_FLIGHT_BYTES // len(one)))
        consumed = sh.consumed
        stop = sh.stop
        published = 0
        sh.prod_state.value = 1
        sh.t_pub_first.value = time.monotonic()
        while published < n:
            k = batch if n - published >= batch else n - published
            # Flow control: confirm window, messages not yet consumed, and the transport's buffer.
            while True:
                if stop.value or watcher.done():
                    break
                conn.check()
                if window and published + k - conn.confirmed > window:
                    await conn.wait(0.05)
                elif max_in_flight and published + k - consumed.value > max_in_flight:
                    await asyncio.sleep(0.001)
                elif conn.paused:
                    await conn.wait(0.05)
                else:
                    break
            if stop.value or watcher.done():
                break
            conn.transport.write(full_batch if k == batch else one * k)
            published += k
            sh.published.value = published
        # Publishing is done when everything is confirmed (--confirm) or written to the socket.
        while not stop.value and not watcher.done():
            conn.check()
            if o.confirm:
                if conn.confirmed >= published:
                    sh.t_pub_done.value = conn.t_last_confirm
                    break
                await conn.wait(0.05)
            else:
                if conn.transport.get_write_buffer_size() == 0 and unsent_bytes(conn.transport) == 0:
                    sh.t_pub_done.value = time.monotonic()
                    break
                await asyncio.sleep(0.001)
        if sh.t_pub_done.value:
            sh.prod_state.value = 2
        # Keep the connection open until the parent says stop, so that closing it cannot race
        # with messages still being routed.
        while not stop.value and not watcher.done():
            conn.check()
            await conn.wait(0.1)
    finally:
        watcher.cancel()
        report["published"] = sh.published.value
        report["nacks"] = conn.nacks
        with contextlib.suppress(Exception):
            await conn.close()


# --------------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    consumed: int = 0
    published: int = 0
    elapsed: float = 0.0
    rate: float = 0.0
    pub_rate: float = 0.0
    status: str = "ok"  # ok | capped | stalled | error
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cpu: dict = field(default_factory=dict)
    reads: int = 0

    @property
    def failed(self) -> bool:
        return self.status in ("stalled", "error")


def _stop_processes(procs) -> None:
    """The stop flag is already set: give the clients a few seconds to close cleanly, then kill."""
    deadline = time.monotonic() + 8
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(3)


def run_load(label: str, url: str, args, o: ClientOpts) -> Result:
    ctx = mp.get_context("spawn")
    sh = Shared(ctx)
    results = ctx.Queue()
    queue = f"amqpd-bench-{uuid.uuid4().hex[:12]}"
    res = Result(label)
    cons = ctx.Process(
        target=_child_entry,
        name="bench-consumer",
        args=("consumer", consumer_run, url, queue, o, sh, results),
        daemon=True,
    )
    prod = ctx.Process(
        target=_child_entry,
        name="bench-producer",
        args=("producer", producer_run, url, queue, o, sh, results),
        daemon=True,
    )
    procs = [cons]
    reason = ""
    try:
        cons.start()
        deadline = time.monotonic() + 20
        while sh.cons_state.value == 0 and cons.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if sh.cons_state.value != 1:
            res.status = "error"
            if sh.cons_state.value == 0 and cons.is_alive():
                reason = "consumer did not get ready within 20 s"
        else:
            procs.append(prod)
            prod.start()
            t_start = time.monotonic()
            last, last_change = 0, t_start
            while True:
                time.sleep(0.05)
                now = time.monotonic()
                c = sh.consumed.value
                if c != last:
                    last, last_change = c, now
                if sh.cons_state.value == 2:
                    break
                if sh.cons_state.value == -1 or sh.prod_state.value == -1:
                    res.status = "error"
                    break
                if not cons.is_alive() or not prod.is_alive():
                    res.status = "error"
                    reason = "a client process exited unexpectedly"
                    break
                t0 = sh.t_pub_first.value
                if sh.prod_state.value == 0:
                    if now - t_start > 20:
                        res.status = "error"
                        reason = "producer did not start publishing within 20 s"
                        break
                    last_change = now
                    continue
                if args.seconds and now - t0 >= args.seconds:
                    res.status = "capped"
                    break
                if now - max(last_change, t0) >= args.stall_timeout:
                    res.status = "stalled"
                    reason = (
                        f"consumer stalled: no delivery for {args.stall_timeout:g} s "
                        f"(consumed {c} of {o.messages}, published {sh.published.value})"
                    )
                    break
    finally:
        t_end = time.monotonic()
        sh.stop.value = 1
        _stop_processes(procs)
    while True:
        try:
            rep = results.get(timeout=0.5)
        except Exception:  # noqa: BLE001 - queue.Empty
            break
        res.cpu[rep["role"]] = rep.get("cpu", 0.0)
        if "reads" in rep:
            res.reads = rep["reads"]
        if "error" in rep:
            res.errors.append(f"{rep['role']}: {rep['error']}")
        if "warning" in rep:
            res.warnings.append(f"{rep['role']}: {rep['warning']}")
        if rep.get("nacks"):
            res.warnings.append(f"producer: broker sent {rep['nacks']} basic.nack frame(s)")
    if reason:
        res.errors.insert(0, reason)
    if res.status == "error" and not res.errors:
        res.errors.append("unknown failure")

    res.consumed = sh.consumed.value
    res.published = sh.published.value
    t0 = sh.t_pub_first.value
    if t0:
        t_last = sh.t_cons_last.value if res.consumed else t_end
        res.elapsed = max(t_last - t0, 1e-9)
        res.rate = res.consumed / res.elapsed
        t_pub = sh.t_pub_done.value or t_end
        res.pub_rate = res.published / max(t_pub - t0, 1e-9)
    if res.status == "ok" and res.consumed < o.messages:
        res.status = "error"
    return res


def format_result(r: Result, size: int) -> str:
    line = (
        f"{r.label}: {r.consumed} msgs of {size} B in {r.elapsed:.2f} s = {r.rate:,.0f} msg/s "
        f"(publish {r.pub_rate:,.0f} msg/s)"
    )
    if r.status == "capped":
        line += " [stopped at --seconds cap]"
    elif r.status == "stalled":
        line += " [STALLED, partial figure]"
    elif r.status == "error":
        line += " [FAILED, partial figure]"
    return line


# --------------------------------------------------------------------------------------------------
# Starting amqpd
# --------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class AmqpdServer:
    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.tmp = Path(tempfile.mkdtemp(prefix="amqpd-bench-"))
        self.port = free_port()
        self.log_path = self.tmp / "amqpd.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def start(self, timeout: float = 20.0) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        cmd = [
            sys.executable,
            "-m",
            "amqpd",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.tmp / "data"),
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"amqpd exited early with status {self.proc.returncode}:\n{self.log_tail()}")
            if port_answers("127.0.0.1", self.port, 0.5):
                return
            time.sleep(0.05)
        raise BenchError(f"amqpd did not listen on port {self.port} within {timeout:g} s:\n{self.log_tail()}")

    def stop(self) -> None:
        p = self.proc
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if self.keep:
            print(f"amqpd data and log kept in {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


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
    if args.ack_every is None:
        args.ack_every = max(1, args.prefetch // 4) if args.prefetch else 250
    if args.ack_every <= 0 or (args.prefetch and args.ack_every > args.prefetch):
        ap.error("--ack-every must be between 1 and --prefetch")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    # SIGTERM: unwind through the finally blocks so that the clients and amqpd are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    o = ClientOpts(
        messages=args.messages,
        size=args.size,
        confirm=args.confirm,
        window=args.window,
        no_ack=args.no_ack,
        prefetch=args.prefetch,
        ack_every=args.ack_every,
        max_in_flight=args.max_in_flight,
        batch=args.batch,
        uvloop=not args.no_uvloop,
        coalesce_ms=args.coalesce_ms,
    )

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def report(r: Result) -> None:
        print(format_result(r, args.size), flush=True)
        for e in r.errors:
            log(f"  error: {e}")
        for w in r.warnings:
            log(f"  warning: {w}")
        if args.verbose and r.cpu:
            cpu = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(r.cpu.items()))
            log(
                f"  client CPU: {cpu} (over {r.elapsed:.2f} s of measurement); "
                f"consumer socket reads: {r.reads} ({r.consumed / max(r.reads, 1):.0f} msgs/read)"
            )

    server: AmqpdServer | None = None
    exit_code = 0
    try:
        url = args.url
        if args.start_amqpd:
            server = AmqpdServer(args.keep_data)
            try:
                server.start()
            except BenchError as e:
                log(f"error: {e}")
                return 2
            url = server.url
        else:
            host, port = parse_url(url)[:2]
            if not port_answers(host, port):
                log(f"error: nothing answers at {host}:{port} (--url); start the broker or use --start-amqpd")
                return 2
            if args.compare_rabbitmq and (host, port) == parse_url(args.rabbitmq_url)[:2]:
                log("note: --url and --rabbitmq-url point to the same broker")

        targets = [("amqpd", url)]
        if args.compare_rabbitmq:
            host, port = parse_url(args.rabbitmq_url)[:2]
            if port_answers(host, port):
                targets.append(("rabbitmq", args.rabbitmq_url))
            else:
                log(f"rabbitmq: nothing answers at {host}:{port}; comparison skipped")
        runs: dict[str, list[Result]] = {label: [] for label, _ in targets}
        for _ in range(args.repeat):  # alternate the brokers so that drift affects both alike
            for label, target_url in targets:
                r = run_load(label, target_url, args, o)
                report(r)
                runs[label].append(r)
                if r.failed:
                    exit_code = 1
                if server is not None and server.proc is not None and server.proc.poll() is not None:
                    log(f"amqpd exited with status {server.proc.returncode}:\n{server.log_tail()}")
                    return 1
        medians = {}
        for label, rs in runs.items():
            rates = sorted(r.rate for r in rs)
            if any(r.failed for r in rs):
                continue
            medians[label] = statistics.median(rates)
            if args.repeat > 1:
                print(
                    f"{label}: median of {len(rs)} runs = {medians[label]:,.0f} msg/s "
                    f"(min {rates[0]:,.0f}, max {rates[-1]:,.0f})",
                    flush=True,
                )
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
