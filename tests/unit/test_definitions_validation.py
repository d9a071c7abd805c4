"""Definitions import without a server: the error messages name the item and the field, a refused
document changes nothing, a second import of the same document changes nothing, and export has
RabbitMQ 3.10's shape (rabbit_mgmt_wm_definitions)."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json

import pytest

from amqpd.config import Config
from amqpd.log import get_logger
from amqpd.ops import BadRequest, Operations
from amqpd.store.rocks import RocksStore

SHA256 = "rabbit_password_hashing_sha256"


def rabbit_hash(password: str, h=hashlib.sha256, salt: bytes = b"\x90\x8d\xc6\x0a") -> str:
    return base64.b64encode(salt + h(salt + password.encode()).digest()).decode()


@pytest.fixture
def ops(tmp_path):
    # Queues take the current event loop for their timers; these tests run without a broker around them.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    store = RocksStore(tmp_path / "data", get_logger())
    o = Operations(Config(data_dir=tmp_path / "data"), store)
    o.boot()
    yield o
    store.close()
    asyncio.set_event_loop(None)
    loop.close()


def doc() -> dict:
    return {
        "rabbit_version": "3.10.8",
        "users": [{"name": "alice", "password_hash": rabbit_hash("secret"), "hashing_algorithm": SHA256,
                   "tags": "management,monitoring"}],
        "vhosts": [{"name": "shop"}],
        "permissions": [{"user": "alice", "vhost": "shop", "configure": ".*", "write": ".*", "read": ".*"}],
        "policies": [{"vhost": "shop", "name": "ttl", "pattern": "^ttl\\.", "apply-to": "queues",
                      "definition": {"message-ttl": 100}, "priority": 0}],
        "queues": [{"name": "orders", "vhost": "shop", "durable": True, "auto_delete": False,
                    "arguments": {"x-message-ttl": 1000, "x-dead-letter-exchange": "not-declared-anywhere"}}],
        "exchanges": [{"name": "events", "vhost": "shop", "type": "topic", "durable": True, "auto_delete": False,
                       "internal": False, "arguments": {"alternate-exchange": "also-missing"}}],
        "bindings": [{"source": "events", "vhost": "shop", "destination": "orders", "destination_type": "queue",
                      "routing_key": "order.#", "arguments": {}}],
    }


def snapshot(ops: Operations) -> str:
    return json.dumps(ops.export_definitions(), sort_keys=True)


def refused(ops: Operations, d: dict) -> str:
    before = snapshot(ops)
    with pytest.raises(BadRequest) as e:
        ops.import_definitions(d)
    assert snapshot(ops) == before, "a refused document changed the broker"
    return str(e.value.reason)


def test_import_applies_and_is_idempotent(ops):
    ops.import_definitions(doc())
    assert ops.authenticate("alice", "secret") is not None
    assert ops.users["alice"].tags == ["management", "monitoring"]
    vh = ops.vhosts["shop"]
    assert vh.queues["orders"].arguments["x-message-ttl"] == 1000
    assert vh.exchanges["events"].type_name == "topic"
    assert len(vh.exchanges["events"].bindings) == 1
    first = snapshot(ops)
    ops.import_definitions(doc())
    assert snapshot(ops) == first


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["queues"][0].update(vhost="nope"), "queues[0] (queue 'orders' in vhost 'nope'): field 'vhost': no vhost 'nope'"),
    (lambda d: d["permissions"][0].update(user="bob"), "permissions[0]: field 'user': no user 'bob'"),
    (lambda d: d["users"][0].update(hashing_algorithm="rabbit_password_hashing_nope"),
     "users[0] (user 'alice'): field 'hashing_algorithm': unknown hashing algorithm"),
    (lambda d: d["users"][0].update(hashing_algorithm="rabbit_password_hashing_sha512"),
     "users[0] (user 'alice'): field 'password_hash'"),
    (lambda d: d["users"][0].update(password="x"), "users[0] (user 'alice'): both 'password' and 'password_hash'"),
    (lambda d: d["policies"][0]["definition"].update({"message-ttl": "abc"}),
     "policies[0] (policy 'ttl' in vhost 'shop'): "),
    (lambda d: d["queues"][0]["arguments"].update({"x-max-priority": 1000}),
     "queues[0] (queue 'orders' in vhost 'shop'): invalid arg 'x-max-priority'"),
    (lambda d: d["queues"][0]["arguments"].update({"x-big": 2**70}),
     "queues[0] (queue 'orders' in vhost 'shop'): field 'arguments': not representable as an AMQP table"),
    (lambda d: d["exchanges"][0].update(type="x-delayed"),
     "exchanges[0] (exchange 'events' in vhost 'shop'): field 'type': unknown exchange type 'x-delayed'"),
    (lambda d: d["exchanges"][0].update(type="x-consistent-hash"),  # its binding keys are weights
     "bindings[0] (binding 'events' -> queue 'orders' in vhost 'shop'): The binding key must be an integer: "
     '<<"order.#">>'),
    (lambda d: d["exchanges"][0].update(type="x-consistent-hash", arguments={"hash-property": "expiration"}),
     "exchanges[0] (exchange 'events' in vhost 'shop'): Unsupported property: expiration"),
    (lambda d: d["bindings"][0].update(source="nowhere"), "field 'source': no exchange 'nowhere'"),
    (lambda d: d["bindings"][0].update(destination="nothing"), "field 'destination': no queue 'nothing'"),
    (lambda d: d["queues"][0].update(durable="yes"), "field 'durable' must be true or false"),
    (lambda d: d.update(parameters=[{"vhost": "shop", "component": "federation-upstream", "name": "x",
                                     "value": {}}]), "component federation-upstream not found"),
    (lambda d: d.update(parameters=[{"vhost": "shop", "component": "vhost-limits", "name": "limits",
                                     "value": {"max-queues": 0}}]),
     "adding 1 queue(s) to vhost 'shop' would exceed its limit of 0"),
])
def test_refused_documents_name_the_item_and_change_nothing(ops, mutate, expected):
    d = doc()
    mutate(d)
    assert expected in refused(ops, d)


def test_conflict_with_an_existing_queue(ops):
    ops.import_definitions(doc())
    d = doc()
    d["users"][0]["name"] = "carol"
    d["queues"][0]["arguments"]["x-message-ttl"] = 2000
    reason = refused(ops, d)
    assert reason.startswith("queues[0] (queue 'orders' in vhost 'shop'): ")
    assert "inequivalent arg 'x-message-ttl'" in reason
    assert "carol" not in ops.users


def test_not_an_object(ops):
    assert "must be a JSON object" in refused(ops, [1, 2])  # type: ignore[arg-type]


def test_old_shapes_are_accepted(ops):
    md5 = rabbit_hash("old", hashlib.md5)
    ops.import_definitions({
        "rabbit_version": "3.5.7",  # no hashing_algorithm: RabbitMQ 3.5 hashed with md5
        "users": [{"name": "old", "password_hash": md5, "tags": "administrator"},
                  {"name": "clear", "password": "pw", "tags": ["management"]}],
        "vhosts": [{"name": "meta", "metadata": {"description": "d", "tags": ["a"]}},
                   {"name": "top", "description": "t", "tags": "x,y"}],
    })
    assert ops.authenticate("old", "old") is not None
    assert ops.authenticate("clear", "pw") is not None
    assert (ops.vhosts["meta"].description, ops.vhosts["meta"].tags) == ("d", ["a"])
    assert (ops.vhosts["top"].description, ops.vhosts["top"].tags) == ("t", ["x", "y"])


def test_amq_names_are_skipped_as_rabbitmq_does(ops):
    d = doc()
    d["queues"].append({"name": "amq.q", "vhost": "shop", "durable": True, "auto_delete": False, "arguments": {}})
    d["exchanges"].append({"name": "amq.direct", "vhost": "shop", "type": "fanout", "durable": True,
                           "auto_delete": False, "internal": False, "arguments": {}})
    ops.import_definitions(d)
    assert "amq.q" not in ops.vhosts["shop"].queues
    assert ops.vhosts["shop"].exchanges["amq.direct"].type_name == "direct"


def test_export_shape(ops):
    ops.import_definitions(doc())
    vh = ops.vhosts["shop"]
    ops.declare_queue(vh, "transient", durable=False)
    out = ops.export_definitions()
    assert {"rabbit_version", "rabbitmq_version", "product_name", "product_version", "users", "vhosts",
            "permissions", "topic_permissions", "parameters", "global_parameters", "policies", "queues",
            "exchanges", "bindings"} <= set(out)
    assert {"name": "shop"} in out["vhosts"]
    names = {(q["vhost"], q["name"]): q for q in out["queues"]}
    assert names[("shop", "transient")]["durable"] is False  # exported as RabbitMQ 3.10 does
    assert not any(x["name"].startswith("amq.") or not x["name"] for x in out["exchanges"])
    assert out["bindings"] == [{"source": "events", "vhost": "shop", "destination": "orders",
                                "destination_type": "queue", "routing_key": "order.#", "arguments": {}}]
    scoped = ops.export_definitions("shop")
    assert set(scoped) == {"rabbit_version", "parameters", "policies", "queues", "exchanges", "bindings"}
    assert all("vhost" not in q for q in scoped["queues"] + scoped["exchanges"] + scoped["bindings"])
    # and back: an export imports into an empty broker and exports the same
    again = copy.deepcopy(out)
    ops.import_definitions(again)
    assert snapshot(ops) == json.dumps(out, sort_keys=True)
