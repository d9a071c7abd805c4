"""Durable state across restarts: topology, persistent messages, settlements, and the store's guards.

Every test starts its own amqpd (broker_factory) on a temporary data dir, changes durable state, stops it
(SIGTERM, or SIGKILL where the test says so) and starts a new amqpd on the same data dir and port.
What must survive and what must not follows RabbitMQ 3.10 semantics for durable exchanges and queues,
persistent messages (delivery_mode 2) and bindings. White-box checks of the RocksDB store are kept to a
few and only ever open it after the broker has exited.
"""

from __future__ import annotations

import os
import signal
import struct
import time
from datetime import UTC, datetime
from decimal import Decimal

import pika
import pika.exceptions
import pytest
from durable_helpers import (
    PERSISTENT,
    SHUTDOWN_TEXT,
    TRANSIENT,
    bodies,
    cf_counts,
    close_quietly,
    confirm_barrier,
    connect,
    count,
    exists,
    expect_forced_close,
    file_digests,
    free_port,
    get_all,
    json_lines,
    kill9,
    log_mark,
    log_since,
    meta_get,
    meta_put,
    port_open,
    redelivered,
    restart,
    run_amqpd,
    without,
)

pytestmark = pytest.mark.timeout(120)

HOW = ["sigterm", "kill9"]


def bounce(factory, b, how: str, conns=(), conf: str | None = None):
    """Stop amqpd (gracefully, checking exit code 0 and the 320 every open client gets, or with kill -9)
    and start it again on the same data dir and port."""
    if how == "sigterm":
        b.proc.send_signal(signal.SIGTERM)
        for conn in conns:
            exc = expect_forced_close(conn)
            assert (exc.reply_code, exc.reply_text) == (320, SHUTDOWN_TEXT)
        assert b.proc.wait(20) == 0, b.log_text()[-2000:]
    else:
        kill9(b)
        for conn in conns:
            close_quietly(conn)
    return restart(factory, b, conf)


def publish(ch, exchange: str, rk: str, body: bytes, props=PERSISTENT) -> bool:
    """Publish on a confirm channel with mandatory; False when the message was returned unroutable."""
    try:
        ch.basic_publish(exchange, rk, body, props, mandatory=True)
        return True
    except pika.exceptions.UnroutableError:
        return False


def confirm_channel(conn):
    ch = conn.channel()
    ch.confirm_delivery()
    return ch


def channel_error(fn) -> tuple[int, str]:
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        fn()
    return ei.value.reply_code, ei.value.reply_text


# ---------------------------------------------------------------------------------------------------------
# topology


