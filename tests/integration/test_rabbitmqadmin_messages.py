"""Debian's real rabbitmqadmin (3.10.8) against a private amqpd: publish, get (count, ack modes,
encodings, payload files), purge, export and import of definitions, the list formats and sorting,
connections, channels and consumers (and closing a connection), overview, nodes and refusals. Each
effect is checked over AMQP with pika or over the HTTP API; the expected outputs are what rabbitmqadmin
prints against RabbitMQ 3.10.8 (AMQPD_TEST_URL runs them there, see test_rabbitmqadmin.py).
"""

from __future__ import annotations

import base64
import json

import pika
import pytest
from mgmt_helpers import Api
from radmin_helpers import (
    Admin,
    channel,
    http_port,
    locate_rabbitmqadmin,
    message_count,
    name,
    publish,
    refused,
    wait_until,
)

PROPS = {"content_type": "text/plain", "headers": {"h": 1}, "delivery_mode": 2, "priority": 3}


@pytest.fixture(scope="session")
def rabbitmqadmin_script():
    return locate_rabbitmqadmin()


@pytest.fixture(scope="module")
def admin(broker, rabbitmqadmin_script) -> Admin:
    return Admin(rabbitmqadmin_script, http_port(broker), host=broker.host)


@pytest.fixture(scope="module")
def api(broker) -> Api:
    return Api(http_port(broker), host=broker.host)


@pytest.fixture
def vhosts(admin):
    """Makes vhosts the tests' user can use; deletes them (and the users in `users`) at the end."""
    made: list[str] = []
    users: list[str] = []

    def make(v: str | None = None) -> str:
        v = v or name()
        admin.ok("declare", "vhost", f"name={v}")
        made.append(v)
        return v

    make.created, make.users = made, users  # type: ignore[attr-defined]
    yield make
    for v in made:
        admin.run("delete", "vhost", f"name={v}")
    for u in users:
        admin.run("delete", "user", f"name={u}")


@pytest.fixture
def vhost(vhosts):
    return vhosts()


# -- publish, get, purge ------------------------------------------------------------------------------
def test_publish_and_get(admin, broker, vhost, tmp_path):
    v = f"--vhost={vhost}"
    admin.ok("declare", "exchange", v, "name=x", "type=direct")
    admin.ok("declare", "queue", v, "name=q")
    admin.ok("declare", "binding", v, "source=x", "destination=q", "routing_key=k")
    r = admin.ok("publish", v, "exchange=x", "routing_key=k", "payload=hello", f"properties={json.dumps(PROPS)}")
    assert r.out == "Message published\n"
    admin.ok("publish", v, "routing_key=q", "payload=second")  # the default exchange (amq.default)
    assert admin.ok("publish", v, "exchange=x", "routing_key=nowhere", "payload=lost").out == \
        "Message published but NOT routed\n"
    admin.ok("publish", v, "exchange=x", "routing_key=k", stdin="from stdin\n")  # sent as base64
    assert message_count(broker, vhost, "q") == 3

    # default ackmode ack_requeue_true: the message stays, redelivered
    first = admin.raw("get", v, "queue=q")
    assert first == [{"payload_bytes": 5, "redelivered": False, "exchange": "x", "routing_key": "k",
                      "message_count": 2, "properties": PROPS, "payload": "hello", "payload_encoding": "string"}]
    assert message_count(broker, vhost, "q") == 3
    got = admin.raw("get", v, "queue=q", "count=5", "ackmode=ack_requeue_false")
    assert [(m["payload"], m["redelivered"], m["message_count"], m["routing_key"]) for m in got] == [
        ("hello", True, 2, "k"), ("second", False, 1, "q"), ("from stdin\n", False, 0, "k")]
    assert got[1]["exchange"] == "" and got[1]["properties"] == []  # no properties: Erlang's empty proplist
    assert message_count(broker, vhost, "q") == 0
    assert admin.ok("get", v, "queue=q").out == "No items\n"

    publish(broker, vhost, "", "q")
    [m] = admin.raw("get", v, "queue=q", "ackmode=reject_requeue_true", "encoding=base64")
    assert (m["payload"], m["payload_encoding"], m["redelivered"]) == (base64.b64encode(b"m0").decode(), "base64",
                                                                      False)
    [m] = admin.raw("get", v, "queue=q", "ackmode=reject_requeue_false")
    assert m["redelivered"] is True and message_count(broker, vhost, "q") == 0

    admin.ok("publish", v, "routing_key=q", "payload=to a file")
    out = tmp_path / "payload.bin"
    table = admin.ok("-f", "tsv", "get", v, "queue=q", f"payload_file={out}", "ackmode=ack_requeue_false")
    assert out.read_bytes() == b"to a file"
    assert table.out.splitlines() == ["routing_key\texchange\tmessage_count\tpayload_bytes\tredelivered",
                                      "q\t\t0\t9\tFalse"]

    # and the properties arrive over AMQP as published
    admin.ok("publish", v, "exchange=x", "routing_key=k", "payload=props", f"properties={json.dumps(PROPS)}")
    with channel(broker, vhost) as ch:
        _, props, body = ch.basic_get("q", auto_ack=True)
    assert body == b"props"
    assert (props.content_type, props.headers, props.delivery_mode, props.priority) == ("text/plain", {"h": 1}, 2, 3)

    assert admin.fails("get", v, "queue=noq").error == f"*** Not found: /api/queues/{vhost}/noq/get"
    assert admin.fails("publish", v, "exchange=nox", "routing_key=k", "payload=x").error == \
        f"*** 404 NOT_FOUND - no exchange 'nox' in vhost '{vhost}'"


