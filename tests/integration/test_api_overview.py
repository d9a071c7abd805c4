"""The management API's overview, nodes, connections, channels, consumers, health checks and list
parameters, against a real amqpd process with pika clients connected (RabbitMQ 3.10's answers)."""

from __future__ import annotations

import time
import urllib.parse

import pika
import pytest
from mgmt_helpers import Api, wait_for


@pytest.fixture
def api(broker):
    if not broker.http_port:
        pytest.skip("needs amqpd's management API")
    return Api(broker.http_port)


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def connect(broker, user: str = "guest", password: str = "guest", **kw) -> pika.BlockingConnection:
    params = broker.pika_params(**kw)
    params.credentials = pika.PlainCredentials(user, password)
    return pika.BlockingConnection(params)


def local_port(conn: pika.BlockingConnection) -> int:
    return conn._impl._transport._sock.getsockname()[1]


def mine(items: list[dict], conn: pika.BlockingConnection, key: str = "peer_port") -> list[dict]:
    port = local_port(conn)
    return [i for i in items if i.get(key) == port or i.get("connection_details", {}).get("peer_port") == port
            or i.get("channel_details", {}).get("peer_port") == port]


# -- overview, nodes ----------------------------------------------------------------------------------
def test_overview_shape(api, broker):
    conn = connect(broker)
    try:
        ch = conn.channel()
        qname = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", qname, b"x")
        ch.basic_consume(qname, lambda *a: None, auto_ack=False)
        r = api.get("/overview")
        assert r.status == 200
        doc = r.body
        for key in ("management_version", "rabbitmq_version", "product_name", "product_version", "cluster_name",
                    "node", "object_totals", "queue_totals", "listeners", "contexts", "exchange_types"):
            assert key in doc, key
        assert doc["rabbitmq_version"].startswith("3.10")
        assert doc["statistics_db_event_queue"] == 0
        assert doc["message_stats"]["publish"] >= 1 and "deliver_get_details" in doc["message_stats"]
        totals = doc["object_totals"]
        assert set(totals) == {"connections", "channels", "exchanges", "queues", "consumers"}
        assert totals["connections"] >= 1 and totals["channels"] >= 1 and totals["consumers"] >= 1
        assert set(doc["queue_totals"]) >= {"messages", "messages_ready", "messages_unacknowledged"}
        protocols = {(listener["protocol"], listener["port"]) for listener in doc["listeners"]}
        assert ("amqp", broker.port) in protocols and ("http", broker.http_port) in protocols
        assert all(listener["node"] == doc["node"] for listener in doc["listeners"])
    finally:
        conn.close()


def test_overview_columns(api):
    r = api.get("/overview?columns=node,object_totals.queues")
    assert r.status == 200
    assert set(r.body) == {"node", "object_totals"}
    # the overview's nested objects are maps in RabbitMQ: columns keep them whole
    assert set(r.body["object_totals"]) == {"channels", "connections", "consumers", "exchanges", "queues"}


def test_lists_rabbitmq_does_not_page(api, broker):
    # consumers, nodes, a vhost's connections and channels: the whole list whatever `page` says
    for path in ("/consumers", "/nodes", f"/vhosts/{q(broker.vhost)}/connections",
                 f"/vhosts/{q(broker.vhost)}/channels"):
        r = api.get(path + "?page=1")
        assert r.status == 200 and isinstance(r.body, list), path


def test_nodes(api):
    nodes = api.get("/nodes")
    assert nodes.status == 200 and len(nodes.body) == 1
    node = nodes.body[0]
    assert node["type"] == "disc" and node["running"] is True
    assert node["mem_used"] > 0 and node["mem_limit"] > 0 and node["mem_alarm"] is False
    assert node["disk_free_alarm"] is False
    assert 0 < node["fd_used"] <= node["fd_total"]
    assert node["proc_used"] > 0 and node["uptime"] >= 0 and node["os_pid"].isdigit()
    one = api.get("/nodes/" + q(node["name"]))
    assert one.status == 200 and one.body["name"] == node["name"]
    missing = api.get("/nodes/rabbit@nowhere")
    assert missing.status == 404 and missing.body == {"error": "Object Not Found", "reason": "Not Found"}


