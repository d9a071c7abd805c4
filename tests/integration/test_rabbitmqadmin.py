"""Debian's real rabbitmqadmin (3.10.8) against a private amqpd: declare, list and delete every kind of
object it knows (vhosts, users, permissions, policies, operator policies, vhost limits, parameters,
exchanges, queues, bindings), each checked for its effect over AMQP with pika or over the HTTP API, and
its error answers. The expected outputs are what rabbitmqadmin prints against RabbitMQ 3.10.8.

With AMQPD_TEST_URL (and AMQPD_TEST_HTTP_PORT, default 15672) the same tests run against RabbitMQ; every
object they create is named radmin-*, and deleted. Messages, definitions, formats and connections:
test_rabbitmqadmin_messages.py.
"""

from __future__ import annotations

import json

import pika
import pytest
from mgmt_helpers import Api
from radmin_helpers import (
    Admin,
    channel,
    exchange_exists,
    http_port,
    locate_rabbitmqadmin,
    message_count,
    name,
    publish,
    rabbit_sha256_hash,
    refused,
)


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
def vhost(admin):
    v = name()
    admin.ok("declare", "vhost", f"name={v}")
    yield v
    admin.run("delete", "vhost", f"name={v}")


@pytest.fixture
def user(admin):
    made: list[str] = []

    def make(password: str = "pw", tags: str = "") -> str:
        u = name()
        admin.ok("declare", "user", f"name={u}", f"password={password}", f"tags={tags}")
        made.append(u)
        return u

    yield make
    for u in made:
        admin.run("delete", "user", f"name={u}")


# -- vhosts -------------------------------------------------------------------------------------------
def test_vhost_declare_list_delete(admin, broker, api):
    v = name()
    assert admin.ok("declare", "vhost", f"name={v}").out == "vhost declared\n"
    try:
        assert [v] in admin.tsv("list", "vhosts", "name")
        assert v in admin.ok("-f", "bash", "list", "vhosts").out.split()
        assert api.get(f"/vhosts/{v}").status == 200
        assert not refused(broker, v)  # its creator may use it
    finally:
        assert admin.ok("delete", "vhost", f"name={v}").out == "vhost deleted\n"
    assert [v] not in admin.tsv("list", "vhosts", "name")
    assert api.get(f"/vhosts/{v}").status == 404
    assert refused(broker, v)
    assert admin.fails("delete", "vhost", f"name={v}").error == f"*** Not found: /api/vhosts/{v}"


def test_declared_vhost_is_usable_by_its_creator(admin):
    v = name()
    admin.ok("declare", "vhost", f"name={v}")
    try:
        assert [v, "guest", ".*", ".*", ".*"] in admin.tsv("list", "permissions", "vhost", "user", "configure",
                                                           "write", "read")
        admin.ok("declare", "queue", f"--vhost={v}", "name=q")
    finally:
        admin.run("delete", "vhost", f"name={v}")


def test_declare_vhost_with_tracing(admin):
    v = name()
    admin.ok("declare", "vhost", f"name={v}", "tracing=true")
    try:
        assert [v, "True"] in admin.tsv("list", "vhosts", "name", "tracing")
    finally:
        admin.run("delete", "vhost", f"name={v}")


def test_list_vhosts_raw_json_has_only_the_asked_columns(admin, vhost):
    items = admin.raw("list", "vhosts", "name")
    assert {"name": vhost} in items and all(set(i) == {"name"} for i in items)