def test_purge_queue(admin, broker, vhost):
    admin.ok("declare", "queue", f"--vhost={vhost}", "name=q")
    publish(broker, vhost, "", "q", 3)
    assert message_count(broker, vhost, "q") == 3
    assert admin.ok("purge", "queue", f"--vhost={vhost}", "name=q").out == "queue purged\n"
    assert message_count(broker, vhost, "q") == 0
    assert admin.fails("purge", "queue", f"--vhost={vhost}", "name=noq").error == \
        f"*** Not found: /api/queues/{vhost}/noq/contents"


# -- definitions --------------------------------------------------------------------------------------
def test_export_and_import_a_vhost(admin, broker, vhosts, tmp_path):
    src, dst = vhosts(), vhosts()
    v = f"--vhost={src}"
    admin.ok("declare", "queue", v, "name=q", 'arguments={"x-max-length": 7}')
    admin.ok("declare", "exchange", v, "name=x", "type=fanout")
    admin.ok("declare", "binding", v, "source=x", "destination=q")
    admin.ok("declare", "policy", v, "name=radmin-p", "pattern=^q$", 'definition={"max-length": 2}')
    path = tmp_path / "vhost.json"
    assert admin.ok(v, "export", str(path)).out == f'Exported definitions for {broker.host} to "{path}"\n'
    doc = json.loads(path.read_text())
    assert {"rabbit_version", "parameters", "policies", "queues", "exchanges", "bindings"} <= set(doc)
    assert doc["queues"] == [{"name": "q", "durable": True, "auto_delete": False, "arguments": {"x-max-length": 7}}]
    assert doc["exchanges"] == [{"name": "x", "type": "fanout", "durable": True, "auto_delete": False,
                                 "internal": False, "arguments": {}}]
    assert doc["bindings"] == [{"source": "x", "destination": "q", "destination_type": "queue", "routing_key": "",
                                "arguments": {}}]
    assert [(p["name"], p["definition"]) for p in doc["policies"]] == [("radmin-p", {"max-length": 2})]

    r = admin.ok(f"--vhost={dst}", "import", str(path))
    assert r.out.startswith(f'Uploaded definitions from "{broker.host}" to {path}.')
    publish(broker, dst, "x", "", 5)
    assert message_count(broker, dst, "q") == 2  # bound, and limited by the imported policy
    assert [p["name"] for p in admin.raw("list", "policies") if p["vhost"] == dst] == ["radmin-p"]

    nowhere = name()
    assert admin.fails(f"--vhost={nowhere}", "import", str(path)).error == f"*** Not found: /api/definitions/{nowhere}"
    path.write_text('{"queues": [')
    assert admin.fails("import", str(path)).error == "*** failed_to_parse_json"
    path.write_text("[1, 2]")
    assert admin.fails(f"--vhost={dst}", "import", str(path)).error == "*** failed_to_parse_json"


