"""Peek (GET /api/queues/{vhost}/{name}/messages) and move (POST .../move), amqpd's own endpoints, against a
real amqpd: messages published and checked with pika, the effects read back over AMQP and the API, a
persistent move across kill -9 and restart."""

from __future__ import annotations

import time

import pika
import pytest
from conftest import EXTERNAL_URL
from durable_helpers import kill9, restart
from mgmt_helpers import Api, q

pytestmark = pytest.mark.skipif(bool(EXTERNAL_URL), reason="amqpd's own endpoints; RabbitMQ has no equivalent")

V = "%2F"


@pytest.fixture(scope="module")
def api(broker) -> Api:
    return Api(broker.http_port)


@pytest.fixture(scope="module")
def amqp(broker):
    conn = pika.BlockingConnection(broker.pika_params())
    yield conn.channel()
    conn.close()


def peek(api: Api, queue: str, vhost: str = V, **params) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return api.ok("GET", f"/queues/{vhost}/{q(queue)}/messages" + (f"?{query}" if query else ""))


def move(api: Api, queue: str, body: dict, vhost: str = V) -> dict:
    return api.ok("POST", f"/queues/{vhost}/{q(queue)}/move", body)


def counts(api: Api, queue: str, vhost: str = V) -> tuple:
    info = api.ok("GET", f"/queues/{vhost}/{q(queue)}")
    stats = {k: v for k, v in info.get("message_stats", {}).items() if not k.endswith("_details")}
    return info["messages"], info["messages_ready"], info["messages_unacknowledged"], stats


def bodies(ch, queue: str) -> list[bytes]:
    out = []
    while True:
        method, _, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append(body)


def props(**kw) -> pika.BasicProperties:
    return pika.BasicProperties(**kw)


def dead_letter(ch, uniq, n: int, **headers) -> str:
    """n messages rejected out of a work queue into its dead-letter queue; returns the DLQ's name."""
    work, dlq = uniq("work"), uniq("dlq")
    ch.queue_declare(dlq, durable=True)
    ch.queue_declare(work, durable=True, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
    for i in range(n):
        ch.basic_publish("", work, f"m{i}".encode(), props(delivery_mode=2, headers={"n": i, **headers}))
    for _ in range(n):
        method, _, _ = ch.basic_get(work)
        ch.basic_reject(method.delivery_tag, requeue=False)
    deadline = time.monotonic() + 5
    while ch.queue_declare(dlq, passive=True).method.message_count < n:
        assert time.monotonic() < deadline, "messages were not dead-lettered"
        time.sleep(0.02)
    return dlq


# -- peek -----------------------------------------------------------------------------------------------
def test_peek_shows_messages_as_get_does_and_changes_nothing(api, amqp, uniq):
    name = uniq("peek")
    amqp.queue_declare(name)
    amqp.basic_publish("", name, b"hello", props(content_type="text/plain", headers={"h": 1, "s": "x"},
                                                  delivery_mode=2, priority=3, message_id="m1"))
    amqp.basic_publish("", name, b"\xff\x00binary", props(headers={"h": 2}))
    amqp.basic_publish("", name, b"third")
    before = counts(api, name)

    msgs = peek(api, name, count=2)
    assert [m["payload"] for m in msgs] == ["hello", "/wBiaW5hcnk="]
    assert [m["payload_encoding"] for m in msgs] == ["string", "base64"]
    first = msgs[0]
    assert first["properties"] == {"message_id": "m1", "priority": 3, "delivery_mode": 2,
                                   "headers": {"h": 1, "s": "x"}, "content_type": "text/plain"}
    assert (first["redelivered"], first["exchange"], first["routing_key"]) == (False, "", name)
    assert first["payload_bytes"] == 5 and first["message_count"] == 3
    assert [m["payload"] for m in peek(api, name)] == ["hello", "/wBiaW5hcnk=", "third"]  # default count
    assert peek(api, name, count=1, encoding="base64", truncate=2)[0]["payload"] == "aGU="
    assert peek(api, name, count=0) == []
    assert counts(api, name) == before

    # what RabbitMQ's get shows for the same message, but for the count it leaves behind
    got = api.ok("POST", f"/queues/{V}/{q(name)}/get", {"count": 1, "ackmode": "ack_requeue_false",
                                                          "encoding": "auto"})[0]
    assert {**got, "message_count": 3} == first
    method, _, body = amqp.basic_get(name, auto_ack=True)
    assert body == b"\xff\x00binary" and not method.redelivered  # peeking set no redelivered flag


def test_peek_priority_queue_in_delivery_order(api, amqp, uniq):
    name = uniq("prio")
    amqp.queue_declare(name, arguments={"x-max-priority": 5})
    for i, p in enumerate([1, 5, 3, 5, 0]):
        amqp.basic_publish("", name, f"{i}:{p}".encode(), props(priority=p))
    assert [m["payload"] for m in peek(api, name)] == ["1:5", "3:5", "2:3", "0:1", "4:0"]
    assert [m["payload"] for m in peek(api, name, count=2)] == ["1:5", "3:5"]
    assert bodies(amqp, name) == [b"1:5", b"3:5", b"2:3", b"0:1", b"4:0"]


def test_peek_quorum_queue_with_returns(api, amqp, uniq):
    name = uniq("qq")
    amqp.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 5})
    for i in range(3):
        amqp.basic_publish("", name, f"q{i}".encode(), props(headers={"i": i}))
    method, _, _ = amqp.basic_get(name)
    amqp.basic_nack(method.delivery_tag, requeue=True)  # returned: served first, counted
    time.sleep(0.05)
    before = counts(api, name)
    msgs = peek(api, name)
    assert [m["payload"] for m in msgs] == ["q0", "q1", "q2"]
    assert [m["redelivered"] for m in msgs] == [True, False, False]
    assert msgs[0]["properties"]["headers"] == {"i": 0, "x-delivery-count": 1}
    assert msgs[1]["properties"]["headers"] == {"i": 1, "x-delivery-count": 0}
    assert counts(api, name) == before
    assert bodies(amqp, name) == [b"q0", b"q1", b"q2"]


