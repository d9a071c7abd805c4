#!/usr/bin/env python3
"""What a per-test vhost + user costs: the pytest plugin's amqp_url fixture, measured outside pytest.

Each iteration is what the fixture does around one test, through the same helpers
(amqpd.testing.create_isolated_vhost / delete_isolated_vhost over one keep-alive ManagementClient):
setup = PUT /api/vhosts/{v}, PUT /api/users/{u}, PUT /api/permissions/{v}/{u};
teardown = DELETE /api/vhosts/{v}, DELETE /api/users/{u}.

    python3 bench/vhost_fixture_cost.py                        # starts an amqpd, 1000 iterations
    python3 bench/vhost_fixture_cost.py --rabbitmq             # and RabbitMQ on 127.0.0.1:5672 / :15672
    python3 bench/vhost_fixture_cost.py --rabbitmq --fresh-connections   # also: a new TCP connection per request

Brokers are measured in alternating blocks of --block iterations, so drift in machine load hits all
alike. Prints mean / p50 / p99 in milliseconds, side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from amqpd.testing import (
    ManagementClient,
    RunningBroker,
    create_isolated_vhost,
    delete_isolated_vhost,
    external_broker,
    start_amqpd,
)


@dataclass
class Target:
    label: str
    broker: RunningBroker
    client: ManagementClient
    setup: list[float] = field(default_factory=list)
    teardown: list[float] = field(default_factory=list)

    def cycle(self, record: bool) -> None:
        t0 = time.perf_counter()
        iv = create_isolated_vhost(self.client, self.broker.amqp_url, hint="bench", prefix="amqpd-bench")
        t1 = time.perf_counter()
        delete_isolated_vhost(self.client, iv)
        t2 = time.perf_counter()
        if record:
            self.setup.append((t1 - t0) * 1000)
            self.teardown.append((t2 - t1) * 1000)


def stats(ms: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return statistics.fmean(ms), statistics.median(ms), q[98]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=1000, help="measured iterations per broker (default 1000)")
    p.add_argument("--warmup", type=int, default=20, help="unmeasured iterations first (default 20)")
    p.add_argument("--block", type=int, default=50, help="iterations per turn when alternating brokers")
    p.add_argument("--rabbitmq", action="store_true", help="also measure RabbitMQ (--rabbitmq-url)")
    p.add_argument("--rabbitmq-url", default="amqp://guest:guest@127.0.0.1:5672/")
    p.add_argument("--rabbitmq-management-url", default="http://guest:guest@127.0.0.1:15672")
    p.add_argument("--amqpd-url", help="measure this running amqpd instead of starting one")
    p.add_argument("--amqpd-management-url", help="its management API (default http://<host>:15672)")
    p.add_argument("--fresh-connections", action="store_true",
                   help="also measure each broker with a new HTTP connection per request (no keep-alive)")
    ns = p.parse_args(argv)

    started: RunningBroker | None = None
    targets: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="amqpd-vhost-bench-") as tmp:
        try:
            if ns.amqpd_url:
                amqpd = external_broker(ns.amqpd_url, ns.amqpd_management_url)
            else:
                started = amqpd = start_amqpd(Path(tmp))
            brokers = [("amqpd", amqpd)]
            if ns.rabbitmq:
                brokers.append(("rabbitmq", external_broker(ns.rabbitmq_url, ns.rabbitmq_management_url)))
            for label, b in brokers:
                targets.append(Target(label, b, ManagementClient(b.management_url, b.user, b.password)))
                if ns.fresh_connections:
                    targets.append(Target(f"{label} (no keep-alive)", b,
                                          ManagementClient(b.management_url, b.user, b.password, keepalive=False)))
            for t in targets:
                for _ in range(ns.warmup):
                    t.cycle(record=False)
            done = 0
            while done < ns.iterations:
                n = min(ns.block, ns.iterations - done)
                for t in targets:
                    for _ in range(n):
                        t.cycle(record=True)
                done += n
                print(f"\r{done}/{ns.iterations}", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
        finally:
            for t in targets:
                t.client.close()
            if started is not None:
                started.stop()
        report(targets, ns.iterations)
    return 0


def report(targets: list[Target], iterations: int) -> None:
    width = max(24, *(len(t.label) + 2 for t in targets))
    print(f"per-test vhost + user through amqpd.testing, {iterations} iterations, milliseconds")
    print(f"{'':<22}" + "".join(f"{t.label:>{width}}" for t in targets))
    print(f"{'':<22}" + "".join(f"{'mean    p50    p99':>{width}}" for t in targets))
    rows = [("setup (3 PUT)", lambda t: t.setup), ("teardown (2 DELETE)", lambda t: t.teardown),
            ("setup + teardown", lambda t: [a + b for a, b in zip(t.setup, t.teardown, strict=True)])]
    for name, pick in rows:
        cells = "".join(f"{'{:6.2f} {:6.2f} {:6.2f}'.format(*stats(pick(t))):>{width}}" for t in targets)
        print(f"{name:<22}{cells}")
    print(f"{'HTTP connections':<22}" + "".join(f"{t.client.connections_opened:>{width}}" for t in targets))


if __name__ == "__main__":
    sys.exit(main())
