"""The lean asyncio AMQP 0-9-1 client of the benchmarks, and the processes that run it.

The clients are deliberately lean so that they are not the bottleneck: pamqp is used only for the
connection handshake and to build frames once; the publisher writes a pre-marshalled
basic.publish + content header + body in large batches straight to the transport, and the consumer
counts frames with struct.unpack_from over a fixed receive buffer (asyncio.BufferedProtocol) without
ever copying or re-slicing the whole buffer.

Each client runs in its own process (multiprocessing, spawn). The processes and the orchestrating
parent share only lock-free counters (Shared); supervise() starts the clients, watches those counters
and stops the clients again. bench/throughput.py, bench/persistent.py and bench/backlog.py use this
module (bench/ is not a package: the scripts put bench/ on sys.path).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import functools
import multiprocessing as mp
import os
import resource
import signal
import ssl
import struct
import termios
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from pamqp import body as pbody
from pamqp import commands
from pamqp import frame as pframe
from pamqp import header as pheader
from pamqp import heartbeat as pheartbeat

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"

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
    """(host, port, user, password, vhost) of an amqp:// or amqps:// URL (amqps: port 5671 by default).
    TLS settings of an amqps:// URL: see tls_context()."""
    u = urllib.parse.urlparse(url)
    if u.scheme not in ("amqp", "amqps"):
        raise BenchError(f"unsupported URL scheme {u.scheme!r} (only amqp:// and amqps://)")
    vhost = urllib.parse.unquote(u.path[1:]) if len(u.path) > 1 else "/"
    return (
        u.hostname or "127.0.0.1",
        u.port or (5671 if u.scheme == "amqps" else 5672),
        urllib.parse.unquote(u.username or "guest"),
        urllib.parse.unquote(u.password or "guest"),
        vhost,
    )


# TLS (amqps://). The CA comes from the URL's query (RabbitMQ's URI query parameters: cacertfile,
# verify=verify_none|verify_peer, server_name_indication), else from these environment variables.
# Query parameters travel with the URL into the client processes; the environment is inherited too.
ENV_CAFILE = "AMQPD_BENCH_CACERTFILE"  # PEM file of the CA(s) the broker's certificate must chain to
ENV_INSECURE = "AMQPD_BENCH_TLS_VERIFY_NONE"  # "1": no certificate or host name verification at all


def with_query(url: str, **params: str) -> str:
    """url with these query parameters added (or replaced)."""
    u = urllib.parse.urlparse(url)
    q = dict(urllib.parse.parse_qsl(u.query))
    q.update(params)
    return urllib.parse.urlunparse(u._replace(query=urllib.parse.urlencode(q)))


@functools.lru_cache(maxsize=8)
def _ssl_context(cafile: str, verify: bool) -> ssl.SSLContext:
    if not verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        return ssl.create_default_context(cafile=cafile or None)
    except (OSError, ssl.SSLError) as e:
        raise BenchError(f"cannot load the CA file {cafile!r}: {e}") from None


def tls_context(url: str) -> tuple[ssl.SSLContext, str] | None:
    """(SSLContext, server_hostname) for an amqps:// URL, None for amqp://.

    Verification is on unless asked off: the broker's certificate must chain to the CA of
    `?cacertfile=PATH` (or $AMQPD_BENCH_CACERTFILE; neither: the system's CAs) and name the host (or
    `?server_name_indication=NAME`). `?verify=verify_none` (or $AMQPD_BENCH_TLS_VERIFY_NONE=1) turns every
    check off: encryption only, nothing authenticated."""
    u = urllib.parse.urlparse(url)
    if u.scheme != "amqps":
        return None
    q = dict(urllib.parse.parse_qsl(u.query))
    verify = q.get("verify", "verify_none" if os.environ.get(ENV_INSECURE) == "1" else "verify_peer")
    if verify not in ("verify_peer", "verify_none"):
        raise BenchError(f"verify={verify!r} in the URL: use verify_peer or verify_none")
    cafile = q.get("cacertfile") or os.environ.get(ENV_CAFILE, "")
    return _ssl_context(cafile, verify == "verify_peer"), q.get("server_name_indication") or u.hostname or "127.0.0.1"


