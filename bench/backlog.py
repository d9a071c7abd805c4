#!/usr/bin/env python3
"""The 1M-message backlog benchmark: publish, restart, recover, drain in order, watching broker memory.

1. Start amqpd on a fresh data dir (--log-format json) and publish --messages persistent messages of
   --size bytes to one durable queue, with publisher confirms (window of 1000) and no consumer.
   Report the publish rate and the broker's peak RSS.
2. Stop amqpd with SIGTERM and start it again on the same data dir. Report the recovery time (process
   start -> port accepting, and the `seconds` field of its "recovered" log line) and the RSS after
   recovery.
3. Drain the queue with one consumer (prefetch 1000, multiple acks), checking that the sequence numbers
   in the bodies arrive in publish order. Report the drain rate and the peak RSS.

The issue's requirement is checked at the end: the broker's RSS stays under --rss-limit-mb (1 GiB) and
the queue drains completely and in order. With --compare-rabbitmq, the publish and drain phases also run
against RabbitMQ (without the restart: it runs as a system service). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import persistent as pb  # noqa: E402  (bench/ is not a package)
from amqpclient import DEFAULT_URL, BenchError, Shared, delete_queue, parse_url  # noqa: E402
from harness import (  # noqa: E402
    MIB,
    AmqpdServer,
    amqpd_version,
    listener_pid,
    log,
    mib,
    out,
    proc_mem,
    rabbitmq_answers,
    report_problems,
    resolve_ack_every,
    run_main,
)
from persistent import POpts  # noqa: E402

# --------------------------------------------------------------------------------------------------
# amqpd process: start / stop / restart on one data dir, memory sampling, JSON log events
# --------------------------------------------------------------------------------------------------


class Amqpd(AmqpdServer):
    """harness.AmqpdServer that logs JSON to one file per start (amqpd-1.log, amqpd-2.log, ...), restarts
    on the same data dir and port, and samples its memory."""

    poll_interval = 0.02
    kept_text = "amqpd data dir and logs kept in"

    def __init__(self, keep: bool) -> None:
        super().__init__(keep, prefix="amqpd-backlog-", extra_args=("--log-format", "json"))
        self.starts = 0
        self.log_path = self.tmp / "amqpd-0.log"
        self.rss_peak = 0  # highest VmRSS sampled since reset_peak()

    def log_tail(self, n: int = 30) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-n:]
        except OSError:
            return "(no log)"
        return "\n".join("    " + line for line in lines) or "    (log is empty)"

    def events(self, name: str) -> list[dict]:
        found = []
        try:
            with open(self.log_path, errors="replace") as f:
                for line in f:
                    if line.startswith("{"):
                        try:
                            rec = json.loads(line)
                        except ValueError:
                            continue
                        if rec.get("event") == name:
                            found.append(rec)
        except OSError:
            pass
        return found

    def exit_text(self) -> str | None:
        if self.alive:
            return None
        rc = self.proc.returncode if self.proc else None
        how = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"status {rc}"
        return f"the amqpd process exited ({how})"

    def sample(self) -> tuple[int, int]:
        rss, hwm = proc_mem(self.proc.pid) if self.alive else (0, 0)
        self.rss_peak = max(self.rss_peak, rss)
        return rss, hwm

    def reset_peak(self) -> None:
        self.rss_peak = 0

    def early_exit_text(self) -> str:
        return f"amqpd exited during startup with status {self.proc.returncode}; log tail:\n{self.log_tail()}"

    def timeout_text(self, timeout: float) -> str:
        rss, _ = self.sample()
        return (
            f"amqpd did not listen on port {self.port} within {timeout:g} s (RSS {mib(rss)}); "
            f"log tail:\n{self.log_tail()}"
        )

    def start(self, timeout: float) -> float:
        """Start amqpd and wait until its port accepts connections; returns the seconds that took."""
        self.starts += 1
        self.log_path = self.tmp / f"amqpd-{self.starts}.log"
        self.reset_peak()
        return super().start(timeout)

    def data_size(self) -> int:
        total = 0
        for root, _dirs, files in os.walk(self.data_dir):
            for name in files:
                try:
                    total += os.path.getsize(os.path.join(root, name))
                except OSError:
                    pass
        return total


# --------------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------------


class Ticker:
    """on_tick for pb.run_phase: progress lines, broker memory sampling, death and RSS-blowup checks."""

    def __init__(
        self, label: str, what: str, total: int, args, pid: int | None, exit_fn, producer: bool
    ) -> None:
        self.label, self.what, self.total = label, what, total
        self.every = args.progress_every
        # Only amqpd is capped: RabbitMQ has its own memory high watermark (it blocks publishers).
        self.abort_bytes = args.abort_rss_mb * MIB if label == "amqpd" else 0
        self.pid, self.exit_fn, self.producer = pid, exit_fn, producer  # exit_fn(): None, or why it is gone
        self.next_mark = self.every
        self.peak = 0  # highest VmRSS sampled during the phase
        self.last_sample = 0.0

    def __call__(self, now: float, progress: int, sh: Shared) -> str | None:
        if self.exit_fn is not None:
            gone = self.exit_fn()
            if gone:
                return gone
        rss = 0
        if self.pid and now - self.last_sample >= 0.1:
            self.last_sample = now
            rss = proc_mem(self.pid)[0]
            self.peak = max(self.peak, rss)
            if self.abort_bytes and rss > self.abort_bytes:
                return (
                    f"broker RSS {mib(rss)} exceeds the --abort-rss-mb safety cap ({mib(self.abort_bytes)})"
                )
        if self.every and progress >= self.next_mark:
            t_ref = sh.t_pub_first.value if self.producer else sh.t_cons_start.value
            t = now - t_ref if t_ref else 0.0
            if self.pid and not rss:
                rss = proc_mem(self.pid)[0]
                self.peak = max(self.peak, rss)
            mem = f", broker RSS {mib(rss)} (peak {mib(self.peak)})" if self.pid else ""
            log(
                f"  {self.label} {self.what}: {progress:,} / {self.total:,} after {t:.1f} s "
                f"({progress / max(t, 1e-9):,.0f} msg/s){mem}"
            )
            while self.next_mark <= progress:
                self.next_mark += self.every
        return None


def report_phase(ph: pb.Phase) -> None:
    report_problems(ph.errors, ph.warnings)


def finished(ph: pb.Phase, args) -> bool:
    if ph.status == "capped":
        ph.status = "error"
        ph.errors.insert(0, f"did not finish within --phase-timeout {args.phase_timeout:g} s")
    return not ph.failed


def run_watched(
    label: str, url: str, queue: str, o: POpts, args, pid: int | None, exit_fn, *, producer: bool
) -> tuple[pb.Phase, int]:
    """The producer alone (publish) or the consumer alone (drain), watched by a Ticker and capped at
    --phase-timeout; returns the phase and the sampled peak RSS."""
    what = "publish, confirmed" if producer else "drain, consumed"
    tick = Ticker(label, what, o.messages, args, pid, exit_fn, producer=producer)
    ph = pb.run_phase(
        label,
        url,
        queue,
        o,
        consumer=not producer,
        producer=producer,
        stall_timeout=args.stall_timeout,
        seconds=args.phase_timeout,
        on_tick=tick,
    )
    finished(ph, args)
    return ph, tick.peak


def publish(label: str, url: str, queue: str, args, pid: int | None, exit_fn) -> tuple[pb.Phase, int]:
    """Publish --messages with confirms and no consumer; returns the phase and the sampled peak RSS."""
    o = POpts(
        messages=args.messages,
        size=args.size,
        window=args.window,
        uvloop=not args.no_uvloop,
        producer_declares=True,
        delete_queue=False,
    )
    ph, peak = run_watched(label, url, queue, o, args, pid, exit_fn, producer=True)
    if not ph.failed and ph.confirmed < args.messages:
        ph.status = "error"
        ph.errors.append(f"only {ph.confirmed} of {args.messages} messages confirmed")
    return ph, peak


def drain(
    label: str, url: str, queue: str, expected: int, args, pid: int | None, exit_fn
) -> tuple[pb.Phase, int]:
    """Consume the queue (manual multiple acks), checking order; returns the phase and the sampled peak RSS."""
    o = POpts(
        messages=expected,
        size=args.size,
        prefetch=args.prefetch,
        ack_every=args.ack_every,
        uvloop=not args.no_uvloop,
        delete_queue=True,
        target_from_declare=True,
    )
    return run_watched(label, url, queue, o, args, pid, exit_fn, producer=False)


def publish_line(label: str, ph: pb.Phase, args) -> str:
    mark = "" if not ph.failed else f" [{ph.status.upper()}, partial figure]"
    return (
        f"{label} publish: {ph.confirmed:,} persistent msgs of {args.size} B confirmed in "
        f"{ph.pub_seconds:.1f} s = {ph.pub_rate:,.0f} msg/s{mark}"
    )


def drain_line(label: str, ph: pb.Phase, args) -> str:
    mark = "" if not ph.failed else f" [{ph.status.upper()}, partial figure]"
    secs = ph.drain_seconds
    first = ph.t_cons_first - ph.t_cons_start if ph.t_cons_first else float("nan")
    order = "in order" if not ph.order_errors else f"{ph.order_errors:,} OUT OF ORDER"
    return (
        f"{label} drain: {ph.consumed:,} msgs in {secs:.1f} s = {ph.consumed / secs if secs else 0:,.0f} msg/s "
        f"(first delivery after {first:.2f} s; {order}; {ph.redelivered:,} flagged redelivered){mark}"
    )


def order_ok(pub: pb.Phase | None, dr: pb.Phase | None, n: int) -> tuple[bool, str]:
    if pub is None or pub.failed:
        return False, "not reached: the publish phase failed"
    if dr is None:
        return False, "not reached: the broker did not come back after the restart"
    problems = []
    if pub.nacks:
        problems.append(f"{pub.nacks} publishes nacked")
    if dr.consumed < n:
        problems.append(f"drained {dr.consumed:,} of {n:,}")
    if dr.queue_count >= 0 and dr.queue_count != n:
        problems.append(f"queue held {dr.queue_count:,} messages at consume time, expected {n:,}")
    if dr.order_errors:
        problems.append(
            f"{dr.order_errors:,} deliveries out of order (first: expected #{dr.bad_expected}, "
            f"got #{dr.bad_got})"
        )
    if dr.last_seq != n and dr.consumed:
        problems.append(f"last sequence number {dr.last_seq}, expected {n}")
    if dr.failed:
        problems.append(f"drain {dr.status}")
    if problems:
        return False, "; ".join(problems)
    return True, f"all {n:,} messages drained, sequence numbers 1..{n:,} in order"


# --------------------------------------------------------------------------------------------------
# amqpd: publish, restart, drain
# --------------------------------------------------------------------------------------------------


def run_amqpd(args, verdict: dict) -> int:
    """Publish, restart, drain on amqpd; prints the two checks and stores them in verdict."""
    n = args.messages
    limit = args.rss_limit_mb * MIB
    srv = Amqpd(args.keep_data)
    peaks: dict[str, int] = {}  # phase -> peak RSS in bytes (max of VmHWM and the sampled VmRSS)
    pub: pb.Phase | None = None
    dr: pb.Phase | None = None
    failure = ""
    queue = "amqpd-bench-backlog"
    try:
        t = srv.start(args.start_timeout)
        rss, _ = srv.sample()
        out(
            f"amqpd {amqpd_version()}: started on port {srv.port} (fresh data dir {srv.data_dir}); port accepting after {t:.2f} s, "
            f"RSS {mib(rss)}"
        )

        # 1. publish -------------------------------------------------------------------------------
        pub, sampled = publish("amqpd", srv.url, queue, args, srv.proc.pid, srv.exit_text)
        rss, hwm = srv.sample()
        peaks["publish"] = max(hwm, sampled)
        out(publish_line("amqpd", pub, args))
        out(
            f"amqpd publish: broker peak RSS {mib(peaks['publish'])} (VmHWM {mib(hwm)}, highest sampled "
            f"{mib(sampled)}), RSS at the end {mib(rss)}; data dir {srv.data_size() / MIB:,.0f} MiB"
        )
        report_phase(pub)
        if pub.failed:
            failure = f"publish phase {pub.status}"
            return 1

        # 2. restart and recovery ------------------------------------------------------------------
        stop_s, rc = srv.terminate(args.stop_timeout)
        stopped = srv.events("stopped")
        detail = (
            f", its 'stopped' line says {stopped[-1].get('seconds')} s"
            if stopped
            else ", no 'stopped' log line"
        )
        status = "killed with SIGKILL" if rc is None else f"status {rc}"
        out(f"amqpd restart: SIGTERM -> exit in {stop_s:.2f} s ({status}{detail})")
        if rc != 0:
            log(f"  warning: amqpd did not stop cleanly ({status}); log tail:\n{srv.log_tail()}")
        t = srv.start(args.recovery_timeout)
        rss, hwm = srv.sample()
        peaks["recovery"] = max(hwm, srv.rss_peak)
        rec = srv.events("recovered")
        if rec:
            r = rec[-1]
            rec_text = (
                f"'recovered' log line: {r.get('messages')} messages in {r.get('queues')} queue(s), "
                f"seconds={r.get('seconds')}"
            )
            extra = {
                k: v
                for k, v in r.items()
                if k not in ("event", "level", "timestamp", "messages", "queues", "seconds") and v
            }
            if extra:
                rec_text += f" {extra}"
        else:
            rec_text = "no 'recovered' log line found"
        out(f"amqpd recovery: process start -> port accepting {t:.2f} s; {rec_text}")
        time.sleep(args.settle)
        rss2, _ = srv.sample()
        out(
            f"amqpd recovery: RSS when the port accepted {mib(rss)}, {args.settle:g} s later {mib(rss2)}; "
            f"peak during recovery {mib(peaks['recovery'])}"
        )

        # 3. drain ---------------------------------------------------------------------------------
        dr, sampled = drain("amqpd", srv.url, queue, pub.confirmed, args, srv.proc.pid, srv.exit_text)
        rss, hwm = srv.sample()
        # VmHWM of the restarted process covers recovery and drain: above the recovery peak, it is the
        # drain's (exact, unlike the 100 ms samples).
        peaks["drain"] = max(sampled, hwm if hwm > peaks["recovery"] else 0)
        out(drain_line("amqpd", dr, args))
        out(
            f"amqpd drain: broker peak RSS {mib(peaks['drain'])} (highest sampled during the drain {mib(sampled)}, "
            f"VmHWM of the restarted process {mib(hwm)}), RSS at the end {mib(rss)}"
        )
        report_phase(dr)
        if dr.failed:
            failure = f"drain phase {dr.status}"
            return 1
        return 0
    except BenchError as e:
        failure = str(e).splitlines()[0]
        log(f"error: {e}")
        return 1
    finally:
        if failure:
            state = f"amqpd is {'running' if srv.alive else 'not running'}"
            if srv.proc is not None and not srv.alive:
                state += f" (exit status {srv.proc.returncode})"
            log(f"amqpd FAILED: {failure}; {state}; log tail ({srv.log_path.name}):\n{srv.log_tail()}")
        if srv.alive:
            stop_s, rc = srv.terminate(args.stop_timeout)
            if rc != 0:
                log(
                    f"  warning: final stop of amqpd: {'killed' if rc is None else f'status {rc}'} after "
                    f"{stop_s:.1f} s"
                )
        srv.stop(kill_wait=10)
        peak = max(peaks.values(), default=0)
        where = max(peaks, key=peaks.get) if peaks else "-"
        phases = ", ".join(f"{k} {mib(v)}" for k, v in peaks.items()) or "no figures"
        complete = pub is not None and not pub.failed and dr is not None and not dr.failed
        ok_rss = complete and peak < limit
        if peak >= limit:
            rss_text = f"peak {mib(peak)} = {peak / 1e9:.2f} GB in the {where} phase; per phase: {phases}"
        elif complete:
            rss_text = f"peak {mib(peak)} = {peak / 1e9:.2f} GB in the {where} phase; per phase: {phases}"
        else:
            rss_text = f"the run did not complete, so the limit was not verified; per phase so far: {phases}"
        ok_order, order_text = order_ok(pub, dr, n)
        out(
            f"check RSS < {args.rss_limit_mb} MiB with {n:,} x {args.size} B persistent messages: "
            f"{'PASS' if ok_rss else 'FAIL'} ({rss_text})"
        )
        out(f"check drains completely and in order: {'PASS' if ok_order else 'FAIL'} ({order_text})")
        verdict["rss"], verdict["order"] = ok_rss, ok_order


# --------------------------------------------------------------------------------------------------
# RabbitMQ: publish and drain (no restart)
# --------------------------------------------------------------------------------------------------


def run_rabbitmq(args) -> int:
    if not rabbitmq_answers(args.rabbitmq_url):
        return 0
    host, port = parse_url(args.rabbitmq_url)[:2]
    pid = listener_pid(port) if host in ("127.0.0.1", "localhost", "::1") else None
    if pid:
        rss0, _ = proc_mem(pid)
        out(f"rabbitmq: pid {pid} listens on {host}:{port}; RSS before the run {mib(rss0)}")
    else:
        log("rabbitmq: cannot find the broker's process; its RSS is not reported")
    queue = f"amqpd-bench-backlog-{uuid.uuid4().hex[:12]}"
    code = 0
    try:
        pub, peak = publish("rabbitmq", args.rabbitmq_url, queue, args, pid, None)
        out(publish_line("rabbitmq", pub, args))
        if pid:
            out(
                f"rabbitmq publish: broker peak RSS {mib(peak)} (highest sampled; VmHWM is the node's lifetime "
                f"peak and is not used), RSS at the end {mib(proc_mem(pid)[0])}"
            )
        report_phase(pub)
        if pub.failed:
            return 1
        out("rabbitmq recovery: skipped (RabbitMQ runs as a system service; this script does not restart it)")
        dr, peak = drain("rabbitmq", args.rabbitmq_url, queue, pub.confirmed, args, pid, None)
        out(drain_line("rabbitmq", dr, args))
        if pid:
            out(
                f"rabbitmq drain: broker peak RSS {mib(peak)} (highest sampled), RSS at the end "
                f"{mib(proc_mem(pid)[0])}"
            )
        report_phase(dr)
        ok, text = order_ok(pub, dr, args.messages)
        out(f"rabbitmq order: {'ok' if ok else 'NOT OK'} ({text})")
        if dr.failed or not ok:
            code = 1
        if not dr.deleted:
            err = delete_queue(args.rabbitmq_url, queue)
            if err:
                log(f"  warning: {err}")
        return code
    except BaseException:
        delete_queue(args.rabbitmq_url, queue)
        raise


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Backlog of persistent messages in one durable queue: publish with confirms and no "
        "consumer, restart amqpd and time its recovery, drain in order; reports rates and broker RSS."
    )
    ap.add_argument("--messages", type=int, default=1_000_000, help="default %(default)s")
    ap.add_argument("--size", type=int, default=1024, help="body size in bytes, >= 8 (default %(default)s)")
    ap.add_argument("--window", type=int, default=1000, help="max unconfirmed messages (default %(default)s)")
    ap.add_argument(
        "--prefetch", type=int, default=1000, help="drain: basic.qos prefetch (default %(default)s)"
    )
    ap.add_argument(
        "--ack-every", type=int, default=None, help="drain: ack (multiple) every N (default prefetch/4)"
    )
    ap.add_argument("--compare-rabbitmq", action="store_true", help="also publish and drain against RabbitMQ")
    ap.add_argument("--rabbitmq-url", default=DEFAULT_URL, help="default %(default)s")
    ap.add_argument(
        "--skip-amqpd", action="store_true", help="with --compare-rabbitmq: only measure RabbitMQ"
    )
    ap.add_argument("--keep-data", action="store_true", help="keep amqpd's data dir and logs")
    ap.add_argument(
        "--rss-limit-mb", type=int, default=1024, help="RSS check threshold in MiB (default 1024)"
    )
    ap.add_argument(
        "--abort-rss-mb",
        type=int,
        default=6144,
        help="abort a phase when amqpd's RSS exceeds this (MiB; default %(default)s; 0 = never)",
    )
    ap.add_argument("--progress-every", type=int, default=100_000, help="progress line interval (messages)")
    ap.add_argument(
        "--stall-timeout",
        type=float,
        default=30.0,
        help="no confirm / delivery for this long = stalled (default %(default)s s)",
    )
    ap.add_argument(
        "--phase-timeout",
        type=float,
        default=240.0,
        help="give up on a publish or drain phase after this long (default %(default)s s)",
    )
    ap.add_argument(
        "--start-timeout", type=float, default=30.0, help="first start of amqpd (default %(default)s s)"
    )
    ap.add_argument(
        "--recovery-timeout",
        type=float,
        default=120.0,
        help="restart: wait this long for the port to accept (default %(default)s s)",
    )
    ap.add_argument(
        "--stop-timeout", type=float, default=30.0, help="SIGTERM -> SIGKILL after (default %(default)s s)"
    )
    ap.add_argument(
        "--settle",
        type=float,
        default=1.0,
        help="seconds to wait before the second RSS reading after recovery (default %(default)s)",
    )
    ap.add_argument("--no-uvloop", action="store_true", help="default asyncio loop in the clients")
    args = ap.parse_args(argv)
    if min(args.messages, args.window, args.prefetch) <= 0 or args.size < 8:
        ap.error("--messages, --window and --prefetch must be positive and --size at least 8")
    resolve_ack_every(ap, args)
    if args.skip_amqpd and not args.compare_rabbitmq:
        ap.error("--skip-amqpd needs --compare-rabbitmq")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    def body(_stack) -> int:
        t0 = time.monotonic()
        code = 0
        if not args.skip_amqpd:
            verdict: dict = {}
            code = run_amqpd(args, verdict)
            if not (verdict.get("rss") and verdict.get("order")):
                code = 1
        if args.compare_rabbitmq:
            code = max(code, run_rabbitmq(args))
        log(f"total {time.monotonic() - t0:.0f} s")
        return code

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