@pytest.mark.parametrize("how", HOW)
def test_durable_topology_restored_transient_gone(broker_factory, how):
    b = broker_factory()
    conn = connect(b)
    ch = conn.channel()
    for name, kind in (("d.direct", "direct"), ("d.topic", "topic"), ("d.fanout", "fanout"),
                       ("d.headers", "headers"), ("d.ae", "fanout"), ("d.e2e", "topic")):
        ch.exchange_declare(name, kind, durable=True)
    ch.exchange_declare("d.with-ae", "direct", durable=True, arguments={"alternate-exchange": "d.ae"})
    ch.exchange_declare("t.direct", "direct", durable=False)
    args = {"x-queue-mode": "lazy", "x-max-length": 1000, "x-custom-int": 42, "x-custom-str": "kept",
            "x-custom-bool": True}
    ch.queue_declare("dq.args", durable=True, arguments=args)
    ch.queue_declare("dq.plain", durable=True)
    ch.queue_declare("dq.ae", durable=True)
    server_named = ch.queue_declare("", durable=True).method.queue
    ch.queue_declare("tq", durable=False)
    ch.queue_declare("xq", durable=True, exclusive=True)
    ch.queue_bind("dq.plain", "d.direct", "k.one")
    ch.queue_bind("dq.plain", "d.topic", "a.*.c")
    ch.queue_bind("dq.plain", "d.headers", "", arguments={"x-match": "all", "h": "v", "n": 7})
    ch.queue_bind("dq.args", "d.fanout")
    ch.queue_bind("dq.ae", "d.ae")
    ch.queue_bind(server_named, "d.direct", "k.sn")
    ch.exchange_bind(destination="d.direct", source="d.e2e", routing_key="k.*")
    ch.queue_bind("dq.plain", "t.direct", "x")  # transient source: not stored
    ch.queue_bind("tq", "d.direct", "k.one")  # transient destination: not stored
    ch.queue_bind("xq", "d.direct", "k.one")  # exclusive destination: not stored
    # bound and unbound again before the restart: must stay unbound
    ch.queue_bind("dq.args", "d.direct", "gone")
    ch.queue_unbind("dq.args", "d.direct", "gone")
    ch.exchange_bind(destination="d.fanout", source="d.topic", routing_key="#")
    ch.exchange_unbind(destination="d.fanout", source="d.topic", routing_key="#")

    b = bounce(broker_factory, b, how, [conn])

    for name in ("d.direct", "d.topic", "d.fanout", "d.headers", "d.ae", "d.e2e", "d.with-ae"):
        assert exists(b, "exchange", name), name
    for name in ("dq.args", "dq.plain", "dq.ae", server_named):
        assert exists(b, "queue", name), name
    assert not exists(b, "exchange", "t.direct")
    assert not exists(b, "queue", "tq")
    assert not exists(b, "queue", "xq")

    conn = connect(b)
    ch = conn.channel()
    # settings and arguments came back exactly: an equal redeclare is fine, a different one is refused
    ch.queue_declare("dq.args", durable=True, arguments=args)
    ch.exchange_declare("d.with-ae", "direct", durable=True, arguments={"alternate-exchange": "d.ae"})
    assert channel_error(lambda: ch.queue_declare("dq.args", durable=True, arguments={**args, "x-queue-mode": "default"})) == (
        406, "PRECONDITION_FAILED - inequivalent arg 'x-queue-mode' for queue 'dq.args' in vhost '/': "
             "received 'default' but current is 'lazy'")
    ch = conn.channel()
    assert channel_error(lambda: ch.queue_declare("dq.args", durable=True, arguments={**args, "x-max-length": 5})) == (
        406, "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'dq.args' in vhost '/': "
             "received '5' but current is '1000'")
    ch = conn.channel()
    assert channel_error(lambda: ch.queue_declare("dq.plain", durable=False)) == (
        406, "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'dq.plain' in vhost '/': "
             "received 'false' but current is 'true'")
    ch = conn.channel()
    assert channel_error(lambda: ch.exchange_declare("d.topic", "direct", durable=True)) == (
        406, "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'd.topic' in vhost '/': "
             "received 'direct' but current is 'topic'")
    ch = conn.channel()
    assert channel_error(lambda: ch.exchange_declare("d.with-ae", "direct", durable=True)) == (
        406, "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'd.with-ae' in vhost '/': "
             "received none but current is the value 'd.ae' of type 'longstr'")

    # every stored binding routes again, the unbound ones and the unstored ones do not
    ch = confirm_channel(conn)
    ch.queue_declare("tq", durable=False)  # a new transient queue of the same name: no binding came back
    assert publish(ch, "d.direct", "k.one", b"direct")
    assert publish(ch, "d.topic", "a.b.c", b"topic")
    assert publish(ch, "d.headers", "", b"headers", pika.BasicProperties(delivery_mode=2, headers={"h": "v", "n": 7}))
    assert not publish(ch, "d.headers", "", b"headers-miss", pika.BasicProperties(delivery_mode=2, headers={"h": "v"}))
    assert publish(ch, "d.e2e", "k.one", b"e2e")
    assert publish(ch, "d.fanout", "", b"fanout")
    assert publish(ch, "d.with-ae", "no-binding", b"alternate")
    assert publish(ch, "d.direct", "k.sn", b"server-named")
    assert not publish(ch, "d.direct", "gone", b"unbound")
    assert not publish(ch, "d.topic", "nothing.matches", b"e2e-unbound")
    assert bodies(get_all(ch, "dq.plain")) == [b"direct", b"topic", b"headers", b"e2e"]
    assert bodies(get_all(ch, "dq.args")) == [b"fanout"]
    assert bodies(get_all(ch, "dq.ae")) == [b"alternate"]
    assert bodies(get_all(ch, server_named)) == [b"server-named"]
    assert count(ch, "tq") == 0
    conn.close()


@pytest.mark.parametrize("how", HOW)
def test_deletes_and_unbinds_survive_restart(broker_factory, how):
    b = broker_factory()
    conn = connect(b)
    ch = conn.channel()
    ch.exchange_declare("x.keep", "direct", durable=True)
    ch.exchange_declare("x.del", "fanout", durable=True)
    ch.queue_declare("q.keep", durable=True)
    ch.queue_declare("q.del", durable=True)
    ch.queue_bind("q.keep", "x.keep", "stay")
    ch.queue_bind("q.keep", "x.keep", "go")
    ch.queue_bind("q.del", "x.keep", "stay")
    ch.exchange_bind(destination="x.keep", source="x.del", routing_key="")
    b = bounce(broker_factory, b, how, [conn])  # everything above is stored

    conn = connect(b)
    ch = conn.channel()
    ch.basic_publish("", "q.del", b"dies with its queue", PERSISTENT)
    ch.queue_delete("q.del")
    ch.exchange_delete("x.del")
    ch.queue_unbind("q.keep", "x.keep", "go")
    b = bounce(broker_factory, b, how, [conn])

    assert not exists(b, "queue", "q.del")
    assert not exists(b, "exchange", "x.del")
    conn = connect(b)
    ch = confirm_channel(conn)
    assert publish(ch, "x.keep", "stay", b"1")
    assert not publish(ch, "x.keep", "go", b"2")
    ch.queue_declare("q.del", durable=True)
    assert count(ch, "q.del") == 0, "a deleted queue's messages came back"
    assert bodies(get_all(ch, "q.keep")) == [b"1"]
    conn.close()


