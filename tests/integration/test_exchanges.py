"""Exchanges: declare/delete and their errors, exchange-to-exchange bindings, alternate exchanges,
auto-delete, and topic/headers routing end to end. Every expectation was checked against RabbitMQ 3.10."""

from __future__ import annotations

import pika
import pika.exceptions
import pytest
from helpers import (  # tests/integration is on sys.path (rootdir conftest, no packages)
    channel_error,
    confirm_ch_fixture,  # noqa: F401 (fixture)
    conn_fixture,  # noqa: F401 (fixture)
    connect_fixture,  # noqa: F401 (fixture)
    connection_error,
    delete_quietly,
)
from pika.exceptions import ChannelClosedByBroker

pytestmark = pytest.mark.timeout(60)

DEFAULT_X_REFUSED = "ACCESS_REFUSED - operation not permitted on the default exchange"


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------

@pytest.fixture
def cleanup(broker):
    """Register exchanges/queues to delete at the end, whatever happened to the test's connection."""
    exchanges: list[str] = []
    queues: list[str] = []
    yield exchanges, queues
    delete_quietly(broker, queues, exchanges)


def sync(chan) -> None:
    """A synchronous round trip, so that errors caused by earlier asynchronous methods surface."""
    chan.exchange_declare("amq.direct", passive=True)


def count(chan, q: str) -> int:
    return chan.queue_declare(q, passive=True).method.message_count


def drain(chan, q: str) -> list[bytes]:
    out = []
    while True:
        _, _, body = chan.basic_get(q, auto_ack=True)
        if body is None:
            return out
        out.append(body)


def temp_queue(chan) -> str:
    return chan.queue_declare("", exclusive=True).method.queue


def exchange_exists(conn, name: str) -> bool:
    chan = conn.channel()
    try:
        chan.exchange_declare(name, passive=True)
    except ChannelClosedByBroker as e:
        assert e.reply_code == 404
        return False
    chan.close()
    return True


def inequivalent(what: str, name: str, received: str, current: str) -> str:
    return (f"PRECONDITION_FAILED - inequivalent arg '{what}' for exchange '{name}' in vhost '/': "
            f"received {received} but current is {current}")


# --------------------------------------------------------------------------------------------------
# declare
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("xtype", ["direct", "fanout", "topic", "headers"])
def test_declare_each_type(conn, ch, uniq, cleanup, xtype):
    x = uniq("x")
    cleanup[0].append(x)
    ok = ch.exchange_declare(x, xtype)
    assert isinstance(ok.method, pika.spec.Exchange.DeclareOk)
    ch.exchange_declare(x, xtype)  # idempotent
    ch.exchange_declare(x, passive=True)
    ch.exchange_delete(x)
    assert not exchange_exists(conn, x)


def test_passive_declare_missing(conn, uniq):
    x = uniq("x")
    channel_error(conn, lambda c: c.exchange_declare(x, passive=True), 404,
                  f"NOT_FOUND - no exchange '{x}' in vhost '/'")
    # the type does not matter for a passive declare, even an unknown one
    channel_error(conn, lambda c: c.exchange_declare(x, "no-such-type", passive=True), 404,
                  f"NOT_FOUND - no exchange '{x}' in vhost '/'")


def test_passive_declare_ignores_type_and_flags(conn, ch, uniq, cleanup):
    x = uniq("x")
    cleanup[0].append(x)
    ch.exchange_declare(x, "direct")
    ch.exchange_declare(x, "fanout", passive=True)
    ch.exchange_declare(x, "topic", durable=True, auto_delete=True, internal=True, passive=True)
    ch.exchange_declare(x, "no-such-type", passive=True)


def test_redeclare_with_different_type(conn, ch, uniq, cleanup):
    x = uniq("x")
    cleanup[0].append(x)
    ch.exchange_declare(x, "direct")
    channel_error(conn, lambda c: c.exchange_declare(x, "fanout"), 406,
                  inequivalent("type", x, "'fanout'", "'direct'"))


