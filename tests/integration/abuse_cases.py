"""Protocol abuse with correct framing, and connection/channel/consumer/queue floods: the "abuse" and
"flood" case families of the robustness runner (fuzz_session.py, issue 15).

Frame mutation (fuzz_session.py) shows that broken bytes are refused; these cases send well-formed
frames that a client must not send in that state (an ack for a delivery that never happened, a content
header without a publish, a server-only method, channel.open twice, ...) and loads that a client
could legally send but that cost the broker (thousands of connections, channels, consumers, queues).
Each abuse case names the answer RabbitMQ 3.10 gives (checked against it; the first of the answers
in CASES, the others equally acceptable) and passes when that answer arrives within the bound; a
different answer is counted as "wrong", no answer as "hang". After every abuse a probe (exchange.declare
passive amq.direct on channel 1) is sent, so an abuse that is rightly ignored still gets an answer: the
probe's declare-ok. After a connection.close the broker must drop the socket; after a channel error or
an "ok" the same connection must still open a channel.

The "memory" family is here too: a transient backlog larger than the watermark (transient_backlog).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pamqp import commands as spec
from pamqp import frame as pframe
from pamqp import header as pheader
from rawclient import ConnectionClosedError, RawClient, encode_properties, header_payload, raw_frame

BOUND = 10.0  # seconds an answer may take before the case counts as a hang
OK_GRACE = 2.0
M = pframe.marshal
PROBE = spec.Exchange.Declare(exchange="amq.direct", exchange_type="direct", passive=True)


def method_raw(channel: int, class_id: int, method_id: int, args: bytes = b"") -> bytes:
    return raw_frame(1, channel, struct.pack(">HH", class_id, method_id) + args)


def header(channel: int, size: int, class_id: int = 60) -> bytes:
    return raw_frame(2, channel, header_payload(size, encode_properties(), class_id=class_id))


def body(channel: int, data: bytes) -> bytes:
    return raw_frame(3, channel, data)


def publish(channel: int, rk: str, data: bytes = b"x", exchange: str = "") -> bytes:
    return M(spec.Basic.Publish(exchange=exchange, routing_key=rk), channel) + header(channel, len(data)) \
        + body(channel, data)


class Client(RawClient):
    """RawClient with TCP_NODELAY: the handshake sends tune-ok and connection.open back to back, and
    Nagle's algorithm would hold the second until the first is acknowledged (a 40 ms delayed ACK on
    every connection the runner opens)."""

    def send_raw(self, data: bytes) -> None:
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().send_raw(data)


@dataclass
class Ctx:
    rng: random.Random
    queue: str  # a queue name private to this case (declared by cases that need one)


@dataclass(frozen=True)
class Abuse:
    name: str
    state: str  # "raw": TCP only; "tuned": tune-ok sent, no connection.open; "open": channel 1 open
    frames: Callable[[Ctx], bytes]
    expect: str  # "channel 406", "connection 505", "ok" (the probe answered), "eof" (socket closed)


def _q(c: Ctx, **kw) -> bytes:
    # exclusive: gone with the connection, whatever the case's answer (RabbitMQ deletes an auto-delete
    # queue only after it has had a consumer)
    return M(spec.Queue.Declare(queue=c.queue, exclusive=True, auto_delete=True, **kw), 1)


def _consume_one(c: Ctx) -> bytes:
    # a queue with one message and a consumer (no auto-ack) that has it: delivery tag 1 is outstanding
    return _q(c) + publish(1, c.queue) + M(spec.Basic.Consume(queue=c.queue, consumer_tag="ct"), 1)


def _declare_raw(c: Ctx, table: bytes) -> bytes:
    """queue.declare (exclusive) with `table` as the encoded arguments table."""
    name = c.queue.encode()
    return method_raw(1, 50, 10, b"\x00\x00" + bytes([len(name)]) + name + b"\x04" + struct.pack(">I", len(table))
                      + table)


def _deep_declare(c: Ctx, depth: int) -> bytes:
    """Arguments nested `depth` tables deep (a recursive decoder's stack)."""
    inner = b""
    for _ in range(depth):
        inner = b"\x01aF" + struct.pack(">I", len(inner)) + inner
    return _declare_raw(c, inner)


def array_declare(c: Ctx) -> bytes:
    """queue.declare with an x-foo argument: an array of 130,000 voids (one octet each)."""
    return _declare_raw(c, b"\x05x-fooA" + struct.pack(">I", 130_000) + b"V" * 130_000)


def _array_headers(c: Ctx, n: int) -> bytes:
    """n messages to amq.headers whose headers hold an array of 110,000 voids; a queue is bound with
    x-match any, so the headers are decoded to route each message."""
    a = b"V" * 110_000
    t = b"\x02zz" + b"A" + struct.pack(">I", len(a)) + a
    props = struct.pack(">H", 1 << 13) + struct.pack(">I", len(t)) + t
    msg = M(spec.Basic.Publish(exchange="amq.headers"), 1) + raw_frame(2, 1, header_payload(1, props)) + body(1, b"h")
    return _q(c) + M(spec.Queue.Bind(queue=c.queue, exchange="amq.headers", arguments={"x-match": "any", "zz": 1}),
                     1) + msg * n


def _exchange_cycle(c: Ctx) -> bytes:
    a, b = c.queue + "-a", c.queue + "-b"
    return (M(spec.Exchange.Declare(exchange=a, exchange_type="fanout", auto_delete=True), 1)
            + M(spec.Exchange.Declare(exchange=b, exchange_type="fanout", auto_delete=True), 1)
            + M(spec.Exchange.Bind(destination=a, source=b), 1) + M(spec.Exchange.Bind(destination=b, source=a), 1)
            + _q(c) + M(spec.Queue.Bind(queue=c.queue, exchange=b), 1) + publish(1, "", exchange=a)
            + M(spec.Exchange.Delete(exchange=a), 1) + M(spec.Exchange.Delete(exchange=b), 1))


# RabbitMQ 3.10.8's answers, each checked with `fuzz_session.py --families abuse --port 5672`.
CASES: list[Abuse] = [
    # -- acknowledgements ----------------------------------------------------------------------------
    Abuse("ack-unknown-tag", "open", lambda c: M(spec.Basic.Ack(delivery_tag=c.rng.randrange(1, 1 << 40)), 1),
          "channel 406"),
    Abuse("ack-tag-twice", "open", lambda c: _consume_one(c) + M(spec.Basic.Ack(delivery_tag=1), 1) * 2,
          "channel 406"),
    Abuse("nack-unknown-tag", "open", lambda c: M(spec.Basic.Nack(delivery_tag=c.rng.randrange(2, 999)), 1),
          "channel 406"),
    Abuse("reject-unknown-tag", "open", lambda c: M(spec.Basic.Reject(delivery_tag=c.rng.randrange(2, 999)), 1),
          "channel 406"),
    Abuse("ack-multiple-zero-nothing-unacked", "open", lambda c: M(spec.Basic.Ack(delivery_tag=0, multiple=True), 1),
          "ok"),
    # -- missing resources ---------------------------------------------------------------------------
    Abuse("consume-missing-queue", "open", lambda c: M(spec.Basic.Consume(queue=c.queue), 1), "channel 404"),
    Abuse("get-missing-queue", "open", lambda c: M(spec.Basic.Get(queue=c.queue), 1), "channel 404"),
    Abuse("publish-missing-exchange", "open", lambda c: publish(1, "k", exchange=c.queue), "channel 404"),
    Abuse("passive-declare-missing", "open", lambda c: _q(c, passive=True), "channel 404"),
    Abuse("bind-missing-exchange", "open",
          lambda c: _q(c) + M(spec.Queue.Bind(queue=c.queue, exchange=c.queue + "-x"), 1), "channel 404"),
    Abuse("cancel-unknown-consumer", "open", lambda c: M(spec.Basic.Cancel(consumer_tag="nope"), 1), "ok"),
    # -- refused arguments ---------------------------------------------------------------------------
    Abuse("exchange-type-unknown", "open",
          lambda c: M(spec.Exchange.Declare(exchange=c.queue, exchange_type="nosuch"), 1), "connection 503"),
    Abuse("exchange-redeclare-other-type", "open",
          lambda c: M(spec.Exchange.Declare(exchange="amq.fanout", exchange_type="direct"), 1), "channel 406"),
    Abuse("declare-amq-prefix", "open", lambda c: M(spec.Queue.Declare(queue="amq." + c.queue), 1), "channel 403"),
    Abuse("delete-amq-direct", "open", lambda c: M(spec.Exchange.Delete(exchange="amq.direct"), 1), "channel 403"),
    Abuse("queue-redeclare-other-args", "open",
          lambda c: M(spec.Queue.Declare(queue=c.queue), 1) + M(spec.Queue.Declare(queue=c.queue, durable=True), 1),
          "channel 406"),
    Abuse("exclusive-redeclare-durable", "open", lambda c: _q(c) + _q(c, durable=True), "ok"),
    Abuse("max-length-negative", "open", lambda c: _q(c, arguments={"x-max-length": -1}), "channel 406"),
    Abuse("ttl-wrong-type", "open", lambda c: _q(c, arguments={"x-message-ttl": "soon"}), "channel 406"),
    Abuse("qos-prefetch-size", "open", lambda c: M(spec.Basic.Qos(prefetch_size=c.rng.randrange(1, 1 << 20)), 1),
          "connection 540"),
    Abuse("delete-if-empty-not-empty", "open",
          lambda c: _q(c) + publish(1, c.queue) + M(spec.Queue.Delete(queue=c.queue, if_empty=True), 1),
          "channel 406"),
    Abuse("duplicate-consumer-tag", "open",
          lambda c: _q(c) + M(spec.Basic.Consume(queue=c.queue, consumer_tag="t"), 1) * 2, "connection 530"),
    Abuse("tx-commit-without-select", "open", lambda c: M(spec.Tx.Commit(), 1), "channel 406"),
    Abuse("confirm-after-tx", "open", lambda c: M(spec.Tx.Select(), 1) + M(spec.Confirm.Select(), 1),
          "channel 406"),
    Abuse("channel-flow-off", "open", lambda c: M(spec.Channel.Flow(active=False), 1), "connection 540"),
    # RabbitMQ checks max_message_size once the body is complete, so it waits for the body here
    Abuse("header-above-max-message-size", "open",
          lambda c: M(spec.Basic.Publish(routing_key="k"), 1) + header(1, (1 << 29) + 1) + M(PROBE, 1),
          "connection 505|channel 406"),
    Abuse("max-priority-too-high", "open", lambda c: _q(c, arguments={"x-max-priority": 256}), "channel 406"),
    # RabbitMQ declares the queue; refusing the table as a frame or syntax error would do as well
    Abuse("arguments-nested-3000-deep", "open", lambda c: _deep_declare(c, 3000), "ok|connection 501|connection 502"),
    # -- work a client can make the broker do with little input: a field table or array decoder that
    # copies the rest of its input per item is quadratic in a frame's size
    Abuse("arguments-array-130k-x16", "open", lambda c: array_declare(c) * 16, "ok"),
    Abuse("headers-array-110k-x40", "open", lambda c: _array_headers(c, 40), "ok"),
    # -- loops a client can build: each message must be routed once, not forever ----------------------
    Abuse("exchange-binding-cycle", "open", lambda c: _exchange_cycle(c), "ok"),
    Abuse("dead-letter-cycle", "open",
          lambda c: _q(c, arguments={"x-message-ttl": 0, "x-dead-letter-exchange": "",
                                     "x-dead-letter-routing-key": c.queue}) + publish(1, c.queue), "ok"),
    Abuse("frames-after-channel-error", "open",
          lambda c: M(spec.Basic.Ack(delivery_tag=c.rng.randrange(1, 999)), 1) + publish(1, c.queue) * 2000,
          "channel 406"),
    Abuse("body-in-1-byte-frames", "open",
          lambda c: _q(c) + M(spec.Basic.Publish(routing_key=c.queue), 1) + header(1, 20000)
          + body(1, b"b") * 20000, "ok"),
    # -- content frames out of place -----------------------------------------------------------------
    Abuse("header-without-publish", "open", lambda c: header(1, 3), "connection 505"),
    Abuse("body-without-header", "open", lambda c: body(1, b"abc"), "connection 505"),
    Abuse("method-before-header", "open", lambda c: M(spec.Basic.Publish(routing_key="k"), 1) + M(PROBE, 1),
          "connection 505"),
    Abuse("method-before-body", "open", lambda c: M(spec.Basic.Publish(routing_key="k"), 1) + header(1, 3)
          + M(PROBE, 1), "connection 505"),
    Abuse("body-longer-than-header", "open",
          lambda c: M(spec.Basic.Publish(routing_key="k"), 1) + header(1, 2) + body(1, b"abcdef"),
          "connection 505|connection 501"),
    Abuse("body-after-empty-header", "open",
          lambda c: M(spec.Basic.Publish(routing_key="k"), 1) + header(1, 0) + body(1, b"a"), "connection 505"),
    Abuse("header-wrong-class", "open",
          lambda c: M(spec.Basic.Publish(routing_key="k"), 1) + header(1, 1, class_id=50) + body(1, b"a"),
          "connection 505"),
    Abuse("header-on-channel-0", "open", lambda c: header(0, 3), "connection 505"),
    Abuse("body-on-channel-0", "open", lambda c: body(0, b"abc"), "connection 505"),
    # -- channels ------------------------------------------------------------------------------------
    Abuse("channel-open-twice", "open", lambda c: M(spec.Channel.Open(), 1), "connection 504"),
    Abuse("method-on-unopened-channel", "open", lambda c: M(PROBE, c.rng.randrange(2, 2047)), "connection 504"),
    Abuse("channel-close-ok-without-close", "open", lambda c: M(spec.Channel.CloseOk(), 1), "connection 503"),
    Abuse("channel-open-above-channel-max", "open", lambda c: M(spec.Channel.Open(), 2048), "ok|connection 530"),
    Abuse("queue-method-on-channel-0", "open", lambda c: M(PROBE, 0), "connection 504"),
    Abuse("connection-method-on-channel-1", "open", lambda c: M(spec.Connection.Open(virtual_host="/"), 1),
          "connection 503"),
    # -- connection ----------------------------------------------------------------------------------
    Abuse("connection-open-twice", "open", lambda c: M(spec.Connection.Open(virtual_host="/"), 0),
          "connection 504"),
    Abuse("connection-close-ok-without-close", "open", lambda c: M(spec.Connection.CloseOk(), 0), "connection 504"),
    Abuse("heartbeat-on-channel-1", "open", lambda c: raw_frame(8, 1, b""), "connection 505"),
    Abuse("heartbeat-with-payload", "open", lambda c: raw_frame(8, 0, b"\x00" * c.rng.randrange(1, 16)), "connection 501"),
    Abuse("frame-type-unknown", "open", lambda c: raw_frame(c.rng.choice((4, 5, 6, 7, 9, 77)), 1, b"\x00" * 4),
          "connection 501"),
    Abuse("unknown-class", "open", lambda c: method_raw(1, c.rng.choice((5, 99, 1000, 65535)), 10),
          "eof|connection 540|connection 503"),
    Abuse("unknown-method", "open", lambda c: method_raw(1, 60, c.rng.choice((1, 99, 255, 65535))),
          "eof|connection 540|connection 503"),
    Abuse("method-args-truncated", "open", lambda c: method_raw(1, 50, 10, b"\x00\x00\x05qu"), "connection 501|connection 502"),
    Abuse("table-bad-type-tag", "open", lambda c: _declare_raw(c, b"\x01aZ\x00"),
          "eof|connection 501|connection 502"),
    Abuse("frame-above-frame-max", "open",
          lambda c: M(spec.Basic.Publish(routing_key="k"), 1) + header(1, 1 << 20) + body(1, b"x" * 131073),
          "connection 501"),
    # -- server-only methods sent by the client -----------------------------------------------------
    Abuse("server-method-connection-start", "open",
          lambda c: M(spec.Connection.Start(server_properties={}, mechanisms="PLAIN", locales="en_US"), 0),
          "connection 504"),
    Abuse("server-method-channel-open-ok", "open", lambda c: M(spec.Channel.OpenOk(), 1), "connection 503"),
    # basic.deliver carries content, so RabbitMQ waits for its header and gets the probe
    Abuse("server-method-basic-deliver", "open",
          lambda c: M(spec.Basic.Deliver(consumer_tag="x", delivery_tag=1, routing_key="k"), 1),
          "connection 505|connection 503"),
    Abuse("server-method-declare-ok", "open",
          lambda c: M(spec.Queue.DeclareOk(queue="x", message_count=0, consumer_count=0), 1), "connection 503"),
    Abuse("server-method-get-empty", "open", lambda c: M(spec.Basic.GetEmpty(), 1), "connection 503"),
    # -- handshake -----------------------------------------------------------------------------------
    Abuse("method-before-protocol-header", "raw", lambda c: M(PROBE, 0), "eof"),
    Abuse("protocol-header-0-10", "raw", lambda c: b"AMQP\x01\x01\x00\x0a", "eof"),
    Abuse("open-missing-vhost", "tuned", lambda c: M(spec.Connection.Open(virtual_host=c.queue), 0),
          "connection 530"),
    Abuse("channel-open-before-connection-open", "tuned", lambda c: M(spec.Channel.Open(), 1), "connection 505"),
    Abuse("tune-ok-twice", "tuned", lambda c: M(spec.Connection.TuneOk(channel_max=10, frame_max=4096), 0),
          "connection 504"),
]


@dataclass
class CaseOutcome:
    case: str
    result: str  # pass | wrong (an answer, not the expected one) | hang | refused
    seconds: float
    detail: str = ""
    extra: dict = field(default_factory=dict)  # abuse: "answer", what arrived first


def _abuse_outcome(case: Abuse, answer: str, seconds: float, detail: str) -> CaseOutcome:
    result = answer if answer in ("hang", "refused") else "pass" if answer in case.expect.split("|") else "wrong"
    return CaseOutcome(case.name, result, seconds, detail, {"answer": answer})


def _connect_tuned(host: str, port: int) -> Client:
    cl = Client(host, port, timeout=BOUND)
    cl.sock = socket.create_connection((host, port), timeout=BOUND)
    cl.sock.sendall(pheader.ProtocolHeader().marshal())
    cl.wait_method(0, spec.Connection.Start)
    cl.send_method(0, spec.Connection.StartOk(client_properties={"product": "abuse"}, mechanism="PLAIN",
                                              response="\0guest\0guest", locale="en_US"))
    tune = cl.wait_method(0, spec.Connection.Tune)
    cl.frame_max = 131072
    cl.send_method(0, spec.Connection.TuneOk(channel_max=tune.channel_max, frame_max=131072, heartbeat=0))
    return cl


def first_answer(cl: RawClient, deadline: float, close_expected: bool) -> tuple[str, str]:
    """Read until channel.close, connection.close, the probe's declare-ok or EOF; answer the closes.

    The probe may be answered before the close that an earlier frame earned (RabbitMQ's reader closes
    for an unopened channel after channel 1 has answered): when a close is expected, an "ok" is only
    the answer if no close follows within OK_GRACE seconds."""
    ok_at = None
    while True:
        left = deadline - time.monotonic()
        if ok_at is not None:
            left = min(left, ok_at + OK_GRACE - time.monotonic())
            if left <= 0:
                return "ok", ""
        if left <= 0:
            return "hang", ""
        try:
            f = cl.read_frame(timeout=left)
        except ConnectionClosedError:
            return "eof", ""
        except TimeoutError:
            continue
        if f.type == -1:  # the server's own protocol header: it refused ours, EOF follows
            continue
        m = f.method
        if isinstance(m, spec.Channel.Close):
            cl.send_method(f.channel, spec.Channel.CloseOk())
            return f"channel {m.reply_code}", m.reply_text
        if isinstance(m, spec.Connection.Close):
            cl.send_method(0, spec.Connection.CloseOk())
            return f"connection {m.reply_code}", m.reply_text
        if isinstance(m, spec.Exchange.DeclareOk):
            if not close_expected:
                return "ok", ""
            ok_at = time.monotonic()


def run_abuse(host: str, port: int, case: Abuse, rng: random.Random, tag: str) -> CaseOutcome:
    ctx = Ctx(rng, f"abuse-{tag}-{case.name}")
    started = time.monotonic()
    cl: RawClient | None = None
    try:
        try:
            if case.state == "raw":
                cl = Client(host, port, timeout=BOUND)
                cl.sock = socket.create_connection((host, port), timeout=BOUND)
            elif case.state == "tuned":
                cl = _connect_tuned(host, port)
            else:
                cl = Client(host, port, timeout=BOUND).connect()
                cl.open_channel(1)
        except (OSError, AssertionError, ConnectionClosedError) as e:
            return _abuse_outcome(case, "refused", time.monotonic() - started, repr(e))
        started = time.monotonic()
        try:
            cl.send_raw(case.frames(ctx) + (M(PROBE, 1) if case.state == "open" else b""))
        except OSError:
            pass  # the broker may close before reading everything: the answer says what happened
        answer, text = first_answer(cl, started + BOUND, "ok" not in case.expect.split("|"))
        seconds = time.monotonic() - started
        if answer.startswith("connection"):
            # after close-ok the broker must drop the socket, and not keep it open
            try:
                cl.expect_eof(timeout=BOUND)
            except TimeoutError:
                answer, text = "hang", f"socket still open {BOUND:g} s after close-ok ({answer})"
        elif answer.startswith("channel") or answer == "ok":
            # the connection outlives a channel error: a new channel answers the probe
            try:
                cl.send_method(3, spec.Channel.Open())
                cl.wait_method(3, spec.Channel.OpenOk, timeout=BOUND)
                cl.send_method(3, spec.Queue.Delete(queue=ctx.queue))
                cl.wait_method(3, spec.Queue.DeleteOk, timeout=BOUND)
            except (AssertionError, ConnectionClosedError, OSError) as e:
                answer, text = "hang", f"connection unusable after {answer}: {e!r}"
        return _abuse_outcome(case, answer, seconds, text)
    finally:
        if cl is not None:
            cl.close()


# -------------------------------------------------------------------------------------------------
# Floods: asyncio clients, so that a thousand connections cost the client little


class FloodError(Exception):
    pass


FLOOD_ERRORS = (OSError, FloodError, asyncio.IncompleteReadError)  # TimeoutError is an OSError


@dataclass
class AsyncConn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    channel_max: int = 0

    def send(self, *frames: bytes) -> None:
        self.writer.write(b"".join(frames))

    async def frame(self):
        hdr = await self.reader.readexactly(7)
        ftype, channel, size = struct.unpack(">BHI", hdr)
        payload = await self.reader.readexactly(size + 1)
        if ftype != 1:  # content or heartbeat: the payload itself
            return ftype, channel, payload[:-1]
        m = pframe.unmarshal(hdr + payload)[2]
        if isinstance(m, spec.Connection.Close):
            raise FloodError(f"connection.close {m.reply_code} {m.reply_text}")
        if isinstance(m, spec.Channel.Close):
            raise FloodError(f"channel.close {m.reply_code} {m.reply_text}")
        return ftype, channel, m

    async def expect(self, cls, count: int = 1) -> list:
        got = []
        while len(got) < count:
            _t, _ch, m = await self.frame()
            if isinstance(m, cls):
                got.append(m)
        return got

    async def close(self) -> None:
        try:
            self.send(M(spec.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0), 0))
            await asyncio.wait_for(self.expect(spec.Connection.CloseOk), BOUND)
        except FLOOD_ERRORS:
            pass
        finally:
            self.writer.close()


