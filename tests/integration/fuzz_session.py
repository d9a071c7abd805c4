"""A seeded robustness runner for AMQP brokers (issue 15): frame mutation, protocol abuse, connection
and channel floods and a transient backlog under a memory watermark, with a canary client checked after
every case, a bystander connection probed throughout, and the broker's RSS sampled.

Families (--families, all driven by --seed):
  frames  one complete client session per case with one frame mutated (flip, size, truncate, duplicate,
          junk, type, channel, drop, huge), then 200 KB of filler (so a frame left incomplete by a grown
          size field is completed with garbage and must be refused; not after a size above the frame
          limit, which must be refused from its header alone). The case is answered when the broker
          closes the socket, or answers our own connection.close with close-ok (we then close, as a
          client would); a connection.close from the broker gets close-ok, after which the broker must
          drop the socket. Nothing within --hang-after seconds: "hang". Cases run --workers at a time,
          the canary after each batch.
  abuse   well-framed methods in the wrong state, each expecting RabbitMQ 3.10's answer (abuse_cases.py).
  flood   N connections held at once, a reconnect storm, channels up to channel_max and one past it,
          thousands of consumers on one channel, a queue declare flood.
  memory  a transient backlog (default 300 MB of 100 KB messages) into one queue with no consumer; the
          broker must page it out and block the publisher rather than grow past its watermark; then it
          is consumed and checked message by message.

The canary connects, declares a queue, consumes and publishes, on a fresh connection and on one held for
the whole run, within 10 s. Summary: cases per family, deaths, hangs, wrong answers, canary failures,
the slowest answer, peak RSS against the watermark. Exit status 1 if anything failed.

    python tests/integration/fuzz_session.py --start-amqpd --families frames,abuse,flood,memory
    python tests/integration/fuzz_session.py --port 5672 --families frames,abuse,flood --pid "$(pgrep beam.smp)"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pamqp.commands as spec
from abuse_cases import BOUND, CASES, Client, flood_family, run_abuse, transient_backlog
from pamqp import frame as pamqp_frame
from pamqp import header as pamqp_header
from pamqp.body import ContentBody

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
FILLER = b"\x00" * 200_000
MUTATIONS = ("flip", "size", "truncate", "duplicate", "junk", "type", "channel", "drop", "huge")
MIB = 1 << 20


def session_frames(queue: str) -> list[bytes]:
    m = pamqp_frame.marshal
    body = b"fuzz-body"
    return [
        AMQP_HEADER,
        m(spec.Connection.StartOk(client_properties={"product": "fuzz", "capabilities": {}}, mechanism="PLAIN",
                                  response="\0guest\0guest", locale="en_US"), 0),
        m(spec.Connection.TuneOk(channel_max=2047, frame_max=131072, heartbeat=0), 0),
        m(spec.Connection.Open(virtual_host="/"), 0),
        m(spec.Channel.Open(), 1),
        # exclusive (the same length as auto-delete alone): gone with the connection on any broker
        m(spec.Queue.Declare(queue=queue, exclusive=True, auto_delete=True, arguments={"x-max-length": 10}), 1),
        m(spec.Basic.Publish(exchange="", routing_key=queue), 1),
        m(pamqp_header.ContentHeader(0, len(body), spec.Basic.Properties(headers={"k": "v"}, delivery_mode=1)), 1),
        m(ContentBody(body), 1),
        m(spec.Basic.Get(queue=queue, no_ack=True), 1),
        m(spec.Channel.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0), 1),
        m(spec.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0), 0),
    ]


def mutate(frames: list[bytes], rng: random.Random) -> tuple[list[bytes], str]:
    frames = list(frames)
    i = rng.randrange(1, len(frames))  # the protocol header is fuzzed elsewhere (tests)
    f = bytearray(frames[i])
    kind = rng.choice(MUTATIONS)
    if kind == "flip":
        pos = rng.randrange(len(f))
        f[pos] = rng.randrange(256)
    elif kind == "size":
        f[3:7] = struct.pack(">I", rng.choice((0, 1, len(f) - 8 + rng.randrange(1, 64), rng.randrange(1 << 32))))
    elif kind == "truncate":
        del f[rng.randrange(1, len(f)):]
    elif kind == "duplicate":
        frames.insert(i, bytes(f))
    elif kind == "junk":
        f[rng.randrange(len(f)):rng.randrange(len(f))] = rng.randbytes(rng.randrange(1, 40))
    elif kind == "type":
        f[0] = rng.choice((0, 2, 3, 4, 8, 9, 0xCE, rng.randrange(256)))
    elif kind == "channel":
        f[1:3] = struct.pack(">H", rng.choice((0, 1, 2, 65535, rng.randrange(65536))))
    elif kind == "drop":
        del frames[i]
        return frames, f"{kind}@{i}"
    elif kind == "huge":
        # above the limit in effect (4096 until tune-ok, frame 2): refused from the header, no filler needed
        sizes = (4097, 9484, 131073, 1 << 20, (1 << 32) - 1) if i <= 2 else (131073, 1 << 20, (1 << 32) - 1)
        f[3:7] = struct.pack(">I", rng.choice(sizes))
    frames[i] = bytes(f)
    return frames, f"{kind}@{i}"



@dataclass
class Outcome:
    case: int
    mutation: str
    result: str  # closed | hang | refused
    seconds: float


def _methods(buf: bytearray):
    """Complete frames at the front of buf, consumed: the (class, method) of each method frame."""
    while True:
        if buf[:4] == b"AMQP":  # the server's protocol header: it refused ours
            del buf[:8]
            continue
        if len(buf) < 7:
            return
        ftype, _ch, size = struct.unpack_from(">BHI", buf)
        if len(buf) < size + 8:
            return
        if ftype == 1 and size >= 4:
            yield struct.unpack_from(">HH", buf, 7)
        del buf[:size + 8]


def run_case(host: str, port: int, seed: int, case: int, hang_after: float) -> Outcome:
    rng = random.Random(seed * 1_000_003 + case)
    frames, what = mutate(session_frames(f"fuzz-{seed}-{case}"), rng)
    started = time.monotonic()
    try:
        s = socket.create_connection((host, port), timeout=5)
    except OSError:
        return Outcome(case, what, "refused", 0.0)
    deadline = started + hang_after

    def done(result: str = "closed") -> Outcome:
        return Outcome(case, what, result, time.monotonic() - started)
    try:
        try:
            s.sendall(b"".join(frames))
            if not what.startswith("huge"):  # an oversized frame must be refused with nothing more sent
                s.setblocking(False)
                try:
                    s.send(FILLER)  # as much as fits; the rest does not matter
                except OSError:
                    pass
        except OSError:
            return done()
        s.settimeout(0.2)
        buf = bytearray()
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return done()
            if not chunk:
                return done()
            buf += chunk
            for cm in _methods(buf):
                if cm == (10, 51):  # close-ok: our own connection.close was answered
                    return done()
                if cm == (10, 50):  # the broker closes: close-ok, then it must drop the socket
                    try:
                        s.sendall(pamqp_frame.marshal(spec.Connection.CloseOk(), 0))
                    except OSError:
                        return done()
        return done("hang")
    finally:
        s.close()


class RssSampler:
    """The broker's VmRSS ten times a second, in a thread: the peak since the last reset, and overall."""

    def __init__(self, pid: int | None, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.peak = self.peak_since = self.last = 0
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss")

    def read(self) -> int:
        try:
            with open(f"/proc/{self.pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmRSS:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, TypeError):
            pass
        return 0

    def _run(self) -> None:
        while not self._halt.wait(self.interval):
            self.last = self.read()
            self.peak, self.peak_since = max(self.peak, self.last), max(self.peak_since, self.last)

    def start(self) -> RssSampler:
        if self.pid:
            self.last = self.peak = self.peak_since = self.read()
            self._thread.start()
        return self

    def reset(self) -> None:
        self.peak_since = self.last

    def stop(self) -> None:
        self._halt.set()


class Canary:
    """Connects, declares an exclusive queue, consumes from it and publishes to it, within BOUND seconds:
    on a fresh connection, and on a connection held for the whole run (reopened if it fails), so an
    abuse that hurts other clients' connections shows as well as one that stops new connections."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.live: Client | None = None
        self.live_queue = ""
        self.failures: list[str] = []
        self.checks = 0
        self.slowest = 0.0

    def _setup(self, cl: Client) -> str:
        cl.open_channel(1)
        q = cl.rpc(1, spec.Queue.Declare(queue="", exclusive=True), spec.Queue.DeclareOk).queue
        cl.rpc(1, spec.Basic.Consume(queue=q, consumer_tag="canary", no_ack=True), spec.Basic.ConsumeOk)
        return q

    def _round_trip(self, cl: Client, q: str) -> None:
        token = f"canary-{self.checks}-{time.monotonic_ns()}".encode()
        cl.publish(1, token, routing_key=q)
        body = cl.read_message(1)[2]
        if body != token:
            raise AssertionError(f"canary got {body[:40]!r}, not its message")

    def check(self, after: str) -> bool:
        self.checks += 1
        t0 = time.monotonic()
        try:
            with Client(self.host, self.port, timeout=BOUND) as fresh:
                self._round_trip(fresh, self._setup(fresh))
            if self.live is None:
                self.live = Client(self.host, self.port, timeout=BOUND).connect()
                self.live_queue = self._setup(self.live)
            self._round_trip(self.live, self.live_queue)
            took = time.monotonic() - t0
            if took > BOUND:
                raise TimeoutError(f"canary took {took:.1f} s")
            return True
        except Exception as e:  # noqa: BLE001 - any failure is the canary's answer
            self.failures.append(f"after {after}: {e!r}")
            if self.live is not None:
                self.live.close()
                self.live = None
            return False
        finally:
            self.slowest = max(self.slowest, time.monotonic() - t0)

    def close(self) -> None:
        if self.live is not None:
            self.live.close()


class Bystander(threading.Thread):
    """A connection that answers exchange.declare passive every 0.2 s for the whole run: the latency a
    client that does nothing wrong sees during every case. It never publishes, so a memory alarm does not
    block it. A round trip without an answer within BOUND, or a dropped connection, is a failure."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(daemon=True, name="bystander")
        self.host, self.port = host, port
        self.halt = threading.Event()
        self.failures: list[str] = []
        self.round_trips = 0
        self.slowest = 0.0

    def run(self) -> None:
        probe = spec.Exchange.Declare(exchange="amq.direct", exchange_type="direct", passive=True)
        cl: Client | None = None
        while not self.halt.wait(0.2):
            t0 = time.monotonic()
            try:
                if cl is None:
                    cl = Client(self.host, self.port, timeout=BOUND).connect()
                    cl.open_channel(1)
                cl.rpc(1, probe, spec.Exchange.DeclareOk)
                self.round_trips += 1
            except Exception as e:  # noqa: BLE001
                self.failures.append(repr(e))
                if cl is not None and cl.sock is not None:
                    cl.sock.close()
                cl = None
            self.slowest = max(self.slowest, time.monotonic() - t0)
        if cl is not None:
            cl.close()


def fuzz(host: str, port: int, seed: int, cases: int, hang_after: float = 5.0, workers: int = 16,
         alive=lambda: True, canary: Canary | None = None) -> dict:
    """The frames family: cases run `workers` at a time; the canary runs after every batch."""
    canary = canary or Canary(host, port)
    outcomes: list[Outcome] = []
    canary_failures: list[int] = []
    deaths = 0
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, cases, workers):
            batch = range(start, min(cases, start + workers))
            outcomes += pool.map(lambda c: run_case(host, port, seed, c, hang_after), batch)
            if not alive():
                deaths += 1
                break
            if not canary.check(f"frame cases {batch.start}-{batch.stop - 1}"):
                canary_failures.append(start)
    return {"cases": len(outcomes), "hangs": [o for o in outcomes if o.result == "hang"],
            "refused": [o for o in outcomes if o.result == "refused"], "deaths": deaths,
            "canary_failures": canary_failures,
            "max_seconds": max((o.seconds for o in outcomes), default=0.0)}


# -------------------------------------------------------------------------------------------------
# The families together


@dataclass
class Family:
    name: str
    cases: int = 0
    passed: int = 0
    hangs: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)  # an answer, but not the expected one
    refused: list[str] = field(default_factory=list)
    deaths: int = 0
    canary_failures: list[str] = field(default_factory=list)
    slowest: float = 0.0
    slowest_case: str = ""
    peak_rss: int = 0
    rss_over: bool = False  # peak RSS above the watermark + margin
    notes: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)  # abuse case -> the answer it got

    def add(self, name: str, result: str, seconds: float, detail: str = "") -> None:
        self.cases += 1
        if seconds > self.slowest:
            self.slowest, self.slowest_case = seconds, name
        text = f"{name}: {detail}" if detail else name
        if result == "pass":
            self.passed += 1
        elif result == "hang":
            self.hangs.append(text)
        elif result == "refused":
            self.refused.append(text)
        else:
            self.wrong.append(f"{text} [{result}]")

    @property
    def failed(self) -> bool:
        return bool(self.hangs or self.deaths or self.canary_failures or self.refused or self.wrong
                    or self.rss_over)


