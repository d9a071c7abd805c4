"""/api/queues, /api/exchanges and /api/bindings against a real amqpd process, checked over AMQP with
pika where it matters (RabbitMQ 3.10's paths, JSON and answers, measured on RabbitMQ 3.10.8)."""

from __future__ import annotations

import uuid

import pika
import pytest
from mgmt_helpers import Api, q


@pytest.fixture
def api(broker):
    if not broker.http_port:
        pytest.skip("needs amqpd's management API")
    return Api(broker.http_port)


@pytest.fixture
def vhost(api):
    name = f"topo-{uuid.uuid4().hex[:6]}"
    api.ok("PUT", f"/vhosts/{name}")
    api.ok("PUT", f"/permissions/{name}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    yield name
    api.delete(f"/vhosts/{name}")


def channel(broker, vhost: str):
    params = broker.pika_params()
    params.virtual_host = vhost
    conn = pika.BlockingConnection(params)
    return conn, conn.channel()


def publish(api: Api, vhost: str, exchange: str, rk: str, payload: str = "hello", **props) -> bool:
    body = {"routing_key": rk, "payload": payload, "payload_encoding": "string", "properties": props}
    return api.ok("POST", f"/exchanges/{vhost}/{q(exchange)}/publish", body)["routed"]


# -- queues -------------------------------------------------------------------------------------------
def test_queue_put_get_list_and_seen_over_amqp(api, broker, vhost):
    r = api.put(f"/queues/{vhost}/q1", {"durable": True, "arguments": {"x-max-length": 10}})
    assert r.status == 201
    assert api.put(f"/queues/{vhost}/q1", {"durable": True, "arguments": {"x-max-length": 10}}).status == 204
    r = api.put(f"/queues/{vhost}/q1", {"durable": True, "arguments": {"x-max-length": 11}})
    assert r.status == 400
    assert r.body == {"error": "bad_request", "reason": f"inequivalent arg 'x-max-length' for queue 'q1' in vhost "
                                                        f"'{vhost}': received '11' but current is '10'"}
    r = api.put(f"/queues/{vhost}/q1", {"durable": False, "arguments": {"x-max-length": 10}})
    assert r.body["reason"] == (f"inequivalent arg 'durable' for queue 'q1' in vhost '{vhost}': received 'false' "
                                "but current is 'true'")
    conn, ch = channel(broker, vhost)
    try:
        ok = ch.queue_declare("q1", passive=True)
        assert ok.method.message_count == 0
        ch.basic_publish("", "q1", b"x")
        ch.basic_consume("q1", lambda *a: None, auto_ack=False, consumer_tag="c1")
        conn.process_data_events(0.2)
        body = api.ok("GET", f"/queues/{vhost}/q1")
        for key in ("name", "vhost", "durable", "auto_delete", "exclusive", "arguments", "node", "state", "type",
                    "messages", "messages_ready", "messages_unacknowledged", "consumers", "policy",
                    "operator_policy", "effective_policy_definition", "exclusive_consumer_tag",
                    "consumer_details", "incoming", "deliveries"):
            assert key in body, key
        assert (body["name"], body["vhost"], body["durable"], body["state"], body["type"]) == \
            ("q1", vhost, True, "running", "classic")
        assert body["arguments"] == {"x-max-length": 10}
        assert (body["consumers"], body["messages"], body["messages_unacknowledged"]) == (1, 1, 1)
    finally:
        conn.close()
    listed = api.ok("GET", f"/queues/{vhost}")
    assert [i["name"] for i in listed] == ["q1"]
    assert "consumer_details" not in listed[0]
    assert any(i["name"] == "q1" and i["vhost"] == vhost for i in api.ok("GET", "/queues"))
    assert api.ok("GET", f"/queues/{vhost}?columns=name,messages") == [{"messages": 1, "name": "q1"}]


def test_queue_defaults_quorum_and_names(api, broker, vhost):
    assert api.put(f"/queues/{vhost}/plain").status == 201
    body = api.ok("GET", f"/queues/{vhost}/plain?columns=durable,auto_delete,exclusive,arguments")
    assert body == {"arguments": {}, "auto_delete": False, "durable": False, "exclusive": False}
    api.ok("PUT", f"/queues/{vhost}/qq", {"durable": True, "arguments": {"x-queue-type": "quorum"}})
    assert api.ok("GET", f"/queues/{vhost}/qq")["type"] == "quorum"
    name = "a queue/with ü"
    assert api.put(f"/queues/{vhost}/{q(name)}", {"durable": False}).status == 201
    assert api.ok("GET", f"/queues/{vhost}/{q(name)}")["name"] == name
    api.ok("PUT", f"/queues/{vhost}/{q('queue-u_1')}")
    conn, ch = channel(broker, vhost)
    try:
        ch.queue_declare("queue-u_1", passive=True)
    finally:
        conn.close()
    assert api.put(f"/queues/{vhost}/amq.q").body == {"error": "not_authorised", "reason": "Access refused."}
    assert api.put("/queues/no-such-vhost/q").body == {"error": "not_found", "reason": "vhost_not_found"}
    r = api.put(f"/queues/{vhost}/bad", {"arguments": {"x-max-length": "x"}})
    assert r.status == 400 and r.body["reason"].startswith("invalid arg 'x-max-length'")
    assert api.put(f"/queues/{vhost}/bad", {"durable": "x"}).body == {"error": "bad_request",
                                                                      "reason": ["not_boolean", "x"]}


def test_queue_404_shapes(api, vhost):
    nf = {"error": "Object Not Found", "reason": "Not Found"}
    for method, p in (("GET", f"/queues/{vhost}/nope"), ("DELETE", f"/queues/{vhost}/nope"),
                      ("DELETE", f"/queues/{vhost}/nope/contents"),
                      ("GET", "/queues/no-such-vhost"), ("GET", f"/exchanges/{vhost}/nope"),
                      ("DELETE", f"/exchanges/{vhost}/nope")):
        r = api.call(method, p)
        assert (r.status, r.body) == (404, nf), (method, p)
    # binding lists are never 404 in RabbitMQ: empty, and a missing queue still has its implicit binding
    implicit = {"source": "", "vhost": vhost, "destination": "nope", "destination_type": "queue",
                "routing_key": "nope", "arguments": {}, "properties_key": "nope"}
    assert api.get(f"/queues/{vhost}/nope/bindings").body == [implicit]
    for p in (f"/bindings/{vhost}/e/nope/q/nope", "/queues/no-such-vhost/nope/bindings",
              f"/exchanges/{vhost}/nope/bindings/source", f"/exchanges/{vhost}/nope/bindings/destination",
              f"/bindings/{vhost}/e/amq.direct/q/nope", "/bindings/no-such-vhost/e/x/q/y"):
        r = api.get(p)
        assert (r.status, r.body) == (200, []), p
    assert api.get(f"/bindings/{vhost}/e/amq.default/q/nope").body == [implicit]
    r = api.post(f"/queues/{vhost}/nope/get", {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})
    assert (r.status, r.body) == (404, {"error": "not_found", "reason": f"NOT_FOUND - no queue 'nope' in vhost '{vhost}'"})


def test_delete_if_empty_if_unused_and_purge(api, broker, vhost):
    api.ok("PUT", f"/queues/{vhost}/d1")
    assert publish(api, vhost, "amq.default", "d1")
    r = api.delete(f"/queues/{vhost}/d1?if-empty=true")
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": f"queue 'd1' in vhost '{vhost}' not empty"})
    conn, ch = channel(broker, vhost)
    try:
        ch.basic_consume("d1", lambda *a: None, auto_ack=False)
        r = api.delete(f"/queues/{vhost}/d1?if-unused=true")
        assert (r.status, r.body) == (400, {"error": "bad_request", "reason": f"queue 'd1' in vhost '{vhost}' in use"})
    finally:
        conn.close()
    assert publish(api, vhost, "amq.default", "d1")
    assert api.ok("GET", f"/queues/{vhost}/d1")["messages_ready"] == 2
    assert api.delete(f"/queues/{vhost}/d1/contents").status == 204
    conn, ch = channel(broker, vhost)
    try:
        assert ch.queue_declare("d1", passive=True).method.message_count == 0
    finally:
        conn.close()
    assert api.delete(f"/queues/{vhost}/d1?if-empty=true&if-unused=true").status == 204
    assert api.get(f"/queues/{vhost}/d1").status == 404


def test_get_ack_modes(api, broker, vhost):
    api.ok("PUT", f"/queues/{vhost}/g")
    assert publish(api, vhost, "amq.default", "g", "hello", headers={"h": 1}, delivery_mode=2,
                   content_type="text/plain")
    api.ok("POST", f"/exchanges/{vhost}/amq.default/publish",
           {"routing_key": "g", "payload": "/w==", "payload_encoding": "base64", "properties": {}})
    get = {"count": 5, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 50000}
    msgs = api.ok("POST", f"/queues/{vhost}/g/get", get)
    assert msgs == [
        {"payload_bytes": 5, "redelivered": False, "exchange": "", "routing_key": "g", "message_count": 1,
         "properties": {"delivery_mode": 2, "headers": {"h": 1}, "content_type": "text/plain"},
         "payload": "hello", "payload_encoding": "string"},
        {"payload_bytes": 1, "redelivered": False, "exchange": "", "routing_key": "g", "message_count": 0,
         "properties": [], "payload": "/w==", "payload_encoding": "base64"}]
    msgs = api.ok("POST", f"/queues/{vhost}/g/get", {**get, "encoding": "base64", "truncate": 3,
                                                        "ackmode": "reject_requeue_true"})
    assert [(m["redelivered"], m["payload"], m["payload_bytes"]) for m in msgs] == [(True, "aGVs", 5),
                                                                                   (True, "/w==", 1)]
    msgs = api.ok("POST", f"/queues/{vhost}/g/get", {**get, "count": 1, "ackmode": "ack_requeue_false"})
    assert [m["payload"] for m in msgs] == ["hello"]
    # reject without requeue: dead-lettered if the queue says so; here simply gone
    assert len(api.ok("POST", f"/queues/{vhost}/g/get", {**get, "ackmode": "reject_requeue_false"})) == 1
    assert api.ok("POST", f"/queues/{vhost}/g/get", get) == []
    conn, ch = channel(broker, vhost)
    try:
        assert ch.queue_declare("g", passive=True).method.message_count == 0
    finally:
        conn.close()
    r = api.post(f"/queues/{vhost}/g/get", {})
    assert r.body == {"error": "bad_request",
                      "reason": "[{key_missing,ackmode},{key_missing,count},{key_missing,encoding}]"}
    r = api.post(f"/queues/{vhost}/g/get", {**get, "encoding": "bogus"})
    assert r.body == {"error": "bad_request", "reason": "Unsupported encoding. Please use auto or base64."}


def test_get_leaves_requeued_messages_for_amqp(api, broker, vhost):
    api.ok("PUT", f"/queues/{vhost}/g2")
    publish(api, vhost, "amq.default", "g2", "m1")
    api.ok("POST", f"/queues/{vhost}/g2/get", {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})
    conn, ch = channel(broker, vhost)
    try:
        method, _props, body = ch.basic_get("g2", auto_ack=True)
        assert body == b"m1" and method.redelivered
    finally:
        conn.close()


# -- exchanges ----------------------------------------------------------------------------------------
def test_exchanges_put_get_delete(api, broker, vhost):
    assert api.put(f"/exchanges/{vhost}/x1", {"type": "topic"}).status == 201
    assert api.put(f"/exchanges/{vhost}/x1", {"type": "topic"}).status == 204
    r = api.put(f"/exchanges/{vhost}/x1", {"type": "direct"})
    assert r.body == {"error": "bad_request", "reason": f"inequivalent arg 'type' for exchange 'x1' in vhost "
                                                        f"'{vhost}': received 'direct' but current is 'topic'"}
    assert api.put(f"/exchanges/{vhost}/x2", {"type": "nope"}).body == {
        "error": "bad_request", "reason": "unknown exchange type 'nope'"}
    assert api.put(f"/exchanges/{vhost}/amq.foo", {"type": "direct"}).body == {
        "error": "not_authorised", "reason": "Access refused."}
    api.ok("PUT", f"/exchanges/{vhost}/x3", {"type": "fanout", "durable": True, "auto_delete": False,
                                             "internal": False, "arguments": {"alternate-exchange": "x1"}})
    assert api.ok("GET", f"/exchanges/{vhost}/x3") == {
        "arguments": {"alternate-exchange": "x1"}, "auto_delete": False, "durable": True, "incoming": [],
        "internal": False, "name": "x3", "outgoing": [], "type": "fanout", "user_who_performed_action": "guest",
        "vhost": vhost}
    names = [e["name"] for e in api.ok("GET", f"/exchanges/{vhost}")]
    assert names == ["", "amq.direct", "amq.fanout", "amq.headers", "amq.match", "amq.rabbitmq.trace",
                     "amq.topic", "x1", "x3"]
    assert api.ok("GET", f"/exchanges/{vhost}/amq.default")["name"] == ""
    conn, ch = channel(broker, vhost)
    try:
        ch.exchange_declare("x3", "fanout", passive=True)
    finally:
        conn.close()
    api.ok("POST", f"/bindings/{vhost}/e/x1/e/x3", {"routing_key": "k"})
    r = api.delete(f"/exchanges/{vhost}/x1?if-unused=true")
    assert r.body == {"error": "bad_request", "reason": f"exchange 'x1' in vhost '{vhost}' in use"}
    for name in ("amq.default", "amq.direct"):
        assert api.delete(f"/exchanges/{vhost}/{name}").body == {"error": "not_authorised",
                                                               "reason": "Access refused."}
    assert api.delete(f"/exchanges/{vhost}/x1").status == 204
    assert api.get(f"/exchanges/{vhost}/x1").status == 404


def test_publish(api, broker, vhost):
    api.ok("PUT", f"/exchanges/{vhost}/px", {"type": "direct"})
    api.ok("PUT", f"/queues/{vhost}/pq")
    api.ok("POST", f"/bindings/{vhost}/e/px/q/pq", {"routing_key": "k"})
    assert publish(api, vhost, "px", "k", "über", message_id="m1", headers={"a": "b"}) is True
    assert publish(api, vhost, "px", "other") is False
    conn, ch = channel(broker, vhost)
    try:
        method, props, body = ch.basic_get("pq", auto_ack=True)
        assert body == "über".encode() and method.exchange == "px" and method.routing_key == "k"
        assert props.message_id == "m1" and props.headers == {"a": "b"}
    finally:
        conn.close()
    base = {"routing_key": "k", "payload": "x", "payload_encoding": "string", "properties": {}}
    cases = [
        ({}, "[{key_missing,routing_key},\n {key_missing,properties},\n {key_missing,payload},\n "
             "{key_missing,payload_encoding}]"),
        ({**base, "payload_encoding": "zzz"}, ["unsupported_encoding", "zzz"]),
        ({**base, "payload_encoding": "base64", "payload": "!!"}, ["not_base64", "!!"]),
        ({**base, "properties": {"delivery_mode": "x"}}, ["not_int", "delivery_mode"]),
        ({**base, "properties": {"headers": {"n": None}}}, "null_not_allowed"),
        ({**base, "properties": {"user_id": "other"}},
         "406 PRECONDITION_FAILED - user_id property set to 'other' but authenticated user was 'guest'"),
    ]
    for body, reason in cases:
        r = api.post(f"/exchanges/{vhost}/px/publish", body)
        assert (r.status, r.body) == (400, {"error": "bad_request", "reason": reason}), body
    r = api.post(f"/exchanges/{vhost}/nope/publish", base)
    assert r.body == {"error": "bad_request", "reason": f"404 NOT_FOUND - no exchange 'nope' in vhost '{vhost}'"}
    r = api.post(f"/exchanges/{vhost}/amq.rabbitmq.trace/publish", base)
    assert r.body["reason"].startswith("403 ACCESS_REFUSED - cannot publish to internal exchange")


# -- bindings -----------------------------------------------------------------------------------------
def test_bindings_location_and_delete_by_properties_key(api, broker, vhost):
    api.ok("PUT", f"/exchanges/{vhost}/bx", {"type": "topic"})
    api.ok("PUT", f"/queues/{vhost}/{q('b q')}")
    base = f"/bindings/{vhost}/e/bx/q/{q('b q')}"
    r = api.post(base, {"routing_key": "a.b"})
    assert (r.status, r.headers["Location"]) == (201, "b+q/a.b")
    r = api.post(base, {"routing_key": "a b/c%d~e"})
    assert r.headers["Location"] == "b+q/a%2Bb%252Fc%2525d%257Ee"
    assert api.post(base, {}).headers["Location"] == "b+q/~"
    r = api.post(base, {"routing_key": "a.b", "arguments": {"x": 1}})
    loc = r.headers["Location"]
    assert loc.startswith("b+q/a.b~") and len(loc) == len("b+q/a.b~") + 6
    listed = api.ok("GET", base)
    assert [(b["routing_key"], b["properties_key"]) for b in listed] == [
        ("", "~"), ("a b/c%d~e", "a+b%2Fc%25d%7Ee"), ("a.b", "a.b"), ("a.b", loc[4:])]
    assert listed[0] == {"source": "bx", "vhost": vhost, "destination": "b q", "destination_type": "queue",
                         "routing_key": "", "arguments": {}, "properties_key": "~"}
    one = api.ok("GET", f"{base}/a%2Bb%252Fc%2525d%257Ee")
    assert one["routing_key"] == "a b/c%d~e"
    assert api.ok("GET", f"{base}/{loc[4:]}")["arguments"] == {"x": 1}
    assert api.get(f"{base}/zz").status == 404
    assert publish(api, vhost, "bx", "a.b")
    assert api.delete(f"{base}/a.b").status == 204
    assert api.delete(f"{base}/{loc[4:]}").status == 204
    assert not publish(api, vhost, "bx", "a.b")
    conn, ch = channel(broker, vhost)
    try:
        assert ch.queue_declare("b q", passive=True).method.message_count == 1
    finally:
        conn.close()
    # the default exchange's implicit bindings, as RabbitMQ lists them
    qb = api.ok("GET", f"/queues/{vhost}/{q('b q')}/bindings")
    assert qb[0] == {"source": "", "vhost": vhost, "destination": "b q", "destination_type": "queue",
                     "routing_key": "b q", "arguments": {}, "properties_key": "b+q"}
    assert [b["routing_key"] for b in qb[1:]] == ["", "a b/c%d~e"]
    src = api.ok("GET", f"/exchanges/{vhost}/amq.default/bindings/source")
    assert [b["destination"] for b in src] == ["b q"]
    assert api.post(f"/bindings/{vhost}/e/amq.default/q/{q('b q')}", {}).body == {
        "error": "not_authorised", "reason": "Access refused."}
    r = api.post(f"/bindings/{vhost}/e/nope/q/{q('b q')}", {})
    assert (r.status, r.body) == (404, {"error": "not_found", "reason": f"no exchange 'nope' in vhost '{vhost}'"})
    all_vhost = api.ok("GET", f"/bindings/{vhost}")
    assert len(all_vhost) == 3 and all_vhost[0]["source"] == ""


def test_exchange_to_exchange_bindings(api, vhost):
    api.ok("PUT", f"/exchanges/{vhost}/e1", {"type": "direct"})
    api.ok("PUT", f"/exchanges/{vhost}/e2", {"type": "fanout"})
    api.ok("PUT", f"/queues/{vhost}/eq")
    api.ok("POST", f"/bindings/{vhost}/e/e2/q/eq", {})
    r = api.post(f"/bindings/{vhost}/e/e1/e/e2", {"routing_key": "k"})
    assert (r.status, r.headers["Location"]) == (201, "e2/k")
    assert publish(api, vhost, "e1", "k")
    dest = api.ok("GET", f"/exchanges/{vhost}/e2/bindings/destination")
    assert [(b["source"], b["destination_type"]) for b in dest] == [("e1", "exchange")]
    assert [b["destination"] for b in api.ok("GET", f"/exchanges/{vhost}/e1/bindings/source")] == ["e2"]
    assert api.delete(f"/bindings/{vhost}/e/e1/e/e2/k").status == 204
    assert not publish(api, vhost, "e1", "k")


# -- permissions --------------------------------------------------------------------------------------
def test_management_user_without_configure_rights(api, broker, vhost):
    user = f"mgmt-{uuid.uuid4().hex[:6]}"
    api.ok("PUT", f"/users/{user}", {"password": "pw", "tags": "management"})
    api.ok("PUT", f"/permissions/{vhost}/{user}", {"configure": "^$", "write": "^$", "read": "^$"})
    api.ok("PUT", f"/queues/{vhost}/pq")
    api.ok("PUT", f"/exchanges/{vhost}/px", {"type": "direct"})
    other = api.as_user(user, "pw")
    try:
        refused = {"error": "not_authorised", "reason": "Access refused."}
        assert other.put(f"/queues/{vhost}/mine").body == refused
        assert other.delete(f"/queues/{vhost}/pq").body == refused
        assert other.delete(f"/queues/{vhost}/pq/contents").body == refused
        assert other.put(f"/exchanges/{vhost}/mine", {"type": "direct"}).body == refused
        assert other.delete(f"/exchanges/{vhost}/px").body == refused
        assert other.post(f"/bindings/{vhost}/e/px/q/pq", {}).body == refused
        r = other.post(f"/queues/{vhost}/pq/get", {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})
        assert (r.status, r.body) == (401, {"error": "not_authorised", "reason": f"ACCESS_REFUSED - access to queue "
                                                                                 f"'pq' in vhost '{vhost}' refused "
                                                                                 f"for user '{user}'"})
        r = other.post(f"/exchanges/{vhost}/px/publish",
                       {"routing_key": "k", "payload": "x", "payload_encoding": "string", "properties": {}})
        assert r.body == {"error": "bad_request", "reason": f"403 ACCESS_REFUSED - access to exchange 'px' in vhost "
                                                            f"'{vhost}' refused for user '{user}'"}
        # reading is allowed in a vhost the user has permissions in, not elsewhere
        assert other.get(f"/queues/{vhost}/pq").status == 200
        assert {i["vhost"] for i in other.get("/queues").body} == {vhost}
        r = other.get("/queues/%2F")
        assert (r.status, r.body) == (401, {"error": "not_authorised",
                                            "reason": "User not authorised to access virtual host"})
        assert other.put("/queues/%2F/zz").status == 401
        assert api.get(f"/queues/{vhost}/mine").status == 404
    finally:
        api.delete(f"/users/{user}")


def test_exclusive_queue_of_a_client(api, broker, vhost):
    conn, ch = channel(broker, vhost)
    try:
        name = ch.queue_declare("", exclusive=True).method.queue
        body = api.ok("GET", f"/queues/{vhost}/{q(name)}")
        assert body["exclusive"] is True and "owner_pid_details" in body
        r = api.post(f"/queues/{vhost}/{q(name)}/get", {"count": 1, "ackmode": "ack_requeue_true",
                                                         "encoding": "auto"})
        assert r.status == 400 and "RESOURCE_LOCKED" in r.body["reason"]
    finally:
        conn.close()