async def aopen(host: str, port: int, channel_max: int = 0, channel: bool = True) -> AsyncConn:
    """A connection (and channel 1) within BOUND seconds, or TimeoutError. It announces the
    connection.blocked capability (the memory family's publisher waits while blocked)."""
    async def go() -> AsyncConn:
        r, w = await asyncio.open_connection(host, port, limit=1 << 20)
        c = AsyncConn(r, w)
        c.send(pheader.ProtocolHeader().marshal())
        await c.expect(spec.Connection.Start)
        c.send(M(spec.Connection.StartOk(client_properties={"product": "flood",
                                                            "capabilities": {"connection.blocked": True}},
                                         mechanism="PLAIN", response="\0guest\0guest", locale="en_US"), 0))
        tune = (await c.expect(spec.Connection.Tune))[0]
        c.channel_max = min(x for x in (channel_max, tune.channel_max, 65535) if x)
        c.send(M(spec.Connection.TuneOk(channel_max=c.channel_max, frame_max=131072, heartbeat=0), 0),
               M(spec.Connection.Open(virtual_host="/"), 0), M(spec.Channel.Open(), 1) if channel else b"")
        await c.expect(spec.Connection.OpenOk)
        if channel:
            await c.expect(spec.Channel.OpenOk)
        return c
    return await asyncio.wait_for(go(), BOUND)