def test_extensions_and_cluster_name(api):
    assert api.get("/extensions").body == []
    before = api.get("/cluster-name").body["name"]
    try:
        assert api.put("/cluster-name", {"name": "rabbit-test-cluster"}).status == 204
        assert api.get("/cluster-name").body == {"name": "rabbit-test-cluster"}
        assert api.get("/overview").body["cluster_name"] == "rabbit-test-cluster"
        bad = api.put("/cluster-name", {"nom": "x"})
        assert bad.status == 400 and bad.body == {"error": "bad_request", "reason": "[{key_missing,name}]"}
    finally:
        api.put("/cluster-name", {"name": before})


# -- connections, channels, consumers -----------------------------------------------------------------
def test_connections_channels_consumers(api, broker):
    conn = connect(broker, client_properties={"connection_name": "overview-test"})
    try:
        ch = conn.channel()
        ch.basic_qos(prefetch_count=7)
        qname = ch.queue_declare("", exclusive=True).method.queue
        tag = ch.basic_consume(qname, lambda *a: None, arguments={"x-priority": 3})
        port = local_port(conn)
        name = f"127.0.0.1:{port} -> 127.0.0.1:{broker.port}"

        conns = mine(api.get("/connections").body, conn)
        assert len(conns) == 1
        c = conns[0]
        assert c["name"] == name
        assert c["vhost"] == broker.vhost and c["user"] == "guest" and c["protocol"] == "AMQP 0-9-1"
        assert c["state"] == "running" and c["channels"] == 1 and c["ssl"] is False
        assert c["peer_host"] == "127.0.0.1" and c["host"] == "127.0.0.1" and c["port"] == broker.port
        assert c["client_properties"]["connection_name"] == "overview-test"
        assert c["auth_mechanism"] == "PLAIN" and c["frame_max"] > 0 and c["channel_max"] > 0
        assert abs(c["connected_at"] - time.time() * 1000) < 60_000

        one = api.get("/connections/" + q(name))
        assert one.status == 200 and one.body["name"] == name
        assert mine(api.get(f"/vhosts/{q(broker.vhost)}/connections").body, conn)

        chans = api.get(f"/connections/{q(name)}/channels").body
        assert [x["name"] for x in chans] == [f"{name} (1)"]
        chan = chans[0]
        assert chan["connection_details"] == {"name": name, "peer_host": "127.0.0.1", "peer_port": port}
        assert chan["number"] == 1 and chan["consumer_count"] == 1 and chan["prefetch_count"] == 7
        assert chan["global_prefetch_count"] == 0 and chan["confirm"] is False and chan["transactional"] is False
        assert chan["state"] == "running" and chan["messages_unacknowledged"] == 0
        assert api.get("/channels/" + q(f"{name} (1)")).body["name"] == f"{name} (1)"
        assert mine(api.get("/channels").body, conn)
        assert mine(api.get(f"/vhosts/{q(broker.vhost)}/channels").body, conn)
        assert api.get("/channels/" + q(f"{name} (9)")).status == 404

        consumers = [x for x in api.get("/consumers").body if x["consumer_tag"] == tag]
        assert len(consumers) == 1
        cons = consumers[0]
        assert cons["queue"] == {"name": qname, "vhost": broker.vhost}
        assert cons["channel_details"]["name"] == f"{name} (1)"
        assert cons["channel_details"]["connection_name"] == name
        assert cons["ack_required"] is True and cons["exclusive"] is False and cons["prefetch_count"] == 7
        assert cons["arguments"] == {"x-priority": 3}
        assert cons["active"] is True and cons["activity_status"] == "up"
        assert [x["consumer_tag"] for x in api.get(f"/consumers/{q(broker.vhost)}").body if x["consumer_tag"] == tag]
        assert api.get("/consumers/no-such-vhost").status == 404
        assert api.get("/vhosts/no-such-vhost/connections").status == 404
    finally:
        conn.close()
    assert wait_for(lambda: api.get("/connections/" + q(name)).status == 404, timeout=5.0)


