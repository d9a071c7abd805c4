"""The x-consistent-hash exchange type (RabbitMQ's rabbitmq_consistent_hash_exchange plugin): a message goes
to one bound destination, chosen by the hash of its routing key (or of a header, or a property), in
proportion to the bindings' weights (their routing keys). Every test but the restart test passes on
RabbitMQ 3.10.8 with the plugin enabled (AMQPD_TEST_URL, its HTTP API on AMQPD_TEST_HTTP_PORT or 15672);
the error texts are RabbitMQ's."""

from __future__ import annotations

import collections

import pika
import pytest
from helpers import (  # tests/integration is on sys.path (rootdir conftest, no packages)
    channel_error,
    confirm_ch_fixture,  # noqa: F401 (fixture)
    conn_fixture,  # noqa: F401 (fixture)
    connect_fixture,  # noqa: F401 (fixture)
    connection_error,
)
from mgmt_helpers import Api
from pika.exceptions import UnroutableError
from radmin_helpers import http_port

pytestmark = pytest.mark.timeout(120)
TYPE = "x-consistent-hash"


def queues(ch, uniq, weights: list[str], exchange: str) -> list[str]:
    names = []
    for w in weights:
        q = ch.queue_declare(uniq("chq"), exclusive=True).method.queue
        ch.queue_bind(q, exchange, w)
        names.append(q)
    return names


def publish(ch, exchange: str, keys, props=None, body=None) -> None:
    for k in keys:
        ch.basic_publish(exchange, k, (body or k).encode(), props)


def placement(ch, names: list[str]) -> dict[str, list[str]]:
    """Every message body in each queue (the queues are emptied)."""
    out = {}
    for q in names:
        bodies = []
        while True:
            method, _props, body = ch.basic_get(q, auto_ack=True)
            if method is None:
                break
            bodies.append(body.decode())
        out[q] = bodies
    return out


def queues_of(got: dict[str, list[str]]) -> dict[str, set[str]]:
    """{body: the queues it was found in}."""
    where = collections.defaultdict(set)
    for q, bodies in got.items():
        for b in bodies:
            where[b].add(q)
    return where


def test_a_key_always_reaches_the_same_single_queue_in_proportion_to_weights(ch, uniq):
    x = uniq("ch")
    ch.exchange_declare(x, TYPE, auto_delete=True)
    names = queues(ch, uniq, ["1", "1", "2", "2"], x)
    keys = [f"order-{i}" for i in range(1200)]
    publish(ch, x, keys + keys)  # every key twice
    got = placement(ch, names)
    assert sum(len(v) for v in got.values()) == 2400  # each message reached exactly one queue
    where = queues_of(got)
    assert all(len(qs) == 1 for qs in where.values())  # both copies of a key in the same queue
    assert len(where) == 1200
    per = [len(got[q]) / 2 for q in names]
    assert all(n > 100 for n in per), per  # ~200, 200, 400, 400
    assert 1.5 < (per[2] + per[3]) / (per[0] + per[1]) < 2.6, per


def test_a_new_binding_takes_keys_only_for_itself(ch, uniq):
    x = uniq("ch")
    ch.exchange_declare(x, TYPE, auto_delete=True)
    names = queues(ch, uniq, ["1", "1", "1"], x)
    keys = [f"user-{i}" for i in range(800)]
    publish(ch, x, keys)
    before = {b: q for q, bodies in placement(ch, names).items() for b in bodies}
    newcomer = queues(ch, uniq, ["1"], x)[0]
    publish(ch, x, keys)
    after = {b: q for q, bodies in placement(ch, names + [newcomer]).items() for b in bodies}
    moved = [k for k in keys if after[k] != before[k]]
    assert all(after[k] == newcomer for k in moved)  # nothing moved between the old queues
    assert 100 < len(moved) < 320, len(moved)  # about a quarter of the keys
    ch.queue_unbind(newcomer, x, "1")  # the last binding goes: everything is back where it was
    publish(ch, x, keys)
    again = {b: q for q, bodies in placement(ch, names + [newcomer]).items() for b in bodies}
    assert again == before