async def _many(n: int, concurrency: int, make) -> tuple[list, list[str]]:
    """n runs of make(), at most `concurrency` at a time: (what they returned, the errors)."""
    sem = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one():
        async with sem:
            try:
                return await make()
            except FLOOD_ERRORS as e:
                errors.append(repr(e))
    return [r for r in await asyncio.gather(*(one() for _ in range(n))) if r is not None], errors


def _verdict(errors: list[str]) -> str:
    return "hang" if any("Timeout" in e for e in errors) else "refused" if errors else "pass"


async def flood_connections(host: str, port: int, n: int, while_held: Callable[[], bool]) -> CaseOutcome:
    """n connections (each with a channel) opened at once and held; while_held (the canary) runs
    meanwhile and its verdict is extra["held_canary"]."""
    t0 = time.monotonic()
    conns, errors = await _many(n, n, lambda: aopen(host, port))
    opened = time.monotonic() - t0
    held_ok = await asyncio.to_thread(while_held)
    await asyncio.gather(*(c.close() for c in conns))
    detail = f"{len(conns)}/{n} open in {opened:.1f} s" + (f"; first error {errors[0]}" if errors else "")
    return CaseOutcome(f"connections-{n}", _verdict(errors), time.monotonic() - t0, detail,
                        {"open_seconds": opened, "held_canary": held_ok})


