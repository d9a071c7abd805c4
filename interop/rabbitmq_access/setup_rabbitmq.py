"""Build the access-control reference setup on a running RabbitMQ 3.10 and export its definitions.

Usage:
    python interop/rabbitmq_access/setup_rabbitmq.py            # create everything, then export
    python interop/rabbitmq_access/setup_rabbitmq.py --reset    # delete our vhosts/users first
    python interop/rabbitmq_access/setup_rabbitmq.py --reset-only
    python interop/rabbitmq_access/setup_rabbitmq.py --reset --load   # import the stored fixture instead

Everything goes through the management HTTP API (127.0.0.1:15672, guest/guest) so that the export is
exactly what RabbitMQ itself writes. The broker is shared with other engineers, so the export is
filtered down to what this script owns (vhosts `shop` and `billing`, the users below, guest and `/`).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

API = "http://127.0.0.1:15672/api"
AUTH = "Basic " + base64.b64encode(b"guest:guest").decode()
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "rabbitmq-3.10"

VHOSTS = {
    "shop": {"description": "The web shop", "tags": "production,shop"},
    "billing": {},
}

# Known plaintext passwords; `nopass` has no password at all (password_hash ""), so it can never log in.
PASSWORDS = {
    "guest": "guest",
    "shop-admin": "shop-admin-secret",
    "orders-svc": "orders-secret",
    "reporter": "reporter-secret",
    "policy-maker": "policy-secret",
    "limited": "limited-secret",
    "tracker": "tracker-secret",
}
USERS = {
    "shop-admin": "administrator",
    "orders-svc": "",
    "reporter": "monitoring",
    "policy-maker": "policymaker,management",
    "limited": "",
    "tracker": "management",
    "nopass": "",
}
USER_LIMITS = {"limited": {"max-connections": 2, "max-channels": 3}}

# (vhost, user): (configure, write, read)
PERMISSIONS = {
    ("shop", "guest"): (".*", ".*", ".*"),
    ("billing", "guest"): (".*", ".*", ".*"),
    ("shop", "shop-admin"): (".*", ".*", ".*"),
    ("billing", "shop-admin"): (".*", ".*", ".*"),
    ("shop", "orders-svc"): (r"^orders\.", r"^(orders\..*|amq\.default)$", r"^orders\."),
    # Empty strings: RabbitMQ treats "" as "^$", so the user may open the vhost but touch nothing.
    ("billing", "orders-svc"): ("", "", ""),
    ("shop", "reporter"): ("^$", "^$", ".*"),
    ("shop", "policy-maker"): (".*", ".*", ".*"),
    ("shop", "nopass"): (".*", ".*", ".*"),
    ("shop", "limited"): (r"^limited\.", r"^(limited\..*|amq\.default)$", r"^limited\."),
    ("shop", "tracker"): (
        r"^tracker\.",
        r"^(events|amq\.topic|tracker\..*)$",
        r"^(events|amq\.topic|tracker\.in.*)$",
    ),
}
# (vhost, user): [(exchange, write, read)]
TOPIC_PERMISSIONS = {
    ("shop", "tracker"): [
        ("events", r"^{username}\.", r"^{vhost}\."),
        ("amq.topic", r"^public\.", r"^public\."),
    ],
}

EXCHANGES = [
    # (vhost, name, type, internal, arguments)
    ("shop", "orders.direct", "direct", False, {}),
    ("shop", "events", "topic", False, {}),
    ("shop", "orders.headers", "headers", False, {}),
    ("shop", "orders.fanout", "fanout", False, {}),
    ("shop", "orders.unrouted", "fanout", False, {}),
    ("shop", "orders.with-ae", "direct", False, {"alternate-exchange": "orders.unrouted"}),
    ("shop", "orders.internal", "topic", True, {}),
    ("shop", "orders.dlx", "direct", False, {}),
    ("shop", "dlx.sink", "fanout", False, {}),
    ("shop", "ae2", "fanout", False, {}),
    ("shop", "aep.direct", "direct", False, {}),
    ("shop", "aep.argae", "direct", False, {"alternate-exchange": "ae2"}),
    ("billing", "invoices", "direct", False, {}),
]

QUEUES = [
    # (vhost, name, arguments)
    ("shop", "orders.created", {"x-dead-letter-exchange": "orders.dlx", "x-dead-letter-routing-key": "dead"}),
    ("shop", "orders.dead", {}),
    ("shop", "orders.quorum", {"x-queue-type": "quorum"}),
    ("shop", "orders.lazy", {"x-queue-mode": "lazy"}),
    ("shop", "orders.hdr-all", {}),
    ("shop", "orders.hdr-any", {}),
    ("shop", "orders.fan1", {}),
    ("shop", "orders.internal-sink", {}),
    ("shop", "orders.unrouted-q", {}),
    ("shop", "orders.with-ae-q", {}),
    ("shop", "events.audit", {}),
    ("shop", "events.orders", {}),
    ("shop", "ae2.q", {}),
    ("shop", "dlx.sink-q", {}),
    ("shop", "ttl.plain", {}),
    ("shop", "ttl.arg60000", {"x-message-ttl": 60000}),
    ("shop", "prio.low.q", {}),
    ("shop", "prio.high.q", {}),
    ("shop", "dlxp.q", {}),
    ("shop", "dlxp.argdlx", {"x-dead-letter-exchange": "orders.dlx", "x-dead-letter-routing-key": "dead"}),
    ("shop", "maxlen.a", {}),
    ("shop", "maxlen.small", {}),
    ("shop", "maxlen.arg10", {"x-max-length": 10}),
    ("shop", "tracker.in", {}),
    ("billing", "invoices.q", {}),
]

BINDINGS = [
    # (vhost, source, destination_type, destination, routing_key, arguments)
    ("shop", "orders.direct", "q", "orders.created", "created", {}),
    ("shop", "orders.dlx", "q", "orders.dead", "dead", {}),
    (
        "shop",
        "orders.headers",
        "q",
        "orders.hdr-all",
        "",
        {"x-match": "all", "format": "pdf", "type": "report"},
    ),
    ("shop", "orders.headers", "q", "orders.hdr-any", "", {"x-match": "any", "format": "pdf", "type": "log"}),
    ("shop", "orders.fanout", "q", "orders.fan1", "", {}),
    ("shop", "orders.fanout", "e", "orders.internal", "", {}),
    ("shop", "events", "e", "orders.internal", "shop.#", {}),
    ("shop", "orders.internal", "q", "orders.internal-sink", "#", {}),
    ("shop", "orders.unrouted", "q", "orders.unrouted-q", "", {}),
    ("shop", "orders.with-ae", "q", "orders.with-ae-q", "known", {}),
    ("shop", "events", "q", "events.audit", "#", {}),
    ("shop", "events", "q", "events.orders", "shop.orders.*", {}),
    ("shop", "ae2", "q", "ae2.q", "", {}),
    ("shop", "dlx.sink", "q", "dlx.sink-q", "", {}),
    ("billing", "invoices", "q", "invoices.q", "new", {}),
]

POLICIES = [
    # (vhost, name, pattern, apply-to, priority, definition)
    ("shop", "ttl", r"^ttl\.", "queues", 0, {"message-ttl": 100}),
    ("shop", "prio-low", r"^prio\.", "queues", 1, {"message-ttl": 100}),
    ("shop", "prio-high", r"^prio\.high", "queues", 5, {"max-length": 1}),
    ("shop", "dlx", r"^dlxp\.", "queues", 0, {"dead-letter-exchange": "dlx.sink", "message-ttl": 100}),
    ("shop", "maxlen", r"^maxlen\.", "queues", 0, {"max-length": 5, "overflow": "reject-publish"}),
    ("shop", "maxlen-small", r"^maxlen\.small", "queues", 2, {"max-length": 1}),
    ("shop", "ae-policy", r"^aep\.", "exchanges", 0, {"alternate-exchange": "orders.unrouted"}),
    ("billing", "billing-lazy", ".*", "all", 0, {"queue-mode": "lazy"}),
]
OPERATOR_POLICIES = [
    ("shop", "op-maxlen", r"^maxlen\.", "queues", 0, {"max-length": 2}),
]
VHOST_LIMITS = {"billing": {"max-connections": 2, "max-queues": 3}, "shop": {"max-connections": 50}}
GLOBAL_PARAMETERS = {"cluster_name": "amqpd-reference"}


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def call(method: str, path: str, body=None, raw: bytes | None = None, ok=(200, 201, 204)):
    """One HTTP API request; returns (status, decoded JSON body or None)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(API + path, data=data, method=method)
    req.add_header("Authorization", AUTH)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    decoded = None
    if payload:
        try:
            decoded = json.loads(payload)
        except ValueError:
            decoded = payload.decode(errors="replace")
    if ok is not None and status not in ok:
        raise RuntimeError(f"{method} {path} -> {status} {decoded}")
    return status, decoded


