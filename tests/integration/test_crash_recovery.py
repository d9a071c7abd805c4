"""kill -9 crash loop: confirmed messages are never lost, nothing appears that was never published.

One data dir, many cycles. Each cycle starts amqpd on it, first observes and reconciles everything the
previous cycles left (then acks part of it), then runs three publisher connections (persistent
messages with unique ids, publisher confirms, pipelined) and a consumer that acks, rejects or requeues
some of what it gets, and kills the broker with SIGKILL at a random moment (seeded RNG). The ledger
spans all cycles, so a message confirmed in cycle N and never acked must still be there in cycle N+5.

Messages go through a durable fanout exchange to two durable queues, so the binding and the
"one body, two index entries" bookkeeping are crash-tested too:

- crash-a is consumed during the workload (at-least-once rules only: an acked message may come back,
  a message the broker sent out may come back redelivered or not);
- crash-b is only read in the observe phase, where the client reads everything the broker sends, so
  the ledger knows exactly what was delivered, and store writes made before a later confirmed publish
  are on disk (batches are synced in order): its delivered flags and acks are checked strictly.

Tunables (environment): AMQPD_CRASH_SEED, AMQPD_CRASH_CYCLES.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from dataclasses import dataclass, field

import pytest
from durable_helpers import (
    ClosedError,
    DeliveryAssembler,
    PipeClient,
    encode_properties,
    kill9,
    restart,
    sigterm,
)
from pamqp import commands as C
from rawclient import FRAME_METHOD

SEED = int(os.environ.get("AMQPD_CRASH_SEED", "20240611"))
CYCLES = max(20, int(os.environ.get("AMQPD_CRASH_CYCLES", "22")))
PUBLISHERS = 3
WINDOW = 300  # unconfirmed publishes per publisher
EXCHANGE = "crash-fanout"
QA, QB = "crash-a", "crash-b"
QF = "crash-filler"  # big persistent messages that make the store's batches slow to write (some cycles)
QUEUES = (QA, QB)
STICKY_ONE_IN = 16  # per queue, this share of messages is never acked by anyone
OBSERVE_TIMEOUT = 30.0

pytestmark = pytest.mark.timeout(178)


# ---------------------------------------------------------------------------------------------------------
# message ids and bodies


def make_id(cycle: int, pub: int, n: int) -> str:
    return f"{cycle}.{pub}.{n}"


def stream_of(mid: str) -> tuple[int, int, int]:
    c, p, n = mid.split(".")
    return int(c), int(p), int(n)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def make_body(mid: str, size: int) -> bytes:
    head = f"{mid}|{size}|".encode()
    seed = _digest(mid)
    filler = (seed * (size // len(seed) + 1))[:size]
    return head + filler


def parse_body(body: bytes) -> str | None:
    """The message id, or None if the body is not exactly what make_body produced."""
    try:
        mid, size, _ = body.split(b"|", 2)
        mid_s = mid.decode()
        return mid_s if body == make_body(mid_s, int(size)) else None
    except (ValueError, UnicodeDecodeError):
        return None


def sticky(mid: str, queue: str) -> bool:
    return _digest(mid + "@" + queue)[0] % STICKY_ONE_IN == 0


# ---------------------------------------------------------------------------------------------------------
# the ledger


@dataclass
class Ledger:
    published: dict[str, int] = field(default_factory=dict)  # id -> cycle, every publish attempted
    confirmed: set[str] = field(default_factory=set)
    nacked: set[str] = field(default_factory=set)
    # per queue: ids an ack/reject(requeue=false) was sent for (may still come back after a crash)
    settled: dict[str, set[str]] = field(default_factory=lambda: {q: set() for q in QUEUES})
    # per queue: ids some consumer received (so a duplicate or a redelivered flag is explainable)
    delivered: dict[str, set[str]] = field(default_factory=lambda: {q: set() for q in QUEUES})
    # crash-b only: ids whose delivered flag / ack were followed by a confirmed publish (must be on disk)
    b_delivered_durable: set[str] = field(default_factory=set)
    b_settled_durable: set[str] = field(default_factory=set)
    # totals for the summary
    recovered: int = 0
    duplicates: int = 0
    max_depth: int = 0
    old_sticky_checked: int = 0
    kills_in_observe: int = 0


# ---------------------------------------------------------------------------------------------------------
# workload threads


class Publisher(threading.Thread):
    def __init__(self, port: int, cycle: int, idx: int, stop: threading.Event, seed: int) -> None:
        super().__init__(daemon=True, name=f"pub-{cycle}-{idx}")
        self.port, self.cycle, self.idx, self.stop = port, cycle, idx, stop
        self.rng = random.Random(seed)
        self.published: list[str] = []
        self.confirmed: list[str] = []
        self.nacked: list[str] = []
        self.errors: list[str] = []

    def _size(self) -> int:
        r = self.rng.random()
        if r < 0.9:
            return self.rng.randint(0, 300)
        if r < 0.995:
            return self.rng.randint(300, 8000)
        return self.rng.randint(140_000, 300_000)  # several body frames

    def run(self) -> None:
        try:
            cli = PipeClient(self.port)
        except Exception:  # killed before or during the handshake: nothing published
            return
        try:
            cli.send(cli.method(1, C.Channel.Open()))
            cli.rpc(1, C.Confirm.Select(), C.Confirm.SelectOk)
            props = encode_properties(delivery_mode=2)
            outstanding: dict[int, str] = {}
            seq = n = 0
            while not self.stop.is_set():
                wait = 0.0
                if len(outstanding) < WINDOW:
                    chunks = []
                    for _ in range(self.rng.randint(1, 40)):
                        n += 1
                        seq += 1
                        mid = make_id(self.cycle, self.idx, n)
                        self.published.append(mid)  # before sending: a half-sent publish may still land
                        outstanding[seq] = mid
                        chunks.append(cli.publish_frames(1, EXCHANGE, "", make_body(mid, self._size()), props))
                    cli.send(b"".join(chunks))
                else:
                    wait = 0.05
                for ftype, _ch, _payload, m in cli.read(wait):
                    if ftype != FRAME_METHOD:
                        continue
                    if isinstance(m, C.Basic.Ack | C.Basic.Nack):
                        done = self.confirmed if isinstance(m, C.Basic.Ack) else self.nacked
                        if m.multiple:
                            for s in list(outstanding):
                                if s > m.delivery_tag:
                                    break
                                done.append(outstanding.pop(s))
                        elif m.delivery_tag in outstanding:
                            done.append(outstanding.pop(m.delivery_tag))
                    elif isinstance(m, C.Connection.Close | C.Channel.Close):
                        self.errors.append(f"broker closed: {m!r}")
                        return
                if self.rng.random() < 0.05:
                    time.sleep(self.rng.uniform(0, 0.01))
        except ClosedError:
            pass  # the broker was killed
        finally:
            cli.abort()


class Filler(threading.Thread):
    """Publishes big persistent messages (no confirms) to crash-filler, so that store batches take long
    to write and sync: publishes confirmed meanwhile sit in the next batch, which is what kill -9 must
    not lose."""

    def __init__(self, port: int, stop: threading.Event, seed: int) -> None:
        super().__init__(daemon=True, name="filler")
        self.port, self.stop = port, stop
        self.rng = random.Random(seed)

    def run(self) -> None:
        try:
            cli = PipeClient(self.port)
        except Exception:
            return
        try:
            cli.send(cli.method(1, C.Channel.Open()))
            props = encode_properties(delivery_mode=2)
            body = os.urandom(512 * 1024)
            while not self.stop.is_set():
                burst = cli.publish_frames(1, "", QF, body, props) * self.rng.randint(2, 8)
                cli.send(burst)
                cli.read(self.rng.uniform(0.01, 0.06))
        except ClosedError:
            pass
        finally:
            cli.abort()


class Consumer(threading.Thread):
    """Consumes crash-a during the workload: acks most, rejects some, requeues a few, keeps sticky ones."""

    def __init__(self, port: int, stop: threading.Event, seed: int) -> None:
        super().__init__(daemon=True, name="consumer")
        self.port, self.stop = port, stop
        self.rng = random.Random(seed)
        self.delivered: list[str] = []
        self.settled: list[str] = []
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            cli = PipeClient(self.port)
        except Exception:
            return
        try:
            cli.send(cli.method(1, C.Channel.Open()))
            cli.rpc(1, C.Basic.Qos(prefetch_count=0), C.Basic.QosOk)
            cli.rpc(1, C.Basic.Consume(queue=QA, consumer_tag="crash"), C.Basic.ConsumeOk)
            asm = DeliveryAssembler()
            while not self.stop.is_set():
                frames = cli.read(0.05)
                for f in frames:
                    if f[0] == FRAME_METHOD and isinstance(f[3], C.Connection.Close | C.Channel.Close):
                        self.errors.append(f"broker closed: {f[3]!r}")
                        return
                out = []
                for _ch, method, _hdr, body in asm.feed(frames):
                    mid = parse_body(body)
                    if mid is None:
                        self.errors.append(f"corrupt body delivered: {body[:60]!r}")
                        continue
                    self.delivered.append(mid)
                    if sticky(mid, QA):
                        continue  # held unacked until the crash
                    r = self.rng.random()
                    tag = method.delivery_tag
                    if r < 0.65:
                        self.settled.append(mid)
                        out.append(cli.method(1, C.Basic.Ack(delivery_tag=tag)))
                    elif r < 0.75:
                        self.settled.append(mid)
                        out.append(cli.method(1, C.Basic.Reject(delivery_tag=tag, requeue=False)))
                    elif r < 0.80:
                        out.append(cli.method(1, C.Basic.Nack(delivery_tag=tag, requeue=True)))
                    # else: left unacked
                if out:
                    cli.send(b"".join(out))
        except ClosedError:
            pass
        finally:
            cli.abort()


# ---------------------------------------------------------------------------------------------------------
# observe + reconcile


def observe(port: int, ledger: Ledger, cycle: int, rng: random.Random, problems: list[str],
            may_kill: bool = True) -> tuple[bool, set[str], set[str]]:
    """Read both queues completely, check them against the ledger, ack the non-sticky part, close.

    Returns (kill now?, ids seen on crash-b, ids acked on crash-b). "kill now" (sometimes, at random)
    means the caller kills the broker while this phase's acks are in flight."""
    cli = PipeClient(port, timeout=10)
    try:
        counts = {}
        for i, q in enumerate(QUEUES, start=1):
            cli.send(cli.method(i, C.Channel.Open()))
            counts[q] = cli.rpc(i, C.Queue.Declare(queue=q, passive=True), C.Queue.DeclareOk).message_count
        cli.rpc(1, C.Queue.Purge(queue=QF), C.Queue.PurgeOk)
        cli.send(b"".join(cli.method(i, C.Basic.Consume(queue=q, consumer_tag=f"observe-{q}"))
                          for i, q in enumerate(QUEUES, start=1)))
        got: dict[str, list[tuple[str | None, bool, int]]] = {q: [] for q in QUEUES}
        asm = DeliveryAssembler()
        deadline = time.monotonic() + OBSERVE_TIMEOUT
        settle_until = None
        while True:
            now = time.monotonic()
            if now > deadline:
                problems.append(f"cycle {cycle}: observe timed out: got "
                                f"{ {q: len(v) for q, v in got.items()} } of {counts}")
                return False, set(), set()
            if all(len(got[q]) >= counts[q] for q in QUEUES):
                settle_until = settle_until or now + 0.15  # anything beyond the count would be a bug
                if now > settle_until:
                    break
            frames = cli.read(0.05)
            for f in frames:
                if f[0] == FRAME_METHOD and isinstance(f[3], C.Connection.Close | C.Channel.Close):
                    problems.append(f"cycle {cycle}: broker closed during observe: {f[3]!r}")
                    return False, set(), set()
            for ch, method, _hdr, body in asm.feed(frames):
                got[QUEUES[ch - 1]].append((parse_body(body), method.redelivered, method.delivery_tag))

        for q in QUEUES:
            reconcile(q, got[q], counts[q], ledger, cycle, problems)
        ledger.recovered += sum(len(v) for v in got.values())
        ledger.max_depth = max(ledger.max_depth, *(len(v) for v in got.values()))

        # ack the non-sticky part. A crash may undo these acks (at-least-once) unless a publish confirmed
        # later proves the batch holding them was synced: see test_kill9_crash_loop.
        out = []
        acked_b: set[str] = set()
        for i, q in enumerate(QUEUES, start=1):
            for mid, _red, tag in got[q]:
                ledger.delivered[q].add(mid)
                if mid is not None and not sticky(mid, q):
                    ledger.settled[q].add(mid)
                    if q == QB:
                        acked_b.add(mid)
                    out.append(cli.method(i, C.Basic.Ack(delivery_tag=tag)))
        cli.send(b"".join(out))
        seen_b = {m for m, _, _ in got[QB] if m is not None}
        if may_kill and rng.random() < 0.12:
            return True, set(), set()
        cli.close()
        return False, seen_b, acked_b
    except ClosedError as exc:
        problems.append(f"cycle {cycle}: connection lost during observe: {exc}")
        return False, set(), set()
    finally:
        cli.abort()