@pytest.mark.parametrize("deleted", ["source-exchange", "destination-exchange", "queue"])
def test_no_stale_bindings_after_delete_and_redeclare(broker_factory, deleted):
    """Deleting a durable exchange or queue deletes its stored bindings, whichever end it is: a new
    exchange or queue of the same name starts without them, also after a restart."""
    b = broker_factory()
    conn = connect(b)
    ch = conn.channel()
    ch.exchange_declare("src", "direct", durable=True)
    ch.exchange_declare("mid", "direct", durable=True)
    ch.queue_declare("q", durable=True)
    ch.queue_bind("q", "src", "direct-key")
    ch.exchange_bind(destination="mid", source="src", routing_key="e2e-key")
    ch.queue_bind("q", "mid", "e2e-key")
    if deleted == "source-exchange":
        ch.exchange_delete("src")
        ch.exchange_declare("src", "direct", durable=True)
    elif deleted == "destination-exchange":
        ch.exchange_delete("mid")
        ch.exchange_declare("mid", "direct", durable=True)
        ch.queue_bind("q", "mid", "e2e-key")
    else:
        ch.queue_delete("q")
        ch.queue_declare("q", durable=True)
        ch.queue_bind("q", "mid", "e2e-key")
    # what routes from src: the deleted thing's bindings are gone, the others stay
    expected = {"source-exchange": [], "destination-exchange": ["direct-key"], "queue": ["e2e-key"]}[deleted]
    cch = confirm_channel(conn)
    assert [rk for rk in ("direct-key", "e2e-key") if publish(cch, "src", rk, b"before")] == expected
    get_all(cch, "q")
    b = bounce(broker_factory, b, "sigterm", [conn])
    conn = connect(b)
    cch = confirm_channel(conn)
    routable = [rk for rk in ("direct-key", "e2e-key") if publish(cch, "src", rk, b"after")]
    assert routable == expected, f"bindings of the deleted {deleted} came back after the restart"
    conn.close()


# ---------------------------------------------------------------------------------------------------------
# messages


FULL_PROPS = pika.BasicProperties(
    content_type="application/json", content_encoding="gzip", delivery_mode=2, priority=3,
    correlation_id="corr-1", reply_to="replies", message_id="msg-1", timestamp=1700000000, type="t.created",
    user_id="guest", app_id="durability-test",
    headers={"s": "text", "i": -5, "big": 2**40, "dec": Decimal("1.50"), "b": True, "nested": {"k": [1, "two", False]},
             "bin": b"\x00\xff"},
)


@pytest.mark.parametrize("how", HOW)
def test_persistent_messages_survive_transient_do_not(broker_factory, how):
    b = broker_factory()
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.exchange_declare("px", "direct", durable=True)
    ch.queue_declare("pq", durable=True)
    ch.queue_bind("pq", "px", "rk")
    ch.queue_declare("tq", durable=False)
    big = os.urandom(300_000)  # larger than frame_max: several body frames
    expected = []
    for i in range(6):
        persistent = i % 2 == 0
        body = f"m{i}".encode()
        assert publish(ch, "" if i < 3 else "px", "pq" if i < 3 else "rk", body, PERSISTENT if persistent else TRANSIENT)
        if persistent:
            expected.append(("" if i < 3 else "px", "pq" if i < 3 else "rk", body))
    assert publish(ch, "px", "rk", b"", PERSISTENT)
    assert publish(ch, "", "pq", big, FULL_PROPS)
    expected += [("px", "rk", b""), ("", "pq", big)]
    assert publish(ch, "", "tq", b"persistent but in a transient queue", PERSISTENT)
    xconn = connect(b)
    xch = confirm_channel(xconn)
    xch.queue_declare("xq", durable=True, exclusive=True)
    assert publish(xch, "", "xq", b"persistent but in an exclusive queue", PERSISTENT)

    b = bounce(broker_factory, b, how, [conn, xconn])

    assert not exists(b, "queue", "tq")
    assert not exists(b, "queue", "xq")
    conn = connect(b)
    ch = conn.channel()
    got = get_all(ch, "pq")
    assert [(m.exchange, m.routing_key, body) for m, _p, body in got] == expected
    assert redelivered(got) == [False] * len(expected)
    props = got[-1][1]
    for name in ("content_type", "content_encoding", "delivery_mode", "priority", "correlation_id", "reply_to",
                 "message_id", "timestamp", "type", "user_id", "app_id", "headers"):
        assert getattr(props, name) == getattr(FULL_PROPS, name), name
    assert all(p.delivery_mode == 2 for _m, p, _b in got)
    ch.queue_declare("xq", durable=True)  # the name is free, and nothing was stored for it
    assert count(ch, "xq") == 0
    conn.close()