async def reconnect_storm(host: str, port: int, m: int) -> CaseOutcome:
    """m connections opened and closed again, 32 at a time."""
    async def one() -> bool:
        await (await aopen(host, port, channel=False)).close()
        return True
    t0 = time.monotonic()
    done, errors = await _many(m, 32, one)
    return CaseOutcome(f"reconnect-storm-{m}", _verdict(errors), time.monotonic() - t0,
                        f"{len(done)}/{m} open+close" + (f"; first error {errors[0]}" if errors else ""))


async def _one_conn(host: str, port: int, name: str, body_fn, channel_max: int = 0) -> CaseOutcome:
    t0 = time.monotonic()
    try:
        c = await aopen(host, port, channel_max=channel_max)
    except FLOOD_ERRORS as e:
        return CaseOutcome(name, "refused", time.monotonic() - t0, repr(e))
    try:
        answer, detail = await asyncio.wait_for(body_fn(c), 6 * BOUND)
    except TimeoutError:
        answer, detail = "hang", f"no answer within {6 * BOUND:g} s"
    except FLOOD_ERRORS as e:
        answer, detail = "wrong", repr(e)
    finally:
        await c.close()
    return CaseOutcome(name, answer, time.monotonic() - t0, detail)


async def channel_flood(host: str, port: int, channel_max: int) -> CaseOutcome:
    """Every channel up to the negotiated channel_max, then one past it: RabbitMQ closes with 530."""
    async def go(c: AsyncConn) -> tuple[str, str]:
        cm = c.channel_max
        c.send(*(M(spec.Channel.Open(), i) for i in range(2, cm + 1)))
        await asyncio.wait_for(c.expect(spec.Channel.OpenOk, cm - 1), BOUND * 3)
        c.send(M(spec.Channel.Open(), cm + 1))
        try:
            await asyncio.wait_for(c.expect(spec.Channel.OpenOk), BOUND)
        except FloodError as e:
            ok = str(e).startswith("connection.close 530")
            return ("pass" if ok else "wrong"), f"{cm} channels open; channel {cm + 1}: {e}"
        return "wrong", f"channel {cm + 1} opened past channel_max {cm}"
    return await _one_conn(host, port, f"channels-{channel_max}+1", go, channel_max)