def reconcile(q: str, got: list, expected_count: int, ledger: Ledger, cycle: int, problems: list[str]) -> None:
    where = f"cycle {cycle}, queue {q}"
    if len(got) != expected_count:
        problems.append(f"{where}: message_count said {expected_count}, {len(got)} delivered")
    corrupt = [t for t in got if t[0] is None]
    if corrupt:
        problems.append(f"{where}: {len(corrupt)} deliveries with a corrupt body")
    ids = [t[0] for t in got if t[0] is not None]
    present = set(ids)
    unknown = sorted(present - ledger.published.keys(), key=stream_of)
    if unknown:
        problems.append(f"{where}: {len(unknown)} messages that were never published, e.g. {unknown[:5]}")
    must = ledger.confirmed - ledger.settled[q]
    missing = sorted(must - present, key=stream_of)
    if missing:
        problems.append(f"{where}: {len(missing)} confirmed, never acked messages are missing, e.g. "
                        f"{missing[:8]} (published in cycles {sorted({stream_of(m)[0] for m in missing})[:10]})")
    old = [m for m in must if ledger.published[m] <= cycle - 5]
    ledger.old_sticky_checked = max(ledger.old_sticky_checked, len(old))
    seen: dict[str, int] = {}
    for mid in ids:
        seen[mid] = seen.get(mid, 0) + 1
    dups = {m: k for m, k in seen.items() if k > 1}
    ledger.duplicates += sum(k - 1 for k in dups.values())
    bad_dups = sorted(m for m in dups if m not in ledger.settled[q] and m not in ledger.delivered[q])
    if bad_dups:
        problems.append(f"{where}: duplicates of messages never delivered nor acked: {bad_dups[:8]}")
    # order: per publisher stream, ids increase along the queue; cycles never go backwards
    last: dict[tuple[int, int], int] = {}
    last_cycle = -1
    first_seen = set()
    for mid in ids:
        if mid in first_seen:
            continue
        first_seen.add(mid)
        c, p, n = stream_of(mid)
        if n <= last.get((c, p), 0):
            problems.append(f"{where}: {mid} comes after {c}.{p}.{last[(c, p)]}: queue order broken")
            break
        last[(c, p)] = n
        if c < last_cycle:
            problems.append(f"{where}: {mid} (cycle {c}) after a message of cycle {last_cycle}")
            break
        last_cycle = c
    if q == QB:
        flags = {t[0]: t[1] for t in got if t[0] is not None}
        fresh_redelivered = sorted(m for m, red in flags.items() if red and m not in ledger.delivered[QB])
        if fresh_redelivered:
            problems.append(f"{where}: never delivered before but redelivered=True: {fresh_redelivered[:8]}")
        lost_flag = sorted(m for m, red in flags.items() if not red and m in ledger.b_delivered_durable)
        if lost_flag:
            problems.append(f"{where}: delivered before (and synced) but redelivered=False: {lost_flag[:8]}")
        back = sorted(present & ledger.b_settled_durable, key=stream_of)
        if back:
            problems.append(f"{where}: acked (and synced by a later confirm) but back after restart: {back[:8]}")


