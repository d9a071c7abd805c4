#!/usr/bin/env python3
"""Queue-feature benchmark: priority queues and TTL'd queues next to a plain queue.

Scenarios (each on a fresh exclusive queue, small transient messages on the default exchange):
  prefill/drain  publish N messages (random priorities 0-9 for the priority queue), wait until the
                 queue holds them all, then drain them with one consumer (prefetch 1000, acks every 500)
  flow           a publisher and a consumer at once, N messages end to end
for three queue kinds: plain, x-max-priority 10, and x-message-ttl 600000 (a TTL that never fires,
so what is measured is the bookkeeping a TTL'd queue does for every message).

It starts amqpd itself (python -m amqpd --bind 127.0.0.1 --port <free> --data-dir <tmp>) and, with
--compare-rabbitmq, runs the same against the broker at --rabbitmq-url. The client is lean (frames
pre-marshalled once with pamqp, deliveries counted with struct over the receive buffer) so that it is
not the bottleneck, but it shares the machine with the broker: compare figures from the same run.

    python bench/queue_features.py [-n 50000] [--compare-rabbitmq] [--rabbitmq-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sys
import time
import uuid

from pamqp import body as pbody
from pamqp import commands
from pamqp import frame as pframe
from pamqp import header as pheader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from amqpclient import ACK_FRAME, CHANNEL, DEFAULT_URL, FRAME_HEADER, U64, BenchError, parse_url  # noqa: E402
from harness import AmqpdServer  # noqa: E402

DELIVER = b"\x00\x3c\x00\x3c"

KINDS = {
    "plain": {},
    "priority": {"x-max-priority": 10},
    "ttl": {"x-message-ttl": 600_000},
}


class Client:
    """Just enough AMQP 0-9-1 for the benchmark: handshake, one channel, sync methods, raw frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()

    @classmethod
    async def open(cls, url: str) -> Client:
        host, port, user, password, vhost = parse_url(url)
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = cls(reader, writer)
        writer.write(b"AMQP\x00\x00\x09\x01")
        await c.expect(commands.Connection.Start)
        c.send(0, commands.Connection.StartOk(client_properties={"product": "amqpd-bench"}, mechanism="PLAIN",
                                              response=f"\0{user}\0{password}", locale="en_US"))
        tune = await c.expect(commands.Connection.Tune)
        c.send(0, commands.Connection.TuneOk(channel_max=16, frame_max=tune.frame_max, heartbeat=0))
        c.send(0, commands.Connection.Open(virtual_host=vhost))
        await c.expect(commands.Connection.OpenOk)
        c.send(CHANNEL, commands.Channel.Open())
        await c.expect(commands.Channel.OpenOk)
        return c

    def send(self, channel: int, method) -> None:
        self.writer.write(pframe.marshal(method, channel))

    async def frame(self) -> tuple[int, bytes]:
        while True:
            if len(self.buf) >= 7:
                ftype, _chan, size = FRAME_HEADER.unpack_from(self.buf, 0)
                if len(self.buf) >= size + 8:
                    payload = bytes(self.buf[7 : 7 + size])
                    del self.buf[: size + 8]
                    return ftype, payload
            data = await self.reader.read(1 << 20)
            if not data:
                raise ConnectionError("broker closed the connection")
            self.buf += data

    async def expect(self, cls):
        while True:
            ftype, payload = await self.frame()
            if ftype != 1:
                continue
            _, _, method = pframe.unmarshal(FRAME_HEADER.pack(1, 0, len(payload)) + payload + b"\xce")
            if isinstance(method, (commands.Connection.Close, commands.Channel.Close)):
                raise ConnectionError(f"{method.reply_code} {method.reply_text}")
            if isinstance(method, cls):
                return method

    async def declare(self, name: str, arguments: dict, passive: bool = False) -> int:
        self.send(CHANNEL, commands.Queue.Declare(queue=name, passive=passive, exclusive=not passive,
                                                  arguments=arguments))
        return (await self.expect(commands.Queue.DeclareOk)).message_count

    async def close(self) -> None:
        self.send(0, commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))
        try:
            await asyncio.wait_for(self.expect(commands.Connection.CloseOk), 5)
        except (TimeoutError, ConnectionError):
            pass
        self.writer.close()


def message_frames(queue: str, priority: int | None, size: int) -> bytes:
    body = b"x" * size
    props = commands.Basic.Properties(priority=priority) if priority is not None else commands.Basic.Properties()
    return (pframe.marshal(commands.Basic.Publish(exchange="", routing_key=queue), CHANNEL)
            + pframe.marshal(pheader.ContentHeader(0, size, props), CHANNEL)
            + pframe.marshal(pbody.ContentBody(body), CHANNEL))


async def publish(client: Client, frames: list[bytes], n: int, seed: int) -> None:
    rnd = random.Random(seed)
    pick = len(frames) > 1
    batch: list[bytes] = []
    for i in range(n):
        batch.append(frames[rnd.randrange(len(frames))] if pick else frames[0])
        if len(batch) == 500 or i == n - 1:
            client.writer.write(b"".join(batch))
            batch.clear()
            await client.writer.drain()