def test_peek_hides_expired_messages(api, amqp, uniq):
    name, ttl_q = uniq("exp"), uniq("qttl")
    amqp.queue_declare(name)
    amqp.basic_publish("", name, b"long", props(expiration="60000"))
    amqp.basic_publish("", name, b"short", props(expiration="1"))  # expires behind the head
    amqp.basic_publish("", name, b"forever")
    amqp.queue_declare(ttl_q, arguments={"x-message-ttl": 50})
    amqp.basic_publish("", ttl_q, b"gone")
    time.sleep(0.15)
    assert [m["payload"] for m in peek(api, name)] == ["long", "forever"]
    assert peek(api, ttl_q) == []
    assert counts(api, ttl_q)[1] == 0


# -- move -----------------------------------------------------------------------------------------------
def test_move_to_queue_keeps_or_strips_x_death(api, amqp, uniq):
    dlq = dead_letter(amqp, uniq, 4, tenant="t")
    keep, strip = uniq("replay"), uniq("replay")
    amqp.queue_declare(keep, durable=True)
    amqp.queue_declare(strip, durable=True)

    assert move(api, dlq, {"destination": keep, "destination_type": "queue", "count": 2}) == \
        {"moved": 2, "remaining": 2, "unroutable": 0, "refused": 0}
    kept = peek(api, keep)
    assert [m["payload"] for m in kept] == ["m0", "m1"]
    headers = kept[0]["properties"]["headers"]
    assert headers["x-death"][0]["reason"] == "rejected" and headers["x-first-death-reason"] == "rejected"
    assert headers["n"] == 0 and headers["tenant"] == "t"
    assert kept[0]["properties"]["delivery_mode"] == 2 and kept[0]["redelivered"] is False

    assert move(api, dlq, {"destination": strip, "keep_x_death": False}) == \
        {"moved": 2, "remaining": 0, "unroutable": 0, "refused": 0}
    stripped = peek(api, strip)
    assert [m["properties"]["headers"] for m in stripped] == [{"n": 2, "tenant": "t"}, {"n": 3, "tenant": "t"}]
    assert bodies(amqp, keep) == [b"m0", b"m1"] and bodies(amqp, strip) == [b"m2", b"m3"]
    assert bodies(amqp, dlq) == []


