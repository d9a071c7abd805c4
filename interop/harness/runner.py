"""The shared body of the interop runners (interop/run_*.py).

A runner: gets its suite (a pinned sdist from PyPI, or the harness's own application programs), gets a
broker (a private amqpd, or the external broker in AMQP_URL / --url; an sdist suite gets it through
fake Docker, or with `broker_env` directly through environment variables, management API included),
checks that the broker answers,
runs the suite under pytest with a per-test timeout, prints one line per test and closes with
`NAME: N passed, M failed, K skipped`. It exits non-zero on any failure not explained by
interop/baseline (fails on RabbitMQ 3.10 too) or interop/known (a recorded amqpd deviation), when the
suite cannot be fetched, when the broker cannot be reached, or when no test ran.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import sdist as sdist_mod
from .broker import Amqpd, BrokerEndpoint, amqp_handshake_ok, free_loopback_address, free_port, parse_amqp_url
from .expectations import Expectations

INTEROP_DIR = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(os.environ.get("INTEROP_RESULTS") or INTEROP_DIR / ".results")


@dataclass
class Suite:
    name: str                      # "aio-pika"
    version: str                   # the pinned version under test
    # An sdist suite: project/sha256 name the PyPI sdist; its tests/ run with the fake Docker daemon.
    project: str | None = None
    sha256: str | None = None
    must_contain: list[str] = field(default_factory=list)  # files the sdist must have (its tests)
    root_conftest: Path | None = None                     # copied to <sdist>/conftest.py (a parent conftest)
    tls_from_sdist: tuple[str, str, str] | None = None    # (cert, key, ca) paths inside the sdist
    # An sdist suite that reads its broker from environment variables instead of starting a container:
    # broker_env(AMQP endpoint, management API URL) gives them; the broker has its management API.
    broker_env: Callable[[BrokerEndpoint, str], dict[str, str]] | None = None
    amqp_port: int | None = None  # the suite always connects to this port of its host
    targets: list[str] = field(default_factory=lambda: ["tests"])  # what pytest runs (relative to the sdist)
    # An application suite: pytest files under interop/apps.
    app_tests: list[str] = field(default_factory=list)
    pytest_args: list[str] = field(default_factory=list)
    fast: list[str] = field(default_factory=list)         # node ids / paths of the fast subset (CI)
    fast_k: str | None = None                             # and a -k expression narrowing it
    timeout: int = 90                                     # per test, seconds
    check_versions: dict[str, str] = field(default_factory=dict)  # installed distributions that must match
    prepare_env: Callable[[dict], None] | None = None


class Loud(RuntimeError):
    """A condition that must fail the run with a clear message (suite or broker unavailable)."""


def _parse(argv: list[str] | None, suite: Suite) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"run_{suite.name.replace('-', '_')}.py",
                                description=f"Run the {suite.name} {suite.version} interop suite.")
    p.add_argument("--url", default=os.environ.get("AMQP_URL"),
                   help="an external broker to test instead of a private amqpd (default: $AMQP_URL)")
    p.add_argument("--http-url", default=os.environ.get("AMQP_HTTP_URL"),
                   help="the external broker's management API (default: $AMQP_HTTP_URL, else http://<host>:15672)")
    p.add_argument("--broker-name", default=None,
                   help="label for the external broker in reports (default: rabbitmq)")
    p.add_argument("--fast", action="store_true", help="only the fast subset that CI runs")
    p.add_argument("--timeout", type=int, default=suite.timeout, help="per-test timeout in seconds")
    p.add_argument("--suite-timeout", type=int, default=int(os.environ.get("INTEROP_SUITE_TIMEOUT", 3600)),
                   help="wall-clock limit for the whole pytest run")
    p.add_argument("--retries", type=int, default=1,
                   help="re-run unexpected failures this many times, to tell flaky tests from real failures")
    p.add_argument("--results", type=Path, default=None, help="directory for logs and the JSON summary")
    p.add_argument("-k", dest="keyword", default=None, help="pytest -k expression")
    p.add_argument("select", nargs="*", help="node ids or paths (relative to the suite root) to run")
    return p.parse_args(argv)


def _print(*args: object) -> None:
    print(*args, flush=True)


def _check_versions(suite: Suite) -> None:
    from importlib.metadata import PackageNotFoundError, version

    for dist, want in suite.check_versions.items():
        try:
            have = version(dist)
        except PackageNotFoundError:
            raise Loud(f"{dist}=={want} is not installed in {sys.executable}; "
                       f"pip install -r {INTEROP_DIR / 'requirements.txt'}") from None
        if have != want:
            raise Loud(f"{dist} {have} is installed but the suite is pinned to {want}; "
                       f"pip install -r {INTEROP_DIR / 'requirements.txt'}")


def _prepare_sdist(suite: Suite, work: Path) -> Path:
    assert suite.project and suite.sha256
    try:
        archive = sdist_mod.download_sdist(suite.project, suite.version, suite.sha256)
    except sdist_mod.SuiteUnavailable as exc:
        raise Loud(str(exc)) from None
    root = sdist_mod.unpack(archive, work / "src")
    missing = [f for f in suite.must_contain if not (root / f).exists()]
    if missing:
        raise Loud(f"{archive.name} does not contain {missing}: the sdist ships no (or other) tests")
    if suite.root_conftest is not None:
        shutil.copy(suite.root_conftest, root / "conftest.py")
    return root


def _preflight(endpoint: BrokerEndpoint, what: str) -> None:
    """The broker must answer AMQP and accept guest: a suite must never 'pass nothing' silently."""
    if not amqp_handshake_ok(endpoint.host, endpoint.port, 5):
        raise Loud(f"BROKER UNREACHABLE: nothing answers AMQP on {endpoint.host}:{endpoint.port} ({what})")
    try:
        import pika

        params = pika.URLParameters(endpoint.url)
        params.socket_timeout = params.blocked_connection_timeout = 10
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"preflight")
        ok = ch.basic_get(q, auto_ack=True)[2] == b"preflight"
        conn.close()
    except Exception as exc:  # noqa: BLE001 - any failure here means the suite cannot run meaningfully
        raise Loud(f"BROKER UNUSABLE at {endpoint.url} ({what}): {exc!r}") from None
    if not ok:
        raise Loud(f"BROKER UNUSABLE at {endpoint.url} ({what}): a published message did not come back")


def _preflight_http(endpoint: BrokerEndpoint, http_url: str, what: str) -> None:
    """The management API must answer /api/whoami for the suite's user."""
    import base64
    import urllib.request

    token = base64.b64encode(f"{endpoint.user}:{endpoint.password}".encode()).decode()
    req = urllib.request.Request(http_url.rstrip("/") + "/api/whoami", headers={"Authorization": f"Basic {token}"})
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                if resp.status == 200:
                    return
                problem = f"HTTP {resp.status}"
        except Exception as exc:  # noqa: BLE001 - reported below
            problem = repr(exc)
        if time.monotonic() > deadline:
            raise Loud(f"MANAGEMENT API UNUSABLE at {http_url} ({what}): {problem}")
        time.sleep(0.3)