def test_message_routed_to_several_durable_queues_is_stored_once(broker_factory):
    b = broker_factory()
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.exchange_declare("fan", "fanout", durable=True)
    for q in ("f1", "f2", "f3"):
        ch.queue_declare(q, durable=True)
        ch.queue_bind(q, "fan")
    ch.queue_declare("f-transient", durable=False)
    ch.queue_bind("f-transient", "fan")
    sent = [b"one", os.urandom(200_000), b"three", b"four"]
    for body in sent:
        assert publish(ch, "fan", "", body)
    conn.close()
    assert b.stop() == 0
    counts = cf_counts(b.data_dir)
    assert (counts["messages"], counts["index"]) == (4, 12), counts

    b = restart(broker_factory, b)
    conn = connect(b)
    ch = conn.channel()
    for q in ("f1", "f2", "f3"):
        msgs = get_all(ch, q, ack=q != "f3")
        assert bodies(msgs) == sent, q
        assert redelivered(msgs) == [False] * 4
    conn.close()
    b.stop()
    counts = cf_counts(b.data_dir)
    # f3's deliveries were not acked (requeued at close): the bodies stay, once, for f3 alone
    assert (counts["messages"], counts["index"]) == (4, 4), counts

    b = restart(broker_factory, b)
    conn = connect(b)
    ch = conn.channel()
    msgs = get_all(ch, "f3")
    assert bodies(msgs) == sent and redelivered(msgs) == [True] * 4
    assert count(ch, "f1") == count(ch, "f2") == 0
    conn.close()
    b.stop()
    counts = cf_counts(b.data_dir)
    assert (counts["messages"], counts["index"]) == (0, 0), counts


def pump(conn, until, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)


def _consume(conn, ch, queue: str, n: int, timeout: float = 10) -> list:
    got = []
    ch.basic_consume(queue, lambda c, m, p, body: got.append((m, p, body)), auto_ack=False)
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    conn.process_data_events(time_limit=0.2)  # nothing more than the prefetch allows may arrive
    return got


@pytest.mark.parametrize("how", HOW)
def test_settlements_are_durable_and_unacked_come_back_redelivered(broker_factory, how):
    b = broker_factory()
    conn = connect(b)
    pub = confirm_channel(conn)
    for q in ("settle", "purged", "deleted", "consumed"):
        pub.queue_declare(q, durable=True)
    for i in range(12):
        assert publish(pub, "", "settle", f"m{i}".encode())
    for i in range(5):
        assert publish(pub, "", "purged", f"p{i}".encode())
        assert publish(pub, "", "deleted", f"d{i}".encode())
        assert publish(pub, "", "consumed", f"c{i}".encode())

    ch = conn.channel()

    def get(expect: str):
        m, _p, body = ch.basic_get("settle", auto_ack=False)
        assert body == expect.encode()
        return m.delivery_tag

    ch.basic_ack(get("m0"))
    get("m1")
    ch.basic_ack(get("m2"), multiple=True)
    ch.basic_nack(get("m3"), requeue=False)
    ch.basic_reject(get("m4"), requeue=False)
    m, _p, body = ch.basic_get("settle", auto_ack=True)
    assert body == b"m5"
    get("m6")
    get("m7")  # m6, m7: delivered, never acked
    ch.basic_reject(get("m8"), requeue=True)  # back at the head, redelivered
    assert ch.queue_purge("purged").method.message_count == 5
    assert ch.queue_delete("deleted").method.message_count == 5
    cch = conn.channel()
    cch.basic_qos(prefetch_count=2)
    got = []
    cch.basic_consume("consumed", lambda c, m, p, body: got.append((m, p, body)), auto_ack=False)
    pump(conn, lambda: len(got) >= 2)
    assert bodies(got) == [b"c0", b"c1"]
    cch.basic_ack(got[0][0].delivery_tag)
    pump(conn, lambda: len(got) >= 3)
    pump(conn, lambda: False, 0.2)  # the prefetch allows no fourth one
    assert bodies(got) == [b"c0", b"c1", b"c2"]  # c1, c2 unacked, c3 and c4 never delivered
    if how == "kill9":
        confirm_barrier(conn)  # every write above is on disk once this confirm arrives

    b = bounce(broker_factory, b, how, [conn])

    conn = connect(b)
    ch = conn.channel()
    got = get_all(ch, "settle")
    assert bodies(got) == [b"m6", b"m7", b"m8", b"m9", b"m10", b"m11"]
    assert redelivered(got) == [True, True, True, False, False, False]
    assert count(ch, "purged") == 0
    assert not exists(b, "queue", "deleted")
    got = get_all(ch, "consumed")
    assert bodies(got) == [b"c1", b"c2", b"c3", b"c4"]
    assert redelivered(got) == [True, True, False, False]
    conn.close()