@pytest.mark.parametrize("flag", ["durable", "auto_delete", "internal"])
def test_redeclare_with_different_flag(conn, ch, uniq, cleanup, flag):
    x = uniq("x")
    cleanup[0].append(x)
    ch.exchange_declare(x, "direct")
    channel_error(conn, lambda c: c.exchange_declare(x, "direct", **{flag: True}), 406,
                  inequivalent(flag, x, "'true'", "'false'"))
    # and the other way round
    y = uniq("x")
    cleanup[0].append(y)
    ch.exchange_declare(y, "direct", **{flag: True})
    channel_error(conn, lambda c: c.exchange_declare(y, "direct"), 406,
                  inequivalent(flag, y, "'false'", "'true'"))


def test_redeclare_with_different_arguments(conn, ch, uniq, cleanup):
    x = uniq("x")
    cleanup[0].append(x)
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": "ae-a"})
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": "ae-a"})  # same: fine
    # RabbitMQ only compares the arguments it knows for exchanges (alternate-exchange); others are ignored
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": "ae-a", "x-whatever": "foo"})
    channel_error(conn, lambda c: c.exchange_declare(x, "direct", arguments={"alternate-exchange": "ae-b"}),
                  406, inequivalent("alternate-exchange", x, "'ae-b'", "'ae-a'"))
    channel_error(conn, lambda c: c.exchange_declare(x, "direct"), 406,
                  inequivalent("alternate-exchange", x, "none", "the value 'ae-a' of type 'longstr'"))
    y = uniq("x")
    cleanup[0].append(y)
    ch.exchange_declare(y, "direct")
    channel_error(conn, lambda c: c.exchange_declare(y, "direct", arguments={"alternate-exchange": "ae-b"}),
                  406, inequivalent("alternate-exchange", y, "the value 'ae-b' of type 'longstr'", "none"))


def test_alternate_exchange_argument_must_be_a_string(conn, uniq, cleanup):
    x = uniq("x")
    cleanup[0].append(x)
    channel_error(conn, lambda c: c.exchange_declare(x, "direct", arguments={"alternate-exchange": 5}), 406,
                  f"PRECONDITION_FAILED - invalid type 'signedint' for arg 'alternate-exchange' in exchange "
                  f"'{x}' in vhost '/'")
    assert not exchange_exists(conn, x)


def test_unknown_exchange_type_is_a_connection_error(conn, uniq):
    x = uniq("x")
    # RabbitMQ says "invalid" or "unknown" depending on whether the type name happens to be an existing
    # Erlang atom ('foo' is one): accept both for 'foo', and require "unknown" for a made-up name.
    connection_error(conn, lambda c: c.exchange_declare(x, "foo"), 503,
                     pattern=r"COMMAND_INVALID - (invalid|unknown) exchange type 'foo'")


def test_unknown_exchange_type_made_up_name(broker, uniq):
    c = pika.BlockingConnection(broker.pika_params())
    t = "x-" + uniq("type")
    try:
        connection_error(c, lambda chan: chan.exchange_declare(uniq("x"), t), 503,
                         f"COMMAND_INVALID - unknown exchange type '{t}'")
    finally:
        if c.is_open:
            c.close()
    c = pika.BlockingConnection(broker.pika_params())
    try:
        # a plugin type that is not enabled is just as unknown
        connection_error(c, lambda chan: chan.exchange_declare(uniq("x"), "x-modulus-hash"), 503,
                         "COMMAND_INVALID - unknown exchange type 'x-modulus-hash'")
    finally:
        if c.is_open:
            c.close()


def test_reserved_amq_prefix(conn):
    channel_error(conn, lambda c: c.exchange_declare("amq.foo", "direct"), 403,
                  "ACCESS_REFUSED - exchange name 'amq.foo' contains reserved prefix 'amq.*'")
    channel_error(conn, lambda c: c.exchange_declare("amq.foo", "direct", passive=True), 404,
                  "NOT_FOUND - no exchange 'amq.foo' in vhost '/'")


@pytest.mark.parametrize("name,xtype", [("amq.direct", "direct"), ("amq.fanout", "fanout"),
                                        ("amq.topic", "topic"), ("amq.headers", "headers"),
                                        ("amq.match", "headers")])