def _direct_broker(suite: Suite, ns: argparse.Namespace, external: BrokerEndpoint | None, results_dir: Path,
                   cleanup: list[Callable[[], None]]) -> tuple[BrokerEndpoint, str]:
    """(endpoint, management URL) for a suite that reaches its broker directly: the external broker, or
    a private amqpd with its management API (on its own loopback address when the suite needs a fixed
    AMQP port)."""
    if external is not None:
        if suite.amqp_port and external.port != suite.amqp_port:
            raise Loud(f"the {suite.name} suite connects to port {suite.amqp_port} of its host; "
                       f"AMQP_URL names port {external.port}")
        http_url = ns.http_url or f"http://{external.host}:15672"
        _preflight(external, "AMQP_URL")
        _preflight_http(external, http_url, "--http-url / AMQP_HTTP_URL")
        return external, http_url
    try:
        host = free_loopback_address(suite.amqp_port) if suite.amqp_port else "127.0.0.1"
        amqpd = Amqpd(results_dir, name="amqpd", host=host, port=suite.amqp_port, management_port=free_port())
        cleanup.append(amqpd.kill)
        amqpd.start()
    except RuntimeError as exc:
        raise Loud(f"BROKER UNAVAILABLE: {exc}") from None
    http_url = f"http://127.0.0.1:{amqpd.management_port}"
    _preflight(amqpd.endpoint, "the private amqpd")
    _preflight_http(amqpd.endpoint, http_url, "the private amqpd")
    return amqpd.endpoint, http_url


def _read_report(path: Path) -> tuple[list[dict], int | None]:
    results: dict[str, dict] = {}
    exitstatus = None
    if path.exists():
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("event") == "sessionfinish":
                exitstatus = entry["exitstatus"]
            elif "nodeid" in entry:
                results[entry["nodeid"]] = entry
    return list(results.values()), exitstatus


def _run_pytest(args: list[str], cwd: Path, env: dict, report: Path, log: Path, limit: int,
                on_result: Callable[[dict], None]) -> tuple[list[dict], int | None, int]:
    """Runs pytest in a subprocess; calls on_result for each finished test as it arrives."""
    report.unlink(missing_ok=True)
    env = {**env, "INTEROP_REPORT": str(report)}
    seen = 0
    with open(log, "ab") as out:
        out.write(f"\n=== {' '.join(args)}\n".encode())
        out.flush()
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + limit
        while True:
            done = proc.poll() is not None
            if report.exists():
                lines = report.read_text().splitlines()
                for line in lines[seen:]:
                    entry = json.loads(line)
                    if "nodeid" in entry:
                        on_result(entry)
                seen = len(lines)
            if done:
                break
            if time.monotonic() > deadline:
                _print(f"!! the suite ran over its {limit}s limit; stopping it")
                os.killpg(proc.pid, 9)
                proc.wait()
                break
            time.sleep(0.2)
    results, exitstatus = _read_report(report)
    return results, exitstatus, proc.returncode