@dataclass
class Sizes:
    frame_cases: int = 1000
    workers: int = 16
    hang_after: float = 5.0
    connections: int = 1000
    reconnects: int = 2000
    channel_max: int = 2047
    consumers: int = 5000
    queues: int = 2000
    backlog: int = 300 * MIB
    message: int = 100 * 1024
    stall: float = 30.0


def run_families(host: str, port: int, families: list[str], seed: int, sizes: Sizes, alive=lambda: True,
                 pid: int | None = None, watermark: int = 0, margin: int = 0, log=print,
                 skip: frozenset[str] = frozenset()) -> dict:
    """Every family in turn against the broker at host:port; liveness and the canary after every case.
    A death ends the run. watermark (bytes, 0: unknown): every family's peak RSS must stay under it +
    margin (a family of cases that leaves memory behind fails it too); skip names abuse cases left out."""
    rss = RssSampler(pid).start()
    canary = Canary(host, port)
    bystander = Bystander(host, port)
    bystander.start()
    results: list[Family] = []
    tag = f"{seed}-{os.getpid()}"

    def after(fam: Family, label: str) -> bool:
        if not alive():
            fam.deaths = 1
            log(f"  broker died after {label}")
            return False
        if not canary.check(label):
            fam.canary_failures.append(f"{label}: {canary.failures[-1]}")
        return True
    try:
        for name in families:
            fam = Family(name)
            results.append(fam)
            rss.reset()
            t0 = time.monotonic()
            if name == "frames":
                seen = len(canary.failures)
                r = fuzz(host, port, seed, sizes.frame_cases, sizes.hang_after, sizes.workers, alive, canary)
                fam.cases, fam.deaths = r["cases"], r["deaths"]
                fam.passed = r["cases"] - len(r["hangs"]) - len(r["refused"])
                fam.hangs = [f"case {o.case} {o.mutation}" for o in r["hangs"]]
                fam.refused = [f"case {o.case} {o.mutation}" for o in r["refused"]]
                fam.canary_failures = [f"after batch at {c}: {f}" for c, f in zip(r["canary_failures"],
                                                                                canary.failures[seen:], strict=False)]
                fam.slowest = r["max_seconds"]
            elif name == "abuse":
                order = [c for c in CASES if c.name not in skip]
                random.Random(seed).shuffle(order)
                for i, case in enumerate(order):
                    o = run_abuse(host, port, case, random.Random(seed * 7919 + i), tag)
                    got = f"expected {case.expect}, got {o.extra['answer']}" + (f" ({o.detail})" if o.detail else "")
                    fam.add(case.name, o.result, o.seconds, got if o.result != "pass" else "")
                    fam.answers[case.name] = o.extra["answer"]
                    if not after(fam, case.name):
                        break
            elif name == "flood":
                before = [rss.read()]

                def note(o, fam=fam, before=before) -> None:
                    fam.add(o.case, o.result, o.seconds, o.detail)
                    if o.extra.get("held_canary") is False:
                        fam.canary_failures.append(f"while {o.case} were held: {canary.failures[-1]}")
                    now = rss.read()  # what a case leaves behind shows as RSS that stays
                    grown = f"; RSS {now / MIB:.0f} MiB ({(now - before[0]) / MIB:+.0f})" if now else ""
                    fam.notes.append(f"{o.case}: {o.detail} ({o.seconds:.1f} s{grown})")
                    before[0] = now
                    after(fam, o.case)
                flood_family(host, port, tag, vars(sizes), lambda: canary.check("held connections"), note)
            elif name == "memory":
                def phase(what: str, fam=fam) -> None:
                    fam.peak_rss = max(fam.peak_rss, rss.peak_since)
                    fam.notes.append(f"peak RSS while {what}: {rss.peak_since / MIB:.0f} MiB")
                    rss.reset()
                o = asyncio.run(transient_backlog(host, port, f"memory-{tag}", sizes.backlog, sizes.message,
                                                  sizes.stall, seed, phase))
                fam.add(o.case, o.result, o.seconds, o.detail)
                fam.notes.append(f"{o.case}: {o.detail}")
                time.sleep(1.5)  # memory given back, alarm cleared, before the canary publishes
                fam.notes.append(f"RSS {rss.read() / MIB:.0f} MiB after the queue was deleted")
                after(fam, o.case)
            else:
                raise ValueError(f"unknown family {name!r}")
            fam.peak_rss = max(fam.peak_rss, rss.peak_since)
            fam.rss_over = bool(pid and watermark and fam.peak_rss > watermark + margin)
            log(summary_line(fam, watermark) + f" [{time.monotonic() - t0:.0f} s]")
            if fam.deaths:
                break
    finally:
        bystander.halt.set()
        bystander.join(BOUND + 2)
        canary.close()
        rss.stop()
    return {"families": results, "peak_rss": rss.peak, "watermark": watermark,
            "bystander": {"round_trips": bystander.round_trips, "slowest": bystander.slowest,
                          "failures": bystander.failures},
            "failed": any(f.failed for f in results) or bool(bystander.failures)}