# --------------------------------------------------------------------------------------------------
# Lean AMQP client connection
# --------------------------------------------------------------------------------------------------


class Conn(asyncio.BufferedProtocol):
    """One AMQP connection with channel 1 open.

    Incoming data lands in a fixed bytearray (get_buffer returns a memoryview slice of it, so there is
    no per-read allocation). parse() walks the frames and hands each to on_frame(); subclasses override
    on_frame(), or parse() itself for a hot path. Anything that is not on a hot path goes through
    on_control_frame(), which decodes it with pamqp.
    """

    BAD_FRAME_END = "bad frame end byte at offset {pos}"  # formatted with pos, ftype and size

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
        """Walk the complete frames in buf[pos:end], each through on_frame(). Returns the new start."""
        buf = self.buf
        while end - pos >= 7:
            ftype, _ch, size = FRAME_HEADER.unpack_from(buf, pos)
            fend = pos + size + 8
            if fend > end:
                break
            if buf[fend - 1] != FRAME_END:
                self.fail(self.BAD_FRAME_END.format(pos=pos, ftype=ftype, size=size))
                return end
            self.on_frame(ftype, pos, fend)
            pos = fend
        return pos

    def on_frame(self, ftype: int, pos: int, fend: int) -> None:
        """Generic frame handling: every frame goes through pamqp."""
        self.on_control_frame(pos, fend)

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

    def fill_report(self, report: dict) -> None:
        """What the client process reports to the parent when it ends (see session())."""


async def open_connection(factory, url: str, timeout: float = 10.0):
    host, port, user, password, vhost = parse_url(url)
    loop = asyncio.get_running_loop()
    tls = tls_context(url)
    kw = {"ssl": tls[0], "server_hostname": tls[1], "ssl_handshake_timeout": timeout} if tls else {}
    try:
        _t, conn = await asyncio.wait_for(loop.create_connection(factory, host, port, **kw), timeout)
    except (TimeoutError, OSError) as e:  # ssl.SSLError is an OSError
        raise BenchError(f"cannot connect to {host}:{port}{' (TLS)' if tls else ''}: {e!r}") from None
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
# Shared state between the orchestrating process and the two client processes; client options
# --------------------------------------------------------------------------------------------------


class Shared:
    """Lock-free shared counters (each field is written by exactly one process)."""

    INTS = (
        "consumed",
        "published",
        "stop",
        "cons_state",
        "prod_state",
        "confirmed",  # producer: messages confirmed (ack or nack)
        "nacks",  # producer: basic.nack frames received
        "order_errors",  # consumer (check_order): deliveries whose sequence number was not last + 1
        "bad_expected",  # consumer (check_order): first order error, expected sequence number
        "bad_got",  # consumer (check_order): first order error, sequence number received
        "last_seq",  # consumer (check_order): sequence number of the last complete delivery
        "redelivered",  # consumer (check_order): deliveries flagged redelivered
        "queue_count",  # consumer: message_count of queue.declare-ok (-1 = not known yet)
        "target",  # consumer: messages it will consume (may be lowered to queue_count)
        "deleted",  # consumer: 1 once the queue was deleted
    )
    FLOATS = ("t_pub_first", "t_pub_done", "t_cons_first", "t_cons_last", "t_cons_start")
    # states: 0 starting, 1 ready/publishing, 2 finished, -1 failed; t_cons_start: basic.consume sent

    def __init__(self, ctx) -> None:
        for name in self.INTS:
            setattr(self, name, ctx.RawValue("q", 0))
        for name in self.FLOATS:
            setattr(self, name, ctx.RawValue("d", 0.0))


@dataclass
class ClientOpts:
    messages: int
    size: int
    confirm: bool = False
    window: int = 1000
    no_ack: bool = False
    prefetch: int = 1000
    ack_every: int = 250
    max_in_flight: int = 20_000
    batch: int = 1000
    uvloop: bool = True
    coalesce_ms: float = 1.0

    @classmethod
    def from_args(cls, args):
        """The options a script's command line gives: every field args has, and uvloop from --no-uvloop."""
        kw = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        kw["uvloop"] = not args.no_uvloop
        return cls(**kw)


