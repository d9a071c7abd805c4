"""Details of the management API's objects that RabbitMQ 3.10 shows and the comparison tool found:
what a queue holds (persistent, paged, unacknowledged bytes), consumers on queues and channels, the
declaring user of exchanges (kept across restarts), tracing and creator permissions on PUT vhost,
monitoring-only node facts."""

from __future__ import annotations

import time

import pika
from mgmt_helpers import Api, wait_for

FAST = "collect_statistics_interval = 200\n"


def test_queue_contents_consumers_and_channel_details(broker_factory):
    b = broker_factory(FAST)
    api = Api(b.http_port)
    params = pika.ConnectionParameters("127.0.0.1", b.port, client_properties={"connection_name": "details-conn"},
                                       heartbeat=0)
    with pika.BlockingConnection(params) as conn:
        ch = conn.channel()
        ch.queue_declare("held", durable=True)
        for i in range(5):
            ch.basic_publish("", "held", b"p" * 10, pika.BasicProperties(delivery_mode=2, timestamp=1_700_000_000 + i))
        for _ in range(3):
            ch.basic_publish("", "held", b"t" * 4)
        consumer = conn.channel()
        consumer.basic_qos(prefetch_count=2)
        consumer.basic_consume("held", lambda *a: None, consumer_tag="details-tag")
        conn.process_data_events(0.3)

        def settled():
            doc = api.get("/queues/%2F/held").body
            return doc if doc["messages_unacknowledged"] == 2 and doc["message_bytes_unacknowledged"] == 20 else None

        doc = wait_for(settled)
        assert doc, api.get("/queues/%2F/held").body
        assert (doc["messages"], doc["message_bytes"], doc["message_bytes_ready"]) == (8, 62, 42)
        assert (doc["messages_persistent"], doc["message_bytes_persistent"]) == (5, 50)
        assert doc["messages_ram"] == 8 and doc["messages_paged_out"] == 0 and doc["recoverable_slaves"] is None
        assert doc["head_message_timestamp"] == 1_700_000_002  # the first ready one: two are unacked
        [c] = doc["consumer_details"]
        assert (c["consumer_tag"], c["prefetch_count"], c["ack_required"]) == ("details-tag", 2, True)
        [conn_doc] = api.get("/connections").body
        assert conn_doc["user_provided_name"] == "details-conn"
        channel = api.get("/channels/" + conn_doc["name"].replace(" ", "%20").replace(">", "%3E") + "%20(2)").body
        assert [c["consumer_tag"] for c in channel["consumer_details"]] == ["details-tag"]
        assert api.delete("/connections/no-such-connection").status == 404


def test_exchange_user_survives_restart(broker_factory, tmp_path):
    b = broker_factory()
    api = Api(b.http_port)
    assert api.put("/users/declarer", {"password": "pw", "tags": "administrator"}).status == 201
    assert api.put("/permissions/%2F/declarer", {"configure": ".*", "write": ".*", "read": ".*"}).status == 201
    params = pika.ConnectionParameters("127.0.0.1", b.port, credentials=pika.PlainCredentials("declarer", "pw"))
    with pika.BlockingConnection(params) as conn:
        conn.channel().exchange_declare("mine", "topic", durable=True)
    assert api.get("/exchanges/%2F/mine").body["user_who_performed_action"] == "declarer"
    assert api.get("/exchanges/%2F/amq.topic").body["user_who_performed_action"] == "rmq-internal"
    b.stop()
    again = broker_factory(data_dir=b.data_dir)
    assert Api(again.http_port).get("/exchanges/%2F/mine").body["user_who_performed_action"] == "declarer"


def test_vhost_put_grants_creator_and_sets_tracing(broker_factory):
    b = broker_factory()
    api = Api(b.http_port)
    assert api.put("/vhosts/traced", {"tracing": True}).status == 201
    assert api.get("/vhosts/traced").body["tracing"] is True
    assert api.get("/permissions/traced/guest").body["configure"] == ".*"  # its creator may use it
    api.ok("PUT", "/queues/traced/tap", {})
    api.ok("POST", "/bindings/traced/e/amq.rabbitmq.trace/q/tap", {"routing_key": "publish.#"})
    params = pika.ConnectionParameters("127.0.0.1", b.port, "traced", heartbeat=0)
    with pika.BlockingConnection(params) as conn:
        conn.channel().basic_publish("amq.direct", "nowhere", b"seen")
    assert wait_for(lambda: api.get("/queues/traced/tap").body["messages"] == 1)  # the firehose saw it
    assert api.put("/vhosts/traced", {"tracing": False}).status == 204
    assert api.get("/vhosts/traced").body["tracing"] is False
    with pika.BlockingConnection(params) as conn:
        conn.channel().basic_publish("amq.direct", "nowhere", b"unseen")
    time.sleep(0.3)
    assert api.get("/queues/traced/tap").body["messages"] == 1


def test_node_facts_are_for_monitoring_users(broker):
    api = Api(broker.http_port)
    assert api.put("/users/just-mgmt", {"password": "pw", "tags": "management"}).status in (201, 204)
    assert api.put("/permissions/%2F/just-mgmt", {"configure": ".*", "write": ".*", "read": ".*"}).status in (201, 204)
    mgmt = api.as_user("just-mgmt", "pw")
    r = mgmt.get("/nodes")
    assert (r.status, r.body) == (401, {"error": "not_authorised", "reason": "Not monitor user"})
    doc = mgmt.get("/overview").body
    assert not {"node", "listeners", "contexts"} & set(doc) and "consumers" not in doc["object_totals"]
    full = api.get("/overview").body
    assert {"node", "listeners", "contexts"} <= set(full) and "consumers" in full["object_totals"]
    assert any(c.get("protocol") == "'http/prometheus'" for c in full["contexts"])


def test_ui_sessions_end_with_new_credentials(broker):
    """A UI session (cookie) lasts until logout, or until its user's password changes or the user goes."""
    import json
    import urllib.request

    api = Api(broker.http_port)
    assert api.put("/users/sess-user", {"password": "old", "tags": "management"}).status in (201, 204)
    base = f"http://127.0.0.1:{broker.http_port}"

    def login() -> str:
        req = urllib.request.Request(base + "/ui/login", data=json.dumps({"username": "sess-user", "password": "old"})
                                     .encode(), headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            cookie = resp.headers["Set-Cookie"]
        return cookie.split(";", 1)[0]

    def whoami(cookie: str) -> int:
        req = urllib.request.Request(base + "/api/whoami", headers={"Cookie": cookie})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    cookie = login()
    assert whoami(cookie) == 200
    assert api.put("/users/sess-user", {"password": "old", "tags": "management"}).status == 204
    assert whoami(cookie) == 401  # new credentials (even the same password): log in again
    cookie = login()
    assert api.delete("/users/sess-user").status == 204
    assert whoami(cookie) == 401
