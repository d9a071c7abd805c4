"""A seeded AMQP frame fuzzer: a complete client session, one frame mutated per case, checked for an
answer within a bound and a live canary after every case (issue 15).

A case sends the mutated session, then 200 KB of filler (so a frame left incomplete by a grown size field
is completed with garbage and must be refused; not after a size above the frame limit, which must be
refused from its header alone), and expects the broker to close the socket within
`hang_after` seconds (5 by default: half of handshake_timeout, which would end a stuck handshake). It answers connection.close with close-ok, as a client would. Outcomes: "closed"
(good), "hang" (still open), "died" (the broker process exited). Run alone against any broker:

    python tests/integration/fuzz_session.py --port 5672 --cases 2000 --seed 1
"""

from __future__ import annotations

import argparse
import random
import socket
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pamqp.commands as spec
from pamqp import frame as pamqp_frame
from pamqp import header as pamqp_header
from pamqp.body import ContentBody

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
FILLER = b"\x00" * 200_000
MUTATIONS = ("flip", "size", "truncate", "duplicate", "junk", "type", "channel", "drop", "huge")


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
        m(spec.Queue.Declare(queue=queue, auto_delete=True, arguments={"x-max-length": 10}), 1),
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


def run_case(host: str, port: int, seed: int, case: int, hang_after: float) -> Outcome:
    rng = random.Random(seed * 1_000_003 + case)
    frames, what = mutate(session_frames(f"fuzz-{seed}-{case}"), rng)
    started = time.monotonic()
    try:
        s = socket.create_connection((host, port), timeout=5)
    except OSError:
        return Outcome(case, what, "refused", 0.0)
    s.settimeout(0.2)
    deadline = started + hang_after
    try:
        data = b"".join(frames)
        try:
            s.sendall(data)
            if not what.startswith("huge"):  # an oversized frame must be refused with nothing more sent
                s.setblocking(False)
                try:
                    s.send(FILLER)  # as much as fits; the rest does not matter
                except (BlockingIOError, OSError):
                    pass
                s.setblocking(True)
                s.settimeout(0.2)
        except OSError:
            return Outcome(case, what, "closed", time.monotonic() - started)
        buf = b""
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return Outcome(case, what, "closed", time.monotonic() - started)
            if not chunk:
                return Outcome(case, what, "closed", time.monotonic() - started)
            buf += chunk
            # answer a connection.close with close-ok, as a client would (class 10, method 50)
            if b"\x00\x0a\x00\x32" in buf:
                buf = b""
                try:
                    s.sendall(pamqp_frame.marshal(spec.Connection.CloseOk(), 0))
                except OSError:
                    return Outcome(case, what, "closed", time.monotonic() - started)
        return Outcome(case, what, "hang", time.monotonic() - started)
    finally:
        s.close()


def canary_ok(host: str, port: int) -> bool:
    import pika

    try:
        c = pika.BlockingConnection(pika.ConnectionParameters(host, port, heartbeat=0, connection_attempts=1,
                                                              socket_timeout=5, blocked_connection_timeout=5))
        ch = c.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"canary")
        got = None
        for _ in range(50):
            got = ch.basic_get(q, auto_ack=True)[2]
            if got is not None:
                break
            time.sleep(0.02)
        c.close()
        return got == b"canary"
    except Exception:
        return False


def fuzz(host: str, port: int, seed: int, cases: int, hang_after: float = 5.0, workers: int = 16,
         alive=lambda: True) -> dict:
    """Cases run `workers` at a time; the canary runs after every batch."""
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
            if not canary_ok(host, port):
                canary_failures.append(start)
    return {"cases": len(outcomes), "hangs": [o for o in outcomes if o.result == "hang"],
            "refused": [o for o in outcomes if o.result == "refused"], "deaths": deaths,
            "canary_failures": canary_failures,
            "max_seconds": max((o.seconds for o in outcomes), default=0.0)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5672)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cases", type=int, default=500)
    p.add_argument("--hang-after", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=16)
    a = p.parse_args(argv)
    r = fuzz(a.host, a.port, a.seed, a.cases, a.hang_after, a.workers)
    print(f"{r['cases']} cases (seed {a.seed}): {len(r['hangs'])} hangs, {r['deaths']} deaths, "
          f"{len(r['canary_failures'])} canary failures, {len(r['refused'])} refused; slowest {r['max_seconds']:.1f} s")
    for o in r["hangs"][:20]:
        print(f"  hang: case {o.case} {o.mutation}")
    return 1 if r["hangs"] or r["deaths"] or r["canary_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