def reset() -> None:
    for vhost in VHOSTS:
        call("DELETE", f"/vhosts/{q(vhost)}", ok=(204, 404))
    for user in USERS:
        call("DELETE", f"/users/{q(user)}", ok=(204, 404))
    # Scratch leftovers of record_errors.py / record_hashes.py runs.
    for vhost in ("errs", "errs-partial"):
        call("DELETE", f"/vhosts/{q(vhost)}", ok=(204, 404))
    status, users = call("GET", "/users")
    for user in users:
        if user["name"].startswith(("hash-", "errs-")):
            call("DELETE", f"/users/{q(user['name'])}", ok=(204, 404))


def setup() -> None:
    for vhost, meta in VHOSTS.items():
        call("PUT", f"/vhosts/{q(vhost)}", meta)
    for user, tags in USERS.items():
        body = {"tags": tags}
        if user in PASSWORDS:
            body["password"] = PASSWORDS[user]
        else:
            body["password_hash"] = ""
        call("PUT", f"/users/{q(user)}", body)
    for user, limits in USER_LIMITS.items():
        for name, value in limits.items():
            call("PUT", f"/user-limits/{q(user)}/{name}", {"value": value})
    for (vhost, user), (conf, write, read) in PERMISSIONS.items():
        call("PUT", f"/permissions/{q(vhost)}/{q(user)}", {"configure": conf, "write": write, "read": read})
    for (vhost, user), entries in TOPIC_PERMISSIONS.items():
        for exchange, write, read in entries:
            call(
                "PUT",
                f"/topic-permissions/{q(vhost)}/{q(user)}",
                {"exchange": exchange, "write": write, "read": read},
            )
    for vhost, name, xtype, internal, arguments in EXCHANGES:
        call(
            "PUT",
            f"/exchanges/{q(vhost)}/{q(name)}",
            {
                "type": xtype,
                "durable": True,
                "auto_delete": False,
                "internal": internal,
                "arguments": arguments,
            },
        )
    for vhost, name, arguments in QUEUES:
        call(
            "PUT",
            f"/queues/{q(vhost)}/{q(name)}",
            {"durable": True, "auto_delete": False, "arguments": arguments},
        )
    for vhost, source, dtype, dest, key, arguments in BINDINGS:
        call(
            "POST",
            f"/bindings/{q(vhost)}/e/{q(source)}/{dtype}/{q(dest)}",
            {"routing_key": key, "arguments": arguments},
        )
    for vhost, name, pattern, apply_to, priority, definition in POLICIES:
        call(
            "PUT",
            f"/policies/{q(vhost)}/{q(name)}",
            {"pattern": pattern, "apply-to": apply_to, "priority": priority, "definition": definition},
        )
    for vhost, name, pattern, apply_to, priority, definition in OPERATOR_POLICIES:
        call(
            "PUT",
            f"/operator-policies/{q(vhost)}/{q(name)}",
            {"pattern": pattern, "apply-to": apply_to, "priority": priority, "definition": definition},
        )
    for vhost, limits in VHOST_LIMITS.items():
        for name, value in limits.items():
            call("PUT", f"/vhost-limits/{q(vhost)}/{name}", {"value": value})
    for name, value in GLOBAL_PARAMETERS.items():
        call("PUT", f"/global-parameters/{q(name)}", {"name": name, "value": value})


