"""The runnable examples of docs/patterns.md (``docs/examples/patterns/*.py``), run the way a reader runs
them: ``python <script>`` with AMQP_URL, AMQP_MANAGEMENT_URL and AMQPD_PROMETHEUS_URL pointing at a real
amqpd. Each example asserts what its pattern does and exits non-zero when the broker does not behave, so
here every one must exit 0, print OK last, and leave no queue or exchange behind.

They run in a vhost of their own whose name has a slash in it ("patterns/examples"), which also checks
that they quote the vhost correctly in AMQP URLs, HTTP paths and amqpctl's -p. The broker samples its
statistics every 200 ms instead of every 5 s so that the history example has points within a second.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from conftest import start_amqpd
from mgmt_helpers import Api

pytestmark = [pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd"),
              pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "patterns.md"
EXAMPLES_DIR = ROOT / "docs" / "examples" / "patterns"
EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.glob("*.py"))
PATTERNS = ("delayed", "retries", "dedup", "replay", "history", "sharding")
VHOST = "patterns/examples"
TIMEOUT = 30  # seconds per script; each takes one or two here
DEFAULT_EXCHANGES = {"", "amq.direct", "amq.fanout", "amq.headers", "amq.match", "amq.rabbitmq.trace",
                     "amq.topic"}


@pytest.fixture(scope="module")
def amqpd(tmp_path_factory):
    b = start_amqpd(tmp_path_factory.mktemp("patterns"), conf="collect_statistics_interval = 200\n")
    api = Api(b.http_port)
    vhost = urllib.parse.quote(VHOST, safe="")
    assert api.put(f"/vhosts/{vhost}").status == 201
    everything = {"configure": ".*", "write": ".*", "read": ".*"}
    assert api.put(f"/permissions/{vhost}/guest", everything).status in (201, 204)
    yield b
    b.stop()


@pytest.fixture(scope="module")
def env(amqpd) -> dict[str, str]:
    return {**os.environ,
            "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{amqpd.port}/{urllib.parse.quote(VHOST, safe='')}",
            "AMQP_MANAGEMENT_URL": f"http://guest:guest@127.0.0.1:{amqpd.http_port}",
            "AMQPD_PROMETHEUS_URL": f"http://127.0.0.1:{amqpd.metrics_port}"}


def test_every_pattern_has_examples_and_the_guide_links_them():
    for pattern in PATTERNS:
        assert f"{pattern}_pika.py" in EXAMPLES, pattern
    linked = set(re.findall(r"\]\(examples/patterns/([\w.]+\.py)\)", GUIDE.read_text()))
    assert linked == set(EXAMPLES), (sorted(linked), EXAMPLES)


@pytest.mark.parametrize("script", EXAMPLES)
def test_example_runs(env, script, tmp_path):
    try:
        proc = subprocess.run([sys.executable, "-u", str(EXAMPLES_DIR / script)], env=env, cwd=tmp_path,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{script} still running after {TIMEOUT}s\n{exc.stdout}\n{exc.stderr}") from None
    output = f"$ python {script}\n{proc.stdout}{proc.stderr}"
    assert proc.returncode == 0, output
    assert proc.stdout.splitlines()[-1] == "OK", output


def test_examples_leave_nothing_behind(amqpd):
    api = Api(amqpd.http_port)
    vhost = urllib.parse.quote(VHOST, safe="")
    assert [q["name"] for q in api.get(f"/queues/{vhost}").body] == []
    assert {e["name"] for e in api.get(f"/exchanges/{vhost}").body} == DEFAULT_EXCHANGES
