"""python -m interop.ctl_compare record | compare --config FILE [--amqp-port N] | compare --rabbitmq | summary

record: run the scenario (steps.py) with rabbitmqctl / rabbitmq-diagnostics against a RabbitMQ node and
write every step's argv, exit code, stdout, stderr and elapsed time to the fixture.
compare: run it with `python -m amqpd.ctl --config FILE` against the amqpd started with that file (or,
with --rabbitmq, against RabbitMQ again: a check of the harness itself, which must score 100%) and
report per step; exit 1 when a step differs that is not a documented deviation.
summary: print the recording as the Markdown table of README.md."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from .compare import compare, report
from .record import Target, run_steps

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "rabbitmq-3.10" / "ctl" / "outputs.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interop.ctl_compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("record", "compare", "summary"))
    parser.add_argument("--config", help="compare: the conf file the amqpd under test was started with")
    parser.add_argument("--rabbitmq", action="store_true", help="compare: run against RabbitMQ (harness check)")
    parser.add_argument("--node", default="rabbit@localhost", help="RabbitMQ node name")
    parser.add_argument("--down-node", default="nobody@localhost", help="a RabbitMQ node that is not running")
    parser.add_argument("--down-config", help="amqpd: a conf file no broker runs with (default: a temporary one)")
    parser.add_argument("--amqp-host", default="127.0.0.1")
    parser.add_argument("--amqp-port", type=int, default=5672)
    parser.add_argument("--file", type=Path, default=FIXTURE, help="the recording to write / to compare with")
    parser.add_argument("--out", type=Path, help="compare: also write this run's outputs here")
    parser.add_argument("--got", type=Path, help="compare: a run written earlier with --out (no broker needed)")
    parser.add_argument("--only", help="run only the steps whose id starts with this (debugging)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each step as it runs")
    args = parser.parse_args(argv)

    from .steps import STEPS
    steps = [s for s in STEPS if not args.only or s.id.startswith(args.only)]

    def progress(step, result):
        if args.verbose:
            print(f"{result['exit']!s:>4} {result['seconds']:6.2f}s {step.id}: {' '.join(result['argv'])}",
                  file=sys.stderr)

    if args.mode == "summary":
        from .summary import markdown
        print(markdown(json.loads(args.file.read_text())))
        return 0
    if args.mode == "compare" and args.got:
        result = compare(json.loads(args.file.read_text()), json.loads(args.got.read_text()), steps)
        print(report(result, args.verbose))
        return 0 if result.ok else 1

    with tempfile.TemporaryDirectory(prefix="ctlcmp-down-") as tmp:
        if args.mode == "record" or args.rabbitmq:
            target = Target.rabbitmq(args.node, args.down_node)
        else:
            if not args.config:
                parser.error("compare needs --config FILE (the amqpd under test) or --rabbitmq")
            down = args.down_config
            if down is None:
                down = str(Path(tmp) / "not-running.conf")
                Path(down).write_text("# no broker is started with this file\n")
            target = Target.amqpd(args.config, down)
        got = run_steps(target, args.amqp_host, args.amqp_port, steps, progress)

    if args.mode == "record" or args.out:
        dest = args.file if args.mode == "record" else args.out
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
        print(f"{len(got['steps'])} steps in {got['seconds']} s written to {dest}")
    if args.mode == "record":
        return 0
    expected = json.loads(args.file.read_text())
    result = compare(expected, got, steps)
    print(report(result, args.verbose))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