def test_management_user_sees_only_own_connections(api, broker):
    assert api.put("/users/ov-mgmt", {"password": "pw", "tags": "management"}).status in (201, 204)
    assert api.put(f"/permissions/{q(broker.vhost)}/ov-mgmt",
                   {"configure": ".*", "write": ".*", "read": ".*"}).status in (201, 204)
    guest_conn = connect(broker)
    own = connect(broker, "ov-mgmt", "pw")
    try:
        user_api = api.as_user("ov-mgmt", "pw")
        seen = user_api.get("/connections").body
        assert {c["user"] for c in seen} == {"ov-mgmt"}
        assert mine(seen, own) and not mine(seen, guest_conn)
        guest_name = mine(api.get("/connections").body, guest_conn)[0]["name"]
        refused = user_api.get("/connections/" + q(guest_name))
        assert refused.status == 401
        assert refused.body == {"error": "not_authorised", "reason": "User not authorised to access object"}
        assert user_api.call("DELETE", "/connections/" + q(guest_name)).status == 401
        assert guest_conn.is_open
    finally:
        guest_conn.close()
        own.close()
        api.call("DELETE", "/users/ov-mgmt")


def test_delete_connection_with_reason(api, broker):
    conn = connect(broker)
    conn.channel()
    name = mine(api.get("/connections").body, conn)[0]["name"]
    r = api.call("DELETE", "/connections/" + q(name), headers={"X-Reason": "maintenance window"})
    assert r.status == 204
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as exc:
        for _ in range(50):
            conn.process_data_events(time_limit=0.1)
    assert exc.value.reply_code == 320
    assert exc.value.reply_text == "CONNECTION_FORCED - maintenance window"
    assert wait_for(lambda: api.get("/connections/" + q(name)).status == 404, timeout=5.0)


def test_delete_connection_default_reason(api, broker):
    conn = connect(broker)
    name = mine(api.get("/connections").body, conn)[0]["name"]
    assert api.call("DELETE", "/connections/" + q(name)).status == 204
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as exc:
        for _ in range(50):
            conn.process_data_events(time_limit=0.1)
    assert exc.value.reply_code == 320
    assert exc.value.reply_text == "CONNECTION_FORCED - Closed via management plugin"


# -- health checks ------------------------------------------------------------------------------------
def test_health_checks_ok(api, broker):
    ok = {"status": "ok"}
    assert api.get("/health/checks/alarms").body == ok
    assert api.get("/health/checks/local-alarms").body == ok
    assert api.get("/health/checks/virtual-hosts").body == ok
    assert api.get("/health/checks/node-is-quorum-critical").body == {"status": "ok", "reason": "single node cluster"}
    assert api.get("/health/checks/node-is-mirror-sync-critical").status == 200
    r = api.get(f"/health/checks/port-listener/{broker.port}")
    assert r.status == 200 and r.body == {"status": "ok", "port": broker.port}
    assert api.get("/health/checks/protocol-listener/amqp091").body == {"status": "ok", "protocol": "amqp"}
    assert api.get("/health/checks/protocol-listener/http").body == {"status": "ok", "protocol": "http"}
    assert api.get("/health/checks/certificate-expiration/1/weeks").body == ok


def test_health_checks_failed(api, broker):
    r = api.get("/health/checks/port-listener/1")
    assert r.status == 503
    assert r.body["status"] == "failed" and r.body["reason"] == "No active listener" and r.body["missing"] == 1
    assert broker.port in r.body["ports"]
    r = api.get("/health/checks/protocol-listener/mqtt")
    assert r.status == 503 and r.body["missing"] == "mqtt" and "amqp" in r.body["protocols"]
    r = api.get("/health/checks/port-listener/abc")
    assert r.status == 400 and r.body == {"error": "bad_request", "reason": "Invalid port"}
    r = api.get("/health/checks/certificate-expiration/x/days")
    assert r.status == 400 and r.body["reason"] == "Invalid expiration value."
    r = api.get("/health/checks/certificate-expiration/1/fortnights")
    assert r.status == 400
    assert r.body["reason"] == "Time unit not recognised. Supported units: days, weeks, months, years."


def test_alarm_health_check_fails_under_memory_alarm(broker_factory):
    b = broker_factory("vm_memory_high_watermark.absolute = 1\n")
    api = Api(b.http_port)
    r = wait_for(lambda: (lambda x: x if x.status == 503 else None)(api.get("/health/checks/alarms")), timeout=5.0)
    assert r is not None and r.status == 503
    node = api.get("/nodes").body[0]["name"]
    assert r.body == {"status": "failed", "reason": "There are alarms in effect in the cluster",
                      "alarms": [{"node": node, "resource": "memory"}]}
    local = api.get("/health/checks/local-alarms")
    assert local.status == 503 and local.body["reason"] == "There are alarms in effect on the node"
    assert api.get("/nodes").body[0]["mem_alarm"] is True
    assert api.get("/nodes").body[0]["mem_limit"] == 1


