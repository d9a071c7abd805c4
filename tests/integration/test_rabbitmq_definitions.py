"""A definitions file exported from RabbitMQ 3.10.8 (tests/fixtures/rabbitmq-3.10/definitions.json: several
vhosts, users with tags and narrow permissions, topic permissions, e2e and headers bindings, alternate and
dead-letter exchanges, policies, an operator policy, vhost and user limits), loaded with load_definitions,
behaves as it did on RabbitMQ: access_scenario.py's 160 steps (logins, every permission check point and
refusal text, limits, routing, policies) give the answers RabbitMQ gave (access.json, recorded by
interop/rabbitmq_access/record.py) — and again after a restart without the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from access_scenario import run_scenario

FIXTURES = Path(__file__).parent.parent / "fixtures" / "rabbitmq-3.10"
EXPECTED = json.loads((FIXTURES / "access.json").read_text())


def differences(got: list[dict], want: list[dict]) -> list[str]:
    out = []
    by_step = {r["step"]: r for r in got}
    for w in want:
        g = by_step.get(w["step"])
        if g != w:
            out.append(f"{w['step']}:\n  RabbitMQ: {json.dumps(w, sort_keys=True)}\n  amqpd:    "
                       f"{json.dumps(g, sort_keys=True)}")
    extra = sorted(set(by_step) - {w["step"] for w in want})
    if extra:
        out.append(f"steps RabbitMQ did not have: {extra}")
    return out


@pytest.fixture
def loaded(broker_factory):
    return broker_factory(f"load_definitions = {FIXTURES / 'definitions.json'}\n")


def test_rabbitmq_export_behaves_the_same(loaded):
    diff = differences(run_scenario("127.0.0.1", loaded.port), EXPECTED)
    assert not diff, "\n".join(diff)


def test_and_still_after_a_restart_without_the_file(loaded, broker_factory):
    loaded.stop()
    again = broker_factory(data_dir=loaded.data_dir)
    diff = differences(run_scenario("127.0.0.1", again.port), EXPECTED)
    assert not diff, "\n".join(diff)