# --------------------------------------------------------------------------------------------------
# Client processes
# --------------------------------------------------------------------------------------------------


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


@contextlib.asynccontextmanager
async def session(conn: Conn, sh: Shared, report: dict):
    """Run a client's work on conn; yields the watcher task (done once the parent says stop).

    At the end, whatever happened: the client's counts go into report and the connection is closed.
    """
    watcher = asyncio.create_task(_watch(sh, conn, os.getppid()))
    try:
        yield watcher
    finally:
        watcher.cancel()
        conn.fill_report(report)
        with contextlib.suppress(Exception):
            await conn.close()


# --------------------------------------------------------------------------------------------------
# Consumer
# --------------------------------------------------------------------------------------------------


class Consumer(Conn):
    """Counts complete deliveries and acks them in batches (multiple=True).

    With check_order, every body must start with a 64-bit sequence number, and the numbers must arrive
    as 1, 2, 3, ...; deviations and redelivered flags are counted in Shared.
    """

    def __init__(self, o: ClientOpts, sh: Shared, check_order: bool = False) -> None:
        super().__init__()
        self.target = o.messages
        self.size = o.size
        self.no_ack = o.no_ack
        self.ack_every = o.ack_every
        self.sh = sh
        self.check_order = check_order
        self.count = 0  # complete messages received
        self.tag = 0  # delivery tag of the message being received
        self.done_tag = 0  # delivery tag of the last complete message
        self.acked_tag = 0
        self.remaining = 0  # body bytes still expected for the current message
        self.last_seq = 0
        self.order_errors = 0
        self.redelivered = 0
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
        # The hot path: the frame walk is inlined here (not Conn.parse + on_frame), state in locals.
        buf = self.buf
        unpack_hdr = FRAME_HEADER.unpack_from
        unpack_u32 = U32.unpack_from
        unpack_u64 = U64.unpack_from
        count, tag, done_tag, remaining = self.count, self.tag, self.done_tag, self.remaining
        last_seq, order_errors, redelivered = self.last_seq, self.order_errors, self.redelivered
        expected_size = self.size
        check_order = self.check_order
        while end - pos >= 7:
            ftype, _ch, size = unpack_hdr(buf, pos)
            fend = pos + size + 8
            if fend > end:
                break
            if buf[fend - 1] != FRAME_END:
                self.fail(f"bad frame end byte (frame type {ftype}, size {size})")
                return end
            if ftype == FRAME_BODY:
                if check_order and remaining == expected_size:  # first body frame: the sequence number
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
                remaining = unpack_u64(buf, pos + 11)[0]  # after class id + weight
                if remaining != expected_size:
                    self.fail(f"delivery has a {remaining} B body, expected {expected_size} B")
                    return end
                if remaining == 0:
                    count += 1
                    done_tag = tag
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
            if check_order:
                sh.last_seq.value = last_seq
                sh.order_errors.value = order_errors
                sh.redelivered.value = redelivered
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

    def fill_report(self, report: dict) -> None:
        report["count"] = self.count
        report["reads"] = self.reads


async def consume_until_finished(conn: Consumer, sh: Shared, watcher: asyncio.Task) -> None:
    """Wait until the consumer has its messages, the parent says stop, or the connection fails."""
    while not conn.finished and not sh.stop.value and not watcher.done():
        conn.check()
        await conn.wait(None)
    conn.check()


async def cancel_and_delete(conn: Conn, queue: str, cancel_timeout: float, delete_timeout: float) -> None:
    """Cancel the consumer "bench" and delete its queue (deliveries still arriving take the hot path)."""
    conn.send(commands.Basic.Cancel(consumer_tag="bench"))
    await conn.expect(commands.Basic.CancelOk, timeout=cancel_timeout)
    conn.send(commands.Queue.Delete(queue=queue))
    await conn.expect(commands.Queue.DeleteOk, timeout=delete_timeout)


# --------------------------------------------------------------------------------------------------
# Producer
# --------------------------------------------------------------------------------------------------


