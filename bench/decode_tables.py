"""How long a queue.declare with a large field table takes to decode: amqpd's one-pass decoder
(amqpd/protocol/fieldtable.py) against pamqp's, which copies the rest of the buffer for every item.

    python3 bench/decode_tables.py            # 130,000-item array (the abuse case), and smaller ones

No broker is started: this times the decoder alone (issue 15's abuse cases time it end to end)."""

from __future__ import annotations

import struct
import time

from pamqp import commands

from amqpd.protocol.methods import decode_method


def declare_payload(items: int) -> bytes:
    table = b"\x05x-fooA" + struct.pack(">I", items) + b"V" * items
    return b"\x00\x32\x00\x0a\x00\x00\x04quad\x04" + struct.pack(">I", len(table)) + table


def pamqp_decode(payload: bytes) -> object:
    method = commands.Queue.Declare()
    method.unmarshal(payload[4:])
    return method


def best_of(fn, payload: bytes, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(payload)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    print(f"{'array items':>12} {'amqpd ms':>10} {'pamqp ms':>10}")
    for items in (1_000, 10_000, 130_000):
        payload = declare_payload(items)
        ours = best_of(decode_method, payload, 5)
        theirs = best_of(pamqp_decode, payload, 1 if items > 10_000 else 3)
        print(f"{items:>12,} {ours * 1e3:>10.1f} {theirs * 1e3:>10.1f}")


if __name__ == "__main__":
    main()
