"""The scenarios of bench/loadgen.py: what each declares, publishes and expects per queue.

Each scenario is a Spec (queues, exchange and bindings, the publisher's and the consumers' plans). The
topic scenario's binding set and routing keys are deterministic, and the per-queue expected counts come
from a small topic matcher here, independent of any broker.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

from amqpclient import BenchError
from loadclients import ConsPlan, PubPlan
from pamqp import commands

SCENARIOS = ("transient", "persistent", "fanout", "topic", "latency", "backlog", "priority")
# Not in the default run: RabbitMQ needs `rabbitmq-plugins enable rabbitmq_consistent_hash_exchange` for it.
EXTRA_SCENARIOS = ("hash",)
DEFAULT_N = {"transient": 1_000_000, "persistent": 200_000, "fanout": 200_000, "topic": 100_000,
             "backlog": 200_000, "priority": 50_000, "hash": 500_000}
QUICK_N = {"transient": 20_000, "persistent": 5_000, "fanout": 5_000, "topic": 5_000, "backlog": 5_000,
           "priority": 5_000, "hash": 5_000}
HASH_KEYS = [f"acct-{i}" for i in range(200)]  # cycled over an x-consistent-hash exchange and 10 queues
SIZES = {"backlog": 1024, "latency": 100}

# --------------------------------------------------------------------------------------------------
# Topic: routing keys, a deterministic binding set, and a matcher
# --------------------------------------------------------------------------------------------------

REGIONS = ("eu", "us", "ap", "sa")
SERVICES = ("web", "db", "cache", "auth", "pay")
LEVELS = ("debug", "info", "warn", "error")
TOPIC_KEYS = [f"{r}.{s}.{lv}" for r in REGIONS for s in SERVICES for lv in LEVELS]  # 80 keys, cycled


def topic_bindings(nq: int = 100) -> list[list[str]]:
    """Per queue 2 or 3 distinct patterns (43 x 3 + 57 x 2 = 243 bindings), drawn with a fixed seed: mostly
    exact keys and one-`*` patterns, a few that match nothing (`.trace`), and three wide ones (`#`, `#.error`,
    `*.pay.#`) on queues 0-2. About 10 queues receive each published message."""
    rng = random.Random(20240517)
    kinds = [
        lambda: f"{rng.choice(REGIONS)}.{rng.choice(SERVICES)}.{rng.choice(LEVELS)}",
        lambda: f"{rng.choice(REGIONS)}.{rng.choice(SERVICES)}.{rng.choice(LEVELS)}",
        lambda: f"{rng.choice(REGIONS)}.{rng.choice(SERVICES)}.*",
        lambda: f"{rng.choice(REGIONS)}.*.{rng.choice(LEVELS)}",
        lambda: f"*.{rng.choice(SERVICES)}.{rng.choice(LEVELS)}",
        lambda: f"{rng.choice(REGIONS)}.{rng.choice(SERVICES)}.trace",  # matches no published key
    ]
    wide = {0: "#", 1: "#.error", 2: "*.pay.#"}
    out_: list[list[str]] = []
    for q in range(nq):
        pats: list[str] = [wide[q]] if q in wide else []
        while len(pats) < (3 if q < 43 else 2):
            p = rng.choice(kinds)()
            if p not in pats:
                pats.append(p)
        out_.append(pats)
    return out_


def topic_match(pattern: str, key: str) -> bool:
    def m(p: list[str], k: list[str]) -> bool:
        if not p:
            return not k
        if p[0] == "#":
            return any(m(p[1:], k[i:]) for i in range(len(k) + 1))
        return bool(k) and (p[0] == "*" or p[0] == k[0]) and m(p[1:], k[1:])

    return m(pattern.split("."), key.split("."))


def fifo_plan(matching: set[int], K: int, n: int) -> tuple[int, int, tuple[int, ...]]:
    """(expected count, first seq, steps) of a queue receiving the messages whose key index (seq-1) % K is
    in matching: steps[seq % K] is the distance from seq to the next sequence number it receives."""
    if not matching:
        return 0, 0, (1,) * K
    full, rem = divmod(n, K)
    expected = full * len(matching) + sum(1 for j in matching if j < rem)
    steps = []
    for r in range(K):
        j = (r - 1) % K
        d = 1
        while (j + d) % K not in matching:
            d += 1
        steps.append(d)
    return expected, 1 + min(matching), tuple(steps)


# --------------------------------------------------------------------------------------------------
# Scenario specs
# --------------------------------------------------------------------------------------------------


@dataclass
class Spec:
    name: str
    queues: list[str]
    pub: PubPlan
    cons: ConsPlan
    durable: bool = False
    qargs: dict = field(default_factory=dict)
    exchange: tuple[str, str] | None = None  # (name, type)
    bindings: list[tuple[int, str]] = field(default_factory=list)
    procs: int = 1
    prefill: bool = False


def make_spec(name: str, args) -> Spec:
    tag = uuid.uuid4().hex[:8]
    base = f"loadgen-{name}-{tag}"
    if name == "latency":
        n = int(args.latency_rate * args.latency_seconds)
    else:
        n = args.messages or (QUICK_N if args.quick else DEFAULT_N)[name]
    size = SIZES.get(name, args.size)
    one = dict(steps=[(1,)], first=[1], expected=[n], size=size, n=n)
    if name in ("transient", "latency", "persistent", "backlog", "priority"):
        queues = [base]
        conns = [[(base, 0)]]
        pub = PubPlan("", [base], n, size)
        cons = ConsPlan(conns, **one, coalesce=args.coalesce_ms / 1000)
        spec = Spec(name, queues, pub, cons)
        if name == "latency":
            pub.rate, cons.mode, cons.coalesce = args.latency_rate, "latency", 0.0
        elif name in ("persistent", "backlog"):
            spec.durable = pub.persistent = True
            pub.window = args.window
            cons.no_ack = False
            if name == "persistent":
                cons.prefetch, cons.ack = 200, "each"
            else:
                cons.prefetch, cons.ack, cons.ack_every, spec.prefill = 1000, "multiple", 250, True
        elif name == "priority":
            spec.qargs = {"x-max-priority": 10}
            pub.window = args.window
            pub.priorities = bytes(random.Random(7).randrange(10) for _ in range(n))
            cons.no_ack, cons.prefetch, cons.ack, cons.ack_every = False, 1000, "multiple", 250
            cons.mode, spec.prefill = "priority", True
        return spec
    if name == "fanout":
        queues = [f"{base}-{i}" for i in range(10)]
        conns = [[(q, i)] for i, q in enumerate(queues)]
        cons = ConsPlan(conns, [n] * 10, [(1,)] * 10, [1] * 10, size, n, coalesce=args.coalesce_ms / 1000)
        return Spec(name, queues, PubPlan(base, [""], n, size), cons, exchange=(base, "fanout"),
                    bindings=[(i, "") for i in range(10)], procs=2)
    if name == "topic":
        queues = [f"{base}-{i}" for i in range(100)]
        pats = topic_bindings(len(queues))
        K = len(TOPIC_KEYS)
        expected, first, steps = [], [], []
        for qp in pats:
            matching = {j for j, k in enumerate(TOPIC_KEYS) if any(topic_match(p, k) for p in qp)}
            e, f, s = fifo_plan(matching, K, n)
            expected.append(e)
            first.append(f)
            steps.append(s)
        conns = [[(queues[c * 10 + i], c * 10 + i) for i in range(10)] for c in range(10)]
        cons = ConsPlan(conns, expected, steps, first, size, n, coalesce=args.coalesce_ms / 1000)
        return Spec(name, queues, PubPlan(base, TOPIC_KEYS, n, size), cons, exchange=(base, "topic"),
                    bindings=[(i, p) for i, qp in enumerate(pats) for p in qp], procs=2)
    if name == "hash":
        queues = [f"{base}-{i}" for i in range(10)]
        conns = [[(q, i)] for i, q in enumerate(queues)]
        # which queue each key reaches depends on the broker's hash: discover_hash() fills expected/first/steps
        cons = ConsPlan(conns, [0] * 10, [(1,)] * 10, [0] * 10, size, n, coalesce=args.coalesce_ms / 1000)
        return Spec(name, queues, PubPlan(base, HASH_KEYS, n, size), cons, exchange=(base, "x-consistent-hash"),
                    bindings=[(i, "1") for i in range(10)], procs=2)
    raise BenchError(f"unknown scenario {name!r}")


def setup_ops(s: Spec) -> list:
    ops: list = []
    if s.exchange:
        ops.append(commands.Exchange.Declare(exchange=s.exchange[0], exchange_type=s.exchange[1]))
    for q in s.queues:
        ops.append(commands.Queue.Declare(queue=q, durable=s.durable, arguments=s.qargs or None))
    for qi, key in s.bindings:
        ops.append(commands.Queue.Bind(queue=s.queues[qi], exchange=s.exchange[0], routing_key=key))
    return ops


def cleanup_ops(s: Spec) -> list:
    ops: list = [commands.Queue.Delete(queue=q) for q in s.queues]
    if s.exchange:
        ops.append(commands.Exchange.Delete(exchange=s.exchange[0]))
    return ops


def discover_hash(url: str, s: Spec) -> None:
    """Publish each key once, see which queue it reached, empty the queues, and plan the consumers' checks
    (per queue: how many messages, in which sequence) from that: the hash is the broker's own."""
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        for key in HASH_KEYS:
            ch.basic_publish(s.exchange[0], key, key.encode())
        where: dict[str, int] = {}
        for qi, q in enumerate(s.queues):
            while True:
                method, _props, body = ch.basic_get(q, auto_ack=True)
                if method is None:
                    break
                where[body.decode()] = qi
        if len(where) != len(HASH_KEYS):
            raise BenchError(f"discovery: {len(HASH_KEYS) - len(where)} keys reached no queue")
    finally:
        conn.close()
    K = len(HASH_KEYS)
    for qi in range(len(s.queues)):
        matching = {j for j, k in enumerate(HASH_KEYS) if where[k] == qi}
        s.cons.expected[qi], s.cons.first[qi], s.cons.steps[qi] = fifo_plan(matching, K, s.pub.n)
