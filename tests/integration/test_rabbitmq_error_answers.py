"""The management API's answers to bad input, replayed from RabbitMQ 3.10.8's recorded answers
(tests/fixtures/rabbitmq-3.10/errors.json, made by interop/rabbitmq_access/record_errors.py): same status,
same JSON body. Cases where amqpd deliberately answers differently are listed with the reason (and in
docs/compatibility.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mgmt_helpers import Api

FIXTURE = Path(__file__).parent.parent / "fixtures" / "rabbitmq-3.10" / "errors.json"
CASES = json.loads(FIXTURE.read_text())
DIFFERENT = {
    # RabbitMQ returns the Erlang regex compiler's error term; amqpd returns a readable text (still 400)
    "permissions.bad-regex": "readable regex error",
    "topic-permissions.bad-regex": "readable regex error",
    # RabbitMQ crashes (500) on a non-string, non-list tags value; amqpd answers 400
    "user.bad-tags-type": "400 instead of a crash",
}


def replayed(case: dict) -> bool:
    group = case["case"].split(".")[0]
    return group != "definitions" and case["case"] not in DIFFERENT


@pytest.fixture(scope="module")
def api(broker):
    if broker.external:
        pytest.skip("replays against amqpd's own management API")
    a = Api(broker.http_port)
    a.ok("PUT", "/vhosts/errs")
    a.ok("PUT", "/users/errs-user", {"password": "x", "tags": ""})
    return a


def test_recorded_answers_are_replayed_in_order(api):
    mismatches = []
    for case in CASES:
        if not replayed(case):
            continue
        req = case["request"]
        assert req["path"].startswith("/api/")
        r = api.call(req["method"], req["path"][4:], req["body"])
        if (r.status, r.body) != (case["status"], case["body"]):
            mismatches.append((case["case"], (case["status"], case["body"]), (r.status, r.body)))
    assert not mismatches, "\n".join(f"{c}: RabbitMQ {want!r}, amqpd {got!r}" for c, want, got in mismatches)


def test_the_differences_still_refuse(api):
    r = api.put("/permissions/errs/errs-user", {"configure": ".*", "write": ".*", "read": "("})
    assert r.status == 400 and r.body["error"] == "bad_request" and "read" in r.body["reason"]
    r = api.put("/users/errs-user2", {"password": "x", "tags": 5})
    assert r.status == 400 and r.body["error"] == "bad_request"
