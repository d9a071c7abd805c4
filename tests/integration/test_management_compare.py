"""amqpd's management API compared request by request with RabbitMQ 3.10.8's recorded answers
(tests/fixtures/rabbitmq-3.10/management_compare.json, made by `python -m interop.management_compare
record` against RabbitMQ): the same scenario of ~480 requests and a few pika connections runs against a
private amqpd, and at least 95% of the comparable items (status codes, key sets, semantic values,
headers) must match. The differences are printed on failure."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # interop/ is a directory of tools, not an installed package

from interop.management_compare.compare import compare, report  # noqa: E402
from interop.management_compare.scenario import run  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "rabbitmq-3.10" / "management_compare.json"
THRESHOLD = 0.95
# amqpd answers at once; settling steps only wait when an answer differs from RabbitMQ's, so keep it short
POLL_TIMEOUT = 1.0


def wait_http(port: int, timeout: float = 10) -> None:
    """start_amqpd waits for the AMQP port; the HTTP listener may come up a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_management_api_answers_like_rabbitmq(broker_factory, tmp_path):
    # RabbitMQ's prometheus plugin may hold the default 15692 on a machine that runs both brokers
    broker = broker_factory(env={"AMQPD_PROMETHEUS_PORT": "0"})
    wait_http(broker.http_port)
    expected = json.loads(FIXTURE.read_text())
    started = time.monotonic()
    got = run(f"http://127.0.0.1:{broker.http_port}", "guest", "guest", broker.port, expected=expected,
              poll_timeout=POLL_TIMEOUT)
    elapsed = time.monotonic() - started
    (tmp_path / "amqpd.json").write_text(json.dumps(got, indent=1, ensure_ascii=False))
    result = compare(expected, got)
    text = report(result, THRESHOLD)
    print(text)
    assert result.ratio >= THRESHOLD, f"{result.ratio:.1%} of the comparable items match RabbitMQ's:\n{text}"
    assert elapsed < 60, f"the scenario took {elapsed:.0f} s"