async def consume(client: Client, queue: str, n: int) -> None:
    """Consume n deliveries with prefetch 1000, acking every 500 (multiple)."""
    client.send(CHANNEL, commands.Basic.Qos(prefetch_count=1000))
    await client.expect(commands.Basic.QosOk)
    client.send(CHANNEL, commands.Basic.Consume(queue=queue, consumer_tag="bench"))
    await client.expect(commands.Basic.ConsumeOk)
    got = 0
    buf = client.buf
    reader = client.reader
    while got < n:
        pos, end = 0, len(buf)
        last_tag = 0
        while end - pos >= 7:
            ftype, _chan, size = FRAME_HEADER.unpack_from(buf, pos)
            if end - pos < size + 8:
                break
            if ftype == 1 and buf[pos + 7 : pos + 11] == DELIVER:
                got += 1
                tag_at = pos + 11 + 1 + buf[pos + 11]
                last_tag = U64.unpack_from(buf, tag_at)[0]
                if got % 500 == 0 or got == n:
                    client.writer.write(ACK_FRAME.pack(1, CHANNEL, 13, 60, 80, last_tag, 1, 0xCE))
            pos += size + 8
        del buf[:pos]
        if got >= n:
            break
        data = await reader.read(1 << 20)
        if not data:
            raise ConnectionError("broker closed the connection")
        buf += data
    client.send(CHANNEL, commands.Basic.Cancel(consumer_tag="bench"))


async def declare_kind(client: Client, queue: str, kind: str, size: int) -> list[bytes]:
    """Declare the queue of this kind; returns the frames of the messages to publish to it (one per
    priority for the priority queue)."""
    await client.declare(queue, KINDS[kind])
    prios = list(range(10)) if kind == "priority" else [None]
    return [message_frames(queue, p, size) for p in prios]


async def prefill_drain(url: str, kind: str, n: int, size: int) -> tuple[float, float]:
    client = await Client.open(url)
    try:
        queue = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
        frames = await declare_kind(client, queue, kind, size)
        t0 = time.perf_counter()
        await publish(client, frames, n, seed=1)
        while await client.declare(queue, {}, passive=True) < n:
            await asyncio.sleep(0.01)
        t1 = time.perf_counter()
        await consume(client, queue, n)
        t2 = time.perf_counter()
        return n / (t1 - t0), n / (t2 - t1)
    finally:
        await client.close()


async def flow(url: str, kind: str, n: int, size: int) -> float:
    pub, sub = await Client.open(url), await Client.open(url)
    try:
        queue = f"bench-flow-{kind}-{uuid.uuid4().hex[:8]}"
        frames = await declare_kind(sub, queue, kind, size)
        t0 = time.perf_counter()
        consumer = asyncio.ensure_future(consume(sub, queue, n))
        await publish(pub, frames, n, seed=2)
        await consumer
        return n / (time.perf_counter() - t0)
    finally:
        await pub.close()
        await sub.close()


async def run_all(url: str, n: int, size: int, kinds: list[str]) -> dict[str, tuple[float, float, float]]:
    results = {}
    for kind in kinds:
        fill, drain = await asyncio.wait_for(prefill_drain(url, kind, n, size), 300)
        rate = await asyncio.wait_for(flow(url, kind, n, size), 300)
        results[kind] = (fill, drain, rate)
    return results


def report(name: str, results: dict[str, tuple[float, float, float]]) -> None:
    print(f"\n{name}")
    print(f"  {'queue':<10} {'prefill msg/s':>14} {'drain msg/s':>12} {'flow msg/s':>11}   vs plain (drain, flow)")
    base = results.get("plain")
    for kind, (fill, drain, rate) in results.items():
        rel = f"{drain / base[1]:6.0%} {rate / base[2]:6.0%}" if base else ""
        print(f"  {kind:<10} {fill:>14,.0f} {drain:>12,.0f} {rate:>11,.0f}   {rel}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--messages", type=int, default=50_000)
    ap.add_argument("--size", type=int, default=16, help="body bytes")
    ap.add_argument("--compare-rabbitmq", action="store_true")
    ap.add_argument("--rabbitmq-url", default=DEFAULT_URL)
    ap.add_argument("--url", help="benchmark this broker instead of starting amqpd")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of: " + ", ".join(KINDS))
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        ap.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    print(f"{args.messages} messages of {args.size} bytes; priorities uniformly random 0-9 on the priority queue")
    if args.url:
        report(args.url, asyncio.run(run_all(args.url, args.messages, args.size, kinds)))
    else:
        server = AmqpdServer(keep=False, extra_args=("--log-level", "warning"))
        try:
            try:
                server.start()
            except BenchError:
                raise SystemExit("amqpd did not start" if server.alive else "amqpd exited before listening") from None
            report("amqpd", asyncio.run(run_all(server.url, args.messages, args.size, kinds)))
        finally:
            server.stop()
    if args.compare_rabbitmq:
        report(f"RabbitMQ ({args.rabbitmq_url})", asyncio.run(run_all(args.rabbitmq_url, args.messages, args.size, kinds)))


if __name__ == "__main__":
    main()