class Producer(Conn):
    """Tracks publisher confirms (basic.ack / basic.nack, single and multiple) and counts them in Shared."""

    BAD_FRAME_END = "bad frame end byte (frame type {ftype}, size {size})"

    def __init__(self, sh: Shared) -> None:
        super().__init__()
        self.sh = sh
        self.confirm_upto = 0  # every tag <= this has been confirmed
        self.confirm_singles: set[int] = set()  # individually confirmed tags > confirm_upto
        self.confirmed = 0
        self.nacks = 0
        self.t_last_confirm = 0.0
        self._changed = False

    def parse(self, pos: int, end: int) -> int:
        self._changed = False
        pos = super().parse(pos, end)
        if self._changed:
            self.confirmed = self.confirm_upto + len(self.confirm_singles)
            self.t_last_confirm = time.monotonic()
            self.kick()
            self.sh.confirmed.value = self.confirmed
            self.sh.nacks.value = self.nacks
        return pos

    def on_frame(self, ftype: int, pos: int, fend: int) -> None:
        buf = self.buf
        method = U32.unpack_from(buf, pos + 7)[0] if ftype == FRAME_METHOD else 0
        if method == BASIC_ACK or method == BASIC_NACK:
            tag = U64.unpack_from(buf, pos + 11)[0]
            multiple = buf[pos + 19] & 1
            if method == BASIC_NACK:
                self.nacks += 1
            self._confirm(tag, multiple)
            self._changed = True
        else:
            self.on_control_frame(pos, fend)

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

    def fill_report(self, report: dict) -> None:
        report["published"] = self.sh.published.value
        report["nacks"] = self.nacks


def unsent_bytes(transport) -> int:
    """Bytes in the kernel send queue not yet acknowledged by the peer (Linux TIOCOUTQ), else 0."""
    sock = transport.get_extra_info("socket")
    if sock is None or not hasattr(termios, "TIOCOUTQ"):
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def build_message(queue: str, size: int, frame_max: int, persistent: bool = False) -> tuple[bytes, int]:
    """basic.publish + content header + body frame(s), marshalled once by pamqp.

    Transient messages have delivery_mode=1. Persistent ones have delivery_mode=2 and a body that starts
    with an 8-byte big-endian sequence number (0 here). Returns the frames and the offset of that
    sequence number in them.
    """
    if persistent:
        if size < 8:
            raise BenchError("--size must be at least 8 (the body starts with a 64-bit sequence number)")
        payload = bytes(8) + bytes((i * 7 + 13) & 0xFF for i in range(size - 8))
    else:
        payload = bytes((i * 7 + 13) & 0xFF for i in range(size))
    method = pframe.marshal(commands.Basic.Publish(exchange="", routing_key=queue), CHANNEL)
    header = pframe.marshal(
        pheader.ContentHeader(0, size, commands.Basic.Properties(delivery_mode=2 if persistent else 1)),
        CHANNEL,
    )
    parts = [method, header]
    chunk = frame_max - 8
    for i in range(0, size, chunk):
        parts.append(pframe.marshal(pbody.ContentBody(payload[i : i + chunk]), CHANNEL))
    return b"".join(parts), len(method) + len(header) + 7


async def publish_batches(
    conn: Producer,
    sh: Shared,
    watcher: asyncio.Task,
    n: int,
    batch: int,
    window: int,
    max_in_flight: int,
    write: Callable[[int, int], None],
) -> int:
    """Publish n messages, write(published, k) writing the next k of them; returns the number published.

    Flow control before each write: at most `window` unconfirmed (0: no confirms), at most `max_in_flight`
    not yet consumed (0: unbounded), and the transport's write buffer below its high-water mark.
    """
    consumed, stop = sh.consumed, sh.stop
    published = 0
    sh.prod_state.value = 1
    sh.t_pub_first.value = time.monotonic()
    while published < n:
        k = batch if n - published >= batch else n - published
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
        write(published, k)
        published += k
        sh.published.value = published
    return published