def test_builtin_exchanges(conn, ch, name, xtype):
    ch.exchange_declare(name, passive=True)
    # redeclaring a built-in one with its own properties is allowed (they are durable)
    ch.exchange_declare(name, xtype, durable=True)
    channel_error(conn, lambda c: c.exchange_declare(name, xtype), 406,
                  inequivalent("durable", name, "'false'", "'true'"))
    channel_error(conn, lambda c: c.exchange_delete(name), 403,
                  f"ACCESS_REFUSED - deletion of system exchange '{name}' in vhost '/' not allowed")
    ch2 = conn.channel()
    ch2.exchange_declare(name, passive=True)


def test_default_exchange_is_off_limits(conn, ch, cleanup, uniq):
    q = temp_queue(ch)
    x = uniq("x")
    cleanup[0].append(x)
    ch.exchange_declare(x, "direct")
    for fn in (lambda c: c.exchange_declare("", "direct"),
               lambda c: c.exchange_declare("", "direct", passive=True),
               lambda c: c.exchange_delete(""),
               lambda c: c.queue_bind(q, "", "foo"),
               lambda c: c.queue_unbind(q, "", q),
               lambda c: c.exchange_bind(x, "", "foo"),
               lambda c: c.exchange_bind("", x, "foo")):
        channel_error(conn, fn, 403, DEFAULT_X_REFUSED)
    # still routes by queue name
    ch.basic_publish("", q, b"m")
    assert drain(ch, q) == [b"m"]


# --------------------------------------------------------------------------------------------------
# delete
# --------------------------------------------------------------------------------------------------

def test_delete_missing_exchange_is_ok(ch, uniq):
    ok = ch.exchange_delete(uniq("x"))
    assert isinstance(ok.method, pika.spec.Exchange.DeleteOk)
    ch.exchange_delete(uniq("x"), if_unused=True)


def test_delete_if_unused(conn, ch, uniq, cleanup):
    x = uniq("x")
    cleanup[0].append(x)
    ch.exchange_declare(x, "direct")
    q = temp_queue(ch)
    ch.queue_bind(q, x, "k")
    channel_error(conn, lambda c: c.exchange_delete(x, if_unused=True), 406,
                  f"PRECONDITION_FAILED - exchange '{x}' in vhost '/' in use")
    assert exchange_exists(conn, x)
    ch.queue_unbind(q, x, "k")
    ch.exchange_delete(x, if_unused=True)
    assert not exchange_exists(conn, x)


def test_delete_if_unused_counts_only_bindings_as_source(conn, ch, uniq, cleanup):
    src, dst = uniq("src"), uniq("dst")
    cleanup[0].extend([src, dst])
    ch.exchange_declare(src, "fanout")
    ch.exchange_declare(dst, "fanout")
    ch.exchange_bind(dst, src)
    channel_error(conn, lambda c: c.exchange_delete(src, if_unused=True), 406,
                  f"PRECONDITION_FAILED - exchange '{src}' in vhost '/' in use")
    ch.exchange_delete(dst, if_unused=True)  # only a destination: not "in use"
    assert not exchange_exists(conn, dst)
    ch.exchange_delete(src, if_unused=True)  # its binding went with dst
    assert not exchange_exists(conn, src)


def test_delete_removes_bindings(conn, ch, uniq):
    x = uniq("x")
    ch.exchange_declare(x, "fanout")
    q = temp_queue(ch)
    ch.queue_bind(q, x)
    ch.exchange_delete(x)
    ch.exchange_declare(x, "fanout")  # a new exchange of the same name has no bindings
    ch.basic_publish(x, "", b"m")
    assert count(ch, q) == 0
    ch.exchange_delete(x)


# --------------------------------------------------------------------------------------------------
# publishing errors
# --------------------------------------------------------------------------------------------------

def test_publish_to_missing_exchange(conn, uniq):
    x = uniq("x")

    def publish(c):
        c.basic_publish(x, "k", b"m")
        sync(c)

    channel_error(conn, publish, 404, f"NOT_FOUND - no exchange '{x}' in vhost '/'")