# ---------------------------------------------------------------------------------------------------------


def test_kill9_crash_loop(broker_factory):
    rng = random.Random(SEED)
    ledger = Ledger()
    problems: list[str] = []
    started = time.monotonic()
    b = broker_factory()
    # topology, declared once: it has to survive every crash
    cli = PipeClient(b.port)
    cli.send(cli.method(1, C.Channel.Open()))
    cli.rpc(1, C.Exchange.Declare(exchange=EXCHANGE, exchange_type="fanout", durable=True), C.Exchange.DeclareOk)
    for q in QUEUES:
        cli.rpc(1, C.Queue.Declare(queue=q, durable=True), C.Queue.DeclareOk)
        cli.rpc(1, C.Queue.Bind(queue=q, exchange=EXCHANGE), C.Queue.BindOk)
    cli.rpc(1, C.Queue.Declare(queue=QF, durable=True), C.Queue.DeclareOk)
    cli.close()
    cycles_done = 0
    timings = []
    try:
        for cycle in range(1, CYCLES + 1):
            t0 = time.monotonic()
            if cycle > 1:
                b = restart(broker_factory, b)
            # observe what the previous cycles left (cycle 1: empty queues)
            kill_now, pending_b_seen, pending_b_acked = observe(b.port, ledger, cycle, rng, problems)
            assert not problems, "\n".join(problems[:20])
            if kill_now:
                ledger.kills_in_observe += 1
                kill9(b)
                cycles_done += 1
                timings.append(round(time.monotonic() - t0, 2))
                continue
            # workload, then kill -9 at a random moment
            stop = threading.Event()
            pubs = [Publisher(b.port, cycle, i, stop, rng.randrange(1 << 30)) for i in range(PUBLISHERS)]
            cons = Consumer(b.port, stop, rng.randrange(1 << 30))
            workers = [*pubs, cons]
            if rng.random() < 0.5:
                workers.append(Filler(b.port, stop, rng.randrange(1 << 30)))
            for t in workers:
                t.start()
            r = rng.random()
            delay = rng.uniform(0, 0.15) if r < 0.3 else rng.uniform(0.15, 0.8) if r < 0.8 else rng.uniform(0.8, 1.6)
            time.sleep(delay)
            kill9(b)
            stop.set()
            for t in workers:
                t.join(15)
                assert not t.is_alive(), f"{t.name} did not end after the broker was killed"
            confirmed_now = 0
            for p in pubs:
                problems.extend(f"cycle {cycle} {p.name}: {e}" for e in p.errors)
                for mid in p.published:
                    ledger.published[mid] = cycle
                ledger.confirmed.update(p.confirmed)
                ledger.nacked.update(p.nacked)
                confirmed_now += len(p.confirmed)
            problems.extend(f"cycle {cycle} consumer: {e}" for e in cons.errors)
            ledger.delivered[QA].update(cons.delivered)
            ledger.settled[QA].update(cons.settled)
            if ledger.nacked:
                problems.append(f"cycle {cycle}: the broker nacked {len(ledger.nacked)} publishes")
            if confirmed_now:
                # a publish confirmed after the observe phase: the observe phase's delivered flags and acks
                # on crash-b were written in earlier batches, so they are on disk
                ledger.b_delivered_durable |= pending_b_seen
                ledger.b_settled_durable |= pending_b_acked
            assert not problems, "\n".join(problems[:20])
            cycles_done += 1
            timings.append(round(time.monotonic() - t0, 2))
        # final: restart, reconcile, then a graceful stop
        b = restart(broker_factory, b)
        observe(b.port, ledger, CYCLES + 1, rng, problems, may_kill=False)
        assert not problems, "\n".join(problems[:20])
        assert sigterm(b) == 0
    finally:
        elapsed = time.monotonic() - started
        print(f"\ncrash loop: seed={SEED} cycles={cycles_done} (kills during observe: {ledger.kills_in_observe}) "
              f"published={len(ledger.published)} confirmed={len(ledger.confirmed)} "
              f"recovered(total observed)={ledger.recovered} duplicates={ledger.duplicates} "
              f"max queue depth={ledger.max_depth} old confirmed+unacked checked={ledger.old_sticky_checked} "
              f"acked a/b={len(ledger.settled[QA])}/{len(ledger.settled[QB])} elapsed={elapsed:.1f}s "
              f"cycle seconds={timings}")
    assert cycles_done >= 20
    assert len(ledger.confirmed) > 1000, "the workload confirmed too little to mean anything"
    assert ledger.old_sticky_checked > 0, "no message survived five cycles: the ledger check was vacuous"
    assert ledger.b_settled_durable and ledger.b_delivered_durable
    assert elapsed < 175
