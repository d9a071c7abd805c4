"""What the benchmark scripts share around the client: starting amqpd, finding the broker(s) to measure
(amqpd, and RabbitMQ with --compare-rabbitmq), broker memory, and the common output lines.

bench/ is not a package: the scripts put bench/ on sys.path and `import harness`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from amqpclient import BenchError, parse_url

REPO_ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20


def log(msg: str) -> None:
    """Details, progress, errors and warnings: stderr."""
    print(msg, file=sys.stderr, flush=True)


def out(msg: str) -> None:
    """Results: stdout."""
    print(msg, flush=True)


def mib(n: float) -> str:
    return f"{n / MIB:,.0f} MiB"


# --------------------------------------------------------------------------------------------------
# Starting amqpd
# --------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class AmqpdServer:
    """`python -m amqpd` on a free port with a data dir in a temporary directory, logging to a file there.

    stop() stops it (SIGTERM, SIGKILL after 15 s) and removes the directory unless keep.
    """

    poll_interval = 0.05  # while waiting for the port
    kept_text = "amqpd data and log kept in"

    def __init__(
        self, keep: bool, prefix: str = "amqpd-bench-", extra_args: tuple[str, ...] = (), src: Path | None = None
    ) -> None:
        self.keep = keep
        self.src = Path(src) if src else REPO_ROOT  # the source tree amqpd is run from
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        self.data_dir = self.tmp / "data"
        self.port = free_port()
        self.extra_args = list(extra_args)
        self.log_path = self.tmp / "amqpd.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def sample(self):
        """Called while waiting for the port (subclasses sample the process' memory)."""

    def early_exit_text(self) -> str:
        return f"amqpd exited early with status {self.proc.returncode}:\n{self.log_tail()}"

    def timeout_text(self, timeout: float) -> str:
        return f"amqpd did not listen on port {self.port} within {timeout:g} s:\n{self.log_tail()}"

    def start(self, timeout: float = 20.0) -> float:
        """Start amqpd and wait until its port accepts connections; returns the seconds that took."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.src), env.get("PYTHONPATH")) if p)
        cmd = [
            sys.executable,
            "-m",
            "amqpd",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *(["--management-port", "0"] if "--management-port" not in self.extra_args else []),
            *(["--prometheus-port", "0"] if "--prometheus-port" not in self.extra_args else []),
            *self.extra_args,
        ]
        with open(self.log_path, "wb") as logf:
            t0 = time.monotonic()
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.src,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(self.early_exit_text())
            self.sample()
            if port_answers("127.0.0.1", self.port, 0.5):
                return time.monotonic() - t0
            time.sleep(self.poll_interval)
        raise BenchError(self.timeout_text(timeout))

    def terminate(self, timeout: float, kill_wait: float = 10) -> tuple[float, int | None]:
        """SIGTERM, wait; SIGKILL after `timeout`. Returns (seconds, exit status; None if it was killed)."""
        if not self.alive:
            return 0.0, self.proc.returncode if self.proc else None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(kill_wait)
            return time.monotonic() - t0, None
        return time.monotonic() - t0, self.proc.returncode

    def stop(self, kill_wait: float = 5) -> None:
        self.terminate(15, kill_wait)
        if self.keep:
            log(f"{self.kept_text} {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def amqpd_version() -> str:
    """The commit of the amqpd being measured (`git describe --always --dirty`), or "unknown"."""
    try:
        r = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return r.stdout.strip() or "unknown"


# --------------------------------------------------------------------------------------------------
# Process memory
# --------------------------------------------------------------------------------------------------


def proc_mem(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes; (0, 0) if it cannot be read."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return rss, hwm


def listener_pid(port: int) -> int | None:
    """pid of the process listening on TCP port `port` (needs permission to read its /proc/*/fd)."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(f"socket:[{parts[9]}]")
        except OSError:
            continue
    if not inodes:
        return None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return int(pid)
        except OSError:
            continue
    return None


# --------------------------------------------------------------------------------------------------
# Brokers to measure, and the command line
# --------------------------------------------------------------------------------------------------


def require_broker(url: str, hint: str = "") -> tuple[str, int]:
    """(host, port) of url; BenchError (exit status 2 under run_main) when nothing answers there."""
    host, port = parse_url(url)[:2]
    if not port_answers(host, port):
        raise BenchError(f"nothing answers at {host}:{port} (--url){hint}")
    return host, port


def rabbitmq_answers(url: str) -> bool:
    """Whether RabbitMQ answers at url (--rabbitmq-url); if not, says that the comparison is skipped."""
    host, port = parse_url(url)[:2]
    if port_answers(host, port):
        return True
    log(f"rabbitmq: nothing answers at {host}:{port}; comparison skipped")
    return False


def targets(amqpd_url: str, args) -> list[tuple[str, str]]:
    """(label, url) of amqpd, plus RabbitMQ with --compare-rabbitmq when it answers."""
    found = [("amqpd", amqpd_url)]
    if args.compare_rabbitmq and rabbitmq_answers(args.rabbitmq_url):
        found.append(("rabbitmq", args.rabbitmq_url))
    return found


def alternate(brokers: list[tuple[str, str]], repeat: int) -> Iterator[tuple[str, str]]:
    """Each broker `repeat` times, alternating them so that drift in machine load affects both alike."""
    for _ in range(repeat):
        yield from brokers


def resolve_ack_every(ap, args) -> None:
    """--ack-every defaults to prefetch/4 (250 without a prefetch) and must be between 1 and --prefetch."""
    if args.ack_every is None:
        args.ack_every = max(1, args.prefetch // 4) if args.prefetch else 250
    if args.ack_every <= 0 or (args.prefetch and args.ack_every > args.prefetch):
        ap.error("--ack-every must be between 1 and --prefetch")


def run_main(body: Callable[[contextlib.ExitStack], int]) -> int:
    """Run a script's body(stack) and return its exit status: 2 on BenchError (no broker to test),
    130 on Ctrl-C. SIGTERM unwinds too. What the body registers on the stack (stopping amqpd) runs
    last, after the error is reported."""
    # SIGTERM: unwind through the finally blocks so that the clients and amqpd are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with contextlib.ExitStack() as stack:
        try:
            return body(stack)
        except BenchError as e:
            log(f"error: {e}")
            return 2
        except KeyboardInterrupt:
            log("interrupted")
            return 130


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


def status_mark(status: str) -> str:
    """What a run's result line ends with when the run did not simply complete."""
    if status == "capped":
        return " [stopped at --seconds cap]"
    if status == "stalled":
        return " [STALLED, partial figure]"
    if status in ("error", "aborted"):
        return " [FAILED, partial figure]"
    return ""


def report_problems(errors: list[str], warnings: list[str]) -> None:
    for e in errors:
        log(f"  error: {e}")
    for w in warnings:
        log(f"  warning: {w}")


def cpu_text(cpu: dict) -> str:
    return ", ".join(f"{k} {v:.2f} s" for k, v in sorted(cpu.items()))


def print_medians(runs: dict[str, list], rate: Callable[[object], float], repeat: int) -> dict[str, float]:
    """Median msg/s per broker over its runs (none for a broker with a failed run); printed if repeat > 1."""
    medians: dict[str, float] = {}
    for label, rs in runs.items():
        if any(r.failed for r in rs):
            continue
        rates = sorted(rate(r) for r in rs)
        medians[label] = statistics.median(rates)
        if repeat > 1:
            out(
                f"{label}: median of {len(rs)} runs = {medians[label]:,.0f} msg/s "
                f"(min {rates[0]:,.0f}, max {rates[-1]:,.0f})"
            )
    return medians


def print_ratio(runs: dict[str, list], medians: dict[str, float]) -> None:
    if "rabbitmq" in runs and "amqpd" in medians and medians.get("rabbitmq"):
        out(f"ratio amqpd/rabbitmq: {medians['amqpd'] / medians['rabbitmq']:.2f}")