def summary_line(f: Family, watermark: int = 0) -> str:
    rss = f" peak RSS {f.peak_rss / MIB:.0f} MiB" if f.peak_rss else ""
    if rss and watermark:
        rss += f" ({'ABOVE ' if f.rss_over else ''}watermark {watermark / MIB:.0f} MiB)"
    extra = f", {len(f.wrong)} wrong answers" if f.wrong else ""
    extra += f", {len(f.refused)} refused" if f.refused else ""
    return (f"{f.name:7s} {f.cases:5d} cases: {f.passed} passed, {f.deaths} deaths, {len(f.hangs)} hangs, "
            f"{len(f.canary_failures)} canary failures{extra}; slowest {f.slowest:.2f} s"
            f"{' (' + f.slowest_case + ')' if f.slowest_case else ''};{rss}")


def print_report(r: dict, log=print) -> None:
    log("summary:")
    for f in r["families"]:
        log("  " + summary_line(f, r["watermark"]))
        for title, items in (("hang", f.hangs), ("wrong", f.wrong), ("refused", f.refused),
                             ("canary", f.canary_failures), ("note", f.notes)):
            for item in items[:25]:
                log(f"      {title}: {item}")
    b = r["bystander"]
    log(f"  bystander: {b['round_trips']} round trips, slowest {b['slowest']:.2f} s, {len(b['failures'])} failures"
        + (f" (first: {b['failures'][0]})" if b["failures"] else ""))
    if r["peak_rss"]:
        log(f"  peak RSS over the run {r['peak_rss'] / MIB:.0f} MiB"
            + (f", watermark {r['watermark'] / MIB:.0f} MiB" if r["watermark"] else ""))