def test_publish_to_internal_exchange(conn, ch, uniq, cleanup):
    x = uniq("x")
    cleanup[0].append(x)
    ch.exchange_declare(x, "fanout", internal=True)

    def publish(c):
        c.basic_publish(x, "k", b"m")
        sync(c)

    channel_error(conn, publish, 403, f"ACCESS_REFUSED - cannot publish to internal exchange '{x}' in vhost '/'")


# --------------------------------------------------------------------------------------------------
# exchange-to-exchange bindings
# --------------------------------------------------------------------------------------------------

def test_exchange_bind_routes_end_to_end(conn, ch, uniq, cleanup):
    src, dst = uniq("src"), uniq("dst")
    cleanup[0].extend([src, dst])
    ch.exchange_declare(src, "direct")
    ch.exchange_declare(dst, "fanout")
    q = temp_queue(ch)
    ch.queue_bind(q, dst)
    ok = ch.exchange_bind(dst, src, "k1")
    assert isinstance(ok.method, pika.spec.Exchange.BindOk)
    ch.basic_publish(src, "k1", b"via-binding")
    ch.basic_publish(src, "other", b"not-routed")
    assert drain(ch, q) == [b"via-binding"]
    ok = ch.exchange_unbind(dst, src, "k1")
    assert isinstance(ok.method, pika.spec.Exchange.UnbindOk)
    ch.basic_publish(src, "k1", b"after-unbind")
    assert drain(ch, q) == []


def test_exchange_bind_to_internal_destination(conn, ch, uniq, cleanup):
    src, dst = uniq("src"), uniq("dst")
    cleanup[0].extend([src, dst])
    ch.exchange_declare(src, "topic")
    ch.exchange_declare(dst, "fanout", internal=True)
    q = temp_queue(ch)
    ch.queue_bind(q, dst)
    ch.exchange_bind(dst, src, "a.#")
    ch.basic_publish(src, "a.b", b"ok")
    assert drain(ch, q) == [b"ok"]


def test_exchange_bind_missing_exchanges(conn, ch, uniq, cleanup):
    src, dst = uniq("src"), uniq("dst")
    # both missing: the source is reported
    channel_error(conn, lambda c: c.exchange_bind(dst, src, "k"), 404,
                  f"NOT_FOUND - no exchange '{src}' in vhost '/'")
    cleanup[0].append(src)
    ch.exchange_declare(src, "fanout")
    channel_error(conn, lambda c: c.exchange_bind(dst, src, "k"), 404,
                  f"NOT_FOUND - no exchange '{dst}' in vhost '/'")
    channel_error(conn, lambda c: c.exchange_bind(src, dst, "k"), 404,
                  f"NOT_FOUND - no exchange '{dst}' in vhost '/'")


def test_exchange_unbind_missing_is_ok(ch, uniq, cleanup):
    src, dst = uniq("src"), uniq("dst")
    ch.exchange_unbind(dst, src, "k")  # neither exists
    cleanup[0].extend([src, dst])
    ch.exchange_declare(src, "fanout")
    ch.exchange_declare(dst, "fanout")
    ch.exchange_unbind(dst, src, "k")  # no such binding


def test_cycle_delivers_one_copy_per_queue(ch, uniq, cleanup):
    x1, x2, x3 = uniq("x1"), uniq("x2"), uniq("x3")
    cleanup[0].extend([x1, x2, x3])
    for x in (x1, x2, x3):
        ch.exchange_declare(x, "fanout")
    ch.exchange_bind(x2, x1)
    ch.exchange_bind(x3, x2)
    ch.exchange_bind(x1, x3)
    q_all, q2, q3 = temp_queue(ch), temp_queue(ch), temp_queue(ch)
    for x in (x1, x2, x3):
        ch.queue_bind(q_all, x)
    ch.queue_bind(q2, x2)
    ch.queue_bind(q3, x3)
    for start in (x1, x2, x3):
        ch.basic_publish(start, "", start.encode())
        assert drain(ch, q_all) == [start.encode()]
        assert drain(ch, q2) == [start.encode()]
        assert drain(ch, q3) == [start.encode()]


