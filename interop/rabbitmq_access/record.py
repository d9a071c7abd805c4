"""Run tests/integration/access_scenario.py against RabbitMQ and store the results as a fixture.

Usage:
    python interop/rabbitmq_access/record.py [--host 127.0.0.1] [--port 5672] [--no-reset] [--check]

By default our vhosts and users are first deleted from RabbitMQ and definitions.json is imported
(setup_rabbitmq.py --reset --load), so that the recording starts from exactly the state that amqpd will
load, and the stored password hashes are proven to work with passwords.json. --check compares with the
stored fixture instead of overwriting it (exit 1 on a difference), to show that the recording is stable.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(HERE))

import setup_rabbitmq  # noqa: E402
from access_scenario import run_scenario  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "rabbitmq-3.10" / "access.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5672)
    parser.add_argument("--no-reset", action="store_true", help="run against the broker's current state")
    parser.add_argument("--check", action="store_true", help="compare with the stored fixture, do not write")
    args = parser.parse_args(argv)
    if not args.no_reset:
        setup_rabbitmq.main(["--reset", "--load"])
        time.sleep(1)  # let RabbitMQ finish tracking the connections of the previous run
    started = time.monotonic()
    results = run_scenario(args.host, args.port)
    elapsed = time.monotonic() - started
    text = json.dumps(results, indent=1, sort_keys=True) + "\n"
    refused = sum(1 for r in results if r["result"] != "ok")
    print(f"{len(results)} steps ({refused} refused) in {elapsed:.1f}s")
    if args.check:
        old = json.loads(OUT.read_text())
        diffs = [(a, b) for a, b in zip(old, results, strict=False) if a != b]
        if diffs or len(old) != len(results):
            for a, b in diffs:
                print("- " + json.dumps(a, sort_keys=True))
                print("+ " + json.dumps(b, sort_keys=True))
            return 1
        print("identical to", OUT)
        return 0
    OUT.write_text(text)
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