def test_move_to_exchange_routes_each_message_and_wakes_consumers(api, broker, amqp, uniq):
    src, a, b, ex = uniq("src"), uniq("a"), uniq("b"), uniq("ex")
    amqp.exchange_declare(ex, "direct")
    for queue in (src, a, b):
        amqp.queue_declare(queue)
    amqp.queue_bind(a, ex, "k1")
    amqp.queue_bind(b, ex, "k2")
    for rk in ("k1", "k2", "k3"):
        amqp.queue_bind(src, "amq.direct", rk)
    for rk in ("k1", "k2", "k3", "k1"):
        amqp.basic_publish("amq.direct", rk, rk.encode())

    conn = pika.BlockingConnection(broker.pika_params())
    consumer = conn.channel()
    got: list[bytes] = []
    consumer.basic_consume(a, lambda ch, m, p, body: got.append(body), auto_ack=True)
    conn.process_data_events(0.05)
    try:
        assert move(api, src, {"destination": ex, "destination_type": "exchange"}) == \
            {"moved": 3, "remaining": 1, "unroutable": 1, "refused": 0}
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            conn.process_data_events(0.05)
        assert got == [b"k1", b"k1"]
        left = peek(api, src)
        assert [(m["payload"], m["routing_key"], m["exchange"]) for m in left] == [("k3", "k3", "amq.direct")]
        assert [(m["routing_key"], m["exchange"]) for m in peek(api, b)] == [("k2", ex)]
        # a routing key of the caller's instead of the message's own
        assert move(api, src, {"destination": ex, "destination_type": "exchange", "routing_key": "k2"}) == \
            {"moved": 1, "remaining": 0, "unroutable": 0, "refused": 0}
        assert bodies(amqp, b) == [b"k2", b"k3"]
    finally:
        conn.close()


def test_move_filters_leave_the_others_in_order(api, amqp, uniq):
    src, dst = uniq("src"), uniq("dst")
    amqp.queue_declare(src)
    amqp.queue_declare(dst)
    for i, tenant in enumerate("xyxyx"):
        amqp.basic_publish("", src, f"{i}{tenant}".encode(), props(headers={"tenant": tenant, "i": i}))
    assert move(api, src, {"destination": dst, "count": 2, "match": {"headers": {"tenant": "x"}}}) == \
        {"moved": 2, "remaining": 3, "unroutable": 0, "refused": 0}
    assert [m["payload"] for m in peek(api, src)] == ["1y", "3y", "4x"]
    assert move(api, src, {"destination": dst, "match": {"headers": {"tenant": "y", "i": 3}}})["moved"] == 1
    assert move(api, src, {"destination": dst, "match": {"routing_key": "nope"}})["moved"] == 0
    assert move(api, src, {"destination": dst, "match": {"routing_key": src, "headers": {"i": 4}}})["moved"] == 1
    assert bodies(amqp, dst) == [b"0x", b"2x", b"3y", b"4x"]
    assert bodies(amqp, src) == [b"1y"]


def test_move_stops_at_a_full_destination(api, amqp, uniq):
    src, dst = uniq("src"), uniq("full")
    amqp.queue_declare(src)
    amqp.queue_declare(dst, arguments={"x-max-length": 2, "x-overflow": "reject-publish-dlx",
                                       "x-dead-letter-exchange": ""})
    for i in range(5):
        amqp.basic_publish("", src, str(i).encode())
    assert move(api, src, {"destination": dst}) == {"moved": 2, "remaining": 3, "unroutable": 0, "refused": 1}
    assert bodies(amqp, src) == [b"2", b"3", b"4"]
    assert bodies(amqp, dst) == [b"0", b"1"]


def test_move_permissions(api, amqp, uniq):
    src, dst, user = uniq("src"), uniq("dst"), uniq("reader")
    amqp.queue_declare(src)
    amqp.queue_declare(dst)
    amqp.basic_publish("", src, b"x")
    api.ok("PUT", f"/users/{user}", {"password": "pw", "tags": "management"})
    try:
        api.ok("PUT", f"/permissions/{V}/{user}", {"configure": "", "write": "", "read": ".*"})
        reader = api.as_user(user, "pw")
        assert [m["payload"] for m in peek(reader, src)] == ["x"]
        r = reader.post(f"/queues/{V}/{q(src)}/move", {"destination": dst})
        assert r.status == 401 and r.body["error"] == "not_authorised"
        assert "access to exchange 'amq.default'" in r.body["reason"]
        r = reader.post(f"/queues/{V}/{q(src)}/move", {"destination": "amq.fanout", "destination_type": "exchange"})
        assert r.status == 401 and "access to exchange 'amq.fanout'" in r.body["reason"]

        api.ok("PUT", f"/permissions/{V}/{user}", {"configure": "", "write": ".*", "read": "^nothing$"})
        r = reader.get(f"/queues/{V}/{q(src)}/messages")
        assert r.status == 401 and f"access to queue '{src}'" in r.body["reason"]
        r = reader.post(f"/queues/{V}/{q(src)}/move", {"destination": dst})
        assert r.status == 401 and f"access to queue '{src}'" in r.body["reason"]
        assert counts(api, src)[0] == 1 and counts(api, dst)[0] == 0
    finally:
        api.delete(f"/users/{user}")