async def consumer_flood(host: str, port: int, n: int, queue: str) -> CaseOutcome:
    """n consumers on one channel and one queue; n messages must reach n different consumers."""
    async def go(c: AsyncConn) -> tuple[str, str]:
        c.send(M(spec.Queue.Declare(queue=queue, exclusive=True), 1),
               *(M(spec.Basic.Consume(queue=queue, consumer_tag=f"c{i}", no_ack=True), 1) for i in range(n)))
        await c.expect(spec.Queue.DeclareOk)
        await asyncio.wait_for(c.expect(spec.Basic.ConsumeOk, n), BOUND * 3)
        c.send(*(publish(1, queue, b"m") for _ in range(n)))
        tags = {m.consumer_tag for m in await asyncio.wait_for(c.expect(spec.Basic.Deliver, n), BOUND * 3)}
        return ("pass" if len(tags) == n else "wrong"), f"{n} deliveries to {len(tags)} consumers"
    return await _one_conn(host, port, f"consumers-{n}", go)


async def queue_flood(host: str, port: int, n: int, prefix: str) -> CaseOutcome:
    """n exclusive queues declared pipelined on one channel, each bound to amq.direct; gone at close."""
    async def go(c: AsyncConn) -> tuple[str, str]:
        c.send(*(M(spec.Queue.Declare(queue=f"{prefix}-{i}", exclusive=True), 1) for i in range(n)))
        c.send(*(M(spec.Queue.Bind(queue=f"{prefix}-{i}", exchange="amq.direct", routing_key=prefix), 1)
                 for i in range(n)))
        await asyncio.wait_for(c.expect(spec.Queue.DeclareOk, n), BOUND * 3)
        await asyncio.wait_for(c.expect(spec.Queue.BindOk, n), BOUND * 3)
        # one publish fans out to every queue
        c.send(publish(1, prefix, b"f", exchange="amq.direct"), M(spec.Basic.Get(queue=f"{prefix}-{n - 1}"), 1))
        got = await asyncio.wait_for(c.expect(spec.Basic.GetOk | spec.Basic.GetEmpty), BOUND)
        return ("pass" if isinstance(got[0], spec.Basic.GetOk) else "wrong"), f"{n} queues declared and bound"
    return await _one_conn(host, port, f"queues-{n}", go)


