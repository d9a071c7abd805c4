"""Record RabbitMQ's HTTP API answers to bad input, for amqpd's management API to mimic.

Usage:
    python interop/rabbitmq_access/record_errors.py      # writes tests/fixtures/rabbitmq-3.10/errors.json

Works in the scratch vhosts `errs` and `errs-partial` and users `errs-*` (created here, deleted at the
end); it needs nothing of the fixture setup and touches no other object.
Each case is {"case", "request": {"method", "path", "body"}, "status", "body"} plus, where a rejected
request could still have changed something, "after": what GET requests show afterwards.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from setup_rabbitmq import FIXTURES, call, q  # noqa: E402

OUT = FIXTURES / "errors.json"
V = "errs"
P = "errs-partial"


def exists(path: str) -> bool:
    status, _ = call("GET", path, ok=None)
    return status == 200


class Recorder:
    def __init__(self):
        self.cases: list[dict] = []

    def case(
        self, name: str, method: str, path: str, body=None, raw: bytes | None = None, after=None
    ) -> dict:
        status, answer = call(method, path, body=body, raw=raw, ok=None)
        shown = raw.decode() if raw is not None else body
        record = {
            "case": name,
            "request": {"method": method, "path": "/api" + path, "body": shown},
            "status": status,
            "body": answer,
        }
        if after:
            record["after"] = {label: fn() for label, fn in after.items()}
        self.cases.append(record)
        return record


def policy_cases(r: Recorder) -> None:
    def gone(name, kind="policies"):
        return {f"{name} exists": lambda: exists(f"/{kind}/{V}/{name}")}

    base = {"pattern": ".*", "apply-to": "queues", "priority": 0}
    r.case("policy.ok", "PUT", f"/policies/{V}/ok", {**base, "definition": {"message-ttl": 1000}})
    r.case(
        "policy.unknown-definition-key",
        "PUT",
        f"/policies/{V}/p1",
        {**base, "definition": {"no-such-key": 1}},
        after=gone("p1"),
    )
    r.case(
        "policy.bad-pattern",
        "PUT",
        f"/policies/{V}/p2",
        {**base, "pattern": "(", "definition": {"max-length": 1}},
        after=gone("p2"),
    )
    r.case(
        "policy.bad-apply-to",
        "PUT",
        f"/policies/{V}/p3",
        {**base, "apply-to": "nothing", "definition": {"max-length": 1}},
        after=gone("p3"),
    )
    r.case(
        "policy.message-ttl-string",
        "PUT",
        f"/policies/{V}/p4",
        {**base, "definition": {"message-ttl": "abc"}},
        after=gone("p4"),
    )
    r.case(
        "policy.max-length-negative",
        "PUT",
        f"/policies/{V}/p5",
        {**base, "definition": {"max-length": -1}},
        after=gone("p5"),
    )
    r.case(
        "policy.empty-definition", "PUT", f"/policies/{V}/p6", {**base, "definition": {}}, after=gone("p6")
    )
    r.case(
        "policy.missing-pattern",
        "PUT",
        f"/policies/{V}/p7",
        {"definition": {"max-length": 1}},
        after=gone("p7"),
    )
    r.case(
        "policy.priority-string",
        "PUT",
        f"/policies/{V}/p8",
        {**base, "priority": "high", "definition": {"max-length": 1}},
        after=gone("p8"),
    )
    r.case(
        "policy.overflow-bad-value",
        "PUT",
        f"/policies/{V}/p9",
        {**base, "definition": {"overflow": "explode"}},
        after=gone("p9"),
    )
    r.case(
        "policy.ha-mode-without-params",
        "PUT",
        f"/policies/{V}/p10",
        {**base, "definition": {"ha-mode": "exactly"}},
        after=gone("p10"),
    )
    r.case(
        "policy.unknown-vhost", "PUT", "/policies/no-such-vhost/p", {**base, "definition": {"max-length": 1}}
    )
    r.case("policy.get-missing", "GET", f"/policies/{V}/missing")
    r.case("policy.delete-missing", "DELETE", f"/policies/{V}/missing")
    r.case(
        "operator-policy.ok",
        "PUT",
        f"/operator-policies/{V}/op-ok",
        {**base, "definition": {"max-length": 10}},
    )
    r.case(
        "operator-policy.key-not-allowed",
        "PUT",
        f"/operator-policies/{V}/op1",
        {**base, "definition": {"dead-letter-exchange": "dlx"}},
        after=gone("op1", "operator-policies"),
    )
    r.case(
        "operator-policy.alternate-exchange-not-allowed",
        "PUT",
        f"/operator-policies/{V}/op2",
        {**base, "apply-to": "exchanges", "definition": {"alternate-exchange": "ae"}},
        after=gone("op2", "operator-policies"),
    )
    r.case(
        "operator-policy.unknown-key",
        "PUT",
        f"/operator-policies/{V}/op3",
        {**base, "definition": {"no-such-key": 1}},
        after=gone("op3", "operator-policies"),
    )


def limit_and_permission_cases(r: Recorder) -> None:
    r.case("vhost-limits.unknown-name", "PUT", f"/vhost-limits/{V}/max-foo", {"value": 1})
    r.case("vhost-limits.non-integer", "PUT", f"/vhost-limits/{V}/max-connections", {"value": "abc"})
    r.case("vhost-limits.float", "PUT", f"/vhost-limits/{V}/max-queues", {"value": 1.5})
    r.case("vhost-limits.negative-one", "PUT", f"/vhost-limits/{V}/max-queues", {"value": -1})
    r.case("vhost-limits.negative-five", "PUT", f"/vhost-limits/{V}/max-connections", {"value": -5})
    r.case("vhost-limits.missing-value", "PUT", f"/vhost-limits/{V}/max-connections", {})
    r.case("vhost-limits.unknown-vhost", "PUT", "/vhost-limits/no-such-vhost/max-connections", {"value": 1})
    r.case("vhost-limits.get", "GET", f"/vhost-limits/{V}")
    r.case("user-limits.unknown-name", "PUT", "/user-limits/errs-user/max-foo", {"value": 1})
    r.case("user-limits.non-integer", "PUT", "/user-limits/errs-user/max-channels", {"value": "abc"})
    r.case("user-limits.unknown-user", "PUT", "/user-limits/no-such-user/max-channels", {"value": 1})
    r.case("user-limits.get", "GET", "/user-limits/errs-user")
    perms = {"configure": ".*", "write": ".*", "read": ".*"}
    r.case("permissions.unknown-user", "PUT", f"/permissions/{V}/no-such-user", perms)
    r.case("permissions.unknown-vhost", "PUT", "/permissions/no-such-vhost/errs-user", perms)
    r.case("permissions.bad-regex", "PUT", f"/permissions/{V}/errs-user", {**perms, "read": "("})
    r.case("permissions.missing-field", "PUT", f"/permissions/{V}/errs-user", {"configure": ".*"})
    r.case(
        "topic-permissions.unknown-user",
        "PUT",
        f"/topic-permissions/{V}/no-such-user",
        {"exchange": "amq.topic", "write": ".*", "read": ".*"},
    )
    r.case(
        "topic-permissions.bad-regex",
        "PUT",
        f"/topic-permissions/{V}/errs-user",
        {"exchange": "amq.topic", "write": "(", "read": ".*"},
    )
    r.case("user.bad-tags-type", "PUT", "/users/errs-user2", {"password": "x", "tags": 5})
    r.case("user.no-password-fields", "PUT", "/users/errs-user3", {"tags": ""})
    r.case("vhost.get-unknown", "GET", "/vhosts/no-such-vhost")


def definitions_cases(r: Recorder) -> None:
    r.case("definitions.malformed-json", "POST", "/definitions", raw=b'{"queues": [')
    r.case("definitions.not-an-object", "POST", "/definitions", raw=b"[1, 2]")
    r.case(
        "definitions.queue-unknown-vhost",
        "POST",
        "/definitions",
        {
            "queues": [
                {
                    "name": "q",
                    "vhost": "no-such-vhost",
                    "durable": True,
                    "auto_delete": False,
                    "arguments": {},
                }
            ]
        },
    )
    r.case(
        "definitions.unknown-hashing-algorithm",
        "POST",
        "/definitions",
        {
            "users": [
                {
                    "name": "errs-hash-user",
                    "password_hash": "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
                    "hashing_algorithm": "rabbit_password_hashing_nope",
                    "tags": "",
                }
            ]
        },
        after={"errs-hash-user exists": lambda: exists("/users/errs-hash-user")},
    )

    # A file whose queue conflicts with an existing queue: is anything of the rest applied?
    call(
        "PUT",
        f"/queues/{q(P)}/conflict",
        {"durable": True, "auto_delete": False, "arguments": {"x-message-ttl": 1000}},
    )
    conflicting = {
        "users": [{"name": "errs-partial-user", "password_hash": "", "tags": ""}],
        "vhosts": [{"name": "errs-partial2"}],
        "permissions": [
            {"user": "errs-partial-user", "vhost": P, "configure": ".*", "write": ".*", "read": ".*"}
        ],
        "policies": [
            {
                "vhost": P,
                "name": "partial-policy",
                "pattern": "^never$",
                "apply-to": "queues",
                "priority": 0,
                "definition": {"max-length": 1},
            }
        ],
        "queues": [
            {"name": "before", "vhost": P, "durable": True, "auto_delete": False, "arguments": {}},
            {
                "name": "conflict",
                "vhost": P,
                "durable": True,
                "auto_delete": False,
                "arguments": {"x-message-ttl": 2000},
            },
            {"name": "after", "vhost": P, "durable": True, "auto_delete": False, "arguments": {}},
        ],
        "exchanges": [
            {
                "name": "partial.x",
                "vhost": P,
                "type": "direct",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
        ],
        "bindings": [
            {
                "source": "partial.x",
                "vhost": P,
                "destination": "after",
                "destination_type": "queue",
                "routing_key": "k",
                "arguments": {},
            }
        ],
    }
    r.case(
        "definitions.queue-arguments-conflict",
        "POST",
        "/definitions",
        conflicting,
        after={
            "user errs-partial-user exists": lambda: exists("/users/errs-partial-user"),
            "vhost errs-partial2 exists": lambda: exists("/vhosts/errs-partial2"),
            "permission exists": lambda: exists(f"/permissions/{P}/errs-partial-user"),
            "policy partial-policy exists": lambda: exists(f"/policies/{P}/partial-policy"),
            "queue before exists": lambda: exists(f"/queues/{P}/before"),
            "queue after exists": lambda: exists(f"/queues/{P}/after"),
            "queue conflict arguments": lambda: call("GET", f"/queues/{P}/conflict")[1]["arguments"],
            "exchange partial.x exists": lambda: exists(f"/exchanges/{P}/partial.x"),
            "binding partial.x -> after": lambda: call("GET", f"/bindings/{P}/e/partial.x/q/after", ok=None)[
                1
            ],
        },
    )
    r.case(
        "definitions.exchange-type-conflict",
        "POST",
        "/definitions",
        {
            "exchanges": [
                {
                    "name": "partial.x",
                    "vhost": P,
                    "type": "fanout",
                    "durable": True,
                    "auto_delete": False,
                    "internal": False,
                    "arguments": {},
                }
            ]
        },
        after={"partial.x type": lambda: call("GET", f"/exchanges/{P}/partial.x")[1]["type"]},
    )
    r.case(
        "definitions.binding-missing-exchange",
        "POST",
        "/definitions",
        {
            "bindings": [
                {
                    "source": "no-such-x",
                    "vhost": P,
                    "destination": "after",
                    "destination_type": "queue",
                    "routing_key": "k",
                    "arguments": {},
                }
            ]
        },
    )
    r.case(
        "definitions.policy-invalid",
        "POST",
        "/definitions",
        {
            "policies": [
                {
                    "vhost": P,
                    "name": "bad",
                    "pattern": ".*",
                    "apply-to": "queues",
                    "priority": 0,
                    "definition": {"message-ttl": "abc"},
                }
            ]
        },
        after={"policy bad exists": lambda: exists(f"/policies/{P}/bad")},
    )
    # Import order is users, vhosts, permissions, ..., policies, queues, exchanges, bindings: a failure in
    # the middle shows whether what came before it stays.
    r.case(
        "definitions.failure-midway",
        "POST",
        "/definitions",
        {
            "users": [{"name": "errs-partial-user2", "password_hash": "", "tags": ""}],
            "permissions": [
                {"user": "errs-partial-user2", "vhost": P, "configure": ".*", "write": ".*", "read": ".*"}
            ],
            "policies": [
                {
                    "vhost": P,
                    "name": "good",
                    "pattern": "^g$",
                    "apply-to": "queues",
                    "priority": 0,
                    "definition": {"max-length": 1},
                },
                {
                    "vhost": P,
                    "name": "worse",
                    "pattern": ".*",
                    "apply-to": "queues",
                    "priority": 0,
                    "definition": {"max-length": -1},
                },
            ],
            "queues": [
                {"name": "after-failure", "vhost": P, "durable": True, "auto_delete": False, "arguments": {}}
            ],
        },
        after={
            "user errs-partial-user2 exists": lambda: exists("/users/errs-partial-user2"),
            "permission exists": lambda: exists(f"/permissions/{P}/errs-partial-user2"),
            "policy good exists": lambda: exists(f"/policies/{P}/good"),
            "policy worse exists": lambda: exists(f"/policies/{P}/worse"),
            "queue after-failure exists": lambda: exists(f"/queues/{P}/after-failure"),
        },
    )
    r.case("definitions.unknown-top-level-key", "POST", "/definitions", {"no_such_key": [1]})
    r.case(
        "definitions.permission-unknown-user",
        "POST",
        "/definitions",
        {
            "permissions": [
                {"user": "no-such-user", "vhost": P, "configure": ".*", "write": ".*", "read": ".*"}
            ]
        },
    )
    call("DELETE", "/vhosts/errs-partial2", ok=(204, 404))
    call("DELETE", "/users/errs-partial-user", ok=(204, 404))


def main() -> int:
    for vhost in (V, P, "errs-partial2"):
        call("DELETE", f"/vhosts/{q(vhost)}", ok=(204, 404))
    call("PUT", f"/vhosts/{V}", {})
    call("PUT", f"/vhosts/{P}", {})
    call("PUT", "/users/errs-user", {"password": "errs-secret", "tags": ""})
    r = Recorder()
    try:
        policy_cases(r)
        limit_and_permission_cases(r)
        definitions_cases(r)
    finally:
        for vhost in (V, P, "errs-partial2"):
            call("DELETE", f"/vhosts/{q(vhost)}", ok=(204, 404))
        for user in (
            "errs-user",
            "errs-user2",
            "errs-user3",
            "errs-hash-user",
            "errs-partial-user",
            "errs-partial-user2",
        ):
            call("DELETE", f"/users/{q(user)}", ok=(204, 404))
    OUT.write_text(json.dumps(r.cases, indent=1, sort_keys=True) + "\n")
    print(f"{len(r.cases)} cases written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