# -- users and permissions ----------------------------------------------------------------------------
def test_users_with_password_tags_and_hash(admin, broker, vhost, user):
    u = user(password="pw-1", tags="monitoring,management")
    assert [u, "monitoring management"] in admin.tsv("list", "users", "name", "tags")
    # a management user: its password works on the API
    assert admin.as_user(u, "pw-1").ok("show", "overview", "rabbitmq_version").out
    assert "Access refused" in admin.as_user(u, "wrong").fails("show", "overview").err

    hashed = name()
    digest = rabbit_sha256_hash("secret-of-hash")
    admin.ok("declare", "user", f"name={hashed}", f"password_hash={digest}", "tags=",
             "hashing_algorithm=rabbit_password_hashing_sha256")
    try:
        entry = [i for i in admin.raw("list", "users") if i["name"] == hashed]
        assert entry and entry[0]["password_hash"] == digest and entry[0]["tags"] == []
        assert entry[0]["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        admin.ok("declare", "permission", f"vhost={vhost}", f"user={hashed}", "configure=.*", "write=.*",
                 "read=.*")
        assert not refused(broker, vhost, hashed, "secret-of-hash")
        assert refused(broker, vhost, hashed, "not-the-secret")
    finally:
        assert admin.ok("delete", "user", f"name={hashed}").out == "user deleted\n"
    assert refused(broker, vhost, hashed, "secret-of-hash")
    assert admin.fails("delete", "user", f"name={hashed}").error == f"*** Not found: /api/users/{hashed}"
    assert "one of mandatory arguments" in admin.fails("declare", "user", f"name={hashed}", "tags=").err


def test_permissions_declare_list_delete(admin, broker, vhost, user):
    u = user(password="pw")
    assert refused(broker, vhost, u, "pw")  # no permissions yet
    admin.ok("declare", "permission", f"vhost={vhost}", f"user={u}", "configure=^radmin-ok", "write=.*", "read=.*")
    assert [vhost, u, "^radmin-ok", ".*", ".*"] in admin.tsv("list", "permissions", "vhost", "user", "configure",
                                                             "write", "read")
    with channel(broker, vhost, u, "pw") as ch:
        ch.queue_declare("radmin-ok-1")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            ch.queue_declare("elsewhere")
    assert exc.value.reply_code == 403
    assert exc.value.reply_text == (f"ACCESS_REFUSED - access to queue 'elsewhere' in vhost '{vhost}' refused for "
                                    f"user '{u}'")
    assert admin.ok("delete", "permission", f"vhost={vhost}", f"user={u}").out == "permission deleted\n"
    assert refused(broker, vhost, u, "pw")
    r = admin.fails("delete", "permission", f"vhost={vhost}", f"user={u}")
    assert r.error == f"*** Not found: /api/permissions/{vhost}/{u}"
    for v, who in ((name(), u), (vhost, name())):
        r = admin.fails("declare", "permission", f"vhost={v}", f"user={who}", "configure=.*", "write=.*", "read=.*")
        assert r.error == "*** vhost_or_user_not_found"


# -- policies, operator policies, limits, parameters ----------------------------------------------------
def test_policies(admin, broker, vhost):
    admin.ok("declare", "policy", f"--vhost={vhost}", "name=radmin-len", "pattern=^len\\.",
             'definition={"max-length": 2}', "priority=5", "apply-to=queues")
    admin.ok("declare", "policy", f"--vhost={vhost}", "name=radmin-all", "pattern=^nothing$",
             'definition={"max-length": 9}', "priority=1")
    ours = [(p["name"], p["priority"]) for p in admin.raw("list", "policies") if p["vhost"] == vhost]
    assert ours == [("radmin-all", 1), ("radmin-len", 5)]  # RabbitMQ lists policies by priority
    [listed] = [p for p in admin.raw("list", "policies") if p["vhost"] == vhost and p["name"] == "radmin-len"]
    assert listed == {"vhost": vhost, "name": "radmin-len", "pattern": "^len\\.", "apply-to": "queues",
                      "definition": {"max-length": 2}, "priority": 5}
    with channel(broker, vhost) as ch:
        ch.queue_declare("len.q")
    publish(broker, vhost, "", "len.q", 5)
    assert message_count(broker, vhost, "len.q") == 2
    r = admin.fails("declare", "policy", f"--vhost={vhost}", "name=radmin-bad", "pattern=x", 'definition={"bogus": 1}')
    assert r.error == ('*** Validation failed\n\n[{&lt;&lt;"bogus"&gt;&gt;,1}] are not recognised policy '
                     "settings")
    assert admin.ok("delete", "policy", f"--vhost={vhost}", "name=radmin-len").out == "policy deleted\n"
    assert [p["name"] for p in admin.raw("list", "policies") if p["vhost"] == vhost] == ["radmin-all"]
    r = admin.fails("delete", "policy", f"--vhost={vhost}", "name=radmin-len")
    assert r.error == f"*** Not found: /api/policies/{vhost}/radmin-len"


