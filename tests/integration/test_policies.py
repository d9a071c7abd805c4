"""Policies and operator policies over the management API, observed over AMQP: which one applies, how
they combine with queue arguments, and that a change applies at once to existing queues and exchanges."""

from __future__ import annotations

import time

import pika
import pytest
from helpers import close_quietly, message_count, wait_count
from mgmt_helpers import Api

ALL = {"configure": ".*", "write": ".*", "read": ".*"}


@pytest.fixture(scope="module")
def api(broker):
    if broker.external:
        pytest.skip("sets policies through amqpd's own management API")
    return Api(broker.http_port)


@pytest.fixture
def vhost(api, broker, uniq):
    name = uniq("pol")
    api.ok("PUT", f"/vhosts/{name}")
    api.ok("PUT", f"/permissions/{name}/guest", ALL)
    yield name
    api.delete(f"/vhosts/{name}")


@pytest.fixture
def ch(broker, vhost):
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", broker.port, vhost, pika.PlainCredentials("guest", "guest"), heartbeat=0))
    c = conn.channel()
    c.confirm_delivery()
    yield c
    close_quietly(conn)


def publish(ch, rk, n, exchange=""):
    for i in range(n):
        ch.basic_publish(exchange, rk, str(i).encode())


def bodies(ch, q):
    out = []
    while True:
        _, _, body = ch.basic_get(q, auto_ack=True)
        if body is None:
            return out
        out.append(body.decode())