def test_kill9_after_confirm_loses_nothing(broker_factory):
    """A publish confirmed just before kill -9 is there after the restart, in order, while big
    unconfirmed publishes on another channel keep the store's writer busy."""
    b = broker_factory()
    filler = os.urandom(100_000)
    expected: list[bytes] = []
    for rnd in range(3):
        conn = connect(b)
        fch = conn.channel()
        fch.queue_declare("filler", durable=True)
        ch = confirm_channel(conn)
        ch.queue_declare("confirmed", durable=True)
        for _ in range(150):
            fch.basic_publish("", "filler", filler, PERSISTENT)
        for i in range(20):
            body = f"r{rnd}-{i}".encode()
            assert publish(ch, "", "confirmed", body)
            expected.append(body)
        kill9(b)
        close_quietly(conn)
        b = restart(broker_factory, b)
        conn = connect(b)
        ch = conn.channel()
        got = get_all(ch, "confirmed", ack=False)  # left in the queue (requeued on close) for the next round
        assert bodies(got) == expected, f"round {rnd}"
        ch.queue_purge("filler")
        conn.close()


def test_kill9_after_tx_commit_ok_loses_nothing(broker_factory):
    """tx.commit-ok promises the transaction's persistent messages are safely in their durable queues,
    as RabbitMQ does: kill -9 right after it must not lose them."""
    b = broker_factory()
    filler = os.urandom(100_000)
    expected: list[bytes] = []
    for rnd in range(3):
        conn = connect(b)
        fch = conn.channel()
        fch.queue_declare("filler", durable=True)
        ch = conn.channel()
        ch.queue_declare("tx-q", durable=True)
        ch.tx_select()
        for _ in range(150):
            fch.basic_publish("", "filler", filler, PERSISTENT)
        for i in range(10):
            body = f"r{rnd}-{i}".encode()
            ch.basic_publish("", "tx-q", body, PERSISTENT)
            expected.append(body)
        ch.tx_commit()
        kill9(b)
        close_quietly(conn)
        b = restart(broker_factory, b)
        conn = connect(b)
        ch = conn.channel()
        got = bodies(get_all(ch, "tx-q", ack=False))
        ch.queue_purge("filler")
        conn.close()
        assert got == expected, f"round {rnd}: {len(expected) - len(got)} committed messages lost"


def test_kill9_after_declare_ok_loses_nothing(broker_factory):
    """Every durable declaration, binding, unbinding and deletion that got its -ok survives kill -9
    sent right after it."""
    b = broker_factory()
    steps = [
        lambda ch: ch.exchange_declare("k.x", "topic", durable=True),
        lambda ch: ch.queue_declare("k.q", durable=True, arguments={"x-max-priority": 4}),
        lambda ch: ch.queue_bind("k.q", "k.x", "a.#"),
        lambda ch: ch.exchange_declare("k.y", "fanout", durable=True),
        lambda ch: ch.exchange_bind(destination="k.x", source="k.y"),
    ]
    for step in steps:  # one kill after each -ok
        conn = connect(b)
        step(conn.channel())
        kill9(b)
        close_quietly(conn)
        b = restart(broker_factory, b)
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.queue_declare("k.q", durable=True, arguments={"x-max-priority": 4})
    assert publish(ch, "k.y", "a.b", b"via k.y and k.x")
    assert bodies(get_all(ch, "k.q")) == [b"via k.y and k.x"]
    conn.close()
    undo = [
        lambda ch: ch.exchange_unbind(destination="k.x", source="k.y"),
        lambda ch: ch.queue_unbind("k.q", "k.x", "a.#"),
        lambda ch: ch.queue_delete("k.q"),
        lambda ch: ch.exchange_delete("k.x"),
    ]
    for step in undo:
        conn = connect(b)
        step(conn.channel())
        kill9(b)
        close_quietly(conn)
        b = restart(broker_factory, b)
    assert not exists(b, "queue", "k.q")
    assert not exists(b, "exchange", "k.x")
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.exchange_declare("k.x", "topic", durable=True)
    ch.queue_declare("k.q", durable=True)
    assert not publish(ch, "k.y", "a.b", b"nothing routes any more")
    conn.close()


