"""5,000 concurrent AMQP connections, each with a channel open, held at once (issue 15: "show 5,000
concurrent connections on a raised limit"); amqpd side by side with RabbitMQ.

Per broker: the time to open them all (TCP connect + full handshake + channel.open), the broker's RSS
before and with them open (RabbitMQ: the beam.smp process) and so the memory per connection, its CPU
time and open file descriptors, the publish -> consume round-trip latency of a canary connection while
all of them are open (and the time it takes the canary to connect), the time to close them all
(connection.close, close-ok), the broker's RSS afterwards, and whether it still answers a new client.

The client is not the bottleneck: each connection is a bare asyncio.Protocol (uvloop when installed)
whose handshake frames are marshalled once by pamqp; the connections are spread over --procs client
processes (2 by default), and at most --in-flight handshakes per process are under way at a time, so
the broker's accept backlog is not what is measured. The file descriptor limit (20,000 on this
machine) is raised to its hard limit in every process; amqpd inherits it (it raises its own soft limit
to the hard one at start; no configuration needed). RabbitMQ keeps the limit it was started with.

    python3 bench/connection_flood.py --start-amqpd --compare-rabbitmq
    python3 bench/connection_flood.py --url amqp://guest:guest@127.0.0.1:5672/%2F --connections 800
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import multiprocessing as mp
import os
import resource
import statistics
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from amqpclient import BenchError, parse_url  # noqa: E402
from pamqp import commands as spec  # noqa: E402
from pamqp import frame as pframe  # noqa: E402
from pamqp import header as pheader  # noqa: E402

M = pframe.marshal
HDR = struct.Struct(">BHI")
CM = struct.Struct(">HH")
START, TUNE, OPEN_OK, CLOSE, CLOSE_OK = (10, 10), (10, 30), (10, 41), (10, 50), (10, 51)
CHANNEL_OPEN_OK, CHANNEL_CLOSE = (20, 11), (20, 40)
DECLARE_OK, CONSUME_OK, DELIVER = (50, 11), (60, 21), (60, 60)


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Conn(asyncio.Protocol):
    """One connection: the handshake and channel.open driven from data_received, then idle until close."""

    def __init__(self, user: str, password: str, vhost: str, on_method=None) -> None:
        loop = asyncio.get_running_loop()
        self.opened, self.closed = loop.create_future(), loop.create_future()
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.start_ok = M(spec.Connection.StartOk(client_properties={"product": "connection_flood"},
                                                  mechanism="PLAIN", response=f"\0{user}\0{password}",
                                                  locale="en_US"), 0)
        self.vhost = vhost
        self.error = ""
        self.opened_at = 0.0
        self.on_method = on_method  # (class, method), payload -> None, once open (the canary)

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(pheader.ProtocolHeader().marshal())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= 7:
            ftype, channel, size = HDR.unpack_from(self.buf)
            if len(self.buf) < size + 8:
                return
            frame = bytes(self.buf[:size + 8])
            del self.buf[:size + 8]
            if ftype == 1:
                self.method(CM.unpack_from(frame, 7), frame)
            elif self.on_method is not None and ftype == 3:
                self.on_method((0, ftype), frame)

    def method(self, cm: tuple[int, int], frame: bytes) -> None:
        t = self.transport
        if cm == START:
            t.write(self.start_ok)
        elif cm == TUNE:
            tune = pframe.unmarshal(frame)[2]
            t.write(M(spec.Connection.TuneOk(channel_max=tune.channel_max, frame_max=min(tune.frame_max or 131072,
                                                                                          131072), heartbeat=0), 0)
                    + M(spec.Connection.Open(virtual_host=self.vhost), 0) + M(spec.Channel.Open(), 1))
        elif cm == CHANNEL_OPEN_OK:
            if not self.opened.done():
                self.opened.set_result(time.monotonic())
                self.opened_at = self.opened.result()
        elif cm in (CLOSE, CHANNEL_CLOSE):
            m = pframe.unmarshal(frame)[2]
            self.fail(f"{m.reply_code} {m.reply_text}")
            t.write(M(spec.Connection.CloseOk(), 0))
        elif cm == CLOSE_OK:
            t.close()
        elif cm != OPEN_OK and self.on_method is not None:
            self.on_method(cm, frame)

    def fail(self, why: str) -> None:
        # futures carry no exceptions (one nobody awaits any more would be logged): error says it
        self.error = self.error or why
        if not self.opened.done():
            self.opened.set_result(None)

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.fail(f"connection lost during the handshake: {exc or 'closed by the broker'}")
        if not self.closed.done():
            self.closed.set_result(time.monotonic())

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(M(spec.Connection.Close(reply_code=200, reply_text="bye", class_id=0,
                                                         method_id=0), 0))


async def connect(url: str, timeout: float, on_method=None) -> Conn:
    host, port, user, password, vhost = parse_url(url)
    loop = asyncio.get_running_loop()
    _t, conn = await asyncio.wait_for(loop.create_connection(lambda: Conn(user, password, vhost, on_method),
                                                             host, port), timeout)
    try:
        await asyncio.wait_for(asyncio.shield(conn.opened), timeout)
        if conn.error:
            raise BenchError(conn.error)
    except BaseException:
        conn.transport.close()
        raise
    return conn


def error_text(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    return f"{type(e).__name__}: {e}"[:120]


# -------------------------------------------------------------------------------------------------
# Client processes: open their share when told, hold it, close it when told


def child(url: str, n: int, in_flight: int, timeout: float, deadline: float, pipe) -> None:
    raise_nofile()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(child_main(url, n, in_flight, timeout, deadline, pipe))


async def child_main(url: str, n: int, in_flight: int, timeout: float, deadline: float, pipe) -> None:
    loop = asyncio.get_running_loop()
    recv = lambda: loop.run_in_executor(None, pipe.recv)  # noqa: E731
    assert await recv() == "open"
    sem = asyncio.Semaphore(in_flight)
    errors: collections.Counter = collections.Counter()

    async def one() -> Conn | None:
        async with sem:
            try:
                return await connect(url, timeout)
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors[error_text(e)] += 1
                return None
    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    _done, pending = await asyncio.wait(tasks, timeout=deadline)
    for t in pending:  # a broker that stops accepting must not keep the run going for n x timeout
        t.cancel()
    if pending:
        errors[f"not attempted or not open within --open-deadline {deadline:g} s"] += len(pending)
        await asyncio.wait(pending)
    conns = [t.result() for t in tasks if not t.cancelled() and t.result() is not None]
    last = max((c.opened_at for c in conns), default=time.monotonic())
    pipe.send({"opened": len(conns), "last": last, "errors": dict(errors)})
    assert await recv() == "close"
    t0 = time.monotonic()
    for c in conns:
        c.close()
    lost = sum(1 for c in conns if c.closed.done())  # dropped by the broker while held
    done, pending = await asyncio.wait([c.closed for c in conns], timeout=timeout) if conns else (set(), set())
    for c in conns:
        c.transport.close()
    pipe.send({"closed": len(done), "not_closed": len(pending), "lost_while_held": lost,
               "last": max((f.result() for f in done), default=t0)})


# -------------------------------------------------------------------------------------------------
# The canary, and one broker's measurement


async def canary(url: str, round_trips: int, timeout: float) -> dict:
    """Connect (timed), declare an exclusive queue, consume from it, then publish -> deliver round trips."""
    events: asyncio.Queue = asyncio.Queue()
    t0 = time.monotonic()
    c = await connect(url, timeout, on_method=lambda cm, frame: events.put_nowait(cm))
    connect_s = time.monotonic() - t0

    async def expect(cm) -> None:
        while await asyncio.wait_for(events.get(), timeout) != cm:
            pass
    try:
        c.transport.write(M(spec.Queue.Declare(queue="connection-flood-canary", exclusive=True), 1)
                          + M(spec.Basic.Consume(queue="connection-flood-canary", no_ack=True), 1))
        await expect(DECLARE_OK)
        await expect(CONSUME_OK)
        msg = (M(spec.Basic.Publish(routing_key="connection-flood-canary"), 1)
               + pframe.marshal(pheader.ContentHeader(0, 6, spec.Basic.Properties()), 1)
               + HDR.pack(3, 1, 6) + b"canary\xce")
        rtts = []
        for _ in range(round_trips):
            t = time.monotonic()
            c.transport.write(msg)
            await expect((0, 3))  # the body frame of the delivery
            rtts.append(time.monotonic() - t)
        rtts.sort()
        return {"connect": connect_s, "p50": statistics.median(rtts), "p99": rtts[int(len(rtts) * 0.99) - 1],
                "max": rtts[-1]}
    finally:
        c.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(c.closed), timeout)
        c.transport.close()


def try_canary(url: str, round_trips: int, timeout: float) -> dict:
    try:
        return asyncio.run(canary(url, round_trips, timeout))
    except Exception as e:  # noqa: BLE001 - reported as the canary's result
        return {"error": error_text(e)}


def proc_stats(pid: int | None) -> dict:
    if not pid:
        return {"rss": 0, "cpu": 0.0, "fds": 0}
    rss = harness.proc_mem(pid)[0]
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        cpu, fds = 0.0, 0
    return {"rss": rss, "cpu": cpu, "fds": fds}


def measure(label: str, url: str, pid: int | None, n: int, a) -> dict:
    r: dict = {"label": label, "pid": pid, "n": n}
    r["idle"] = try_canary(url, a.round_trips, a.timeout)
    time.sleep(0.5)
    before = proc_stats(pid)
    ctx = mp.get_context("spawn")
    shares = [n // a.procs + (1 if i < n % a.procs else 0) for i in range(a.procs)]
    pipes, procs = [], []
    for share in shares:
        mine, theirs = ctx.Pipe()
        p = ctx.Process(target=child, args=(url, share, a.in_flight, a.timeout, a.open_deadline, theirs),
                        daemon=True)
        p.start()
        pipes.append(mine)
        procs.append(p)
    try:
        time.sleep(1.0)  # the interpreters are up before the clock starts
        t0 = time.monotonic()
        for p in pipes:
            p.send("open")
        opened = [p.recv() if p.poll(a.open_deadline + a.timeout + 30) else None for p in pipes]
        if None in opened:
            raise BenchError(f"{label}: a client process did not report")
        r["opened"] = sum(o["opened"] for o in opened)
        r["open_s"] = max(o["last"] for o in opened) - t0
        r["errors"] = collections.Counter()
        for o in opened:
            r["errors"].update(o["errors"])
        harness.log(f"{label}: {r['opened']}/{n} open in {r['open_s']:.1f} s"
                    + (f"; errors {dict(r['errors'])}" if r["errors"] else ""))
        time.sleep(a.settle)
        r["held"] = proc_stats(pid)
        r["held_canary"] = try_canary(url, a.round_trips, a.timeout)
        harness.log(f"{label}: canary with them open: {r['held_canary']}")
        t1 = time.monotonic()
        for p in pipes:
            p.send("close")
        closed = [p.recv() if p.poll(a.timeout + 30) else None for p in pipes]
        if None in closed:
            raise BenchError(f"{label}: a client process did not report the close")
        r["close_s"] = max(c["last"] for c in closed) - t1
        r["closed"] = sum(c["closed"] for c in closed)
        r["lost_while_held"] = sum(c["lost_while_held"] for c in closed)
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    time.sleep(a.settle)
    r["after"] = proc_stats(pid)
    r["after_canary"] = try_canary(url, a.round_trips, a.timeout)
    r["before"] = before
    return r


# -------------------------------------------------------------------------------------------------
# Output


def table(results: list[dict]) -> None:
    def mb(x: int) -> str:
        return f"{x / harness.MIB:,.0f} MiB" if x else "n/a"

    def lat(c: dict, key: str) -> str:
        return c["error"] if "error" in c else f"{c[key] * 1000:.1f} ms"

    rows = [
        ("connections open", lambda r: f"{r['opened']:,} of {r['n']:,}"),
        ("failed to open", lambda r: ", ".join(f"{v} {k}" for k, v in r["errors"].items()) or "0"),
        ("time to open all", lambda r: f"{r['open_s']:.1f} s ({r['opened'] / max(r['open_s'], 1e-9):,.0f}/s)"),
        ("broker RSS before", lambda r: mb(r["before"]["rss"])),
        ("broker RSS with all open", lambda r: mb(r["held"]["rss"])),
        ("RSS per connection", lambda r: f"{(r['held']['rss'] - r['before']['rss']) / max(r['opened'], 1) / 1024:.0f}"
                                         " KiB" if r["before"]["rss"] else "n/a"),
        ("broker CPU to open them", lambda r: f"{r['held']['cpu'] - r['before']['cpu']:.1f} s"),
        ("broker fds with all open", lambda r: f"{r['held']['fds']:,}"),
        ("canary connect, idle", lambda r: lat(r["idle"], "connect")),
        ("canary connect, all open", lambda r: lat(r["held_canary"], "connect")),
        ("canary round trip p50, idle", lambda r: lat(r["idle"], "p50")),
        ("canary round trip p50, all open", lambda r: lat(r["held_canary"], "p50")),
        ("canary round trip p99 / max, all open",
         lambda r: f"{lat(r['held_canary'], 'p99')} / {lat(r['held_canary'], 'max')}"),
        ("dropped by the broker while held", lambda r: f"{r['lost_while_held']}"),
        ("time to close all", lambda r: f"{r['close_s']:.1f} s ({r['closed']:,} close-ok)"),
        ("broker RSS after close", lambda r: mb(r["after"]["rss"])),
        ("answers afterwards (round trip)", lambda r: "no: " + r["after_canary"]["error"]
         if "error" in r["after_canary"] else f"yes ({lat(r['after_canary'], 'p50')})"),
    ]
    w = max(len(k) for k, _ in rows)
    cols = [r["label"] for r in results]
    cw = max(24, *(len(f(r)) for _k, f in rows for r in results))
    harness.out(f"{'':{w}}  " + "  ".join(f"{c:<{cw}}" for c in cols))
    for k, f in rows:
        harness.out(f"{k:{w}}  " + "  ".join(f"{f(r):<{cw}}" for r in results))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/%2F", help="the broker (without --start-amqpd)")
    ap.add_argument("--start-amqpd", action="store_true", help="start an amqpd of our own (default configuration)")
    ap.add_argument("--compare-rabbitmq", action="store_true", help="also measure RabbitMQ at --rabbitmq-url")
    ap.add_argument("--rabbitmq-url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    ap.add_argument("--in-flight", type=int, default=100, help="handshakes under way at once, per process")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds for one connect + handshake")
    ap.add_argument("--round-trips", type=int, default=200, help="canary publish -> deliver round trips")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds before memory is read")
    ap.add_argument("--open-deadline", type=float, default=120.0,
                    help="seconds after which connections not yet open are given up")
    ap.add_argument("--rounds", type=int, default=1, help="open/hold/close cycles per broker (a leak shows as "
                    "RSS growing from round to round)")
    ap.add_argument("--rabbitmq-connections", type=int,
                    help="connections for RabbitMQ (default: --connections, capped below its socket limit)")
    ap.add_argument("--keep-data", action="store_true")
    a = ap.parse_args()
    nofile = raise_nofile()
    if nofile < a.connections // a.procs + 100:
        ap.error(f"the file descriptor limit ({nofile}) is too low for {a.connections} connections")

    def rounds(label: str, url: str, pid: int | None, n: int) -> list[dict]:
        return [measure(label if i == 0 else f"{label} #{i + 1}", url, pid, n, a) for i in range(a.rounds)]

    def body(stack: contextlib.ExitStack) -> int:
        results = []
        if a.start_amqpd:
            server = harness.AmqpdServer(a.keep_data, prefix="amqpd-connflood-")
            stack.callback(server.stop)
            server.start()
            harness.log(f"amqpd {harness.amqpd_version()} pid {server.proc.pid} on port {server.port}")
            results += rounds("amqpd", server.url, server.proc.pid, a.connections)
            if not server.alive:
                harness.log("amqpd exited during the run:\n" + server.log_tail())
        else:
            _host, port = harness.require_broker(a.url)
            results += rounds("broker", a.url, harness.listener_pid(port), a.connections)
        if a.compare_rabbitmq and harness.rabbitmq_answers(a.rabbitmq_url):
            pid = harness.listener_pid(parse_url(a.rabbitmq_url)[1])
            n = a.rabbitmq_connections or a.connections
            if pid and not a.rabbitmq_connections:
                with open(f"/proc/{pid}/limits") as f:
                    limit = int(next(ln.split()[3] for ln in f if ln.startswith("Max open files")))
                # RabbitMQ 3.10 keeps 100 descriptors in reserve and allows sockets 90% of the rest. Past
                # that its acceptors fail with emfile until their supervisor gives up: the listener then
                # resets every new connection, even once the others are closed, until RabbitMQ restarts
                # (seen with 5,000 against a limit of 1,024). So stay below it unless told otherwise.
                cap = int((limit - 100) * 0.9) - 20
                if n > cap:
                    harness.log(f"rabbitmq: open files limit {limit} allows ~{cap + 20} sockets; measuring {cap} "
                                "connections (--rabbitmq-connections N to insist)")
                    n = cap
            results += rounds("rabbitmq", a.rabbitmq_url, pid, n)
        table(results)
        return 0 if all(r["opened"] == r["n"] and "error" not in r["after_canary"] for r in results) else 1
    return harness.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