def test_operator_policies(admin, broker, vhost):
    admin.ok("declare", "operator_policy", f"--vhost={vhost}", "name=radmin-cap", "pattern=^op\\.",
             'definition={"max-length": 3}')
    [listed] = [p for p in admin.raw("list", "operator_policies") if p["vhost"] == vhost]
    assert listed == {"vhost": vhost, "name": "radmin-cap", "pattern": "^op\\.", "apply-to": "all",
                      "definition": {"max-length": 3}, "priority": 0}
    params = [p for p in admin.raw("list", "parameters") if p["vhost"] == vhost]
    assert params == [{"value": {"pattern": "^op\\.", "definition": {"max-length": 3}, "priority": 0,
                                 "apply-to": "all"}, "vhost": vhost, "component": "operator_policy",
                       "name": "radmin-cap"}]
    with channel(broker, vhost) as ch:
        ch.queue_declare("op.q")
    publish(broker, vhost, "", "op.q", 5)
    assert message_count(broker, vhost, "op.q") == 3
    admin.ok("delete", "operator_policy", f"--vhost={vhost}", "name=radmin-cap")
    assert not [p for p in admin.raw("list", "operator_policies") if p["vhost"] == vhost]


def test_vhost_limits_and_parameters(admin, broker, vhost):
    admin.ok("declare", "vhost_limit", f"vhost={vhost}", "name=max-queues", "value=1")
    assert {"vhost": vhost, "value": {"max-queues": 1}} in admin.raw("list", "vhost_limits")
    with channel(broker, vhost) as ch:
        ch.queue_declare("first")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            ch.queue_declare("second")
    assert exc.value.reply_code == 406
    assert admin.ok("delete", "vhost_limit", f"vhost={vhost}", "name=max-queues").out == "vhost_limit deleted\n"
    with channel(broker, vhost) as ch:
        ch.queue_declare("second")

    admin.ok("declare", "parameter", f"--vhost={vhost}", "component=vhost-limits", "name=limits",
             'value={"max-connections": 0}')
    assert {"value": {"max-connections": 0}, "vhost": vhost, "component": "vhost-limits",
            "name": "limits"} in admin.raw("list", "parameters")
    assert refused(broker, vhost)
    assert admin.ok("delete", "parameter", f"--vhost={vhost}", "component=vhost-limits",
                    "name=limits").out == "parameter deleted\n"
    assert not refused(broker, vhost)
    r = admin.fails("delete", "parameter", f"--vhost={vhost}", "component=vhost-limits", "name=limits")
    assert r.error == f"*** Not found: /api/parameters/vhost-limits/{vhost}/limits"
    r = admin.fails("declare", "parameter", f"--vhost={vhost}", "component=bogus", "name=x", "value={}")
    assert r.error == "*** Validation failed\n\ncomponent bogus not found"
    r = admin.fails("declare", "vhost_limit", f"vhost={vhost}", "name=max-bogus", "value=1")
    assert r.error == '*** Validation failed\n\nUnrecognised terms [{<<"max-bogus">>,1}] in limits'