def test_aliveness_test(api, broker):
    vhost = q(broker.vhost)
    r = api.get(f"/aliveness-test/{vhost}")
    assert r.status == 200 and r.body == {"status": "ok"}
    assert api.get(f"/aliveness-test/{vhost}").body == {"status": "ok"}  # again: the queue stays
    conn = connect(broker)
    try:
        ch = conn.channel()
        declared = ch.queue_declare("aliveness-test", passive=True)
        assert declared.method.message_count == 0
    finally:
        conn.close()
    r = api.get("/aliveness-test/no-such-vhost")
    assert r.status == 404 and r.body == {"error": "Object Not Found", "reason": "Not Found"}


# -- list parameters ----------------------------------------------------------------------------------
def test_paging_sort_columns(api, broker):
    conns = [connect(broker) for _ in range(3)]
    try:
        ports = sorted(local_port(c) for c in conns)
        r = api.get("/connections?page=1&page_size=2&columns=name,peer_port&sort=peer_port")
        assert r.status == 200
        env = r.body
        assert set(env) == {"filtered_count", "item_count", "items", "page", "page_count", "page_size", "total_count"}
        assert env["page"] == 1 and env["page_size"] == 2 and env["item_count"] == 2
        assert env["total_count"] >= 3 and env["filtered_count"] == env["total_count"]
        assert env["page_count"] == (env["filtered_count"] + 1) // 2
        assert all(set(i) == {"name", "peer_port"} for i in env["items"])
        every = api.get("/connections?columns=peer_port&sort=peer_port").body
        values = [i["peer_port"] for i in every]
        assert values == sorted(values) and set(ports) <= set(values)
        rev = api.get("/connections?columns=peer_port&sort=peer_port&sort_reverse=true").body
        assert [i["peer_port"] for i in rev] == sorted(values, reverse=True)
        # name filter (substring, case-insensitive; or a regex) applies when paging
        wanted = f":{ports[0]} -> "
        r = api.get("/connections?page=1&name=" + q(wanted)).body
        assert r["filtered_count"] == 1 and r["items"][0]["peer_port"] == ports[0]
        r = api.get("/connections?page=1&use_regex=true&name=" + q(f"^127\\.0\\.0\\.1:{ports[1]} ")).body
        assert [i["peer_port"] for i in r["items"]] == [ports[1]]
        # no key left: RabbitMQ renders the empty proplist as []
        assert api.get("/connections?page=1&columns=nosuch").body["items"][0] == []
    finally:
        for c in conns:
            c.close()


@pytest.mark.parametrize("query,status,body", [
    ("page=0", 400, {"error": "invalid_pagination_parameters",
                     "reason": "Invalid pagination parameters: page number 0, page size undefined"}),
    ("page=1&page_size=501", 400, {"error": "invalid_pagination_parameters",
                                   "reason": "Invalid pagination parameters: page number 1, page size 501"}),
    ("page=1&page_size=0", 400, {"error": "invalid_pagination_parameters",
                                 "reason": "Invalid pagination parameters: page number 1, page size 0"}),
    ("page=x", 400, {"error": "bad_request", "reason": "Pagination parameters are invalid"}),
    ("page=1&use_regex=true&name=(", 400, {"error": "bad_request", "reason": "Pagination parameters are invalid"}),
    ("page=900", 400, None),
])
def test_bad_paging(api, query, status, body):
    r = api.get("/channels?" + query)  # a list RabbitMQ pages (not /consumers, nor a vhost's channels)
    assert r.status == status
    if body is not None:
        assert r.body == body
    else:
        assert r.body["error"] == "page_out_of_range"
        assert r.body["reason"].startswith("Page out of range, page: 900 page size: 100, len: ")


def test_empty_page_one_is_fine(api, broker):
    r = api.get("/channels?page=1&name=no-such-channel-name")
    assert r.status == 200
    assert r.body["items"] == [] and r.body["filtered_count"] == 0 and r.body["page_count"] == 0