def test_a_second_binding_to_a_queue_adds_no_weight(ch, uniq):
    x = uniq("ch")
    ch.exchange_declare(x, TYPE, auto_delete=True)
    names = queues(ch, uniq, ["1", "1"], x)
    ch.queue_bind(names[0], x, "10")  # RabbitMQ 3.10 keeps the weight of the first binding
    publish(ch, x, [f"k{i}" for i in range(600)])
    got = placement(ch, names)
    assert sum(len(v) for v in got.values()) == 600
    assert all(200 < len(got[q]) < 400 for q in names), [len(got[q]) for q in names]


def test_hash_header_and_hash_property(ch, uniq):
    x = uniq("chh")
    ch.exchange_declare(x, TYPE, auto_delete=True, arguments={"hash-header": "shard"})
    names = queues(ch, uniq, ["1", "1", "1", "1"], x)
    for i in range(400):  # the routing key varies, the header decides
        ch.basic_publish(x, f"rk-{i}", f"s{i % 40}".encode(),
                         pika.BasicProperties(headers={"shard": f"s{i % 40}"}))
    for i in range(20):
        ch.basic_publish(x, f"none-{i}", b"none", pika.BasicProperties(headers={"other": i}))
    got = placement(ch, names)
    shards = queues_of(got)
    assert len(shards) == 41 and all(len(qs) == 1 for qs in shards.values())
    assert len({next(iter(qs)) for qs in shards.values()}) == 4  # 40 shard values spread over every queue
    assert sum(b == "none" for bodies in got.values() for b in bodies) == 20  # without it: all in one

    p = uniq("chp")
    ch.exchange_declare(p, TYPE, auto_delete=True, arguments={"hash-property": "message_id"})
    names = queues(ch, uniq, ["3", "3"], p)
    for i in range(200):
        ch.basic_publish(p, "same-key", f"m{i % 20}".encode(), pika.BasicProperties(message_id=f"m{i % 20}"))
    got = placement(ch, names)
    ids = queues_of(got)
    assert len(ids) == 20 and all(len(qs) == 1 for qs in ids.values())
    assert all(got[q] for q in names)  # one routing key, yet both queues get messages

    t = uniq("cht")
    ch.exchange_declare(t, TYPE, auto_delete=True, arguments={"hash-property": "timestamp"})
    names = queues(ch, uniq, ["1", "1"], t)
    for i in range(100):
        ch.basic_publish(t, f"k{i}", str(i % 10).encode(), pika.BasicProperties(timestamp=1_767_225_600 + i % 10))
    got = placement(ch, names)
    stamps = queues_of(got)
    assert len(stamps) == 10 and all(len(qs) == 1 for qs in stamps.values())


def test_cc_keys_and_exchange_destinations(ch, uniq):
    x = uniq("ch")
    ch.exchange_declare(x, TYPE, auto_delete=True)
    names = queues(ch, uniq, ["1", "1", "1"], x)
    for i in range(60):  # the first routing key decides; CC keys add no copies
        ch.basic_publish(x, f"k{i}", b"cc", pika.BasicProperties(headers={"CC": [f"c{i}", f"d{i}", f"e{i}"]}))
    assert sum(len(b) for b in placement(ch, names).values()) == 60

    y = uniq("chx")  # an exchange as the destination of a weighted binding
    ch.exchange_declare(y, "fanout", auto_delete=True)
    ch.exchange_bind(destination=y, source=x, routing_key="5")
    fan = [ch.queue_declare(uniq("fan"), exclusive=True).method.queue for _ in range(2)]
    for q in fan:
        ch.queue_bind(q, y)
    publish(ch, x, [f"k{i}" for i in range(200)])
    got = placement(ch, names + fan)
    direct, via = sum(len(got[q]) for q in names), got[fan[0]]
    assert got[fan[0]] == got[fan[1]] and direct + len(via) == 200
    assert len(via) > 80  # weight 5 of 8


def test_unroutable_without_bindings(ch, uniq):
    x = uniq("ch")
    ch.exchange_declare(x, TYPE)
    q = ch.queue_declare(uniq("chq"), exclusive=True).method.queue
    ch.queue_bind(q, x, "1")
    ch.queue_unbind(q, x, "1")
    with pytest.raises(UnroutableError):
        ch.basic_publish(x, "k", b"lost", mandatory=True)
    ch.exchange_delete(x)