# -- exchanges, queues, bindings ----------------------------------------------------------------------
def test_exchanges(admin, broker, vhost):
    v = f"--vhost={vhost}"
    assert admin.ok("declare", "exchange", v, "name=radmin-x", "type=topic", "durable=false").out == \
        "exchange declared\n"
    admin.ok("declare", "exchange", v, "name=radmin-int", "type=fanout", "internal=true", "auto_delete=true")
    rows = admin.tsv("list", "exchanges", v, "name", "type", "durable", "auto_delete", "internal")
    assert ["radmin-x", "topic", "False", "False", "False"] in rows
    assert ["radmin-int", "fanout", "True", "True", "True"] in rows
    assert ["", "direct", "True", "False", "False"] in rows
    assert exchange_exists(broker, vhost, "radmin-x")
    r = admin.fails("declare", "exchange", v, "name=radmin-x", "type=direct")
    assert r.error == (f"*** inequivalent arg 'type' for exchange 'radmin-x' in vhost '{vhost}': received 'direct' "
                     "but current is 'topic'")
    # a type name never seen before: RabbitMQ says "invalid" instead of "unknown" once the atom exists
    kind = name("nosuchtype")
    assert admin.fails("declare", "exchange", v, "name=radmin-y", f"type={kind}").error == \
        f"*** unknown exchange type '{kind}'"
    assert admin.fails("delete", "exchange", v, "name=amq.direct").error == \
        f"*** Access refused: /api/exchanges/{vhost}/amq.direct"
    assert admin.ok("delete", "exchange", v, "name=radmin-x").out == "exchange deleted\n"
    assert not exchange_exists(broker, vhost, "radmin-x")
    assert admin.fails("delete", "exchange", v, "name=radmin-x").error == \
        f"*** Not found: /api/exchanges/{vhost}/radmin-x"


def test_queues(admin, broker, vhost):
    v = f"--vhost={vhost}"
    assert admin.ok("declare", "queue", v, "name=q1", "durable=false").out == "queue declared\n"
    admin.ok("declare", "queue", v, "name=q2", 'arguments={"x-max-length": 5}')
    admin.ok("declare", "queue", v, "name=qq", "queue_type=quorum")
    assert admin.tsv("list", "queues", v, "name", "durable", "auto_delete", "type", "arguments.x-max-length") == [
        ["q1", "False", "False", "classic", ""], ["q2", "True", "False", "classic", "5"],
        ["qq", "True", "False", "quorum", ""]]
    assert message_count(broker, vhost, "q2") == 0
    with channel(broker, vhost) as ch:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            ch.queue_declare("qq", durable=True)  # a classic redeclare of the quorum queue
    assert exc.value.reply_code == 406
    r = admin.fails("declare", "queue", v, "name=q2")
    assert r.err.startswith(f"*** inequivalent arg 'x-max-length' for queue 'q2' in vhost '{vhost}': received none "
                            "but current is the value '5' of type 'long'")  # JSON integers are longs
    r = admin.fails("declare", "queue", v, "name=qbad", 'arguments={"x-max-length": "abc"}')
    assert r.error == (f"*** invalid arg 'x-max-length' for queue 'qbad' in vhost '{vhost}': "
                     '"expected integer, got longstr"')
    assert admin.fails("declare", "queue", v, "name=qbad", "durable=maybe").error == "*** ['not_boolean', 'maybe']"
    assert admin.fails("declare", "queue", v, "name=amq.q").error == f"*** Access refused: /api/queues/{vhost}/amq.q"
    nowhere = name()
    assert admin.fails("declare", "queue", f"--vhost={nowhere}", "name=q").error == \
        f"*** Not found: /api/queues/{nowhere}/q"
    assert admin.ok("delete", "queue", v, "name=q1").out == "queue deleted\n"
    assert message_count(broker, vhost, "q1") is None
    assert admin.fails("delete", "queue", v, "name=q1").error == f"*** Not found: /api/queues/{vhost}/q1"