def test_graceful_restart_after_ack_without_barrier(broker_factory):
    """SIGTERM flushes what is pending: acks sent just before it are never undone."""
    b = broker_factory()
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.queue_declare("g", durable=True)
    for i in range(200):
        ch.basic_publish("", "g", f"g{i}".encode(), PERSISTENT)
    ch2 = conn.channel()
    ch2.basic_qos(prefetch_count=0)
    got = _consume(conn, ch2, "g", 200)
    assert len(got) == 200
    for m, _p, _b in got[:150]:
        ch2.basic_ack(m.delivery_tag)
    b = bounce(broker_factory, b, "sigterm", [conn])
    conn = connect(b)
    ch = conn.channel()
    got = get_all(ch, "g")
    assert bodies(got) == [f"g{i}".encode() for i in range(150, 200)]
    assert redelivered(got) == [True] * 50
    conn.close()


# ---------------------------------------------------------------------------------------------------------
# queue arguments that act on stored messages


def test_priority_length_and_ttl_queues_after_restart(broker_factory):
    b = broker_factory()
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.queue_declare("prio", durable=True, arguments={"x-max-priority": 5})
    ch.queue_declare("maxlen", durable=True, arguments={"x-max-length": 3})
    ch.queue_declare("ttl-long", durable=True, arguments={"x-message-ttl": 600_000})
    ch.queue_declare("ttl-short", durable=True, arguments={"x-message-ttl": 1000})
    ch.queue_declare("per-msg", durable=True)
    for body, prio in ((b"p1", 1), (b"p5a", 5), (b"p3", 3), (b"p9", 9), (b"p0", 0), (b"p5b", 5)):
        assert publish(ch, "", "prio", body, pika.BasicProperties(delivery_mode=2, priority=prio))
    for i in range(3):
        assert publish(ch, "", "maxlen", f"l{i}".encode())
    assert publish(ch, "", "ttl-long", b"stays")
    published_at = time.monotonic()
    assert publish(ch, "", "ttl-short", b"expires while the broker is down")
    assert publish(ch, "", "per-msg", b"long", pika.BasicProperties(delivery_mode=2, expiration="600000"))
    assert publish(ch, "", "per-msg", b"short", pika.BasicProperties(delivery_mode=2, expiration="1000"))
    assert publish(ch, "", "per-msg", b"none")
    conn.close()
    assert b.stop() == 0
    time.sleep(max(0.0, published_at + 1.6 - time.monotonic()))
    b = restart(broker_factory, b)

    conn = connect(b)
    ch = confirm_channel(conn)
    # priority order (capped at x-max-priority, FIFO among equals) as before the restart
    assert bodies(get_all(ch, "prio", ack=False)) == [b"p5a", b"p9", b"p5b", b"p3", b"p1", b"p0"]
    # the length limit still applies to what was recovered: one more drops the head
    assert publish(ch, "", "maxlen", b"l3")
    assert bodies(get_all(ch, "maxlen")) == [b"l1", b"l2", b"l3"]
    assert bodies(get_all(ch, "ttl-long")) == [b"stays"]
    assert count(ch, "ttl-short") == 0
    assert bodies(get_all(ch, "per-msg")) == [b"long", b"none"]
    conn.close()


@pytest.mark.parametrize("how", HOW)
def test_quorum_queue_keeps_every_message_and_its_delivery_count(broker_factory, how):
    """RabbitMQ 3.10: a quorum queue persists messages whatever their delivery mode, and a returned
    message's delivery count (x-delivery-count) survives a restart."""
    b = broker_factory()
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.queue_declare("qq", durable=True, arguments={"x-queue-type": "quorum"})
    assert publish(ch, "", "qq", b"persistent")
    assert publish(ch, "", "qq", b"transient", TRANSIENT)
    assert publish(ch, "", "qq", b"returned")
    g = conn.channel()
    for expect in (b"persistent", b"transient"):  # delivered, never acked
        assert g.basic_get("qq", auto_ack=False)[2] == expect
    g2 = conn.channel()
    m, p, body = g2.basic_get("qq", auto_ack=False)
    assert body == b"returned" and p.headers["x-delivery-count"] == 0
    g2.basic_nack(m.delivery_tag, requeue=True)  # a return: count 1, back of the queue
    if how == "kill9":
        confirm_barrier(conn)
    b = bounce(broker_factory, b, how, [conn])
    conn = connect(b)
    ch = conn.channel()
    got = get_all(ch, "qq")
    assert sorted(bodies(got)) == [b"persistent", b"returned", b"transient"]
    counts = {body: p.headers.get("x-delivery-count") for _m, p, body in got}
    assert counts[b"returned"] == 1, counts
    assert {body: m.redelivered for m, _p, body in got} == {b"persistent": True, b"transient": True, b"returned": True}
    conn.close()


