"""python -m interop.management_compare record|compare --url URL --amqp-port N [--user U --password P]"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .compare import compare, report
from .scenario import run

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "rabbitmq-3.10" / "management_compare.json"


def mark_unstable(recording: dict, again: dict) -> None:
    """Facets whose answer changed between two runs against the same broker (statistics emitted a
    moment earlier or later) are listed per step as "unstable" and left out of comparisons."""
    other = {s["id"]: s["facets"] for s in again["steps"]}
    for step in recording["steps"]:
        theirs = other.get(step["id"], {})
        varied = {f for f in set(step["facets"]) | set(theirs) if step["facets"].get(f) != theirs.get(f)}
        if varied:
            step["unstable"] = sorted(set(step.get("unstable", ())) | varied)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interop.management_compare", description=__doc__)
    parser.add_argument("mode", choices=("record", "compare"))
    parser.add_argument("--url", default="http://127.0.0.1:15672", help="management API base URL")
    parser.add_argument("--amqp-host", default="127.0.0.1")
    parser.add_argument("--amqp-port", type=int, default=5672)
    parser.add_argument("--user", default="guest", help="an administrator")
    parser.add_argument("--password", default="guest")
    parser.add_argument("--file", type=Path, default=FIXTURE,
                        help="the recording to write (record) or to compare with (compare)")
    parser.add_argument("--out", type=Path, help="compare: also write this run's recording here")
    parser.add_argument("--threshold", type=float, default=0.95, help="compare: lowest passing match ratio")
    parser.add_argument("--poll-timeout", type=float, default=15.0,
                        help="how long a settling step waits for statistics to catch up (s)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="record: run this many times; facets that vary between runs are not compared")
    parser.add_argument("--strict", action="store_true",
                        help="compare: Erlang VM facts too (garbage_collection, reductions, io_*, ...)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each step as it runs")
    args = parser.parse_args(argv)

    def progress(step, result):
        if args.verbose:
            print(f"{result['facets'].get('status', result['facets'].get('outcome', '')):>4} {step.describe()}",
                  file=sys.stderr)

    expected = json.loads(args.file.read_text()) if args.mode == "compare" else None
    got = run(args.url, args.user, args.password, args.amqp_port, args.amqp_host, expected=expected,
              poll_timeout=args.poll_timeout, progress=progress)
    if args.mode == "record":
        for _ in range(args.repeat - 1):
            again = run(args.url, args.user, args.password, args.amqp_port, args.amqp_host,
                        poll_timeout=args.poll_timeout, progress=progress)
            mark_unstable(got, again)
    if args.mode == "record" or args.out:
        target = args.file if args.mode == "record" else args.out
        target.write_text(json.dumps(got, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
        print(f"{len(got['steps'])} steps in {got['seconds']} s written to {target}")
    if args.mode == "record":
        return 0
    result = compare(expected, got, strict=args.strict)
    print(report(result, args.threshold))
    return 0 if result.ratio >= args.threshold else 1


if __name__ == "__main__":
    sys.exit(main())
