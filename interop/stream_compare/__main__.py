"""python -m interop.stream_compare --url amqp://guest:guest@127.0.0.1:5672/%2F --record FILE | --compare FILE

Runs the stream scenario (scenario.py) against the broker at --url. --record writes the normalised
recording to FILE; --compare runs it and prints a per-step same/DIFFERS table against FILE, exiting 1
when a step differs (--out keeps this run's recording too)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from .compare import compare, table
from .runner import Context
from .scenario import run

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "rabbitmq-3.10" / "streams" / "amqp.json"


def record(url: str, http_url: str | None = None, prometheus_url: str | None = None, verbose: bool = False,
           idle: float = 0.3) -> dict[str, Any]:
    """Run the scenario against the broker at url; the normalised recording."""
    u = urllib.parse.urlparse(url)
    ctx = Context(url, http_url, prometheus_url, urllib.parse.unquote(u.username or "guest"),
                  urllib.parse.unquote(u.password or "guest"), idle=idle)
    started = time.monotonic()
    run(ctx)
    seconds = round(time.monotonic() - started, 1)
    if verbose:
        for s in ctx.steps:
            print(json.dumps(s, ensure_ascii=False), file=sys.stderr)
    return {"scenario": "interop/stream_compare", "broker": ctx.broker, "seconds": seconds, "steps": ctx.steps}


def dump(recording: dict[str, Any]) -> str:
    """JSON with one line per sent method / received event, so that diffs of the fixture read well."""
    head = {k: v for k, v in recording.items() if k != "steps"}
    out = ["{" + json.dumps(head, ensure_ascii=False)[1:-1] + ',\n "steps": [']
    steps = []
    for s in recording["steps"]:
        parts = []
        for k, v in s.items():
            if k in ("sent", "got") and isinstance(v, list) and v:
                items = ",\n    ".join(json.dumps(x, ensure_ascii=False) for x in v)
                parts.append(f'  "{k}": [\n    {items}]')
            else:
                parts.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}")
        steps.append(" {\n" + ",\n".join(parts) + "}")
    return "\n".join(out) + "\n" + ",\n".join(steps) + "]}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interop.stream_compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/%2F", help="the broker (AMQP URL)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", type=Path, metavar="FILE", help="write the recording here")
    mode.add_argument("--compare", type=Path, metavar="FILE", nargs="?", const=FIXTURE,
                      help=f"compare with this recording (default {FIXTURE.relative_to(FIXTURE.parents[4])})")
    parser.add_argument("--http-url", default=None,
                        help="management API base URL (default http://<amqp host>:15672; 'none' to skip)")
    parser.add_argument("--prometheus-url", default=None,
                        help="Prometheus base URL (default http://<amqp host>:15692; 'none' to skip)")
    parser.add_argument("--idle", type=float, default=0.3,
                        help="seconds of silence after which a consumer is taken to have received everything")
    parser.add_argument("--out", type=Path, help="compare: also write this run's recording here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every step's record to stderr")
    args = parser.parse_args(argv)

    host = urllib.parse.urlparse(args.url).hostname or "127.0.0.1"

    def base(value: str | None, port: int) -> str | None:
        if value == "none":
            return None
        return value or f"http://{host}:{port}"

    got = record(args.url, base(args.http_url, 15672), base(args.prometheus_url, 15692), args.verbose, args.idle)
    target = args.record or args.out
    if target:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump(got))
        print(f"{len(got['steps'])} steps in {got['seconds']} s written to {target}")
    if args.record:
        return 0
    expected = json.loads(args.compare.read_text())
    rows = compare(expected, got)
    print(table(rows))
    print(f"({got['seconds']} s)")
    return 0 if all(r[1] == "same" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