def test_dead_lettering_at_recovery_keeps_the_target_queue_intact(broker_factory):
    """Messages that expired while amqpd was down are dead-lettered when it starts; the dead-letter
    queue's own stored messages must survive that (and the next restart), in order."""
    b = broker_factory()
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.queue_declare("src", durable=True, arguments={"x-message-ttl": 1000, "x-dead-letter-exchange": "",
                                                     "x-dead-letter-routing-key": "dlq"})
    ch.queue_declare("dlq", durable=True)
    for body in (b"old1", b"old2"):
        assert publish(ch, "", "dlq", body)
    published_at = time.monotonic()
    assert publish(ch, "", "src", b"expired")
    conn.close()
    b.stop()
    time.sleep(max(0.0, published_at + 1.6 - time.monotonic()))
    for attempt in range(2):
        b = restart(broker_factory, b)
        conn = connect(b)
        ch = conn.channel()
        assert count(ch, "src") == 0
        got = get_all(ch, "dlq", ack=False)
        conn.close()
        assert bodies(got) == [b"old1", b"old2", b"expired"], f"after restart {attempt + 1}"
        assert got[2][1].headers["x-death"][0]["reason"] == "expired"
        b.stop()


def test_recovery_beyond_the_index_threshold(broker_factory):
    """Messages beyond amqpd.queue.index_threshold are recovered without their bodies; when they are
    delivered they must look exactly like the others (exchange, routing key, properties, body)."""
    conf = "amqpd.queue.index_threshold = 3\n"
    b = broker_factory(conf)
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.exchange_declare("pgx", "direct", durable=True)
    ch.queue_declare("paged-default", durable=True)
    ch.queue_declare("paged-named", durable=True)
    ch.queue_bind("paged-named", "pgx", "pg-key")
    for i in range(8):
        props = pika.BasicProperties(delivery_mode=2, message_id=f"id{i}", headers={"i": i})
        assert publish(ch, "", "paged-default", f"d{i}".encode(), props)
        assert publish(ch, "pgx", "pg-key", f"n{i}".encode(), props)
    conn.close()
    b = bounce(broker_factory, b, "sigterm", conf=conf)
    conn = connect(b)
    ch = conn.channel()
    got = _consume(conn, ch, "paged-default", 8)  # basic.deliver path
    assert [(m.exchange, m.routing_key, body) for m, _p, body in got] == \
        [("", "paged-default", f"d{i}".encode()) for i in range(8)]
    assert [(p.message_id, p.headers) for _m, p, _b in got] == [(f"id{i}", {"i": i}) for i in range(8)]
    for m, _p, _b in got:
        ch.basic_ack(m.delivery_tag)
    got = get_all(ch, "paged-named")  # basic.get path
    assert [(m.exchange, m.routing_key, body) for m, _p, body in got] == \
        [("pgx", "pg-key", f"n{i}".encode()) for i in range(8)]
    conn.close()


# ---------------------------------------------------------------------------------------------------------
# the store's guards: lock, format version, corruption


def test_second_amqpd_on_the_same_data_dir_is_refused(broker_factory, tmp_path):
    b = broker_factory()
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.queue_declare("mine", durable=True)
    assert publish(ch, "", "mine", b"before")
    other_port = free_port()
    rc, out, secs = run_amqpd(["--bind", "127.0.0.1", "--port", str(other_port), "--data-dir", str(b.data_dir)],
                              timeout=20)
    assert rc is not None, f"the second amqpd kept running:\n{out}"
    assert rc != 0
    assert secs < 10
    low = without(out, b.data_dir)
    assert "lock" in low and "another" in low, out
    assert str(b.data_dir) in out, out
    assert "Traceback" not in out
    assert not port_open(other_port)
    # the first one is unharmed
    assert b.proc.poll() is None
    assert publish(ch, "", "mine", b"after")
    assert bodies(get_all(ch, "mine")) == [b"before", b"after"]
    conn.close()