def _fmt(entry: dict, why: str = "") -> str:
    outcome = entry["outcome"].upper()
    label = {"ERROR": "FAILED"}.get(outcome, outcome)
    text = f"{label:8} {entry['nodeid']}  ({entry['duration']:.2f}s)"
    if entry["outcome"] != "passed" and entry.get("message"):
        phase = f"{entry['phase']}: " if entry["outcome"] == "error" or entry["phase"] == "teardown" else ""
        text += f"\n         -- {phase}{entry['message'][:300]}"
    if why:
        text += f"\n         -- {why}"
    return text


def main(suite: Suite, argv: list[str] | None = None) -> int:
    ns = _parse(argv, suite)
    external = parse_amqp_url(ns.url) if ns.url else None
    broker_label = (ns.broker_name or "rabbitmq") if external else "amqpd"
    results_dir = ns.results or RESULTS_DIR / f"{suite.name}-{broker_label}{'-fast' if ns.fast else ''}"
    shutil.rmtree(results_dir, ignore_errors=True)
    results_dir.mkdir(parents=True)
    expect = Expectations(suite.name, broker_is_amqpd=external is None)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    cleanup: list[Callable[[], None]] = []
    _print(f"== {suite.name} {suite.version} against {broker_label}"
           f"{' at ' + external.url if external else ''}{' (fast subset)' if ns.fast else ''}; "
           f"logs in {results_dir}")
    t0 = time.monotonic()
    try:
        _check_versions(suite)
        env = dict(os.environ)
        env.pop("AMQP_URL", None)  # the suites get their broker from the harness only
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        docker = None
        if suite.project and suite.broker_env is not None:
            root = cwd = _prepare_sdist(suite, results_dir)
            _print(f"   suite: {suite.project}=={suite.version} sdist unpacked in {root}")
            endpoint, http_url = _direct_broker(suite, ns, external, results_dir, cleanup)
            _print(f"   broker: {endpoint.url}, management API {http_url}")
            env.update(suite.broker_env(endpoint, http_url))
            env["PYTHONPATH"] = os.pathsep.join([str(root), str(INTEROP_DIR)])
            targets = list(suite.targets)
        elif suite.project:
            root = _prepare_sdist(suite, results_dir)
            _print(f"   suite: {suite.project}=={suite.version} sdist unpacked in {root}")
            from .fakedocker import FakeDocker
            from .tlsproxy import make_self_signed

            if suite.tls_from_sdist:
                cert, key, ca = (root / p for p in suite.tls_from_sdist)
            else:
                (cert, key), ca = make_self_signed(results_dir / "certs"), None
            if external is None:
                probe = Amqpd(results_dir, name="amqpd-preflight")
                cleanup.append(probe.kill)
                try:
                    probe.start()
                except RuntimeError as exc:
                    raise Loud(f"BROKER UNAVAILABLE: {exc}") from None
                _preflight(probe.endpoint, "a throwaway amqpd started like the suite's containers")
                probe.stop()
            else:
                _preflight(external, "AMQP_URL")
            docker = FakeDocker(results_dir / "docker", external, cert, key, ca)
            cleanup.append(docker.close)
            env["DOCKER_HOST"] = docker.docker_host
            env["PYTHONPATH"] = os.pathsep.join([str(root), str(INTEROP_DIR)])
            cwd = root
            targets = list(suite.targets)
        else:
            root = cwd = INTEROP_DIR / "apps"
            if external is None:
                amqpd = Amqpd(results_dir, name="amqpd")
                cleanup.append(amqpd.kill)
                try:
                    amqpd.start()
                except RuntimeError as exc:
                    raise Loud(f"BROKER UNAVAILABLE: {exc}") from None
                endpoint = amqpd.endpoint
            else:
                endpoint = external
            _preflight(endpoint, "the broker the programs use")
            env["INTEROP_BROKER_URL"] = endpoint.url
            env["INTEROP_RESULTS_DIR"] = str(results_dir)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(INTEROP_DIR), str(INTEROP_DIR / "apps"),
                                                            env.get("PYTHONPATH")) if p)
            targets = list(suite.app_tests)
        if suite.prepare_env:
            suite.prepare_env(env)
        if ns.select:
            targets = list(ns.select)
        elif ns.fast:
            targets = list(suite.fast)
        base = [sys.executable, "-m", "pytest", "-p", "harness.report", "-p", "no:cacheprovider",
                f"--timeout={ns.timeout}", "-o", "timeout_method=signal", "-o", "log_cli=false",
                "-q", "-rN", "--rootdir", str(root), *suite.pytest_args]
        keyword = ns.keyword or (suite.fast_k if ns.fast and not ns.select else None)
        if keyword:
            base += ["-k", keyword]
        report = results_dir / "report.jsonl"
        log = results_dir / "pytest.log"

        def live(entry: dict) -> None:
            if entry["outcome"] in ("failed", "error"):
                e = expect.explain(entry["nodeid"])
                why = f"expected: {e.category}: {e.reason}" if e else "UNEXPECTED"
                _print(_fmt(entry, why))
            else:
                _print(_fmt(entry))

        results, exitstatus, rc = _run_pytest(base + targets, cwd, env, report, log, ns.suite_timeout, live)
        if exitstatus is None:
            _print(f"!! pytest did not finish its session (exit code {rc}); see {log}")
        if not results:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise Loud(f"NO TESTS RAN (pytest exit code {rc}); see {log}:\n{tail}")

        # Re-run unexpected failures: a pass on retry is reported as flaky, not as a failure.
        final = {r["nodeid"]: r for r in results}
        for attempt in range(ns.retries):
            retry = [n for n, r in final.items() if r["outcome"] in ("failed", "error") and not expect.explain(n)]
            if not retry or len(retry) > 50:
                break
            _print(f"-- re-running {len(retry)} unexpected failure(s) (attempt {attempt + 1})")
            again, _, _ = _run_pytest(base + retry, cwd, env, results_dir / f"retry{attempt + 1}.jsonl",
                                      log, ns.suite_timeout, lambda e: None)
            for r in again:
                if r["nodeid"] in final and r["outcome"] == "passed":
                    r["flaky"] = True
                    final[r["nodeid"]] = r
                    _print(f"FLAKY    {r['nodeid']}  (failed, then passed on retry)")

        unexpected, expected_fail, unexpected_pass = [], [], []
        for r in final.values():
            bucket = {"error": "failed"}.get(r["outcome"], r["outcome"])
            counts[bucket] += 1
            e = expect.explain(r["nodeid"])
            r["expectation"] = {"category": e.category, "reason": e.reason, "pattern": e.pattern} if e else None
            if bucket == "failed":
                (expected_fail if e else unexpected).append(r)
            elif bucket == "passed" and e is not None and e.category != "baseline":
                unexpected_pass.append(r)
        duration = time.monotonic() - t0
        summary = {"suite": suite.name, "version": suite.version, "broker": broker_label, "fast": ns.fast,
                   **counts, "unexpected": [r["nodeid"] for r in unexpected],
                   "expected_failures": len(expected_fail), "duration": round(duration, 1),
                   "pytest_exit": rc, "tests": sorted(final.values(), key=lambda r: r["nodeid"])}
        (results_dir / "summary.json").write_text(json.dumps(summary, indent=1))
        if docker is not None:
            (results_dir / "docker-events.log").write_text("\n".join(docker.events) + "\n")
        _print("")
        if expected_fail:
            by_cat: dict[str, int] = {}
            for r in expected_fail:
                by_cat[r["expectation"]["category"]] = by_cat.get(r["expectation"]["category"], 0) + 1
            _print(f"expected failures: {len(expected_fail)} "
                   f"({', '.join(f'{k}: {v}' for k, v in sorted(by_cat.items()))})")
        if unexpected_pass:
            _print(f"note: {len(unexpected_pass)} test(s) listed in interop/known/{suite.name}.txt now pass "
                   f"on amqpd; remove their entries:")
            for r in unexpected_pass:
                _print(f"   {r['nodeid']}")
        if unexpected:
            _print(f"UNEXPECTED FAILURES: {len(unexpected)}")
            for r in unexpected:
                _print(f"   {r['nodeid']} -- {r.get('message', '')[:200]}")
            _print(f"(pytest output: {log})")
        if counts["passed"] == 0:
            _print("!! NOTHING PASSED: the suite could not use the broker")
        ok = not unexpected and counts["passed"] > 0
        _print(f"{suite.name}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
        return 0 if ok else 1
    except Loud as exc:
        _print(f"!! {suite.name}: {exc}")
        (results_dir / "summary.json").write_text(json.dumps(
            {"suite": suite.name, "version": suite.version, "broker": broker_label, "fast": ns.fast,
             **counts, "error": str(exc), "unexpected": ["<harness>"]}, indent=1))
        _print(f"{suite.name}: {counts['passed']} passed, {max(counts['failed'], 1)} failed, "
               f"{counts['skipped']} skipped")
        return 2
    finally:
        for fn in reversed(cleanup):
            try:
                fn()
            except Exception:
                pass
