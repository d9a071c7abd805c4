"""Definitions round trip with RabbitMQ 3.10.8 (fixtures recorded by interop/rabbitmq_access/roundtrip.py):
RabbitMQ's export imported into amqpd and exported again is what was recorded (amqpd-export.json) and
means what RabbitMQ's file meant; that export, imported into RabbitMQ and exported by it
(rabbitmq-reexport.json), imported back into amqpd gives the same state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mgmt_helpers import Api

FIXTURES = Path(__file__).parent.parent / "fixtures" / "rabbitmq-3.10"


def state(doc: dict) -> dict:
    """What a definitions document says, without the parts that name the exporting product: version
    fields, RabbitMQ's internal cluster id, and vhost metadata (3.10 exports vhost names only)."""
    out = {}
    for key, items in doc.items():
        if not isinstance(items, list):
            continue
        if key == "vhosts":
            items = [{"name": v["name"]} for v in items]
        if key == "global_parameters":
            items = [p for p in items if p["name"] != "internal_cluster_id"]
        out[key] = sorted(items, key=lambda i: json.dumps(i, sort_keys=True))
    return out


def exported(broker_factory, path: Path) -> dict:
    b = broker_factory(f"load_definitions = {path}\n")
    return Api(b.http_port).ok("GET", "/definitions")


@pytest.fixture(scope="module")
def recorded():
    return {name: json.loads((FIXTURES / "roundtrip" / name).read_text())
            for name in ("amqpd-export.json", "rabbitmq-reexport.json")}


def test_rabbitmq_export_comes_back_out_unchanged(broker_factory, recorded):
    ours = exported(broker_factory, FIXTURES / "definitions.json")
    assert state(ours) == state(json.loads((FIXTURES / "definitions.json").read_text()))
    assert state(ours) == state(recorded["amqpd-export.json"])
    assert ours["rabbit_version"] == "3.10.8" and ours["product_name"] == "amqpd"


def test_through_rabbitmq_and_back_gives_the_same_state(broker_factory, recorded, tmp_path):
    path = tmp_path / "reexport.json"
    path.write_text(json.dumps(recorded["rabbitmq-reexport.json"]))
    assert state(exported(broker_factory, path)) == state(recorded["amqpd-export.json"])


def test_vhost_scoped_export_has_rabbitmqs_shape(broker_factory):
    b = broker_factory(f"load_definitions = {FIXTURES / 'definitions.json'}\n")
    doc = Api(b.http_port).ok("GET", "/definitions/shop")
    assert sorted(doc) == ["bindings", "exchanges", "parameters", "policies", "queues", "rabbit_version"]
    assert all("vhost" not in q for q in doc["queues"] + doc["exchanges"] + doc["bindings"])
    assert all(p["vhost"] == "shop" for p in doc["policies"] + doc["parameters"])