def flood_family(host: str, port: int, tag: str, sizes: dict, canary: Callable[[], bool],
                 after_case: Callable[[CaseOutcome], None]) -> list[CaseOutcome]:
    """The flood cases in order; after_case runs (the canary, liveness) after each."""
    cases = [
        lambda: flood_connections(host, port, sizes["connections"], canary),
        lambda: reconnect_storm(host, port, sizes["reconnects"]),
        lambda: channel_flood(host, port, sizes["channel_max"]),
        lambda: consumer_flood(host, port, sizes["consumers"], f"flood-{tag}-consumers"),
        lambda: queue_flood(host, port, sizes["queues"], f"flood-{tag}-q"),
    ]
    outcomes = []
    for make in cases:
        o = asyncio.run(make())
        after_case(o)
        outcomes.append(o)
    return outcomes


# -------------------------------------------------------------------------------------------------
# Memory pressure: a transient backlog larger than the watermark, no consumer until it is all in


async def _pump(c: AsyncConn, state: dict, frames: asyncio.Queue) -> None:
    """The connection's only reader: connection.blocked/unblocked are noted in state, everything else
    (methods, content) is queued in order; an error (a close, EOF) is queued last."""
    try:
        while True:
            f = await c.frame()
            if isinstance(f[2], spec.Connection.Blocked):
                state["blocked_at"] = time.monotonic()
                state["blocked_times"] += 1
            elif isinstance(f[2], spec.Connection.Unblocked):
                state["blocked_seconds"] += time.monotonic() - state.pop("blocked_at", time.monotonic())
            else:
                frames.put_nowait(f)
    except FLOOD_ERRORS as e:
        frames.put_nowait(e)