def test_self_binding(ch, uniq, cleanup):
    x = uniq("x")
    cleanup[0].append(x)
    ch.exchange_declare(x, "fanout")
    ch.exchange_bind(x, x)
    q = temp_queue(ch)
    ch.queue_bind(q, x)
    ch.basic_publish(x, "", b"once")
    assert drain(ch, q) == [b"once"]


def test_diamond_delivers_one_copy(ch, uniq, cleanup):
    x1, x2, x3 = uniq("x1"), uniq("x2"), uniq("x3")
    cleanup[0].extend([x1, x2, x3])
    ch.exchange_declare(x1, "direct")
    ch.exchange_declare(x2, "fanout")
    ch.exchange_declare(x3, "topic")
    ch.exchange_bind(x2, x1, "k")
    ch.exchange_bind(x3, x1, "k")
    q = temp_queue(ch)
    ch.queue_bind(q, x2)
    ch.queue_bind(q, x3, "#")
    ch.queue_bind(q, x1, "k")
    ch.basic_publish(x1, "k", b"diamond")
    assert drain(ch, q) == [b"diamond"]


def test_several_matching_bindings_one_copy(ch):
    q = temp_queue(ch)
    for key in ("a.*", "*.b", "#", "a.b"):
        ch.queue_bind(q, "amq.topic", key)
    ch.basic_publish("amq.topic", "a.b", b"once")
    assert drain(ch, q) == [b"once"]
    for key in ("a.*", "*.b", "#", "a.b"):
        ch.queue_unbind(q, "amq.topic", key)


# --------------------------------------------------------------------------------------------------
# alternate exchanges
# --------------------------------------------------------------------------------------------------

def test_alternate_exchange_chain(ch, uniq, cleanup):
    x, ae1, ae2 = uniq("x"), uniq("ae1"), uniq("ae2")
    cleanup[0].extend([x, ae1, ae2])
    ch.exchange_declare(ae2, "fanout")
    ch.exchange_declare(ae1, "direct", arguments={"alternate-exchange": ae2})
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": ae1})
    q0, q1, q2 = temp_queue(ch), temp_queue(ch), temp_queue(ch)
    ch.queue_bind(q0, x, "k0")
    ch.queue_bind(q1, ae1, "k1")
    ch.queue_bind(q2, ae2)
    # mandatory: when an alternate exchange routes the message there is no basic.return
    for key in ("k0", "k1", "k2"):
        ch.basic_publish(x, key, key.encode(), mandatory=True)
    assert drain(ch, q0) == [b"k0"]
    assert drain(ch, q1) == [b"k1"]
    assert drain(ch, q2) == [b"k2"]


def test_alternate_exchange_not_used_when_routed(ch, uniq, cleanup):
    x, ae = uniq("x"), uniq("ae")
    cleanup[0].extend([x, ae])
    ch.exchange_declare(ae, "fanout")
    ch.exchange_declare(x, "fanout", arguments={"alternate-exchange": ae})
    q, q_ae = temp_queue(ch), temp_queue(ch)
    ch.queue_bind(q, x)
    ch.queue_bind(q_ae, ae)
    ch.basic_publish(x, "any", b"routed")
    assert drain(ch, q) == [b"routed"]
    assert drain(ch, q_ae) == []


def test_alternate_exchange_missing_or_unroutable(ch, uniq, cleanup):
    x, ae = uniq("x"), uniq("ae")
    cleanup[0].extend([x, ae])
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": ae})  # the AE does not exist (yet)
    with pytest.raises(pika.exceptions.UnroutableError) as ei:
        ch.basic_publish(x, "nowhere", b"lost", mandatory=True)
    ret = ei.value.messages[0]
    assert (ret.method.reply_code, ret.method.reply_text, ret.method.exchange, ret.method.routing_key) == \
        (312, "NO_ROUTE", x, "nowhere")
    ch.basic_publish(x, "nowhere", b"dropped")  # not mandatory: silently dropped
    ch.exchange_declare(ae, "direct")  # exists now, but routes nothing
    with pytest.raises(pika.exceptions.UnroutableError):
        ch.basic_publish(x, "nowhere", b"lost", mandatory=True)
    q = temp_queue(ch)
    ch.queue_bind(q, ae, "nowhere")
    ch.basic_publish(x, "nowhere", b"found", mandatory=True)
    assert drain(ch, q) == [b"found"]


