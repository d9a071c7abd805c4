#!/usr/bin/env python3
"""Side-by-side load generator for amqpd and RabbitMQ that cannot hide backpressure problems.

Scenarios (see bench/README.md): transient (1 -> 1, unthrottled publisher, autoack consumer without qos),
persistent (durable queue, confirms, prefetch 200, one ack per delivery), fanout (1 -> 10 queues),
topic (100 queues, 243 bindings), latency (1,000 msg/s paced), backlog (200k x 1 KB persistent, then
drain) and priority (x-max-priority 10, prefill then drain). Every line reports the rates, lost and
duplicated messages (per-queue sequence-number checks), the broker's peak RSS and the queue depth while
publishing. Each run ends by itself: a --seconds cap and a stall timeout.

    python3 bench/loadgen.py --start-amqpd --compare-rabbitmq          # everything, both brokers
    python3 bench/loadgen.py --start-amqpd --quick                     # smoke test
    python3 bench/loadgen.py --ceiling                                 # the load generator's own ceiling
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from amqpclient import DEFAULT_URL, BenchError, parse_url, with_query  # noqa: E402
from harness import (  # noqa: E402
    MIB,
    AmqpdServer,
    amqpd_version,
    free_port,
    listener_pid,
    log,
    out,
    port_answers,
    proc_mem,
    run_main,
)
from loadceiling import start_fake_broker  # noqa: E402
from loadclients import (  # noqa: E402
    Board,
    ConsPlan,
    DepthSampler,
    PubPlan,
    child_entry,
    consumer_main,
    control_ops,
    publisher_main,
    read_report,
)
from loadscenarios import (  # noqa: E402
    EXTRA_SCENARIOS,
    SCENARIOS,
    Spec,
    cleanup_ops,
    discover_hash,
    make_spec,
    setup_ops,
)
from observer import Observer  # noqa: E402


def control(url: str, ops: list, timeout: float) -> None:
    asyncio.run(asyncio.wait_for(control_ops(url, ops), timeout))


# --------------------------------------------------------------------------------------------------
# Running one scenario against one broker
# --------------------------------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    label: str
    status: str = "ok"  # ok | capped | stalled | error | aborted
    errors: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)  # name -> value (rates msg/s, latencies ms)
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    dup: int = 0
    undelivered: int = 0
    ooo: int = 0
    viol: int = 0
    published: int = 0
    rss_start: int = 0
    rss_peak: int = 0
    depth: list[int] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def bad(self) -> bool:
        return bool(self.lost or self.dup or self.viol)


class Runner:
    """Spawns the client processes of one scenario and watches them (50 ms ticks, RSS every 100 ms)."""

    def __init__(self, spec: Spec, url: str, pid_fn, args) -> None:
        self.s, self.url, self.pid_fn, self.args = spec, url, pid_fn, args
        self.ctx = mp.get_context("spawn")
        self.bd = Board(self.ctx, len(spec.queues), spec.procs)
        self.tmp = tempfile.mkdtemp(prefix="loadgen-reports-")
        self.procs: list = []
        self.pub_proc = None
        self.exited: list = []  # client processes that were meant to exit
        self.res = Result(spec.name, "")
        self.t0 = time.monotonic()
        self.tick = 0

    def spawn(self, role: str, fn, fargs: tuple):
        path = os.path.join(self.tmp, f"{role}.report")
        p = self.ctx.Process(target=child_entry, args=(fn, fargs, path, role), daemon=True, name=f"loadgen-{role}")
        p.report_path = path
        p.start()
        self.procs.append(p)
        return p

    def sample_rss(self) -> None:
        pid = self.pid_fn()
        if pid:
            rss = proc_mem(pid)[0]
            self.res.rss_start = self.res.rss_start or rss
            self.res.rss_peak = max(self.res.rss_peak, rss)

    def start_consumers(self) -> bool:
        s = self.s
        ids = list(range(len(s.cons.conns)))
        for slot in range(s.procs):
            self.spawn(f"consumer{slot}", consumer_main, (self.url, s.cons, ids[slot :: s.procs], self.bd, slot))
        return self.watch("ready", 30)

    def watch(self, phase: str, ready_timeout: float = 0) -> bool:
        """phase: ready (consumers consuming) | publish (all confirmed) | flow / drain (all delivered).
        Returns True when the phase completed; else res.status says why it stopped."""
        bd, a, res = self.bd, self.args, self.res
        last, t_change = -1, time.monotonic()
        while True:
            time.sleep(0.05)
            now = time.monotonic()
            self.tick += 1
            if self.tick % 2 == 0:
                self.sample_rss()
            states = list(bd.cstate)
            if phase == "ready":
                if all(st >= 1 for st in states):
                    return True
                if now - t_change > ready_timeout:
                    return self.stop("error", f"consumers not ready within {ready_timeout:g} s")
            elif phase == "publish" and bd.prod_state.value == 2:
                return True
            elif phase in ("flow", "drain") and all(st == 2 for st in states):
                return True
            dead = [p.name for p in self.procs if not p.is_alive() and p not in self.exited]
            if -1 in states or bd.prod_state.value == -1 or dead:
                return self.stop("error", f"a client failed ({', '.join(dead) or 'see below'})")
            if res.rss_peak > a.abort_rss_mb * MIB:
                return self.stop("aborted", f"broker RSS above --abort-rss-mb {a.abort_rss_mb}")
            if self.pid_fn() is None:
                return self.stop("error", "the broker process is gone")
            if phase == "ready":
                continue
            progress = bd.confirmed.value if phase == "publish" else bd.qsum("uniq")
            if progress != last or (phase == "flow" and not bd.t_pub_first.value):
                last, t_change = progress, now
            if now - self.t0 >= a.seconds:
                return self.stop("capped", "")
            if now - t_change >= a.stall_timeout:
                what = "confirm" if phase == "publish" else "delivery"
                return self.stop("stalled", f"no {what} progress for {a.stall_timeout:g} s")

    def stop(self, status: str, why: str) -> bool:
        self.res.status = status
        if why:
            self.res.errors.append(why)
        return False

    def run(self) -> Result:
        s, bd, res = self.s, self.bd, self.res
        sampler = DepthSampler(self.url, s.queues, lambda: bd.prod_state.value == 1,
                               interval=0.3 if len(s.queues) < 50 else 0.5)
        th = threading.Thread(target=sampler.run, daemon=True)
        th.start()
        t_wait = time.monotonic() + 5
        while not sampler.ready and not sampler.error and time.monotonic() < t_wait:
            time.sleep(0.01)
        reports: list[dict] = []
        try:
            ok = True
            if not s.prefill:
                ok = self.start_consumers()
            if ok:
                self.pub_proc = self.spawn("publisher", publisher_main, (self.url, s.pub, bd))
                ok = self.watch("publish" if s.prefill else "flow")
            if ok and s.prefill:
                bd.stop_pub.value = 1  # the publisher closes its connection and exits
                self.pub_proc.join(8)
                self.exited = [self.pub_proc]
                ok = self.start_consumers() and self.watch("drain")
        finally:
            res.elapsed = time.monotonic() - self.t0
            bd.stop.value = 1
            sampler.done = True
            deadline = time.monotonic() + 8
            for p in self.procs:
                p.join(max(0.0, deadline - time.monotonic()))
            for p in self.procs:
                if p.is_alive():
                    p.kill()
                    p.join(3)
            for p in self.procs:
                rep = read_report(p.report_path)
                reports.append(rep if rep is not None else {"role": p.name, "error": f"no report (exit {p.exitcode})"})
            shutil.rmtree(self.tmp, ignore_errors=True)
            th.join(5)
        res.depth = sampler.samples
        if sampler.error:
            res.errors.append(f"depth sampler: {sampler.error}")
        self.summarize(reports)
        return res

    def summarize(self, reports: list[dict]) -> None:
        s, bd, res = self.s, self.bd, self.res
        for r in reports:
            if "error" in r and (res.status in ("ok", "error") or "closed" in r["error"]):
                res.errors.append(f"{r['role']}: {r['error']}")
        res.expected = sum(s.cons.expected)
        res.delivered, res.dup, res.lost = bd.qsum("uniq"), bd.qsum("dup"), bd.qsum("holes")
        res.ooo, res.viol = bd.qsum("ooo"), bd.qsum("viol")
        res.undelivered = max(0, res.expected - res.delivered - res.lost)
        res.published = bd.published.value
        if res.status == "ok" and res.undelivered:
            res.status = "error"
        tp0, tpd = bd.t_pub_first.value, bd.t_pub_done.value
        ct = list(bd.ct)
        t_ready = min((t for t in ct[0::3] if t), default=0.0)
        t_last = max(ct[2::3]) if ct[2::3] else 0.0
        m = res.metrics
        pub_end = tpd or (t_last if not s.prefill else 0) or self.t0 + res.elapsed
        if tp0:
            n_pub = bd.confirmed.value if s.pub.window else res.published
            m["publish/s"] = n_pub / max(pub_end - tp0, 1e-9)
        if s.prefill:
            if t_ready and t_last:
                m["drain/s"] = res.delivered / max(t_last - t_ready, 1e-9)
        elif tp0 and t_last:
            m["received/s" if s.name == "persistent" else "delivered/s"] = res.delivered / max(t_last - tp0, 1e-9)
        if s.pub.window and not s.prefill and tp0:
            m["confirmed/s"] = bd.confirmed.value / max((tpd or pub_end) - tp0, 1e-9)
        for r in reports:
            if "lat_p50" in r and s.name == "persistent":
                m["confirm p50 ms"], m["confirm p99 ms"] = r["lat_p50"], r["lat_p99"]
            if r.get("lat"):
                lat = sorted(array.array("d", r["lat"]))
                m["p50 ms"] = lat[len(lat) // 2] * 1000
                m["p99 ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
                m["max ms"] = lat[-1] * 1000
            if r.get("nacks"):
                res.errors.append(f"publisher: {r['nacks']} basic.nack")


def run_scenario(name: str, label: str, url: str, pid_fn, args, prepare=None, spec: Spec | None = None) -> Result:
    """prepare(spec), if given, runs before the scenario declares anything (e.g. to grant a topic
    permission on the scenario's exchange); spec replaces make_spec(name) (a variant of a scenario)."""
    spec = spec or make_spec(name, args)
    runner = Runner(spec, url, pid_fn, args)
    runner.res.label = label
    try:
        if prepare is not None:
            prepare(spec)
        control(url, setup_ops(spec), 60)
        if spec.name == "hash":
            discover_hash(url, spec)
    except Exception as e:  # noqa: BLE001
        runner.res.status = "error"
        runner.res.errors.append(f"setup: {e}")
    try:
        if runner.res.status == "ok":
            runner.run()
    finally:
        try:
            control(url, cleanup_ops(spec), 30 if label == "rabbitmq" else 10)
        except Exception as e:  # noqa: BLE001
            runner.res.errors.append(f"cleanup (queue/exchange delete): {e!r}")
    return runner.res


# --------------------------------------------------------------------------------------------------
# Ceiling: the clients against the null sink and the blast source
# --------------------------------------------------------------------------------------------------


def ceiling(args, tls: tuple[str, str, str] | None = None, label: str = "loadgen ceiling") -> tuple[float, float]:
    """The clients' own ceiling; tls = (certfile, keyfile, cacertfile): over amqps:// to a TLS sink/source."""
    n = 200_000 if args.quick else 2_000_000
    ctx = mp.get_context("spawn")
    rates = []
    for mode in ("sink", "source"):
        port = free_port()
        server = start_fake_broker(mode, port, n, args.size, tls[:2] if tls else None)
        url = f"amqp://guest:guest@127.0.0.1:{port}/%2F"
        if tls:
            url = with_query(url.replace("amqp://", "amqps://", 1), cacertfile=tls[2])
        bd = Board(ctx, 1, 1)
        rpath = os.path.join(tempfile.gettempdir(), f"loadgen-ceiling-{os.getpid()}-{mode}")
        if mode == "sink":
            plan = PubPlan("", ["q"], n, args.size, close_timeout=0.2)
            p = ctx.Process(target=child_entry, args=(publisher_main, (url, plan, bd), rpath, "pub"), daemon=True)
        else:
            plan = ConsPlan([[("q", 0)]], [n], [(1,)], [1], args.size, n, coalesce=args.coalesce_ms / 1000)
            p = ctx.Process(target=child_entry, args=(consumer_main, (url, plan, [0], bd, 0), rpath, "cons"),
                            daemon=True)
        p.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and p.is_alive():
            if (mode == "sink" and bd.prod_state.value == 2) or (mode == "source" and bd.cstate[0] == 2):
                break
            time.sleep(0.02)
        if mode == "sink":
            rates.append(bd.published.value / max(bd.t_pub_done.value - bd.t_pub_first.value, 1e-9))
        else:
            rates.append(bd.qsum("uniq") / max(bd.ct[2] - bd.ct[0], 1e-9))
            if bd.qsum("uniq") != n or bd.qsum("dup") or bd.qsum("holes"):
                log(f"ceiling: consumer check failed ({bd.qsum('uniq')} of {n})")
        bd.stop.value = 1
        p.join(5)
        for proc in (p, server):
            if proc.is_alive():
                proc.kill()
                proc.join(3)
        rep = read_report(rpath) or {}
        with contextlib.suppress(OSError):
            os.unlink(rpath)
        if rep.get("error"):
            log(f"ceiling {mode}: {rep['error']}")
    out(f"{label}: publish {rates[0]:,.0f} msg/s, consume {rates[1]:,.0f} msg/s "
        f"({n:,} x {args.size} B; one publisher process -> null sink, blast source -> one consumer process)")
    return rates[0], rates[1]


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------

PRIMARY = {"transient": ["delivered/s"], "persistent": ["confirmed/s", "received/s", "confirm p50 ms", "confirm p99 ms"],
           "fanout": ["delivered/s"], "topic": ["delivered/s"], "hash": ["delivered/s"], "latency": ["p50 ms", "p99 ms", "max ms"],
           "backlog": ["publish/s", "drain/s"], "priority": ["publish/s", "drain/s"]}
MARKS = {"capped": "[CAPPED at --seconds, partial]", "stalled": "[STALLED, partial]",
         "error": "[FAILED, partial]", "aborted": "[ABORTED, partial]"}


def fmt(v: float, name: str) -> str:
    return f"{v:,.1f}" if name.endswith("ms") else f"{v:,.0f}"


def depth_text(r: Result) -> str:
    if not r.depth:
        return "depth n/a"
    return f"depth max {max(r.depth):,} mean {statistics.fmean(r.depth):,.0f} ({len(r.depth)} samples)"


def line(r: Result) -> str:
    m = " ".join(f"{k} {fmt(v, k)}" for k, v in r.metrics.items())
    checks = f"lost {r.lost} dup {r.dup}" + (f" prio-order-violations {r.viol}" if r.scenario == "priority" else "")
    if r.ooo:
        checks += f" out-of-order {r.ooo}"
    if r.bad:
        checks += " FAIL"
    mark = MARKS.get(r.status, "")
    return (f"{r.scenario:<10} {r.label:<8} {m} | delivered {r.delivered:,}/{r.expected:,} in {r.elapsed:.1f} s"
            + (f" (undelivered {r.undelivered:,})" if r.undelivered else "")
            + f" | {checks} | RSS peak {r.rss_peak / MIB:,.0f} MiB (start {r.rss_start / MIB:,.0f})"
            + f" | {depth_text(r)}" + (f" {mark}" if mark else ""))


def summary(results: list[Result]) -> None:
    by = {(r.scenario, r.label): r for r in results}
    labels = [lb for lb in ("amqpd", "rabbitmq") if any(r.label == lb for r in results)]
    out("")
    out("| scenario | metric | " + " | ".join(labels) + (" | amqpd/RabbitMQ |" if len(labels) == 2 else " |"))
    out("| --- | --- | " + " | ".join("---:" for _ in labels) + (" | ---: |" if len(labels) == 2 else " |"))

    def cell(r: Result | None, k: str) -> str:
        if r is None or k not in r.metrics:
            return "—"
        return fmt(r.metrics[k], k) + (f" {MARKS[r.status].split(',')[0]}]" if r.status in MARKS else "")

    for sc in dict.fromkeys(r.scenario for r in results):
        rs = [by.get((sc, lb)) for lb in labels]
        rows = [(k, [cell(r, k) for r in rs]) for k in PRIMARY[sc]]
        rows.append(("lost / dup", [f"{r.lost} / {r.dup}" + (" FAIL" if r.bad else "") if r else "—" for r in rs]))
        rows.append(("peak RSS MiB", [f"{r.rss_peak / MIB:,.0f}" if r else "—" for r in rs]))
        rows.append(("depth max / mean", [depth_text(r).replace("depth ", "") if r else "—" for r in rs]))
        for k, cells in rows:
            ratio = ""
            if len(labels) == 2:
                a, b = rs
                if a and b and k in a.metrics and b.metrics.get(k):
                    ratio = f"{a.metrics[k] / b.metrics[k]:.2f}"
                ratio = f" | {ratio}"
            out(f"| {sc} | {k} | " + " | ".join(cells) + ratio + " |")


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=DEFAULT_URL, help="broker under test (label amqpd) unless --start-amqpd")
    ap.add_argument("--start-amqpd", action="store_true", help="start a fresh amqpd for every scenario")
    ap.add_argument("--amqpd-src", default=None, help="with --start-amqpd: run amqpd from this source tree "
                    "(e.g. `git archive <commit> | tar -x -C DIR`) instead of this checkout")
    ap.add_argument("--compare-rabbitmq", action="store_true", help="also run every scenario against RabbitMQ")
    ap.add_argument("--rabbitmq-url", default=DEFAULT_URL)
    ap.add_argument("--rabbitmq-only", action="store_true", help="skip amqpd (with --compare-rabbitmq)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, default all")
    ap.add_argument("--messages", type=int, default=0, help="messages per scenario (default per scenario)")
    ap.add_argument("--size", type=int, default=100, help="body size (not backlog: 1 KB) (default %(default)s)")
    ap.add_argument("--window", type=int, default=1000, help="max unconfirmed (default %(default)s)")
    ap.add_argument("--seconds", type=float, default=60, help="cap per scenario run (default %(default)s)")
    ap.add_argument("--stall-timeout", type=float, default=10, help="no progress for this long = STALLED")
    ap.add_argument("--latency-rate", type=float, default=1000, help="latency: msg/s (default %(default)s)")
    ap.add_argument("--latency-seconds", type=float, default=10, help="latency: duration (default %(default)s)")
    ap.add_argument("--coalesce-ms", type=float, default=1.0, help="consumer read coalescing (not latency)")
    ap.add_argument("--abort-rss-mb", type=int, default=8192, help="abort a run above this broker RSS")
    ap.add_argument("--quick", action="store_true", help="small N everywhere (smoke test)")
    ap.add_argument("--ceiling", action="store_true", help="only measure the load generator's ceiling")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the ceiling measurement at the start")
    ap.add_argument("--observe", action="store_true", help="management API and Prometheus on, polled every "
                    "second during each run (amqpd: private ports; RabbitMQ: :15672 and :15692)")
    ap.add_argument("--ui-tab", action="store_true", help="with --observe: instead of polling, keep a browser tab "
                    "open on amqpd's web UI overview during each amqpd run (chromium via Playwright)")
    args = ap.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    bad = [s for s in args.scenarios if s not in SCENARIOS + EXTRA_SCENARIOS]
    if bad:
        ap.error(f"unknown scenario(s) {bad}; choose from {','.join(SCENARIOS + EXTRA_SCENARIOS)}")
    if args.quick:
        args.latency_seconds = min(args.latency_seconds, 3)
    if args.size < 16:
        ap.error("--size must be at least 16 (sequence number + timestamp)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    def body(stack) -> int:
        if args.ceiling:
            ceiling(args)
            return 0
        src = f"source tree {args.amqpd_src}" if args.amqpd_src else f"commit {amqpd_version()}"
        log(f"amqpd {src}; scenarios {','.join(args.scenarios)}")
        brokers: list[tuple[str, str]] = []
        if not args.rabbitmq_only:
            if not args.start_amqpd:
                host, port = parse_url(args.url)[:2]
                if not port_answers(host, port):
                    raise BenchError(f"nothing answers at {host}:{port} (--url); use --start-amqpd")
            brokers.append(("amqpd", args.url))
        if args.compare_rabbitmq or args.rabbitmq_only:
            host, port = parse_url(args.rabbitmq_url)[:2]
            if port_answers(host, port):
                brokers.append(("rabbitmq", args.rabbitmq_url))
            else:
                log(f"rabbitmq: nothing answers at {host}:{port}; comparison skipped")
        if not brokers:
            raise BenchError("no broker to test")
        if not args.no_ceiling and len(args.scenarios) > 1:
            ceiling(args)
        server: list[AmqpdServer | None] = [None]

        def stop_server() -> None:
            if server[0] is not None:
                server[0].stop()
                server[0] = None

        stack.callback(stop_server)
        results: list[Result] = []
        for sc in args.scenarios:
            for label, url in brokers:
                port = parse_url(url)[1]
                if label == "amqpd" and args.start_amqpd:
                    stop_server()
                    api_port, metrics_port = (free_port(), free_port()) if args.observe else (0, 0)
                    server[0] = AmqpdServer(False, prefix="amqpd-loadgen-", src=args.amqpd_src,
                                            extra_args=("--management-port", str(api_port),
                                                        "--prometheus-port", str(metrics_port)))
                    server[0].start()
                    url, pid = server[0].url, server[0].proc.pid

                    def pid_fn(s=server[0], pid=pid):
                        return pid if s.alive else None
                else:
                    pid = listener_pid(port)

                    def pid_fn(pid=pid):
                        return pid if pid and os.path.exists(f"/proc/{pid}") else None
                if args.observe:
                    host = parse_url(url)[0]
                    if label == "amqpd" and args.start_amqpd:
                        bases = (f"http://{host}:{api_port}", f"http://{host}:{metrics_port}")
                    else:
                        bases = (f"http://{host}:15672", f"http://{host}:15692")
                    ui_tab = args.ui_tab and label == "amqpd"
                    with Observer(*bases, ui_tab=ui_tab) as observer:
                        r = run_scenario(sc, label, url, pid_fn, args)
                    log(f"  {sc} {label} {observer.summary()}")
                else:
                    r = run_scenario(sc, label, url, pid_fn, args)
                out(line(r))
                for e in r.errors:
                    log(f"  {r.scenario} {r.label}: {e}")
                results.append(r)
                if label == "amqpd" and server[0] is not None and not server[0].alive:
                    log(f"amqpd exited:\n{server[0].log_tail()}")
            stop_server()
        labels = {r.label for r in results}
        if labels == {"amqpd", "rabbitmq"}:
            for r in results:
                if r.label != "amqpd":
                    continue
                b = next(x for x in results if x.scenario == r.scenario and x.label == "rabbitmq")
                for k in PRIMARY[r.scenario]:
                    if k in r.metrics and b.metrics.get(k):
                        out(f"ratio amqpd/rabbitmq {r.scenario} {k}: {r.metrics[k] / b.metrics[k]:.2f}"
                            + (f" {MARKS[r.status]}" if r.status in MARKS else ""))
        summary(results)
        return 1 if any(r.status != "ok" or r.bad for r in results) else 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
