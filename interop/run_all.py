#!/usr/bin/env python3
"""Run every interop suite and print a summary table.

    python interop/run_all.py                   # all suites against a private amqpd each
    python interop/run_all.py --fast            # the fast subset (what CI runs)
    AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2F python interop/run_all.py --record-baseline
                                                # against RabbitMQ; stores the counts in baseline/results.json

The table shows each suite's counts on the broker just tested and, from interop/baseline/results.json,
the counts recorded on RabbitMQ 3.10. Exit status: non-zero if any suite had an unexpected failure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness.runner import RESULTS_DIR  # noqa: E402

SUITES = ["aiormq", "aio-pika", "celery", "kombu", "pika", "amqpstorm"]
BASELINE = HERE / "baseline" / "results.json"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fast", action="store_true")
    p.add_argument("--suites", default=",".join(SUITES))
    p.add_argument("--record-baseline", action="store_true",
                   help="store the counts in baseline/results.json (run against RabbitMQ via AMQP_URL)")
    ns = p.parse_args()
    external = bool(os.environ.get("AMQP_URL"))
    if ns.record_baseline and not external:
        p.error("--record-baseline needs AMQP_URL (the reference RabbitMQ)")
    broker = "rabbitmq" if external else "amqpd"
    rows = []
    rc_all = 0
    for name in ns.suites.split(","):
        script = HERE / f"run_{name.replace('-', '_')}.py"
        t0 = time.monotonic()
        rc = subprocess.call([sys.executable, str(script), *(["--fast"] if ns.fast else [])])
        rc_all = rc_all or rc
        summary_path = RESULTS_DIR / f"{name}-{broker}{'-fast' if ns.fast else ''}" / "summary.json"
        s = json.loads(summary_path.read_text()) if summary_path.exists() else {"suite": name, "error": "no summary"}
        s["rc"], s["wall"] = rc, round(time.monotonic() - t0)
        rows.append(s)
        print(flush=True)
    recorded = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    if ns.record_baseline:
        for s in rows:
            recorded[s["suite"]] = {k: s.get(k) for k in ("version", "passed", "failed", "skipped")}
        BASELINE.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"Interop summary ({broker}{', fast subset' if ns.fast else ''})")
    head = f"{'suite':10} {'version':9} {broker + ' passed':>14} {'failed':>7} {'skipped':>8} " \
           f"{'expected-fail':>13} {'UNEXPECTED':>10} {'rabbitmq 3.10 passed':>21} {'time':>6}"
    print(head)
    print("-" * len(head))
    totals = [0, 0, 0, 0]
    for s in rows:
        rec = recorded.get(s["suite"], {})
        rmq = f"{rec['passed']}/{rec['passed'] + rec['failed']}" if rec else "-"
        unexpected = len(s.get("unexpected", [])) if "error" not in s else "ERROR"
        print(f"{s['suite']:10} {s.get('version', '?'):9} {s.get('passed', 0):>14} {s.get('failed', 0):>7} "
              f"{s.get('skipped', 0):>8} {s.get('expected_failures', 0):>13} {unexpected!s:>10} {rmq:>21} "
              f"{s['wall']:>5}s")
        for i, k in enumerate(("passed", "failed", "skipped")):
            totals[i] += s.get(k, 0) or 0
        if "error" in s:
            print(f"    !! {s['error'].splitlines()[0]}")
    print("-" * len(head))
    print(f"interop: {totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 1 if rc_all else 0


if __name__ == "__main__":
    sys.exit(main())