def test_unknown_store_format_version_is_refused(broker_factory):
    b = broker_factory()
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.queue_declare("fmt", durable=True)
    assert publish(ch, "", "fmt", b"kept")
    conn.close()
    b.stop()
    original = meta_get(b.data_dir, b"format")
    assert original == struct.pack(">I", 1)
    meta_put(b.data_dir, b"format", struct.pack(">I", 99))
    rc, out, secs = run_amqpd(["--bind", "127.0.0.1", "--port", str(b.port), "--data-dir", str(b.data_dir)])
    assert rc not in (None, 0), out
    assert secs < 15
    assert "format" in without(out, b.data_dir) and "99" in without(out, b.data_dir), out
    assert "Traceback" not in out
    assert not port_open(b.port)
    # nothing was rewritten: with the marker put back the data is all there
    meta_put(b.data_dir, b"format", original)
    b = restart(broker_factory, b)
    conn = connect(b)
    assert bodies(get_all(conn.channel(), "fmt")) == [b"kept"]
    conn.close()


def _corrupt(rocksdb_dir, how: str) -> None:
    current = rocksdb_dir / "CURRENT"
    manifest = rocksdb_dir / current.read_text().strip()
    if how == "current-garbled":
        current.write_text("MANIFEST-garbage\x00\x01\n")
    elif how == "current-empty":
        current.write_bytes(b"")
    elif how == "current-missing":
        current.unlink()
    elif how == "manifest-garbled":
        data = bytearray(manifest.read_bytes())
        for i in range(16, len(data), 7):
            data[i] ^= 0xA5
        manifest.write_bytes(bytes(data))
    elif how == "manifest-truncated":
        data = manifest.read_bytes()
        manifest.write_bytes(data[: len(data) // 3])
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["current-garbled", "current-empty", "current-missing", "manifest-garbled",
                                 "manifest-truncated"])
def test_corrupt_store_is_refused_and_left_untouched(broker_factory, how):
    b = broker_factory()
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.queue_declare("precious", durable=True)
    for i in range(20):
        assert publish(ch, "", "precious", f"v{i}".encode())
    conn.close()
    b.stop()
    rdir = b.data_dir / "rocksdb"
    _corrupt(rdir, how)
    before = file_digests(rdir)
    for attempt in (1, 2):  # a failed start must not leave something the next start accepts
        rc, out, secs = run_amqpd(["--bind", "127.0.0.1", "--port", str(b.port), "--data-dir", str(b.data_dir)],
                                  timeout=15)
        assert rc is not None, f"attempt {attempt}: amqpd started on a corrupt store ({how}):\n{out}"
        assert rc != 0, f"attempt {attempt}: exit code 0\n{out}"
        assert secs < 15
        low = without(out, b.data_dir)
        assert str(b.data_dir) in out, out
        assert any(w in low for w in ("corrupt", "missing", "cannot open", "refus")), out
        assert "recovered" not in low and "startup complete" not in low, out
        assert "Traceback" not in out
        after = file_digests(rdir)
        assert after == before, (f"attempt {attempt}: files changed: "
                                 f"{sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))}")


def test_recovered_log_line(broker_factory):
    b = broker_factory(extra_args=["--log-format", "json"])
    first = [e for e in json_lines(b.log_text()) if e.get("event") == "recovered"]
    assert len(first) == 1
    assert first[0]["queues"] == 0 and first[0]["messages"] == 0
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.queue_declare("r1", durable=True)
    ch.queue_declare("r2", durable=True)
    ch.queue_declare("r-transient", durable=False)
    for _ in range(3):
        assert publish(ch, "", "r1", b"x")
    for _ in range(4):
        assert publish(ch, "", "r2", b"y")
        assert publish(ch, "", "r2", b"transient", TRANSIENT)
    assert publish(ch, "", "r-transient", b"z")
    conn.close()
    b.stop()
    mark = log_mark(b)
    b = restart(broker_factory, b)
    events = json_lines(log_since(b, mark))
    rec = [e for e in events if e.get("event") == "recovered"]
    assert len(rec) == 1, events
    rec = rec[0]
    assert rec["queues"] == 2 and rec["messages"] == 7, rec
    assert isinstance(rec["seconds"], (int, float)) and 0 <= rec["seconds"] < 10
    assert rec["level"] == "info"
    datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00")).astimezone(UTC)
    names = [e.get("event") for e in events]
    assert names.index("recovered") < names.index("Server startup complete")


def test_restart_after_kill9_with_nothing_running(broker_factory):
    """The RocksDB lock of a killed amqpd does not block its successor; three kills in a row are fine."""
    b = broker_factory()
    conn = connect(b)
    ch = confirm_channel(conn)
    ch.queue_declare("k", durable=True)
    assert publish(ch, "", "k", b"survivor")
    close_quietly(conn)
    for _ in range(3):
        kill9(b)
        b = restart(broker_factory, b)
    conn = connect(b)
    assert bodies(get_all(conn.channel(), "k", ack=False)) == [b"survivor"]
    conn.close()
