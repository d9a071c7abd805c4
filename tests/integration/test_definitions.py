"""load_definitions at boot: a definitions file (RabbitMQ's format, hashes made with RabbitMQ's scheme)
defines vhosts, users, permissions, policies and topology that clients use at once and that survive a
restart without the file; a bad file stops the broker from starting, names the item, and applies
nothing (the next start without the file finds none of it)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pika
import pytest
from conftest import free_port

FIXTURE = Path(__file__).parent.parent / "fixtures" / "rabbitmq-3.10" / "definitions.json"


def rabbit_hash(password: str, h=hashlib.sha256, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(4)
    return base64.b64encode(salt + h(salt + password.encode()).digest()).decode()


def definitions() -> dict:
    everything = {"configure": ".*", "write": ".*", "read": ".*"}
    return {
        "rabbit_version": "3.10.8",
        "users": [
            {"name": "guest", "password_hash": rabbit_hash("guest"), "hashing_algorithm":
             "rabbit_password_hashing_sha256", "tags": ["administrator"], "limits": {}},
            {"name": "alice", "password_hash": rabbit_hash("alice-pw"),
             "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["management"]},
            {"name": "bob", "password_hash": rabbit_hash("bob-pw", hashlib.sha512),
             "hashing_algorithm": "rabbit_password_hashing_sha512", "tags": ""},
            {"name": "carol", "password_hash": rabbit_hash("carol-pw", hashlib.md5),
             "hashing_algorithm": "rabbit_password_hashing_md5", "tags": "monitoring"},
        ],
        "vhosts": [{"name": "/"}, {"name": "shop"}],
        "permissions": [{"user": "guest", "vhost": "/", **everything}, {"user": "guest", "vhost": "shop", **everything},
                        {"user": "alice", "vhost": "shop", **everything},
                        {"user": "bob", "vhost": "shop", "configure": "^$", "write": "^events$", "read": "^$"},
                        {"user": "carol", "vhost": "shop", "configure": "^$", "write": "^$", "read": "^orders"}],
        "policies": [{"vhost": "shop", "name": "capped", "pattern": "^capped$", "apply-to": "queues",
                      "definition": {"max-length": 1}, "priority": 0}],
        "queues": [
            {"name": "orders", "vhost": "shop", "durable": True, "auto_delete": False,
             "arguments": {"x-dead-letter-exchange": "dlx-declared-later-or-never"}},
            {"name": "capped", "vhost": "shop", "durable": True, "auto_delete": False, "arguments": {}},
            {"name": "audit", "vhost": "shop", "durable": True, "auto_delete": False,
             "arguments": {"x-queue-type": "quorum"}},
        ],
        "exchanges": [
            {"name": "events", "vhost": "shop", "type": "topic", "durable": True, "auto_delete": False,
             "internal": False, "arguments": {"alternate-exchange": "no-such-ae"}},
            {"name": "fan", "vhost": "shop", "type": "fanout", "durable": True, "auto_delete": False,
             "internal": True, "arguments": {}},
        ],
        "bindings": [
            {"source": "events", "vhost": "shop", "destination": "orders", "destination_type": "queue",
             "routing_key": "order.*", "arguments": {}},
            {"source": "events", "vhost": "shop", "destination": "fan", "destination_type": "exchange",
             "routing_key": "#", "arguments": {}},
            {"source": "fan", "vhost": "shop", "destination": "audit", "destination_type": "queue",
             "routing_key": "", "arguments": {}},
        ],
    }


def write(tmp: Path, doc: dict | str, name: str = "defs.json") -> Path:
    p = tmp / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


def connect(broker, user: str, password: str, vhost: str = "shop") -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", broker.port, vhost, pika.PlainCredentials(user, password), heartbeat=0,
        connection_attempts=1))


def refused_login(broker, user: str, password: str, vhost: str = "shop") -> bool:
    try:
        connect(broker, user, password, vhost).close()
    except pika.exceptions.AMQPError:
        return True
    return False


def count(ch, queue: str) -> int:
    return ch.queue_declare(queue, passive=True).method.message_count


def check_loaded(broker) -> None:
    for user, pw in (("alice", "alice-pw"), ("bob", "bob-pw"), ("carol", "carol-pw")):
        connect(broker, user, pw).close()
    assert refused_login(broker, "alice", "wrong")
    conn = connect(broker, "alice", "alice-pw")
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("events", "order.created", b"o1", pika.BasicProperties(delivery_mode=2))
    for body in (b"c1", b"c2", b"c3"):
        ch.basic_publish("", "capped", body, pika.BasicProperties(delivery_mode=2))
    assert count(ch, "capped") == 1  # the policy from the file applies
    conn.close()
    # bob may publish to events only, carol read orders only: the permissions from the file
    conn = connect(broker, "carol", "carol-pw")
    _, _, body = conn.channel().basic_get("orders", auto_ack=True)
    assert body == b"o1"
    conn.close()


def run_expecting_failure(tmp: Path, conf: str, data_dir: Path) -> tuple[int, str]:
    conf_path = tmp / "bad.conf"
    conf_path.write_text(conf)
    proc = subprocess.run(
        [sys.executable, "-m", "amqpd", "--bind", "127.0.0.1", "--port", str(free_port()), "--data-dir",
         str(data_dir), "--management-port", str(free_port()), "--prometheus-port", "0", "--config", str(conf_path)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout + proc.stderr


def test_file_loads_users_log_in_and_routing_works(broker_factory, tmp_path):
    broker = broker_factory(f"load_definitions = {write(tmp_path, definitions())}\n")
    check_loaded(broker)
    assert "definitions imported" in broker.log_text()
    conn = connect(broker, "alice", "alice-pw")
    ch = conn.channel()
    ch.basic_publish("events", "order.paid", b"o2", pika.BasicProperties(delivery_mode=2))
    assert count(ch, "audit") == 2  # events -> fan (e2e, '#') -> audit: o1 and o2
    conn.close()


def test_state_survives_a_restart_without_the_file(broker_factory, tmp_path):
    first = broker_factory(f"load_definitions = {write(tmp_path, definitions())}\n")
    check_loaded(first)
    first.stop()
    again = broker_factory(data_dir=first.data_dir)
    conn = connect(again, "alice", "alice-pw")
    ch = conn.channel()
    assert count(ch, "audit") == 1
    ch.basic_publish("events", "order.again", b"o3", pika.BasicProperties(delivery_mode=2))
    assert count(ch, "orders") == 1
    conn.close()
    assert not refused_login(again, "carol", "carol-pw")


def test_loading_the_same_file_again_changes_nothing(broker_factory, tmp_path):
    conf = f"load_definitions = {write(tmp_path, definitions())}\n"
    first = broker_factory(conf)
    check_loaded(first)
    first.stop()
    again = broker_factory(conf, data_dir=first.data_dir)
    conn = connect(again, "alice", "alice-pw")
    assert count(conn.channel(), "capped") == 1  # messages kept, nothing redeclared differently
    conn.close()


def test_a_directory_is_loaded_file_by_file_in_name_order(broker_factory, tmp_path):
    d = definitions()
    folder = tmp_path / "defs.d"
    folder.mkdir()
    write(folder, {k: d[k] for k in ("users", "vhosts")}, "01-access.json")
    write(folder, {k: d[k] for k in ("permissions", "policies", "queues", "exchanges", "bindings")},
          "02-topology.json")
    write(folder, "not json, and not read", "README.txt")
    broker = broker_factory(f"load_definitions = {folder}\n")
    check_loaded(broker)


def _bad_unknown_vhost(d: dict) -> str:
    d["queues"].append({"name": "lost", "vhost": "nowhere", "durable": True, "auto_delete": False, "arguments": {}})
    return "queues[3] (queue 'lost' in vhost 'nowhere'): field 'vhost': no vhost 'nowhere'"


def _bad_algorithm(d: dict) -> str:
    d["users"][1]["hashing_algorithm"] = "rabbit_password_hashing_sha3"
    return "users[1] (user 'alice'): field 'hashing_algorithm': unknown hashing algorithm 'rabbit_password_hashing_sha3'"


def _bad_policy(d: dict) -> str:
    d["policies"][0]["definition"] = {"max-length": -1}
    return "policies[0] (policy 'capped' in vhost 'shop'): "


def _bad_json(d: dict) -> str:
    return "not valid JSON: Expecting"


@pytest.mark.parametrize("spoil", [_bad_json, _bad_unknown_vhost, _bad_algorithm, _bad_policy])
def test_a_bad_file_stops_the_broker_and_applies_nothing(broker_factory, tmp_path, spoil):
    d = definitions()
    expected = spoil(d)
    text = json.dumps(d)[:-20] if spoil is _bad_json else d
    path = write(tmp_path, text)
    data_dir = tmp_path / "data"
    rc, output = run_expecting_failure(tmp_path, f"load_definitions = {path}\n", data_dir)
    assert rc != 0
    assert str(path) in output and expected in output, output
    # Nothing of the file exists: a first boot again, with the default user and vhost only.
    broker = broker_factory(data_dir=data_dir)
    assert refused_login(broker, "alice", "alice-pw", "/")
    assert refused_login(broker, "guest", "guest", "shop")
    conn = connect(broker, "guest", "guest", "/")
    conn.close()


def test_queue_arguments_conflicting_with_an_existing_queue(broker_factory, tmp_path):
    plain = broker_factory()
    conn = pika.BlockingConnection(plain.pika_params())
    conn.channel().queue_declare("orders", durable=True, arguments={"x-message-ttl": 1000})
    conn.close()
    plain.stop()
    d = definitions()
    d["queues"].append({"name": "orders", "vhost": "/", "durable": True, "auto_delete": False,
                        "arguments": {"x-message-ttl": 2000}})
    path = write(tmp_path, d)
    rc, output = run_expecting_failure(tmp_path, f"load_definitions = {path}\n", plain.data_dir)
    assert rc != 0
    assert "queues[3] (queue 'orders' in vhost '/'): inequivalent arg 'x-message-ttl'" in output, output
    again = broker_factory(data_dir=plain.data_dir)
    assert refused_login(again, "alice", "alice-pw", "/")
    conn = pika.BlockingConnection(again.pika_params())
    conn.channel().queue_declare("orders", durable=True, arguments={"x-message-ttl": 1000})  # unchanged
    conn.close()
    assert refused_login(again, "guest", "guest", "shop")


def _export(broker) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{broker.http_port}/api/definitions")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _objects(doc: dict, category: str) -> list[str]:
    return sorted(json.dumps(o, sort_keys=True) for o in doc.get(category, []))


@pytest.mark.skipif(not FIXTURE.exists(), reason="no RabbitMQ export recorded")
def test_rabbitmq_export_round_trips(broker_factory):
    broker = broker_factory(f"load_definitions = {FIXTURE}\n")
    want = json.loads(FIXTURE.read_text())
    got = _export(broker)
    for category in ("users", "vhosts", "permissions", "topic_permissions", "parameters", "global_parameters",
                     "policies", "queues", "exchanges", "bindings"):
        assert _objects(got, category) == _objects(want, category), category
    assert got["rabbit_version"] == want["rabbit_version"]