def test_invalid_weights_and_arguments(conn, uniq):
    ch = conn.channel()
    x = uniq("ch")
    ch.exchange_declare(x, TYPE, auto_delete=True)
    q = ch.queue_declare(uniq("chq"), exclusive=True).method.queue
    for key, text in (("abc", 'The binding key must be an integer: <<"abc">>'),
                      ("", 'The binding key must be an integer: <<>>'),
                      ("1.5", 'The binding key must be an integer: <<"1.5">>'),
                      ("0", "The binding key must be greater than 0"),
                      ("-3", "The binding key must be greater than 0")):
        channel_error(conn, lambda c, key=key: c.queue_bind(q, x, key), 406, f"PRECONDITION_FAILED - {text}")
    for args, text in (({"hash-header": "h", "hash-property": "message_id"},
                        "hash-header and hash-property are mutually exclusive"),
                       ({"hash-property": "user_id"}, "Unsupported property: user_id")):
        channel_error(conn, lambda c, args=args: c.exchange_declare(uniq("bad"), TYPE, arguments=args), 406,
                      f"PRECONDITION_FAILED - {text}")
    c2 = conn.channel()
    c2.queue_bind(q, x, "+2")  # Erlang's list_to_integer takes a sign
    c2.confirm_delivery()
    c2.basic_publish(x, "k", b"ok", mandatory=True)
    assert c2.queue_declare(q, passive=True).method.message_count == 1
    c2.queue_delete(q)
    c2.exchange_delete(x)


def test_the_http_api_answers_as_rabbitmq_does(broker, uniq):
    api = Api(http_port(broker))
    x, q = uniq("chapi"), uniq("chapiq")
    assert api.put(f"/exchanges/%2F/{x}", {"type": TYPE}).status == 201
    assert api.put(f"/queues/%2F/{q}", {}).status == 201
    try:
        for args, reason in (({"hash-property": "nope"}, "Unsupported property: nope"),
                             ({"hash-property": "message_id", "hash-header": "h"},
                              "hash-header and hash-property are mutually exclusive")):
            r = api.put(f"/exchanges/%2F/{uniq('chbad')}", {"type": TYPE, "arguments": args})
            assert (r.status, r.body) == (400, {"error": "bad_request", "reason": reason}), r
        for key, reason in (("abc", 'The binding key must be an integer: <<"abc">>'),
                            ("0", "The binding key must be greater than 0")):
            r = api.post(f"/bindings/%2F/e/{x}/q/{q}", {"routing_key": key})
            assert (r.status, r.body) == (400, {"error": "bad_request", "reason": reason}), r
        assert api.post(f"/bindings/%2F/e/{x}/q/{q}", {"routing_key": "2"}).status == 201
        types = {t["name"]: t["description"] for t in api.get("/overview").body["exchange_types"]}
        assert types[TYPE] == "Consistent Hashing Exchange"
    finally:
        api.delete(f"/exchanges/%2F/{x}")
        api.delete(f"/queues/%2F/{q}")


def test_an_unknown_exchange_type_is_still_refused(connect, uniq):
    connection_error(connect(), lambda c: c.exchange_declare(uniq("m"), "x-modulus-hash"), 503,
                     "COMMAND_INVALID - unknown exchange type 'x-modulus-hash'")


def test_placement_survives_a_restart(broker_factory):
    """Bindings come back in the order they were made, so every key keeps its queue (RabbitMQ rebuilds its
    buckets at boot and may move them)."""
    from durable_helpers import restart, sigterm

    b = broker_factory()
    keys = [f"acct-{i}" for i in range(300)]
    names = [f"part-{i}" for i in range(5)]

    def run(b, setup: bool) -> dict[str, str]:
        c = pika.BlockingConnection(b.pika_params())
        ch = c.channel()
        ch.confirm_delivery()
        if setup:
            ch.exchange_declare("accounts", TYPE, durable=True)
            for i, q in enumerate(names):
                ch.queue_declare(q, durable=True)
                ch.queue_bind(q, "accounts", str(i % 3 + 1))
            ch.queue_unbind("part-1", "accounts", "2")  # later buckets are renumbered
        publish(ch, "accounts", keys)
        got = {k: q for q, bodies in placement(ch, names).items() for k in bodies}
        c.close()
        return got

    before = run(b, setup=True)
    assert not any(q == "part-1" for q in before.values())
    sigterm(b)
    b = restart(broker_factory, b)
    assert run(b, setup=False) == before