def test_bindings(admin, broker, vhost):
    v = f"--vhost={vhost}"
    admin.ok("declare", "exchange", v, "name=x", "type=topic")
    admin.ok("declare", "exchange", v, "name=x2", "type=fanout")
    for q in ("q1", "q2", "q3"):
        admin.ok("declare", "queue", v, f"name={q}")
    # declared in this order on purpose: RabbitMQ lists x's bindings by destination, not by routing key
    assert admin.ok("declare", "binding", v, "source=x", "destination=q2", "routing_key=a.*",
                    'arguments={"k": 1}').out == "binding declared\n"
    admin.ok("declare", "binding", v, "source=x", "destination=q1", "routing_key=a.b")
    admin.ok("declare", "binding", v, "source=x", "destination=x2", "destination_type=exchange", "routing_key=a.#")
    admin.ok("declare", "binding", v, "source=x2", "destination=q3")
    assert admin.tsv("list", "bindings", v, "source", "destination", "destination_type", "routing_key") == [
        ["", "q1", "queue", "q1"], ["", "q2", "queue", "q2"], ["", "q3", "queue", "q3"],
        ["x", "q1", "queue", "a.b"], ["x", "q2", "queue", "a.*"], ["x", "x2", "exchange", "a.#"],
        ["x2", "q3", "queue", ""]]
    publish(broker, vhost, "x", "a.b")
    assert [message_count(broker, vhost, q) for q in ("q1", "q2", "q3")] == [1, 1, 1]

    keys = {(b["source"], b["destination"]): b["properties_key"] for b in admin.raw("list", "bindings", v)}
    assert keys[("x", "q1")] == "a.b" and keys[("x", "x2")] == "a.%23" and keys[("x2", "q3")] == "~"
    assert keys[("x", "q2")].startswith("a.%2A~")
    assert admin.ok("delete", "binding", v, "source=x", "destination_type=queue", "destination=q2",
                    f"properties_key={keys[('x', 'q2')]}").out == "binding deleted\n"
    admin.ok("delete", "binding", v, "source=x", "destination_type=exchange", "destination=x2", "properties_key=a.%23")
    assert [r[:2] for r in admin.tsv("list", "bindings", v, "source", "destination") if r[0]] == [
        ["x", "q1"], ["x2", "q3"]]
    publish(broker, vhost, "x", "a.b")
    assert [message_count(broker, vhost, q) for q in ("q1", "q2", "q3")] == [2, 1, 1]
    r = admin.fails("delete", "binding", v, "source=x", "destination_type=queue", "destination=q1",
                    "properties_key=nope")
    assert r.error == f"*** Not found: /api/bindings/{vhost}/e/x/q/q1/nope"
    assert admin.fails("declare", "binding", v, "source=nox", "destination=q1").error == \
        f"*** Not found: /api/bindings/{vhost}/e/nox/q/q1"
    assert admin.fails("declare", "binding", v, "source=x", "destination=noq").error == \
        f"*** Not found: /api/bindings/{vhost}/e/x/q/noq"


def test_definitions_roundtrip_keeps_topic_permissions(admin, api, broker, vhost, user, tmp_path):
    """rabbitmqadmin 3.10 has no topic-permission commands: they travel through export and import."""
    assert "Don't know how to list topic_permissions" in admin.fails("list", "topic_permissions").err
    u = user()
    api.ok("PUT", f"/topic-permissions/{vhost}/{u}", {"exchange": "amq.topic", "write": "^w", "read": "^r"})
    path = tmp_path / "all.json"
    admin.ok("export", str(path))
    doc = json.loads(path.read_text())
    mine = {"user": u, "vhost": vhost, "exchange": "amq.topic", "write": "^w", "read": "^r"}
    assert mine in doc["topic_permissions"]
    assert api.delete(f"/topic-permissions/{vhost}/{u}").status == 204
    small = {"topic_permissions": [mine], "users": [], "vhosts": [], "permissions": []}
    path.write_text(json.dumps(small))
    admin.ok("import", str(path))
    assert api.ok("GET", f"/topic-permissions/{vhost}/{u}") == [mine]