def owned(defs: dict) -> dict:
    """Keep only what this setup owns: the broker is shared and `/` may hold other people's objects."""
    vhosts = set(VHOSTS) | {"/"}
    users = set(USERS) | {"guest"}
    mine = set(VHOSTS)
    out = dict(defs)
    out["users"] = [u for u in defs["users"] if u["name"] in users]
    out["vhosts"] = [v for v in defs["vhosts"] if v["name"] in vhosts]
    out["permissions"] = [p for p in defs["permissions"] if p["user"] in users and p["vhost"] in vhosts]
    out["topic_permissions"] = [
        p for p in defs["topic_permissions"] if p["user"] in users and p["vhost"] in vhosts
    ]
    for key in ("parameters", "policies", "queues", "exchanges", "bindings"):
        out[key] = [item for item in defs.get(key, []) if item.get("vhost") in mine]
    if "operator_policies" in defs:
        out["operator_policies"] = [p for p in defs["operator_policies"] if p.get("vhost") in mine]
    out["global_parameters"] = [
        p
        for p in defs["global_parameters"]
        if p["name"] in GLOBAL_PARAMETERS or p["name"] == "internal_cluster_id"
    ]
    return out


def _sorted(defs: dict) -> dict:
    # RabbitMQ lists objects in table order, which changes between runs; sorting keeps fixture diffs small.
    out = dict(defs)
    for key, value in defs.items():
        if isinstance(value, list):
            out[key] = sorted(value, key=lambda item: json.dumps(item, sort_keys=True))
    return out


def export() -> dict:
    _, defs = call("GET", "/definitions")
    defs = _sorted(owned(defs))
    FIXTURES.mkdir(parents=True, exist_ok=True)
    (FIXTURES / "definitions.json").write_text(json.dumps(defs, indent=2, sort_keys=True) + "\n")
    (FIXTURES / "passwords.json").write_text(json.dumps(PASSWORDS, indent=2, sort_keys=True) + "\n")
    return defs


def load_fixture() -> None:
    """Import the stored definitions.json, so that RabbitMQ runs from exactly what amqpd will load."""
    call("POST", "/definitions", raw=(FIXTURES / "definitions.json").read_bytes())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reset", action="store_true", help="delete our vhosts and users before the setup")
    parser.add_argument("--reset-only", action="store_true", help="delete our vhosts and users, then stop")
    parser.add_argument("--no-export", action="store_true", help="do not rewrite the definitions fixture")
    parser.add_argument(
        "--load",
        action="store_true",
        help="instead of building the setup, import the stored definitions.json",
    )
    args = parser.parse_args(argv)
    if args.reset or args.reset_only:
        reset()
    if args.reset_only:
        return 0
    if args.load:
        load_fixture()
        return 0
    setup()
    if not args.no_export:
        defs = export()
        print(
            f"exported {len(defs['queues'])} queues, {len(defs['exchanges'])} exchanges, "
            f"{len(defs['users'])} users to {FIXTURES / 'definitions.json'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
