"""amqpctl compared command by command with rabbitmqctl / rabbitmq-diagnostics 3.10.8's recorded outputs
(tests/fixtures/rabbitmq-3.10/ctl/outputs.json, made by `python -m interop.ctl_compare record` against
RabbitMQ): the same scenario (interop/ctl_compare/steps.py: ~170 invocations plus pika setup actions)
runs with `python -m amqpd.ctl --config FILE` against a private amqpd, and every step must give the same
exit code, banner lines, header row, stable row values and leading error lines, except the deviations
documented in steps.py. The per-step report is printed on failure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # interop/ is a directory of tools, not an installed package

from interop.ctl_compare.__main__ import FIXTURE  # noqa: E402
from interop.ctl_compare.compare import compare, report  # noqa: E402
from interop.ctl_compare.record import Target, run_steps  # noqa: E402
from interop.ctl_compare.steps import STEPS  # noqa: E402


def recording() -> dict:
    return json.loads(FIXTURE.read_text())


def test_recording_covers_the_scenario_and_compares_equal_to_itself():
    """The harness on its own: every step is recorded, and the recording matches itself."""
    expected = recording()
    assert [s["id"] for s in expected["steps"]] == [s.id for s in STEPS], "re-record: the steps changed"
    result = compare(expected, expected, STEPS)
    assert result.ok and result.ratio == 1.0, report(result)


@pytest.mark.timeout(900)
def test_amqpctl_prints_what_rabbitmqctl_prints(broker_factory, tmp_path):
    broker = broker_factory(conf="# amqpd started by test_ctl_compare\n")
    args = list(broker.proc.args)
    config = args[args.index("--config") + 1]
    down = tmp_path / "never-started.conf"
    down.write_text("# no broker runs with this file\n")
    got = run_steps(Target.amqpd(config, str(down)), "127.0.0.1", broker.port)
    (tmp_path / "amqpd-outputs.json").write_text(json.dumps(got, indent=1, ensure_ascii=False))
    result = compare(recording(), got, STEPS)
    text = report(result)
    print(text)
    assert result.ok, f"amqpctl differs from rabbitmqctl 3.10 in {result.count('DIFFERS')} steps:\n{text}"