def test_alternate_exchange_loop(ch, uniq, cleanup):
    l1, l2 = uniq("l1"), uniq("l2")
    cleanup[0].extend([l1, l2])
    ch.exchange_declare(l1, "direct", arguments={"alternate-exchange": l2})
    ch.exchange_declare(l2, "direct", arguments={"alternate-exchange": l1})
    q = temp_queue(ch)
    ch.queue_bind(q, l1, "k1")
    ch.queue_bind(q, l2, "k2")
    with pytest.raises(pika.exceptions.UnroutableError) as ei:
        ch.basic_publish(l1, "zz", b"loop", mandatory=True)
    assert ei.value.messages[0].method.reply_code == 312
    ch.basic_publish(l1, "k2", b"via-l2", mandatory=True)
    ch.basic_publish(l2, "k1", b"via-l1", mandatory=True)
    assert drain(ch, q) == [b"via-l2", b"via-l1"]


def test_internal_alternate_exchange(ch, uniq, cleanup):
    x, ae = uniq("x"), uniq("ae")
    cleanup[0].extend([x, ae])
    ch.exchange_declare(ae, "fanout", internal=True)
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": ae})
    q = temp_queue(ch)
    ch.queue_bind(q, ae)
    ch.basic_publish(x, "nokey", b"to-internal-ae", mandatory=True)
    assert drain(ch, q) == [b"to-internal-ae"]


def test_alternate_exchange_of_a_bound_destination(ch, uniq, cleanup):
    # an exchange reached through an exchange-to-exchange binding uses its own alternate exchange too
    src, dst, ae = uniq("src"), uniq("dst"), uniq("ae")
    cleanup[0].extend([src, dst, ae])
    ch.exchange_declare(ae, "fanout")
    ch.exchange_declare(dst, "direct", arguments={"alternate-exchange": ae})
    ch.exchange_declare(src, "fanout")
    ch.exchange_bind(dst, src)
    q = temp_queue(ch)
    ch.queue_bind(q, ae)
    ch.basic_publish(src, "zz", b"e2e", mandatory=True)
    assert drain(ch, q) == [b"e2e"]


# --------------------------------------------------------------------------------------------------
# auto-delete
# --------------------------------------------------------------------------------------------------

def test_auto_delete_exchange_after_last_queue_binding(conn, ch, uniq, cleanup):
    x = uniq("ad")
    cleanup[0].append(x)
    ch.exchange_declare(x, "direct", auto_delete=True)
    assert exchange_exists(conn, x)  # never bound: stays
    q = temp_queue(ch)
    ch.queue_bind(q, x, "a")
    ch.queue_bind(q, x, "b")
    ch.queue_unbind(q, x, "a")
    assert exchange_exists(conn, x)
    ch.queue_unbind(q, x, "b")
    assert not exchange_exists(conn, x)


def test_auto_delete_exchange_when_bound_queue_deleted(conn, ch, uniq, cleanup):
    x = uniq("ad")
    cleanup[0].append(x)
    ch.exchange_declare(x, "fanout", auto_delete=True)
    q = temp_queue(ch)
    ch.queue_bind(q, x)
    ch.queue_delete(q)
    assert not exchange_exists(conn, x)


def test_auto_delete_exchange_as_source_and_destination(conn, ch, uniq, cleanup):
    src, dst = uniq("src"), uniq("dst")
    cleanup[0].extend([src, dst])
    ch.exchange_declare(src, "fanout", auto_delete=True)
    ch.exchange_declare(dst, "fanout", auto_delete=True)
    ch.exchange_bind(dst, src)
    ch.exchange_unbind(dst, src)
    # the source lost its last binding and goes; being a destination does not count
    assert not exchange_exists(conn, src)
    assert exchange_exists(conn, dst)


# --------------------------------------------------------------------------------------------------
# topic routing
# --------------------------------------------------------------------------------------------------

