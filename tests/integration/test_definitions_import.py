"""Definitions import: RabbitMQ's format, all-or-nothing, idempotent; at boot (load_definitions) and
through POST /api/definitions."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os

import pika
import pytest
from helpers import close_quietly
from mgmt_helpers import Api


def rabbit_hash(password: str, h) -> str:
    salt = os.urandom(4)
    return base64.b64encode(salt + h(salt + password.encode()).digest()).decode()


def base_doc() -> dict:
    return {
        "rabbit_version": "3.10.8",
        "users": [
            {"name": "admin", "password_hash": rabbit_hash("admin-pw", hashlib.sha256),
             "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"], "limits": {}},
            {"name": "s512", "password_hash": rabbit_hash("pw-512", hashlib.sha512),
             "hashing_algorithm": "rabbit_password_hashing_sha512", "tags": [], "limits": {}},
            {"name": "old-md5", "password_hash": rabbit_hash("pw-md5", hashlib.md5),
             "hashing_algorithm": "rabbit_password_hashing_md5", "tags": "management"},
        ],
        "vhosts": [{"name": "app"}],
        "permissions": [{"user": u, "vhost": "app", "configure": ".*", "write": ".*", "read": ".*"}
                        for u in ("admin", "s512", "old-md5")],
        "topic_permissions": [],
        "parameters": [{"component": "vhost-limits", "vhost": "app", "name": "limits",
                        "value": {"max-queues": 10}}],
        "global_parameters": [],
        "policies": [{"vhost": "app", "name": "cap", "pattern": "^capped", "apply-to": "queues",
                      "definition": {"max-length": 1}, "priority": 0}],
        "exchanges": [{"name": "events", "vhost": "app", "type": "topic", "durable": True, "auto_delete": False,
                       "internal": False, "arguments": {}}],
        "queues": [{"name": "audit", "vhost": "app", "durable": True, "auto_delete": False,
                    "arguments": {"x-message-ttl": 60000}},
                   {"name": "capped", "vhost": "app", "durable": True, "auto_delete": False, "arguments": {}}],
        "bindings": [{"source": "events", "vhost": "app", "destination": "audit", "destination_type": "queue",
                      "routing_key": "#", "arguments": {}}],
    }


def connect(b, user, password, vhost="app"):
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", b.port, vhost, pika.PlainCredentials(user, password), heartbeat=0))


@pytest.fixture
def defs_file(tmp_path):
    def write(doc, name="defs.json") -> str:
        p = tmp_path / name
        p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        return str(p)
    return write


def test_boot_import_users_of_every_hash_log_in_and_routing_works(broker_factory, defs_file):
    b = broker_factory(f"load_definitions = {defs_file(base_doc())}\n")
    for user, pw in (("admin", "admin-pw"), ("s512", "pw-512"), ("old-md5", "pw-md5")):
        c = connect(b, user, pw)
        close_quietly(c)
    c = connect(b, "admin", "admin-pw")
    try:
        ch = c.channel()
        ch.confirm_delivery()
        ch.basic_publish("events", "a.b", b"x")
        assert ch.queue_declare("audit", passive=True).method.message_count == 1
        for _ in range(3):
            ch.basic_publish("", "capped", b"x")
        assert ch.queue_declare("capped", passive=True).method.message_count == 1  # the policy applies
    finally:
        close_quietly(c)
    # load_definitions means no default user: guest does not exist
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        connect(b, "guest", "guest", "/")


def test_import_twice_is_a_no_op(broker_factory, defs_file):
    doc = base_doc()
    path = defs_file(doc)
    b = broker_factory(f"load_definitions = {path}\n")
    api = Api(b.http_port, "admin", "admin-pw")
    before = api.ok("GET", "/definitions")
    assert api.post("/definitions", doc).status == 204
    assert api.ok("GET", "/definitions") == before
    b.stop()
    again = broker_factory(f"load_definitions = {path}\n", data_dir=b.data_dir)  # loaded at every boot
    assert Api(again.http_port, "admin", "admin-pw").ok("GET", "/definitions") == before


BAD = {
    "malformed JSON": ('{"queues": [', "not valid JSON"),
    "unknown vhost": (lambda d: d["queues"].append({"name": "q", "vhost": "nowhere", "durable": True,
                                                     "auto_delete": False, "arguments": {}}),
                      "field 'vhost': no vhost 'nowhere'"),
    "bad field type": (lambda d: d["queues"][0].update(durable="yes"),
                       "queues[0] (queue 'audit' in vhost 'app'): field 'durable' must be true or false"),
    "unknown hashing algorithm": (lambda d: d["users"][0].update(hashing_algorithm="rabbit_password_hashing_x"),
                                  "unknown hashing algorithm"),
    "bad policy": (lambda d: d["policies"][0]["definition"].update({"message-ttl": "abc"}),
                   "is not a valid message TTL"),
    "bad queue argument": (lambda d: d["queues"][0]["arguments"].update({"x-max-length": "many"}),
                           "expected integer, got longstr"),
    "binding to nothing": (lambda d: d["bindings"][0].update(destination="ghost"),
                           "bindings[0] (binding 'events' -> queue 'ghost' in vhost 'app'): field 'destination'"),
    "unknown exchange type": (lambda d: d["exchanges"][0].update(type="x-modulus-hash"),
                              "exchanges[0] (exchange 'events' in vhost 'app'): field 'type'"),
    "delayed exchange without its type": (lambda d: d["exchanges"][0].update(type="x-delayed-message"),
                                          "exchanges[0] (exchange 'events' in vhost 'app'): Invalid argument, "
                                          "'x-delayed-type' must be an existing exchange type"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file_refuses_to_start_and_applies_nothing(broker_factory, defs_file, case, tmp_path):
    from conftest import free_port, start_amqpd

    change, message = BAD[case]
    if isinstance(change, str):
        doc_text = change
    else:
        doc = base_doc()
        change(doc)
        doc_text = json.dumps(doc)
    path = defs_file(doc_text)
    conf = tmp_path / "bad.conf"
    conf.write_text(f"load_definitions = {path}\n")
    from durable_helpers import run_amqpd

    rc, out, _ = run_amqpd(["--config", str(conf), "--port", str(free_port()), "--data-dir",
                            str(tmp_path / "data")])
    assert rc == 1, out
    # the error names the file, the item and the field (the log line quotes it as a Python repr)
    assert message in out and path in out, out
    # nothing from the file was applied: a start without it has none of its users or vhosts
    b = start_amqpd(tmp_path, data_dir=tmp_path / "data")
    try:
        api = Api(b.http_port)
        assert api.get("/vhosts/app").status == 404
        assert api.get("/users/admin").status == 404
    finally:
        b.stop()


def test_http_import_conflicting_queue_is_refused_whole(broker_factory):
    b = broker_factory()
    api = Api(b.http_port)
    c = pika.BlockingConnection(b.pika_params())
    c.channel().queue_declare("orders", durable=True, arguments={"x-message-ttl": 1000})
    close_quietly(c)
    doc = {"users": [{"name": "newbie", "password_hash": "", "tags": []}],
           "queues": [{"name": "orders", "vhost": "/", "durable": True, "auto_delete": False,
                       "arguments": {"x-message-ttl": 2000}}]}
    r = api.post("/definitions", doc)
    assert r.status == 400
    assert r.body["error"] == "bad_request"
    assert r.body["reason"].startswith("queues[0] (queue 'orders' in vhost '/'): inequivalent arg "
                                       "'x-message-ttl' for queue 'orders' in vhost '/'")
    assert api.get("/users/newbie").status == 404  # the earlier, valid item was not applied either
    assert api.call("POST", "/definitions", raw=b"{oops").status == 400


def test_vhost_scoped_import(broker_factory):
    b = broker_factory()
    api = Api(b.http_port)
    api.ok("PUT", "/vhosts/scoped")
    doc = {"queues": [{"name": "q1", "durable": True, "auto_delete": False, "arguments": {}}],
           "exchanges": [{"name": "x1", "type": "fanout", "durable": True, "auto_delete": False,
                          "internal": False, "arguments": {}}],
           "bindings": [{"source": "x1", "destination": "q1", "destination_type": "queue", "routing_key": "",
                         "arguments": {}}],
           "policies": [{"vhost": "ignored", "name": "p", "pattern": "^q", "definition": {"max-length": 3}}]}
    assert api.post("/definitions/scoped", doc).status == 204
    exported = api.ok("GET", "/definitions/scoped")
    assert [q["name"] for q in exported["queues"]] == ["q1"]
    assert exported["policies"][0]["vhost"] == "scoped"
    r = api.get("/definitions/nowhere")
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": "vhost_not_found"})


def test_directory_of_files_is_loaded_in_name_order(broker_factory, tmp_path):
    d = tmp_path / "defs.d"
    d.mkdir()
    (d / "10-vhosts.json").write_text(json.dumps({"vhosts": [{"name": "dir"}],
                                                  "users": [{"name": "guest", "password": "guest",
                                                             "tags": ["administrator"]}]}))
    (d / "20-perms.json").write_text(json.dumps({"permissions": [{"user": "guest", "vhost": "dir",
                                                                  "configure": ".*", "write": ".*",
                                                                  "read": ".*"}]}))
    (d / "notes.txt").write_text("ignored")
    b = broker_factory(f"load_definitions = {d}\n")
    close_quietly(connect(b, "guest", "guest", "dir"))


def test_export_requires_an_administrator(broker_factory):
    b = broker_factory()
    api = Api(b.http_port)
    api.ok("PUT", "/users/watcher", {"password": "w", "tags": "monitoring"})
    r = api.as_user("watcher", "w").get("/definitions")
    assert (r.status, r.body) == (401, {"error": "not_authorised", "reason": "Not administrator user"})
    doc = api.ok("GET", "/definitions")
    assert doc["rabbit_version"] == "3.10.8"
    assert {u["name"] for u in doc["users"]} == {"guest", "watcher"}
    assert copy.deepcopy(doc) == doc