async def transient_backlog(host: str, port: int, queue: str, total: int, size: int, stall: float,
                            seed: int, phase: Callable[[str], None] = lambda _: None) -> CaseOutcome:
    """`total` bytes of `size`-byte non-persistent messages into one queue with no consumer, sending
    nothing while connection.blocked (and waiting on TCP backpressure); then a passive declare must count
    them all, every message is consumed and checked (index and seeded content), and the queue deleted.
    "hang": no progress for `stall` seconds."""
    t0 = time.monotonic()
    n = max(1, total // size)
    name = f"transient-backlog-{total >> 20}MB"
    pattern = random.Random(seed).randbytes(size)
    state = {"blocked_times": 0, "blocked_seconds": 0.0, "published": 0, "consumed": 0}
    try:
        c = await aopen(host, port)
    except FLOOD_ERRORS as e:
        return CaseOutcome(name, "refused", time.monotonic() - t0, repr(e))
    frames: asyncio.Queue = asyncio.Queue()
    pump = asyncio.ensure_future(_pump(c, state, frames))

    async def next_frame() -> tuple:
        f = await asyncio.wait_for(frames.get(), stall)
        if isinstance(f, Exception):
            raise f
        return f

    async def next_method(cls):
        while not isinstance(m := (await next_frame())[2], cls):
            pass
        return m
    try:
        c.send(M(spec.Queue.Declare(queue=queue), 1), M(spec.Queue.Purge(queue=queue), 1))
        await next_method(spec.Queue.PurgeOk)
        pub = M(spec.Basic.Publish(exchange="", routing_key=queue), 1)
        hdr = raw_frame(2, 1, header_payload(size, encode_properties(delivery_mode=1)))
        chunk = 131072 - 8
        for i in range(n):
            b = struct.pack(">Q", i) + pattern[8:]
            c.send(pub, hdr, *(body(1, b[j:j + chunk]) for j in range(0, size, chunk)))
            state["published"] = i + 1
            # drain() waits while the broker does not read (blocked, or in flow): bounded by `stall`
            await asyncio.wait_for(c.writer.drain(), stall)
            while "blocked_at" in state:  # honour connection.blocked: send nothing until unblocked
                if time.monotonic() - state["blocked_at"] > stall or not frames.empty():
                    raise TimeoutError("blocked")
                await asyncio.sleep(0.02)
            if not frames.empty():
                raise FloodError(f"unexpected while publishing: {await next_frame()}")
        published = time.monotonic() - t0
        phase("publishing")  # the caller notes the peak RSS of each phase
        # RabbitMQ's count can trail the publishes it has read by a few messages: ask until it is n
        for _ in range(int(stall * 10)):
            c.send(M(spec.Queue.Declare(queue=queue, passive=True), 1))
            if (count := (await next_method(spec.Queue.DeclareOk)).message_count) == n:
                break
            await asyncio.sleep(0.1)
        else:
            return CaseOutcome(name, "wrong", time.monotonic() - t0, f"{count} of {n} messages queued", state)
        c.send(M(spec.Basic.Consume(queue=queue, no_ack=True), 1))
        for i in range(n):
            await next_method(spec.Basic.Deliver)
            await next_frame()  # the content header
            parts: list[bytes] = []
            while sum(map(len, parts)) < size:
                parts.append((await next_frame())[2])
            data = b"".join(parts)
            if data[:8] != struct.pack(">Q", i) or data[8:] != pattern[8:]:
                return CaseOutcome(name, "wrong", time.monotonic() - t0,
                                    f"message {i}: index {data[:8].hex()}, {len(data)} bytes, content "
                                    f"{'intact' if data[8:] == pattern[8:] else 'corrupted'}", state)
            state["consumed"] = i + 1
        phase("consuming")
        c.send(M(spec.Queue.Delete(queue=queue), 1))
        await next_method(spec.Queue.DeleteOk)
        return CaseOutcome(name, "pass", time.monotonic() - t0,
                            f"{n} x {size >> 10} KiB published in {published:.1f} s (blocked "
                            f"{state['blocked_times']}x, {state['blocked_seconds']:.1f} s), all consumed intact",
                            {"published_seconds": published, **state})
    except TimeoutError:
        blocked = "blocked" if "blocked_at" in state else "not blocked"
        return CaseOutcome(name, "hang", time.monotonic() - t0,
                            f"no progress for {stall:g} s ({blocked}) after {state['published']} of {n} "
                            f"published, {state['consumed']} consumed", state)
    except FLOOD_ERRORS as e:
        return CaseOutcome(name, "wrong", time.monotonic() - t0, repr(e), state)
    finally:
        pump.cancel()
        c.writer.close()
        with contextlib.suppress(Exception):  # whatever happened, the backlog must not stay
            d = await aopen(host, port)
            d.send(M(spec.Queue.Delete(queue=queue), 1))
            await asyncio.wait_for(d.expect(spec.Queue.DeleteOk), stall)
            await d.close()