# -------------------------------------------------------------------------------------------------
# Command line


def start_amqpd(tmp: Path, watermark: int, extra_conf: str = "") -> tuple[subprocess.Popen, int]:
    """amqpd on a free port with the given absolute watermark; (process, port) once it listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp / "amqpd.conf"
    conf.write_text(f"heartbeat = 0\nvm_memory_high_watermark.absolute = {watermark}\n{extra_conf}")
    log = open(tmp / "amqpd.log", "wb")  # noqa: SIM115 - the child's, closed below
    proc = subprocess.Popen([sys.executable, "-m", "amqpd", "--bind", "127.0.0.1", "--port", str(port),
                             "--data-dir", str(tmp / "data"), "--config", str(conf), "--management-port", "0",
                             "--prometheus-port", "0"], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2])
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"amqpd did not start:\n{(tmp / 'amqpd.log').read_text(errors='replace')[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5672)
    p.add_argument("--start-amqpd", action="store_true", help="start an amqpd of our own (with --watermark)")
    p.add_argument("--pid", type=int, help="the broker's pid, to sample its RSS (RabbitMQ: beam.smp)")
    p.add_argument("--families", default="frames,abuse,flood,memory")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cases", type=int, default=1000, help="frame mutation cases")
    p.add_argument("--hang-after", type=float, default=5.0, help="seconds a mutated session may take")
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--connections", type=int, default=1000, help="held at once (flood)")
    p.add_argument("--reconnects", type=int, default=2000)
    p.add_argument("--channel-max", type=int, default=2047, help="channels opened on one connection, then one more")
    p.add_argument("--consumers", type=int, default=5000)
    p.add_argument("--queues", type=int, default=2000)
    p.add_argument("--backlog-mb", type=int, default=300)
    p.add_argument("--message-kb", type=int, default=100)
    p.add_argument("--watermark-mb", type=int, default=256, help="amqpd's absolute watermark (--start-amqpd), "
                   "or the one the broker at --port was given")
    p.add_argument("--margin-mb", type=int, default=16, help="how far above the watermark RSS may go")
    p.add_argument("--stall", type=float, default=30.0, help="memory: seconds without progress that count as a hang")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    sizes = Sizes(a.cases, a.workers, a.hang_after, a.connections, a.reconnects, a.channel_max, a.consumers,
                  a.queues, a.backlog_mb * MIB, a.message_kb * 1024, a.stall)
    families = [f for f in a.families.split(",") if f]
    watermark = a.watermark_mb * MIB
    tmp = proc = None
    pid = a.pid
    alive = (lambda: os.path.exists(f"/proc/{pid}")) if pid else (lambda: True)
    if a.start_amqpd:
        tmp = Path(tempfile.mkdtemp(prefix="amqpd-fuzz-"))
        proc, a.port = start_amqpd(tmp, watermark)
        pid = proc.pid
        alive = lambda: proc.poll() is None  # noqa: E731
        print(f"amqpd pid {pid} on port {a.port}, watermark {a.watermark_mb} MiB, log {tmp / 'amqpd.log'}")
    elif not pid:
        watermark = 0  # no RSS to hold to it
    try:
        r = run_families(a.host, a.port, families, a.seed, sizes, alive, pid, watermark, a.margin_mb * MIB)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            tb = (tmp / "amqpd.log").read_text(errors="replace").count("Traceback")
            print(f"amqpd exited with {proc.returncode}; {tb} tracebacks in its log")
            shutil.rmtree(tmp / "data", ignore_errors=True)
    print(f"seed {a.seed}, families {','.join(families)}")
    print_report(r)
    if tmp is not None:
        if r["failed"]:
            print(f"amqpd's log kept: {tmp / 'amqpd.log'}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        Path(a.json).write_text(json.dumps({**r, "families": [vars(f) for f in r["families"]]}, indent=1))
    return 1 if r["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