def test_new_max_length_policy_trims_existing_queue_and_dead_letters(api, vhost, ch):
    ch.queue_declare("dead")
    ch.queue_declare("orders.q", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead"})
    publish(ch, "orders.q", 5)
    api.ok("PUT", f"/policies/{vhost}/cap", {"pattern": r"^orders\.", "definition": {"max-length": 2},
                                            "apply-to": "queues"})
    assert wait_count(ch, "orders.q", 2) == 2
    assert bodies(ch, "orders.q") == ["3", "4"]
    assert wait_count(ch, "dead", 3) == 3
    _, props, _ = ch.basic_get("dead", auto_ack=True)
    assert props.headers["x-death"][0]["reason"] == "maxlen"
    api.ok("DELETE", f"/policies/{vhost}/cap")
    publish(ch, "orders.q", 4)
    assert message_count(ch, "orders.q") == 4  # cleared: the queue is unlimited again


def test_new_ttl_policy_expires_later_messages_and_reverts(api, vhost, ch):
    ch.queue_declare("ttl.q")
    api.ok("PUT", f"/policies/{vhost}/ttl", {"pattern": "^ttl", "definition": {"message-ttl": 100}})
    publish(ch, "ttl.q", 3)
    assert wait_count(ch, "ttl.q", 0) == 0
    api.ok("DELETE", f"/policies/{vhost}/ttl")
    publish(ch, "ttl.q", 2)
    time.sleep(0.3)
    assert message_count(ch, "ttl.q") == 2


def test_lower_of_argument_and_policy_ttl_applies(api, vhost, ch):
    api.ok("PUT", f"/policies/{vhost}/ttl", {"pattern": "^ttl", "definition": {"message-ttl": 100}})
    ch.queue_declare("ttl.long", arguments={"x-message-ttl": 60000})
    ch.queue_declare("ttl.short", arguments={"x-message-ttl": 50})
    publish(ch, "ttl.long", 1)
    assert wait_count(ch, "ttl.long", 0, timeout=2) == 0  # policy's 100 ms beats the argument's 60 s


def test_dead_letter_exchange_argument_beats_policy(api, vhost, ch):
    ch.queue_declare("from-arg")
    ch.queue_declare("from-policy")
    ch.exchange_declare("arg-dlx", "fanout")
    ch.exchange_declare("pol-dlx", "fanout")
    ch.queue_bind("from-arg", "arg-dlx")
    ch.queue_bind("from-policy", "pol-dlx")
    api.ok("PUT", f"/policies/{vhost}/dl", {"pattern": "^dl\\.", "definition": {"dead-letter-exchange": "pol-dlx",
                                                                                "message-ttl": 10}})
    ch.queue_declare("dl.with-arg", arguments={"x-dead-letter-exchange": "arg-dlx"})
    ch.queue_declare("dl.plain")
    publish(ch, "dl.with-arg", 1)
    publish(ch, "dl.plain", 1)
    assert wait_count(ch, "from-arg", 1) == 1
    assert wait_count(ch, "from-policy", 1) == 1


def test_highest_priority_policy_alone_applies(api, vhost, ch):
    api.ok("PUT", f"/policies/{vhost}/low", {"pattern": "^prio", "definition": {"message-ttl": 50}, "priority": 1})
    api.ok("PUT", f"/policies/{vhost}/high", {"pattern": "^prio", "definition": {"max-length": 1},
                                             "priority": 5})
    ch.queue_declare("prio.q")
    publish(ch, "prio.q", 3)
    time.sleep(0.3)
    assert bodies(ch, "prio.q") == ["2"]  # max-length from "high"; no TTL from "low"
    api.ok("DELETE", f"/policies/{vhost}/high")
    publish(ch, "prio.q", 3)
    assert wait_count(ch, "prio.q", 0) == 0  # now "low" applies: its TTL expires them


def test_operator_policy_stricter_value_wins(api, vhost, ch):
    api.ok("PUT", f"/policies/{vhost}/loose", {"pattern": r"^op\.", "definition": {"max-length": 5,
                                                                              "overflow": "reject-publish"}})
    api.ok("PUT", f"/operator-policies/{vhost}/strict", {"pattern": "^op", "definition": {"max-length": 2},
                                                        "apply-to": "queues"})
    ch.queue_declare("op.q")
    acks = []
    for i in range(4):
        try:
            ch.basic_publish("", "op.q", str(i).encode())
            acks.append("ack")
        except pika.exceptions.NackError:
            acks.append("nack")
    assert acks == ["ack", "ack", "nack", "nack"]
    ch.queue_declare("opx", arguments={"x-max-length": 10})  # only the operator policy matches
    publish(ch, "opx", 4)
    assert message_count(ch, "opx") == 2
    api.ok("DELETE", f"/operator-policies/{vhost}/strict")
    publish(ch, "opx", 4)
    assert message_count(ch, "opx") == 6


def test_alternate_exchange_policy_and_argument_precedence(api, vhost, ch):
    ch.queue_declare("unrouted-pol")
    ch.queue_declare("unrouted-arg")
    ch.exchange_declare("ae-pol", "fanout")
    ch.exchange_declare("ae-arg", "fanout")
    ch.queue_bind("unrouted-pol", "ae-pol")
    ch.queue_bind("unrouted-arg", "ae-arg")
    ch.exchange_declare("aep.x", "direct")
    ch.exchange_declare("aep.y", "direct", arguments={"alternate-exchange": "ae-arg"})
    api.ok("PUT", f"/policies/{vhost}/ae", {"pattern": r"^aep\.", "definition": {"alternate-exchange": "ae-pol"},
                                           "apply-to": "exchanges"})
    ch.basic_publish("aep.x", "nowhere", b"1")
    ch.basic_publish("aep.y", "nowhere", b"2")
    assert wait_count(ch, "unrouted-pol", 1) == 1
    assert wait_count(ch, "unrouted-arg", 1) == 1
    api.ok("DELETE", f"/policies/{vhost}/ae")
    ch.basic_publish("aep.x", "nowhere", b"3")
    time.sleep(0.2)
    assert message_count(ch, "unrouted-pol") == 1


def test_policies_apply_to_queues_or_exchanges_as_told(api, vhost, ch):
    api.ok("PUT", f"/policies/{vhost}/ex-only", {"pattern": ".*", "definition": {"max-length": 1},
                                                "apply-to": "exchanges"})
    ch.queue_declare("free")
    publish(ch, "free", 3)
    assert message_count(ch, "free") == 3


def test_policies_survive_restart(broker_factory, tmp_path):
    b = broker_factory()
    api = Api(b.http_port)
    api.ok("PUT", "/policies/%2F/cap", {"pattern": "^cap", "definition": {"max-length": 1}, "apply-to": "queues"})
    api.ok("PUT", "/operator-policies/%2F/op", {"pattern": "^cap", "definition": {"message-ttl": 600000}})
    conn = pika.BlockingConnection(b.pika_params())
    conn.channel().queue_declare("cap.q", durable=True)
    conn.close()
    b.stop()
    b2 = broker_factory(data_dir=b.data_dir)
    api2 = Api(b2.http_port)
    assert api2.ok("GET", "/policies/%2F/cap")["definition"] == {"max-length": 1}
    assert api2.ok("GET", "/operator-policies/%2F/op")["definition"] == {"message-ttl": 600000}
    conn = pika.BlockingConnection(b2.pika_params())
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        publish(ch, "cap.q", 3)
        assert message_count(ch, "cap.q") == 1
    finally:
        close_quietly(conn)