TOPIC_PATTERNS = ["a.b.c", "a.*.c", "a.#", "#", "*", "*.*", "a.*", "#.c", "a.#.c", "*.b.#", "", "a..c", "#.#",
                  "a.*.#", "#.b.#"]
TOPIC_EXPECTED = {
    "a.b.c": ["a.b.c", "a.*.c", "a.#", "#", "#.c", "a.#.c", "*.b.#", "#.#", "a.*.#", "#.b.#"],
    "a.c": ["a.#", "#", "*.*", "a.*", "#.c", "a.#.c", "#.#", "a.*.#"],
    "a": ["a.#", "#", "*", "#.#"],
    "a.b": ["a.#", "#", "*.*", "a.*", "*.b.#", "#.#", "a.*.#", "#.b.#"],
    "a.x.y.c": ["a.#", "#", "#.c", "a.#.c", "#.#", "a.*.#"],
    "": ["#", "", "#.#"],
    "b": ["#", "*", "#.#", "#.b.#"],
    "x.b.y": ["#", "*.b.#", "#.#", "#.b.#"],
    "a..c": ["a.*.c", "a.#", "#", "#.c", "a.#.c", "a..c", "#.#", "a.*.#"],
    "a.b.c.d": ["a.#", "#", "*.b.#", "#.#", "a.*.#", "#.b.#"],
    "c": ["#", "*", "#.c", "#.#"],
    ".": ["#", "*.*", "#.#"],
    "a.b.c.": ["a.#", "#", "*.b.#", "#.#", "a.*.#", "#.b.#"],
}


def test_topic_routing(ch, uniq, cleanup):
    x = uniq("topic")
    cleanup[0].append(x)
    ch.exchange_declare(x, "topic")
    queues = {}
    for pattern in TOPIC_PATTERNS:
        queues[pattern] = temp_queue(ch)
        ch.queue_bind(queues[pattern], x, pattern)
    for key, expected in TOPIC_EXPECTED.items():
        ch.basic_publish(x, key, key.encode())
        got = [p for p, q in queues.items() if drain(ch, q) == [key.encode()]]
        assert sorted(got) == sorted(expected), key
        assert all(count(ch, q) == 0 for q in queues.values())


def test_topic_invalid_x_match_is_ignored(ch):
    q = temp_queue(ch)
    # only the headers exchange validates x-match
    ch.queue_bind(q, "amq.topic", "a.b", arguments={"x-match": "foo"})
    ch.queue_bind(q, "amq.direct", "a.b", arguments={"x-match": "foo"})
    ch.basic_publish("amq.topic", "a.b", b"t")
    assert drain(ch, q) == [b"t"]
    ch.queue_unbind(q, "amq.topic", "a.b", arguments={"x-match": "foo"})
    ch.queue_unbind(q, "amq.direct", "a.b", arguments={"x-match": "foo"})


def test_bindings_differ_by_arguments(ch, uniq, cleanup):
    x = uniq("x")
    cleanup[0].append(x)
    ch.exchange_declare(x, "direct")
    q = temp_queue(ch)
    ch.queue_bind(q, x, "k", arguments={"v": 1})
    ch.queue_bind(q, x, "k", arguments={"v": 2})
    ch.basic_publish(x, "k", b"one-copy")
    assert drain(ch, q) == [b"one-copy"]
    ch.queue_unbind(q, x, "k", arguments={"v": 1})
    ch.basic_publish(x, "k", b"still-bound")
    assert drain(ch, q) == [b"still-bound"]
    ch.queue_unbind(q, x, "k", arguments={"v": 2})
    ch.basic_publish(x, "k", b"unbound")
    assert drain(ch, q) == []


# --------------------------------------------------------------------------------------------------
# headers routing
# --------------------------------------------------------------------------------------------------