def test_export_and_import_everything(admin, api, broker, vhosts, tmp_path):
    v = vhosts()
    path = tmp_path / "all.json"
    admin.ok("export", str(path))
    doc = json.loads(path.read_text())
    assert {"name": v} in [{"name": x["name"]} for x in doc["vhosts"]]
    assert "guest" in [u["name"] for u in doc["users"]]
    assert {"user": "guest", "vhost": v, "configure": ".*", "write": ".*", "read": ".*"} in doc["permissions"]
    assert doc["rabbitmq_version"] == doc["rabbit_version"]

    new_vhost, other_vhost, u = name(), name(), name()
    vhosts.created.extend([new_vhost, other_vhost])
    vhosts.users.append(u)
    path.write_text(json.dumps({
        "vhosts": [{"name": new_vhost}, {"name": other_vhost}],
        "users": [{"name": u, "password": "imported-pw", "tags": "management"}],
        "permissions": [{"user": u, "vhost": new_vhost, "configure": "", "write": ".*", "read": ".*"},
                        {"user": "guest", "vhost": other_vhost, "configure": "", "write": "^w", "read": ".*"}],
        "queues": [{"name": "iq", "vhost": new_vhost, "durable": True, "auto_delete": False, "arguments": {}}]}))
    admin.ok("import", str(path))
    assert not refused(broker, new_vhost, u, "imported-pw")
    with channel(broker, new_vhost, u, "imported-pw") as ch:
        ch.queue_declare("iq", passive=True)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            ch.queue_declare("elsewhere")  # configure "" for this user
    assert exc.value.reply_code == 403
    perms = admin.tsv("list", "permissions", "vhost", "user", "configure", "write", "read")
    # RabbitMQ gives the importing user full permissions on a vhost the import creates, unless the file
    # sets them
    assert [new_vhost, "guest", ".*", ".*", ".*"] in perms
    assert [other_vhost, "guest", "", "^w", ".*"] in perms
    assert [other_vhost, u] not in [p[:2] for p in perms]