async def finish_publishing(
    conn: Producer, sh: Shared, watcher: asyncio.Task, published: int, confirm: bool
) -> None:
    """Publishing is done when everything is confirmed (confirm) or written to the socket; then keep
    the connection open until the parent says stop, so that closing it cannot race with messages still
    being routed."""
    stop = sh.stop
    while not stop.value and not watcher.done():
        conn.check()
        if confirm:
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
    while not stop.value and not watcher.done():
        conn.check()
        await conn.wait(0.1)


# --------------------------------------------------------------------------------------------------
# Orchestration: run the client processes and watch them
# --------------------------------------------------------------------------------------------------


@dataclass
class RunStatus:
    """What supervise() fills in; the scripts' result types extend it."""

    label: str
    status: str = "ok"  # ok | capped | stalled | error | aborted
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cpu: dict = field(default_factory=dict)
    reads: int = 0
    t_end: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status in ("stalled", "error", "aborted")


def _stop_processes(procs) -> None:
    """The stop flag is already set: give the clients a few seconds to close cleanly, then kill."""
    deadline = time.monotonic() + 8
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(3)


def supervise(
    res: RunStatus,
    url: str,
    queue: str,
    o: ClientOpts,
    *,
    consumer,
    producer,
    ready_timeout: float,
    stall_timeout: float,
    stall_reason: Callable[[Shared], str],
    seconds: float | None = None,
    on_tick: Callable[[float, int, Shared], str | None] | None = None,
    nack_warnings: bool = False,
) -> Shared:
    """Run the consumer and/or producer process and watch them until done, stalled, failed or aborted.

    consumer / producer: the coroutine functions (url, queue, o, shared, report) the client processes
    run, or None. The consumer starts first and must get ready (and the producer start publishing)
    within ready_timeout. Progress is deliveries when there is a consumer, else confirms; the run is
    done when the consumer (else the producer) has finished. on_tick(now, progress, shared) is called
    every 50 ms; a non-empty return value aborts the run with that reason. Fills in res (status, errors
    and warnings, the clients' CPU time and socket reads, t_end) and returns the shared counters.
    """
    ctx = mp.get_context("spawn")
    sh = Shared(ctx)
    sh.queue_count.value = -1
    results = ctx.Queue()
    procs: list = []
    reason = ""

    def spawn(role: str, fn) -> None:
        p = ctx.Process(
            target=_child_entry,
            name=f"bench-{role}",
            args=(role, fn, url, queue, o, sh, results),
            daemon=True,
        )
        procs.append(p)
        p.start()

    try:
        if consumer:
            spawn("consumer", consumer)
            deadline = time.monotonic() + ready_timeout
            while sh.cons_state.value == 0 and procs[0].is_alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            if sh.cons_state.value not in (1, 2):
                res.status = "error"
                if sh.cons_state.value == 0 and procs[0].is_alive():
                    reason = f"consumer did not get ready within {ready_timeout:g} s"
        if res.status == "ok" and producer:
            spawn("producer", producer)
        if res.status == "ok":
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
                        res.status = "aborted"
                        reason = abort
                        break
                if (consumer and sh.cons_state.value == 2) or (not consumer and sh.prod_state.value == 2):
                    break
                if sh.cons_state.value == -1 or sh.prod_state.value == -1:
                    res.status = "error"
                    break
                if any(not p.is_alive() for p in procs):
                    res.status = "error"
                    reason = "a client process exited unexpectedly"
                    break
                t0 = sh.t_cons_start.value if not producer else sh.t_pub_first.value
                if producer and sh.prod_state.value == 0:
                    if now - t_start > ready_timeout:
                        res.status = "error"
                        reason = f"producer did not start publishing within {ready_timeout:g} s"
                        break
                    last_change = now
                    continue
                if seconds and t0 and now - t0 >= seconds:
                    res.status = "capped"
                    break
                if now - max(last_change, t0) >= stall_timeout:
                    res.status = "stalled"
                    reason = stall_reason(sh)
                    break
    finally:
        res.t_end = time.monotonic()
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
        if nack_warnings and rep.get("nacks"):
            res.warnings.append(f"producer: broker sent {rep['nacks']} basic.nack frame(s)")
    if reason:
        res.errors.insert(0, reason)
    return sh