HEADER_BINDINGS = {
    "all": {"x-match": "all", "a": "1", "b": "2"},
    "any": {"x-match": "any", "a": "1", "b": "2"},
    "default": {"a": "1", "b": "2"},  # x-match defaults to all
    "int": {"x-match": "all", "n": 5},
    "void": {"x-match": "all", "v": None},  # a void value matches any value of that header
    "all-only-x": {"x-match": "all", "x-h": "1"},  # x- arguments are ignored: matches everything
    "all-with-x": {"x-match": "all-with-x", "x-h": "1"},
    "any-with-x": {"x-match": "any-with-x", "x-h": "1", "zz": "9"},
    "any-only-x": {"x-match": "any", "x-h": "1"},  # nothing left to match: matches nothing
    "empty-all": {"x-match": "all"},
    "empty-any": {"x-match": "any"},
}
HEADER_EXPECTED = [
    ({"a": "1", "b": "2"}, ["all", "any", "default", "all-only-x", "empty-all"]),
    ({"a": "1"}, ["any", "all-only-x", "empty-all"]),
    ({"a": "1", "b": "3"}, ["any", "all-only-x", "empty-all"]),
    ({"a": "1", "b": "2", "c": "3"}, ["all", "any", "default", "all-only-x", "empty-all"]),
    ({"n": 5}, ["int", "all-only-x", "empty-all"]),
    ({"n": "5"}, ["all-only-x", "empty-all"]),  # a string is not the number
    ({"v": "anything"}, ["void", "all-only-x", "empty-all"]),
    ({"x-h": "1"}, ["all-only-x", "all-with-x", "any-with-x", "empty-all"]),
    (None, ["all-only-x", "empty-all"]),
    ({"a": 1, "b": 2}, ["all-only-x", "empty-all"]),
]


def test_headers_routing(ch, uniq, cleanup):
    x = uniq("headers")
    cleanup[0].append(x)
    ch.exchange_declare(x, "headers")
    queues = {}
    for name, args in HEADER_BINDINGS.items():
        queues[name] = temp_queue(ch)
        ch.queue_bind(queues[name], x, "ignored-key", arguments=args)
    for i, (headers, expected) in enumerate(HEADER_EXPECTED):
        body = f"m{i}".encode()
        ch.basic_publish(x, "any-key", body, pika.BasicProperties(headers=headers))
        got = [n for n, q in queues.items() if drain(ch, q) == [body]]
        assert sorted(got) == sorted(expected), headers
        assert all(count(ch, q) == 0 for q in queues.values())


def test_headers_numbers_compare_by_value(broker, ch, uniq, cleanup):
    """A binding's 5 (pika: signed 32-bit) matches a 5 sent as a short-short int or as 5.0 (aio-pika)."""
    import asyncio

    import aio_pika

    x = uniq("headers")
    cleanup[0].append(x)
    ch.exchange_declare(x, "headers")
    q = temp_queue(ch)
    ch.queue_bind(q, x, "", arguments={"x-match": "all", "n": 5})

    async def publish():
        c = await asyncio.wait_for(aio_pika.connect(broker.url), 10)
        async with c:
            chan = await c.channel(publisher_confirms=True)
            xx = await chan.get_exchange(x, ensure=False)
            for i, n in enumerate((5, 5.0, 6, 2 ** 40, True)):
                await asyncio.wait_for(xx.publish(aio_pika.Message(f"{i}".encode(), headers={"n": n}), ""), 10)

    asyncio.run(publish())
    assert drain(ch, q) == [b"0", b"1"]


@pytest.mark.parametrize("value,text", [
    ("foo", 'PRECONDITION_FAILED - Invalid x-match field value <<"foo">>; expected all, any, all-with-x, or any-with-x'),
    ("ALL", 'PRECONDITION_FAILED - Invalid x-match field value <<"ALL">>; expected all, any, all-with-x, or any-with-x'),
    ("", "PRECONDITION_FAILED - Invalid x-match field value <<>>; expected all, any, all-with-x, or any-with-x"),
    (5, "PRECONDITION_FAILED - Invalid x-match field type signedint (value 5); expected longstr"),
])
def test_headers_invalid_x_match(conn, ch, value, text):
    q = temp_queue(ch)
    channel_error(conn, lambda c: c.queue_bind(q, "amq.headers", "", arguments={"x-match": value}), 406, text)
    channel_error(conn, lambda c: c.exchange_bind("amq.fanout", "amq.headers", "", arguments={"x-match": value}),
                  406, text)