# -- list formats and sorting -------------------------------------------------------------------------
def test_list_formats_and_sort(admin, vhost):
    v = f"--vhost={vhost}"
    for q, length in (("b", 3), ("a", 9), ("c", 1)):
        admin.ok("declare", "queue", v, f"name={q}", f'arguments={{"x-max-length": {length}}}')
    assert admin.ok("-f", "tsv", "list", "queues", v, "name", "durable").out == \
        "name\tdurable\na\tTrue\nb\tTrue\nc\tTrue\n"
    assert admin.raw("list", "queues", v, "name") == [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    assert json.loads(admin.ok("-f", "pretty_json", "list", "queues", v, "name").out) == \
        [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    assert admin.tsv("-S", "name", "-R", "list", "queues", v, "name") == [["c"], ["b"], ["a"]]
    # queues are sorted whole, then cut to the columns: the sort key need not be among them
    assert admin.tsv("-S", "arguments.x-max-length", "list", "queues", v, "name", "arguments.x-max-length") == [
        ["c", "1"], ["b", "3"], ["a", "9"]]
    assert admin.tsv("-S", "arguments.x-max-length", "list", "queues", v, "name") == [["c"], ["b"], ["a"]]
    assert admin.tsv("-S", "arguments.x-max-length", "-R", "list", "queues", v, "name") == [["a"], ["b"], ["c"]]
    assert admin.ok("-f", "kvp", "list", "queues", v, "name", "durable").out.splitlines() == [
        'name="a" durable="True"', 'name="b" durable="True"', 'name="c" durable="True"']
    assert admin.ok("-f", "bash", "list", "queues", v).out == "a b c\n"
    long = admin.ok("-f", "long", "list", "queues", v, "name").out
    assert [ln for ln in long.splitlines() if ln.startswith("name:")] == ["name: a", "name: b", "name: c"]
    table = admin.ok("list", "queues", v, "name", "durable").out.splitlines()
    assert table[1].split() == ["|", "name", "|", "durable", "|"] and table[3].split() == ["|", "a", "|", "True", "|"]
    assert admin.ok("-f", "tsv", "list", "exchanges", v, "name", "type").out.splitlines()[:3] == [
        "name\ttype", "\tdirect", "amq.direct\tdirect"]


# -- connections, channels, consumers -----------------------------------------------------------------
def test_connections_channels_consumers_and_close(admin, broker, vhost):
    admin.ok("declare", "queue", f"--vhost={vhost}", "name=q")
    label = name("conn")
    params = broker.pika_params(client_properties={"connection_name": label})
    params.virtual_host = vhost
    conn = pika.BlockingConnection(params)
    try:
        ch = conn.channel()
        ch.basic_consume("q", lambda *a: None, consumer_tag="radmin-ctag")

        def mine() -> list[list[str]]:
            rows = admin.tsv("list", "connections", "name", "user", "vhost", "client_properties.connection_name")
            return [r for r in rows if r[3] == label]

        [row] = wait_until(mine)
        conn_name = row[0]
        assert row[1:3] == ["guest", vhost]
        # RabbitMQ's statistics may show the channel before its consumer
        channels = wait_until(lambda: [r for r in admin.tsv("list", "channels", "name", "consumer_count")
                                       if r == [f"{conn_name} (1)", "1"]])
        assert channels == [[f"{conn_name} (1)", "1"]]
        consumers = wait_until(lambda: [r for r in admin.tsv("list", "consumers", "queue.name", "consumer_tag",
                                                             "channel_details.connection_name")
                                        if r[2] == conn_name])
        assert consumers == [["q", "radmin-ctag", conn_name]]

        assert admin.ok("close", "connection", f"name={conn_name}").out == "connection closed\n"
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as exc:
            conn.sleep(5)
        assert (exc.value.reply_code, exc.value.reply_text) == (320, "CONNECTION_FORCED - Closed via management plugin")
        assert wait_until(lambda: not mine())
    finally:
        if conn.is_open:
            conn.close()


def test_close_unknown_connection(admin):
    r = admin.fails("close", "connection", "name=127.0.0.1:1 -> 127.0.0.1:2")
    assert r.error == "*** Not found: /api/connections/127.0.0.1%3A1%20-%3E%20127.0.0.1%3A2"


# -- overview, nodes, refusals ------------------------------------------------------------------------
def test_overview_nodes_and_refusals(admin, vhosts):
    assert admin.tsv("show", "overview", "rabbitmq_version") == [["3.10.8"]]
    [[node, kind]] = admin.tsv("list", "nodes", "name", "type")
    assert "@" in node and kind == "disc"
    assert admin.as_user("guest", "wrong").fails("list", "vhosts").error == \
        "*** Access refused: /api/vhosts?columns=name,messages"
    u = name()
    vhosts.users.append(u)
    admin.ok("declare", "user", f"name={u}", "password=pw", "tags=")
    assert admin.as_user(u, "pw").fails("list", "queues").error == "*** Access refused: /api/queues?columns=name,messages"
    admin.ok("declare", "user", f"name={u}", "password=pw", "tags=management")
    assert admin.as_user(u, "pw").fails("list", "users").error == "*** Access refused: /api/users"
    assert admin.as_user(u, "pw").ok("-f", "tsv", "list", "queues").out == "No items\n"  # sees no vhost
    assert admin.fails("--path-prefix=/nothing", "list", "vhosts").error == \
        "*** Not found: /nothing/api/vhosts?columns=name,messages"
    assert "Don't know how to list foo" in admin.fails("list", "foo").err
    nowhere = name()
    assert admin.fails("list", "queues", f"--vhost={nowhere}").error == \
        f"*** Not found: /api/queues/{nowhere}?columns=name,messages"