def test_errors(api, amqp, uniq):
    src = uniq("src")
    amqp.queue_declare(src)
    base = f"/queues/{V}/{q(src)}"
    r = api.get(f"/queues/{V}/missing-queue/messages")
    assert (r.status, r.body) == (404, {"error": "Object Not Found", "reason": "Not Found"})
    r = api.post(f"/queues/{V}/missing-queue/move", {"destination": src})
    assert (r.status, r.body) == (404, {"error": "Object Not Found", "reason": "Not Found"})
    assert api.get("/queues/no-such-vhost/x/messages").status == 404
    cases = [
        ({"destination": src}, "onto itself"),
        ({}, "[{key_missing,destination}]"),
        ({"destination": 5}, ["not_string", 5]),
        ({"destination": "x", "destination_type": "topic"}, ["unsupported_destination_type", "topic"]),
        ({"destination": "x", "count": "many"}, ["not_integer", "many"]),
        ({"destination": "x", "count": -1}, "count must be a non-negative integer"),
        ({"destination": "x", "keep_x_death": "maybe"}, ["not_boolean", "maybe"]),
        ({"destination": "x", "match": {"headers": [1]}}, ["not_table", [1]]),
    ]
    for body, reason in cases:
        r = api.post(f"{base}/move", body)
        assert r.status == 400 and r.body["error"] == "bad_request", (body, r.body)
        assert reason in r.body["reason"] if isinstance(reason, str) else r.body["reason"] == reason, (body, r.body)
    r = api.call("POST", f"{base}/move", raw=b"{nope")
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": "not_json"})
    r = api.post(f"{base}/move", {"destination": "no-such-queue"})
    assert (r.status, r.body["error"]) == (404, "not_found") and "no queue 'no-such-queue'" in r.body["reason"]
    r = api.post(f"{base}/move", {"destination": "no-such-x", "destination_type": "exchange"})
    assert (r.status, r.body["error"]) == (404, "not_found") and "no exchange 'no-such-x'" in r.body["reason"]
    for query in ("count=1001", "count=-1", "count=x", "encoding=utf8"):
        r = api.get(f"{base}/messages?{query}")
        assert r.status == 400 and r.body["error"] == "bad_request", (query, r.body)


# -- paged messages, persistence ------------------------------------------------------------------------
def test_paged_peek_and_persistent_move_across_kill9(broker_factory):
    """Beyond amqpd.queue.index_threshold durable messages keep their content on disk, and after a restart
    they are stubs that do not even know their routing key yet; peek and move read them back. A move
    interrupted by kill -9 leaves every persistent message in exactly one queue."""
    conf = "amqpd.queue.index_threshold = 10\n"
    b = broker_factory(conf)
    api = Api(b.http_port)
    conn = pika.BlockingConnection(b.pika_params())
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("src", durable=True)
    ch.queue_declare("dst", durable=True)
    for i in range(30):
        ch.basic_publish("", "src", f"p{i:02}".encode(), props(delivery_mode=2, headers={"i": i}))
    conn.close()
    expected = [f"p{i:02}" for i in range(30)]
    msgs = peek(api, "src", count=30)
    assert [m["payload"] for m in msgs] == expected
    assert msgs[25]["properties"]["headers"] == {"i": 25} and msgs[25]["routing_key"] == "src"

    b.stop()
    b = restart(broker_factory, b, conf)
    api = Api(b.http_port)
    before = counts(api, "src")
    msgs = peek(api, "src", count=30)
    assert [m["payload"] for m in msgs] == expected
    assert [(m["exchange"], m["routing_key"], m["redelivered"]) for m in msgs[20:22]] == [("", "src", False)] * 2
    assert counts(api, "src") == before

    assert move(api, "src", {"destination": "dst", "count": 12})["moved"] == 12
    time.sleep(0.5)  # the first move's batch is on disk
    assert move(api, "src", {"destination": "dst", "count": 8})["moved"] == 8
    kill9(b)  # the second move's batch may or may not have made it: either way, all of it or none
    b = restart(broker_factory, b, conf)
    api = Api(b.http_port)
    src, dst = [m["payload"] for m in peek(api, "src", count=30)], [m["payload"] for m in peek(api, "dst", count=30)]
    assert len(dst) in (12, 20), dst
    assert dst == expected[:len(dst)] and src == expected[len(dst):]
    assert move(api, "dst", {"destination": "src"})["moved"] == len(dst)  # and back, behind the rest
    b.stop()
    b = restart(broker_factory, b, conf)
    conn = pika.BlockingConnection(b.pika_params())
    ch = conn.channel()
    got = [body.decode() for body in bodies(ch, "src")]
    conn.close()
    assert sorted(got) == expected and len(got) == 30
    assert got == expected[len(dst):] + expected[:len(dst)]
